// address.cpp - address, domain, transport and alias syntax checks; IDNA conversions
// of domains (the only user of libidn2, loaded at the first conversion: dynlib.h).
#include "libmapsync/core/address.h"

#include <idn2.h>

#include <cstring>

#include "libmapsync/core/casefold.h"
#include "libmapsync/core/dynlib.h"
#include "libmapsync/core/escape.h"

namespace mapsync {
namespace {

// libidn2's soname has been libidn2.so.0 since 2.0; its header has no macro for it.
struct Idn2 {
  DynLib lib{"libidn2.so.0"};
  decltype(&idn2_to_ascii_8z) to_ascii = nullptr;
  decltype(&idn2_to_unicode_8z8z) to_unicode = nullptr;
  decltype(&idn2_strerror) describe = nullptr;
  decltype(&idn2_free) release = nullptr;
  bool ok = lib.bind(to_ascii, "idn2_to_ascii_8z") && lib.bind(to_unicode, "idn2_to_unicode_8z8z") &&
            lib.bind(describe, "idn2_strerror") && lib.bind(release, "idn2_free");
};

// Loaded once (a function-local static: the first use from several threads is safe), never
// unloaded; nullptr with the reason in *error when libidn2 cannot be loaded.
const Idn2* idn2(std::string* error) {
  static const Idn2 instance;
  if (instance.ok) return &instance;
  if (error) *error = instance.lib.error();
  return nullptr;
}

bool is_atext(unsigned char c) {
  if (c >= 0x80) return true;  // UTF-8 (validated as a whole elsewhere)
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::strchr("!#$%&'*+-/=?^_`{|}~", c) != nullptr && c != 0;
}

bool is_ldh(unsigned char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-'; }

// "xn--" in any case: the ACE prefix of an A-label.
bool has_ace_prefix(std::string_view label) {
  return label.size() >= 4 && (label[0] | 0x20) == 'x' && (label[1] | 0x20) == 'n' && label[2] == '-' && label[3] == '-';
}

constexpr int kIdnaFlags = IDN2_NONTRANSITIONAL | IDN2_NFC_INPUT;

std::string trim(std::string_view s) {
  const auto b = s.find_first_not_of(" \t");
  if (b == std::string_view::npos) return {};
  const auto e = s.find_last_not_of(" \t");
  return std::string(s.substr(b, e - b + 1));
}

}  // namespace

bool split_address(std::string_view address, std::string_view& local, std::string_view& domain) {
  const auto at = address.rfind('@');
  if (at == std::string_view::npos) return false;
  local = address.substr(0, at);
  domain = address.substr(at + 1);
  return true;
}

std::string check_domain(std::string_view d) {
  if (d.empty()) return "empty domain";
  if (d.size() > 253) return "domain longer than 253 characters";
  if (!is_valid_utf8(d)) return "domain is not valid UTF-8";
  if (d.front() == '.' || d.back() == '.') return "domain starts or ends with a dot";
  bool ascii = true, alabel = false;
  std::size_t start = 0;
  while (start <= d.size()) {
    auto end = d.find('.', start);
    if (end == std::string_view::npos) end = d.size();
    const std::string_view label = d.substr(start, end - start);
    if (label.empty()) return "domain has an empty label (two dots)";
    if (label.size() > 63 && is_ascii(label)) return "domain label longer than 63 characters";
    for (unsigned char c : label) {
      if (c >= 0x80) {
        ascii = false;
        continue;
      }
      if (!is_ldh(c)) return "domain has the character '" + escape(std::string(1, static_cast<char>(c))) + "'";
    }
    if (is_ascii(label) && (label.front() == '-' || label.back() == '-')) return "domain label starts or ends with '-'";
    alabel = alabel || has_ace_prefix(label);
    start = end + 1;
  }
  if (!ascii || alabel) {
    // Unicode domains must convert to a valid A-label form, and A-labels must decode to
    // a valid U-label (IDNA2008 via libidn2, which checks both ways).
    std::string err;
    if (domain_to_alabel(d, &err).empty()) return "internationalized domain is not valid IDNA: " + err;
  }
  return {};
}

std::string check_local_part(std::string_view l) {
  if (l.empty()) return "empty local part";
  if (l.size() > 64) return "local part longer than 64 bytes";
  if (!is_valid_utf8(l)) return "local part is not valid UTF-8";
  if (l.front() == '.' || l.back() == '.') return "local part starts or ends with a dot";
  if (l.find("..") != std::string_view::npos) return "local part has two dots in a row";
  if (l.front() == '#') return "local part starts with '#' (postmap would read the line as a comment)";
  if (l.front() == '|') return "local part starts with '|' (would read as a pipe command)";
  for (unsigned char c : l) {
    if (c == '"') return "quoted local parts are not supported";
    if (c == '.') continue;
    if (c <= ' ' || c == 0x7f) return "local part has a blank or control character";
    if (!is_atext(c)) return "local part has the character '" + escape(std::string(1, static_cast<char>(c))) + "'";
  }
  return {};
}

std::string check_address(std::string_view a) {
  if (a.empty()) return "empty address";
  if (a.size() > 254) return "address longer than 254 characters";
  std::string_view local, domain;
  if (!split_address(a, local, domain)) return "no '@' in address";
  if (local.find('@') != std::string_view::npos) return "more than one '@' in address";
  if (auto why = check_local_part(local); !why.empty()) return why;
  return check_domain(domain);
}

std::string check_transport(std::string_view v) {
  if (v.empty()) return "empty transport";
  if (v.front() == ' ' || v.back() == ' ' || v.front() == '\t' || v.back() == '\t') return "transport has leading or trailing blanks";
  for (unsigned char c : v)
    if (c < ' ' || c == 0x7f) return "transport has a control character";
  const auto colon = v.find(':');
  if (colon == std::string_view::npos) return "transport must be transport:nexthop (e.g. smtp:[mx.example.edu])";
  const std::string_view name = v.substr(0, colon), nexthop = v.substr(colon + 1);
  for (unsigned char c : name)
    if (!is_ldh(c) && c != '_' && c != '.') return "transport name \"" + std::string(name) + "\" is not a master.cf service name";
  if (name == "error" || name == "retry") return {};  // nexthop is a status text and may hold blanks
  for (unsigned char c : nexthop)
    if (c == ' ' || c == '\t' || c == ',') return "transport next hop has a blank or comma";
  if (!nexthop.empty() && nexthop.front() == '[') {
    const auto close = nexthop.find(']');
    if (close == std::string_view::npos) return "next hop has '[' without ']'";
    const std::string_view host = nexthop.substr(1, close - 1), rest = nexthop.substr(close + 1);
    if (host.empty()) return "next hop has an empty host";
    if (!rest.empty()) {
      if (rest.front() != ':' || rest.size() == 1) return "next hop has something other than :port after ']'";
      for (unsigned char c : rest.substr(1))
        if (c < '0' || c > '9') return "next hop port is not a number";
    }
  }
  return {};
}

std::string check_alias_target(std::string_view t) {
  if (t.empty()) return "empty alias target";
  // postalias turns a tab into a blank even inside quotes, and local(8) would run or
  // open the rest: no control character in a command or file name is meant.
  if (t.front() == '|' || t.front() == '/' || t.rfind(":include:", 0) == 0)
    for (unsigned char c : t)
      if (c < ' ' || c == 0x7f) return "control character (line break, tab, NUL, ...) in a command or file name";
  if (t.front() == '|') return t.size() > 1 ? std::string() : "empty pipe command";
  if (t.front() == '/') return t.find_first_of("\r\n") == std::string_view::npos ? std::string() : "file name with a line break";
  if (t.rfind(":include:", 0) == 0) return t.size() > 9 && t[9] == '/' ? std::string() : ":include: needs an absolute path";
  if (t.find('@') != std::string_view::npos) return check_address(t);
  return check_local_part(t);
}

std::vector<std::string> split_alias_targets(std::string_view rhs) {
  std::vector<std::string> out;
  std::string cur;
  bool quoted = false;
  for (char c : rhs) {
    if (c == '"') {
      quoted = !quoted;
      continue;
    }
    if (c == ',' && !quoted) {
      out.push_back(trim(cur));
      cur.clear();
      continue;
    }
    cur += c;
  }
  out.push_back(trim(cur));
  return out;
}

std::string quote_alias_target(std::string_view t) {
  // postalias reads the right-hand side as RFC 822 tokens (tok822_parse): outside quotes
  // it puts a blank before '<', '(' and '[', drops backslashes and rewrites comments, so
  // "|/bin/echo<x>" would be stored as "|/bin/echo <x>". A quoted string it keeps as
  // written. Quoting what holds one of these makes our file and postalias's agree.
  if (t.find_first_of(" \t,\"\\()<>[]") == std::string_view::npos) return std::string(t);
  std::string q = "\"";
  for (char c : t) {
    if (c == '"' || c == '\\') q += '\\';
    q += c;
  }
  q += '"';
  return q;
}

std::string lowercase_domain(std::string_view a) {
  std::string s(a);
  const auto at = s.rfind('@');
  if (at == std::string::npos) return s;
  for (std::size_t i = at + 1; i < s.size(); ++i)
    if (s[i] >= 'A' && s[i] <= 'Z') s[i] = static_cast<char>(s[i] - 'A' + 'a');
  return s;
}

bool is_idn_domain(std::string_view d) {
  bool label_start = true;
  for (std::size_t i = 0; i < d.size(); ++i) {
    const unsigned char c = d[i];
    if (c >= 0x80) return true;
    if (label_start && has_ace_prefix(d.substr(i))) return true;
    label_start = c == '.';
  }
  return false;
}

std::string domain_to_alabel(std::string_view d, std::string* error) {
  // libidn2 reads a C string: past a NUL it would convert only the name before it.
  if (d.find('\0') != std::string_view::npos) {
    if (error) *error = "domain contains a NUL byte";
    return {};
  }
  const Idn2* idn = idn2(error);
  if (idn == nullptr) return {};
  const std::string z(d);
  char* out = nullptr;
  const int rc = idn->to_ascii(z.c_str(), &out, kIdnaFlags);
  if (rc != IDN2_OK) {
    if (error) *error = idn->describe(rc);
    return {};
  }
  std::string a(out);
  idn->release(out);
  // IDNA maps some code points to nothing (U+FE01): "" would read as a failure without a reason.
  if (a.empty() && !d.empty() && error) *error = "domain is empty after IDNA mapping";
  return a;
}

std::string domain_to_ulabel(std::string_view d, std::string* error) {
  // Through the A-label form: it is validated and lowercase, and idn2_to_unicode_8z8z
  // would keep the case of an "XN--" label's ASCII letters.
  const std::string a = domain_to_alabel(d, error);
  if (a.empty()) return {};
  const Idn2* idn = idn2(error);
  if (idn == nullptr) return {};
  char* out = nullptr;
  const int rc = idn->to_unicode(a.c_str(), &out, 0);
  if (rc != IDN2_OK) {
    if (error) *error = idn->describe(rc);
    return {};
  }
  std::string u(out);
  idn->release(out);
  return u;
}

}  // namespace mapsync
