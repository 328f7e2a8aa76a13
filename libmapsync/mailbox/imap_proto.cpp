// imap_proto.cpp - IMAP quoting, Cyrus mailbox names, response parsing.
#include "libmapsync/mailbox/imap_proto.h"

#include <algorithm>
#include <cctype>

namespace mapsync {
namespace {

// RFC 3501 ATOM-CHAR: any CHAR except atom-specials ( ) { SP CTL % * " \ ].
bool atom_char(unsigned char c) {
  if (c <= 0x1f || c >= 0x7f) return false;
  switch (c) {
    case '(': case ')': case '{': case ' ': case '%': case '*': case '"': case '\\': case ']':
      return false;
    default:
      return true;
  }
}

// What Cyrus' mboxname_policycheck accepts in a name (3.x), separators aside. Names
// outside it are refused by the server; we refuse them first, with a clearer message.
bool cyrus_char(unsigned char c) {
  if (std::isalnum(c)) return true;
  return std::string_view(" #$'+,-:=@_~").find(static_cast<char>(c)) != std::string_view::npos;
}

constexpr std::size_t kCyrusMaxName = 490;  // MAX_MAILBOX_NAME in Cyrus 3

bool check_part(std::string_view part, const CyrusNamespace& ns, std::string* why, const char* what) {
  auto bad = [&](const std::string& reason) {
    if (why) *why = std::string(what) + " \"" + std::string(part.substr(0, 80)) + (part.size() > 80 ? "..." : "") + "\" " + reason;
    return false;
  };
  if (part.empty()) return bad("is empty");
  if (part.front() == ' ' || part.back() == ' ') return bad("starts or ends with a space");
  for (unsigned char c : part) {
    if (c == '.' && ns.unix_separator) continue;  // stored as '^' by Cyrus
    if (c == '.' || c == '/') return bad("contains the hierarchy separator '" + std::string(1, static_cast<char>(c)) + "'");
    if (c >= 0x80) return bad("contains 8-bit bytes (Cyrus user names are ASCII)");
    if (c < 0x20 || c == 0x7f) return bad("contains control characters (CR, LF, NUL, ...)");
    if (!cyrus_char(c)) return bad(std::string("contains '") + static_cast<char>(c) + "', which Cyrus does not allow in mailbox names");
  }
  return true;
}

}  // namespace

bool imap_string_ok(std::string_view value) { return value.find('\0') == std::string_view::npos; }

std::string imap_string(std::string_view value, bool literal_plus) {
  if (!value.empty() && std::all_of(value.begin(), value.end(), [](char c) { return atom_char(static_cast<unsigned char>(c)); }))
    return std::string(value);
  const bool quotable = std::all_of(value.begin(), value.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u >= 0x20 && u < 0x7f;  // TEXT-CHAR without CR/LF; 8-bit needs a literal
  });
  if (quotable) {
    std::string out = "\"";
    for (char c : value) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    return out + "\"";
  }
  return "{" + std::to_string(value.size()) + (literal_plus ? "+" : "") + "}\r\n" + std::string(value);
}

std::optional<std::string> cyrus_inbox(const CyrusNamespace& ns, std::string_view uid, std::string_view domain,
                                       std::string* why) {
  if (!check_part(uid, ns, why, "user name")) return std::nullopt;
  if (uid.find('@') != std::string_view::npos) {
    if (why) *why = "user name \"" + std::string(uid) + "\" contains '@' (give the domain separately)";
    return std::nullopt;
  }
  std::string name = std::string("user") + ns.separator() + std::string(uid);
  if (ns.virtual_domains && !domain.empty()) {
    for (unsigned char c : domain)
      if (!(std::isalnum(c) || c == '-' || c == '.')) {
        if (why) *why = "domain \"" + std::string(domain) + "\" is not an ASCII host name";
        return std::nullopt;
      }
    name += "@" + std::string(domain);
  }
  if (name.size() > kCyrusMaxName) {
    if (why) *why = "mailbox name for \"" + std::string(uid.substr(0, 40)) + "...\" is " + std::to_string(name.size()) +
                    " bytes, more than Cyrus allows (" + std::to_string(kCyrusMaxName) + ")";
    return std::nullopt;
  }
  return name;
}

std::optional<std::string> cyrus_folder(const CyrusNamespace& ns, const std::string& inbox, std::string_view folder,
                                        std::string* why) {
  if (!check_part(folder, ns, why, "folder name")) return std::nullopt;
  // With virtual domains the domain stays at the end: user/jdoe/Sent@example.edu.
  const auto at = ns.virtual_domains ? inbox.find('@') : std::string::npos;
  std::string name = at == std::string::npos ? inbox + ns.separator() + std::string(folder)
                                             : inbox.substr(0, at) + ns.separator() + std::string(folder) + inbox.substr(at);
  if (name.size() > kCyrusMaxName) {
    if (why) *why = "mailbox name " + name.substr(0, 60) + "... is too long for Cyrus";
    return std::nullopt;
  }
  return name;
}

std::optional<std::size_t> imap_literal_size(std::string_view line) {
  // literal = "{" number "}" (RFC 3501), "{" number "+}" (RFC 7888), ending the line.
  if (line.empty() || line.back() != '}') return std::nullopt;
  const auto open = line.rfind('{');
  if (open == std::string_view::npos) return std::nullopt;
  std::string_view number = line.substr(open + 1, line.size() - open - 2);
  if (!number.empty() && number.back() == '+') number.remove_suffix(1);
  if (number.empty()) return std::nullopt;
  std::size_t n = 0;
  for (char c : number) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return std::nullopt;
    // Saturates: a length too big for size_t must stay too big, not wrap to a small one.
    const auto digit = static_cast<std::size_t>(c - '0');
    n = n > (SIZE_MAX - digit) / 10 ? SIZE_MAX : n * 10 + digit;
  }
  return n;
}

ImapResponse parse_imap_response(std::string_view line) {
  ImapResponse r;
  auto sp = line.find(' ');
  r.tag = std::string(line.substr(0, sp));
  if (sp == std::string_view::npos) return r;
  line.remove_prefix(sp + 1);
  if (r.tag == "+") {
    r.text = std::string(line);
    return r;
  }
  sp = line.find(' ');
  r.status = std::string(line.substr(0, sp));
  std::transform(r.status.begin(), r.status.end(), r.status.begin(), [](unsigned char c) { return std::toupper(c); });
  // "* 12 EXISTS": the number first
  if (!r.status.empty() && std::isdigit(static_cast<unsigned char>(r.status[0])) && sp != std::string_view::npos) {
    const std::string number = r.status;
    line.remove_prefix(sp + 1);
    sp = line.find(' ');
    r.status = std::string(line.substr(0, sp));
    r.text = number;
    return r;
  }
  if (sp != std::string_view::npos) r.text = std::string(line.substr(sp + 1));
  return r;
}

std::string imap_response_code(std::string_view text) {
  if (text.empty() || text[0] != '[') return {};
  const auto end = text.find_first_of(" ]");
  if (end == std::string_view::npos) return {};
  std::string code(text.substr(1, end - 1));
  std::transform(code.begin(), code.end(), code.begin(), [](unsigned char c) { return std::toupper(c); });
  return code;
}

namespace {

void skip_spaces(std::string_view t, std::size_t& i) {
  while (i < t.size() && t[i] == ' ') ++i;
}

// An astring/nstring at t[i]: atom, "quoted", or a literal already inlined as {n}\r\n<bytes>.
bool read_astring(std::string_view t, std::size_t& i, std::string& out) {
  skip_spaces(t, i);
  if (i >= t.size()) return false;
  if (t[i] == '"') {
    ++i;
    while (i < t.size() && t[i] != '"') {
      if (t[i] == '\\' && i + 1 < t.size()) ++i;
      out += t[i++];
    }
    if (i >= t.size()) return false;
    ++i;
    return true;
  }
  if (t[i] == '{') {
    const auto close = t.find('}', i);
    if (close == std::string_view::npos) return false;
    std::size_t n = 0;
    for (std::size_t k = i + 1; k < close; ++k) {
      if (t[k] == '+') continue;
      if (!std::isdigit(static_cast<unsigned char>(t[k])) || n > (1u << 24)) return false;
      n = n * 10 + static_cast<std::size_t>(t[k] - '0');
    }
    i = close + 1;
    if (t.substr(i, 2) == "\r\n") i += 2;
    if (i + n > t.size()) return false;
    out = std::string(t.substr(i, n));
    i += n;
    return true;
  }
  const auto end = t.find(' ', i);
  out = std::string(t.substr(i, end == std::string_view::npos ? std::string_view::npos : end - i));
  i = end == std::string_view::npos ? t.size() : end;
  return true;
}

}  // namespace

std::optional<std::vector<ImapToken>> imap_tokens(std::string_view t) {
  std::vector<ImapToken> out;
  std::size_t i = 0;
  for (;;) {
    skip_spaces(t, i);
    if (i >= t.size()) return out;
    ImapToken tok;
    if (t[i] == '(') {
      // Only flat lists occur in the replies read here (STATUS, QUOTA).
      const auto close = t.find(')', i);
      if (close == std::string_view::npos) return std::nullopt;
      tok.list = true;
      std::string_view inner = t.substr(i + 1, close - i - 1);
      std::size_t k = 0;
      for (;;) {
        skip_spaces(inner, k);
        if (k >= inner.size()) break;
        std::string word;
        if (!read_astring(inner, k, word)) return std::nullopt;
        tok.items.push_back(std::move(word));
      }
      i = close + 1;
    } else if (!read_astring(t, i, tok.text)) {
      return std::nullopt;
    }
    out.push_back(std::move(tok));
  }
}

std::optional<ImapListEntry> parse_imap_list(std::string_view t) {
  ImapListEntry e;
  std::size_t i = 0;
  skip_spaces(t, i);
  if (i >= t.size() || t[i] != '(') return std::nullopt;
  const auto close = t.find(')', i);
  if (close == std::string_view::npos) return std::nullopt;
  std::string_view flags = t.substr(i + 1, close - i - 1);
  while (!flags.empty()) {
    const auto sp = flags.find(' ');
    if (sp != 0) e.flags.emplace_back(flags.substr(0, sp));
    if (sp == std::string_view::npos) break;
    flags.remove_prefix(sp + 1);
  }
  i = close + 1;
  if (!read_astring(t, i, e.delimiter)) return std::nullopt;
  if (e.delimiter == "NIL") e.delimiter.clear();
  if (!read_astring(t, i, e.name)) return std::nullopt;
  return e;
}

}  // namespace mapsync
