// test_casefold.cpp - casefold() must give what Postfix's casefold.c gives.
//
// The expected strings are ICU's default full case folding, which Postfix uses; the
// check against the stock postmap itself is in test_map_backends.cpp.
#include <doctest/doctest.h>

#include <string>

#include "libmapsync/core/casefold.h"

using mapsync::casefold;
using mapsync::is_ascii;
using mapsync::is_valid_utf8;

namespace {

std::string fold(std::string_view in) {
  std::string out, error;
  bool ok = casefold(in, out, &error);
  INFO("input: " << std::string(in) << " error: " << error);
  CHECK(ok);
  return out;
}

}  // namespace

TEST_CASE("casefold lowercases ASCII and nothing else") {
  CHECK(fold("") == "");
  CHECK(fold("User@Example.COM") == "user@example.com");
  CHECK(fold("already-lower+tag@x.y") == "already-lower+tag@x.y");
  std::string all;
  for (int c = 1; c < 128; ++c) all += static_cast<char>(c);
  std::string expected = all;
  for (char& c : expected)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  CHECK(fold(all) == expected);
  // The result replaces what the output string held.
  std::string out = "left over from before, much longer than the input";
  CHECK(casefold("AB", out));
  CHECK(out == "ab");
}

TEST_CASE("casefold folds UTF-8 with ICU's default full folding, like Postfix") {
  CHECK(fold("ÄRGER@Example.EDU") == "ärger@example.edu");
  CHECK(fold("Straße") == "strasse");
  CHECK(fold("STRASSE") == "strasse");
  // Non-ASCII late in a long key: the fast path must not miss it.
  CHECK(fold("ABCDEFGHIJKLMNOPQ\xC3\x84") == "abcdefghijklmnopq\xC3\xA4");
  // Greek: capital and final sigma both fold to σ; no final-form context rules.
  CHECK(fold("ΣΊΣΥΦΟΣ") == "σίσυφοσ");
  CHECK(fold("σίσυφος") == "σίσυφοσ");
  // Turkish: default (not Turkic) folding. İ becomes i + COMBINING DOT ABOVE, dotless ı
  // stays, ASCII I becomes i.
  CHECK(fold("İstanbul") == "i\xCC\x87stanbul");
  CHECK(fold("ı") == "ı");
  CHECK(fold("IŞIK") == "işik");
  // Ligature and title case expand or change; CJK and emoji stay.
  CHECK(fold("ﬃ") == "ffi");
  CHECK(fold("ǅ") == "ǆ");
  CHECK(fold("ΐ") == "ι\xCC\x88\xCC\x81");
  CHECK(fold("日本語@例え.テスト") == "日本語@例え.テスト");
  CHECK(fold("\xF0\x9F\x98\x80") == "\xF0\x9F\x98\x80");
}

TEST_CASE("casefold refuses malformed UTF-8") {
  const char* bad[] = {
      "\xC0\xAF",              // overlong "/"
      "\xE0\x80\xAF",          // overlong, three bytes
      "\xF0\x80\x80\xAF",      // overlong, four bytes
      "abc\xC3",               // truncated at the end
      "\xE2\x82x",             // truncated before ASCII
      "\xED\xA0\x80",          // UTF-16 surrogate U+D800
      "\xED\xBF\xBF",          // surrogate U+DFFF
      "\xF4\x90\x80\x80",      // past U+10FFFF
      "\x80",                  // lone continuation byte
      "\xFF",                  // never valid
      "\xC3\xA4\xA4",          // extra continuation byte
  };
  for (const char* in : bad) {
    std::string out = "x", error;
    INFO("input bytes: " << in);
    CHECK_FALSE(casefold(in, out, &error));
    CHECK(error == "malformed UTF-8");
    CHECK_FALSE(is_valid_utf8(in));
  }
  std::string out;
  CHECK_FALSE(casefold("\xC0\xAF", out));  // no error string wanted: still refused
}

TEST_CASE("is_ascii and is_valid_utf8") {
  CHECK(is_ascii(""));
  CHECK(is_ascii("plain ascii text, longer than eight bytes"));
  CHECK_FALSE(is_ascii("plain ascii text, longer than eight bytes\x80"));
  CHECK_FALSE(is_ascii("\xC3\xA4"));
  CHECK(is_valid_utf8(""));
  CHECK(is_valid_utf8("ärger"));
  CHECK(is_valid_utf8("\xEF\xBF\xBF"));      // U+FFFF
  CHECK(is_valid_utf8("\xF0\x9D\x84\x9E"));  // U+1D11E
  CHECK(is_valid_utf8("\xF4\x8F\xBF\xBF"));  // U+10FFFF, the last one
  CHECK(is_valid_utf8("\xEE\x80\x80"));      // U+E000, just past the surrogates
  CHECK(is_valid_utf8(std::string_view("a\0b", 3)));
}
