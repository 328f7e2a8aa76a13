// fuzz_textmap.cpp - the Postfix text-map reader (importer/textmap.h) with postmap and
// postalias syntax: every entry it returns must be one postmap would store.
#include "libmapsync/core/casefold.h"
#include "libmapsync/importer/textmap.h"
#include "tests/fuzz/fuzz_entry.h"

namespace {

bool blank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f' || c == '\n'; }

void check(std::string_view text, bool alias) {
  const mapsync::TextMap m = mapsync::parse_text_map(text, "fuzz.map", alias);
  unsigned lines = 1;
  for (char c : text) lines += c == '\n';
  unsigned last = 0;
  for (const mapsync::TextEntry& e : m.entries) {
    FUZZ_CHECK(!e.key.empty(), e.value);
    FUZZ_CHECK(e.line > last && e.line <= lines, e.key);  // file order, real line numbers
    last = e.line;
    if (!alias) FUZZ_CHECK(!e.value.empty(), e.key);
    if (!e.value.empty()) FUZZ_CHECK(!blank(e.value.front()) && !blank(e.value.back()), e.value);
    std::string folded;
    FUZZ_CHECK(mapsync::casefold(e.key, folded) && folded == e.folded, e.key);
    if (!alias) {
      for (char c : e.key) FUZZ_CHECK(!blank(c), e.key);
      FUZZ_CHECK(e.key.front() != '#', e.key);
    }
  }
  for (const mapsync::TextProblem& p : m.problems) FUZZ_CHECK(p.line >= 1 && p.line <= lines, p.why);
}

}  // namespace

MAPSYNC_FUZZ_TARGET(textmap) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  check(text, false);
  check(text, true);
  return 0;
}
