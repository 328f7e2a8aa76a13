// fuzz_ldap.cpp - RFC 4515/4514 escaping (directory/ldap_escape.h) and the attribute
// mapping of search results (dir_entry_from, then wanted_from_entry: an LDAP entry's
// attributes to the account adsync wants). No server: the entry comes from the input.
//
// Input: the first line is a value to escape (and an attribute name to check); every
// further line is one attribute value, "name:value" ("dn:..." sets the DN). The first
// byte's low bit chooses primary_from_proxy.
#include <exception>
#include <set>
#include <unordered_set>

#include "libmapsync/core/address.h"
#include "libmapsync/core/casefold.h"
#include "libmapsync/core/error.h"
#include "libmapsync/directory/adsync.h"
#include "libmapsync/directory/directory.h"
#include "libmapsync/directory/ldap_escape.h"
#include "tests/fuzz/fuzz_entry.h"

namespace {

int hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// RFC 4515: outside \XX escapes no '*', '(', ')', '\' or NUL; unescaped it is the value.
void check_filter_value(std::string_view v) {
  const std::string f = mapsync::ldap_filter_value(v);
  std::string back;
  for (std::size_t i = 0; i < f.size(); ++i) {
    const char c = f[i];
    FUZZ_CHECK(c != '*' && c != '(' && c != ')' && c != '\0', f);
    if (c == '\\') {
      FUZZ_CHECK(i + 2 < f.size() && hex(f[i + 1]) >= 0 && hex(f[i + 2]) >= 0, f);
      back += static_cast<char>(hex(f[i + 1]) * 16 + hex(f[i + 2]));
      i += 2;
    } else {
      back += c;
    }
  }
  FUZZ_CHECK(back == v, f);
}

// RFC 4514 section 3 (the parser's side): a '\' escapes a special or starts two hex digits;
// no unescaped special, no unescaped leading ' ' or '#', no unescaped trailing ' '.
void check_dn_value(std::string_view v) {
  const std::string d = mapsync::ldap_dn_value(v);
  const std::string_view specials = "\"+,;<>\\";
  std::string back;
  for (std::size_t i = 0; i < d.size(); ++i) {
    const char c = d[i];
    if (c == '\\') {
      FUZZ_CHECK(i + 1 < d.size(), d);
      const char n = d[i + 1];
      if (specials.find(n) != std::string_view::npos || n == ' ' || n == '#' || n == '=') {
        back += n;
        i += 1;
      } else {
        FUZZ_CHECK(i + 2 < d.size() && hex(n) >= 0 && hex(d[i + 2]) >= 0, d);
        back += static_cast<char>(hex(n) * 16 + hex(d[i + 2]));
        i += 2;
      }
      continue;
    }
    FUZZ_CHECK(specials.find(c) == std::string_view::npos && c != '\0', d);
    if (i == 0) FUZZ_CHECK(c != ' ' && c != '#', d);
    if (i + 1 == d.size()) FUZZ_CHECK(c != ' ', d);
    back += c;
  }
  FUZZ_CHECK(back == v, d);
}

void check_equality_filter(std::string_view attr, std::string_view value) {
  try {
    const std::string f = mapsync::ldap_equality_filter(attr, value);
    FUZZ_CHECK(f == "(" + std::string(attr) + "=" + mapsync::ldap_filter_value(value) + ")", f);
    FUZZ_CHECK(attr.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-;.:") ==
                   std::string_view::npos, attr);
  } catch (const mapsync::Error& e) {
    FUZZ_CHECK(e.status() == mapsync::Exit::config, e.what());
    FUZZ_CHECK(!mapsync::ldap_attribute_name_ok(attr), attr);
  }
}

void check_mapping(std::string_view lines, bool primary_from_proxy) {
  mapsync::AdConfig ad;
  ad.primary_from_proxy = primary_from_proxy;
  std::string dn;
  std::vector<mapsync::DirAttribute> attrs;
  while (!lines.empty()) {
    auto [line, rest] = mapsync::fuzz::cut(lines, "\n");
    lines = rest;
    auto [name, value] = mapsync::fuzz::cut(line, ":");
    if (name == "dn") {
      dn = value;
      continue;
    }
    if (attrs.empty() || attrs.back().name != name) attrs.push_back({std::string(name), {}});
    attrs.back().values.emplace_back(value);
  }
  mapsync::DirEntry e;
  try {
    e = mapsync::dir_entry_from(ad, dn, attrs, "AD fuzz");
  } catch (const mapsync::Error& err) {
    FUZZ_CHECK(err.status() == mapsync::Exit::tempfail || err.status() == mapsync::Exit::data, err.what());
    return;
  }
  FUZZ_CHECK(e.anchor.size() == 16 && e.dn == dn, e.dn);
  FUZZ_CHECK(mapsync::guid_text(e.anchor).size() == 36, e.anchor);
  const std::unordered_set<std::string> domains = {"example.edu", "bücher.example.edu", "xn--bcher-kva.example.edu"};
  std::vector<std::string> notes;
  const mapsync::Wanted w = mapsync::wanted_from_entry(ad, e, domains, notes);
  FUZZ_CHECK(w.anchor == e.anchor && w.uid == e.uid && w.enabled == !e.disabled(), w.uid);
  // Every further address is a valid address in a local domain, given once, not the primary.
  std::set<std::string> seen = {mapsync::fold_key(w.primary_address)};
  for (const std::string& a : w.aliases) {
    FUZZ_CHECK(mapsync::check_address(a).empty(), a);
    FUZZ_CHECK(seen.insert(mapsync::fold_key(a)).second, a);
    std::string_view local, domain;
    FUZZ_CHECK(mapsync::split_address(a, local, domain) && domains.count(mapsync::fold_key(domain)), a);
  }
}

}  // namespace

MAPSYNC_FUZZ_TARGET(ldap) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const auto [first, rest] = mapsync::fuzz::cut(in, "\n");
  check_filter_value(first);
  check_dn_value(first);
  (void)mapsync::ldap_attribute_name_ok(first);
  const auto [attr, value] = mapsync::fuzz::cut(first, "=");
  check_equality_filter(attr, value);
  check_mapping(rest, size > 0 && (data[0] & 1));
  return 0;
}
