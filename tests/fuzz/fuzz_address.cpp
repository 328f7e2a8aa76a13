// fuzz_address.cpp - address syntax, IDN conversion and Postfix case folding
// (core/address.h, core/casefold.h). The whole input is tried as an address, a domain,
// a transport and an aliases(5) right-hand side; the checks below are the promises the
// renderer and the importers rely on.
#include "libmapsync/core/address.h"
#include "libmapsync/core/casefold.h"
#include "tests/fuzz/fuzz_entry.h"

namespace {

bool blank(char c) { return c == ' ' || c == '\t'; }

void check_fold(std::string_view s) {
  std::string folded, again, err;
  const bool ok = mapsync::casefold(s, folded, &err);
  FUZZ_CHECK(ok == mapsync::is_valid_utf8(s), s);
  if (!ok) {
    FUZZ_CHECK(!err.empty() && mapsync::fold_key(s) == s, s);
    return;
  }
  FUZZ_CHECK(mapsync::is_valid_utf8(folded), folded);
  FUZZ_CHECK(mapsync::casefold(folded, again) && again == folded, folded);  // folding is idempotent
  FUZZ_CHECK(mapsync::fold_key(s) == folded, s);
  if (mapsync::is_ascii(s)) FUZZ_CHECK(folded.size() == s.size(), s);
}

void check_domain(std::string_view d) {
  const std::string why = mapsync::check_domain(d);
  std::string err;
  const std::string a = mapsync::domain_to_alabel(d, &err);
  if (a.empty() && !d.empty()) FUZZ_CHECK(!err.empty(), d);  // "" is "" (check_domain refuses it)
  // A name with a NUL is not the name before the NUL.
  if (d.find('\0') != std::string_view::npos) FUZZ_CHECK(a.empty(), d);
  if (!a.empty()) {
    FUZZ_CHECK(mapsync::is_ascii(a), a);
    FUZZ_CHECK(mapsync::domain_to_alabel(a) == a, a);  // the A-label form is a fixed point
    std::string folded;
    FUZZ_CHECK(mapsync::casefold(a, folded) && folded == a, a);  // and lowercase
  }
  const std::string u = mapsync::domain_to_ulabel(d);
  if (!u.empty()) FUZZ_CHECK(mapsync::is_valid_utf8(u) && !a.empty(), u);
  if (!why.empty()) return;
  FUZZ_CHECK(mapsync::is_valid_utf8(d) && !d.empty() && d.size() <= 253, d);
  if (mapsync::is_idn_domain(d)) FUZZ_CHECK(!a.empty(), d);
}

void check_address(std::string_view s) {
  const std::string why = mapsync::check_address(s);
  const std::string lowered = mapsync::lowercase_domain(s);
  FUZZ_CHECK(lowered.size() == s.size(), s);
  if (!why.empty()) return;
  std::string_view local, domain;
  FUZZ_CHECK(mapsync::split_address(s, local, domain), s);
  FUZZ_CHECK(mapsync::check_local_part(local).empty() && mapsync::check_domain(domain).empty(), s);
  FUZZ_CHECK(mapsync::check_address(lowered).empty(), lowered);
  FUZZ_CHECK(mapsync::check_alias_target(s).empty(), s);
  // What may sit in a lookup table: no blank, comma or line break, no comment.
  FUZZ_CHECK(s.find_first_of(" \t\r\n,\"") == std::string_view::npos && s.front() != '#', s);
}

void check_aliases(std::string_view rhs) {
  for (const std::string& t : mapsync::split_alias_targets(rhs)) {
    if (t.empty()) continue;
    FUZZ_CHECK(!blank(t.front()) && !blank(t.back()), t);
    (void)mapsync::check_alias_target(t);
    // A target quoted for the aliases file reads back as itself. Not checked with '"' or
    // '\\': quote_alias_target() escapes them and split_alias_targets() keeps escapes as
    // written (which of the two agrees with Postfix's local(8) is an open question).
    if (t.find_first_of("\"\\") == std::string::npos) {
      const auto back = mapsync::split_alias_targets(mapsync::quote_alias_target(t));
      FUZZ_CHECK(back.size() == 1 && back[0] == t, t);
    }
  }
  (void)mapsync::check_transport(rhs);
}

}  // namespace

MAPSYNC_FUZZ_TARGET(address) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  check_fold(in);
  check_address(in);
  check_aliases(in);
  std::string_view local, domain;
  if (mapsync::split_address(in, local, domain)) check_domain(domain);
  else check_domain(in);
  return 0;
}
