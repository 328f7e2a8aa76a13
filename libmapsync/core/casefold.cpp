// casefold.cpp - lookup-key case folding, the same as Postfix's src/util/casefold.c.
//
// Postfix with smtputf8_enable=yes lowercases all-ASCII keys byte by byte and hands
// everything else, once it has passed an RFC 3629 check, to ICU's default full case
// folding with the "en_US" locale. The bytes we store must equal what postmap stores
// and what the daemons look up, so this follows that recipe step by step. Only this
// file includes ICU, and it loads ICU at the first key that needs it (dynlib.h): most
// runs fold only ASCII keys or none at all.
#include "libmapsync/core/casefold.h"

#include <unicode/ucasemap.h>
#include <unicode/utypes.h>

#include <cstdint>
#include <cstring>

#include "libmapsync/core/dynlib.h"

namespace mapsync {

namespace {

// Eight bytes at a time: ASCII keys are nearly all keys, and the benchmark folds millions.
constexpr std::uint64_t high_bits = 0x8080808080808080ull;

bool ascii_words(const unsigned char* p, std::size_t n) {
  std::uint64_t acc = 0;
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    std::uint64_t w;
    std::memcpy(&w, p + i, 8);
    acc |= w;
  }
  for (; i < n; ++i) acc |= p[i];
  return (acc & high_bits) == 0;
}

// ICU's entry points carry its major version (ucasemap_open_72: unicode/urename.h), and so
// does its soname; both come from the headers we were built with, as they would for the
// linker. The expansion of the renamed name is what MAPSYNC_STR quotes.
#define MAPSYNC_STR2(x) #x
#define MAPSYNC_STR(x) MAPSYNC_STR2(x)

// libicuuc, loaded and the map opened once, at the first non-ASCII key; only read
// afterwards, which ICU allows from many threads (the map writers fold in threads; the
// function-local static makes the first use race-free). Postfix aborts when
// ucasemap_open() fails; a library reports it instead.
struct Icu {
  DynLib lib{"libicuuc.so." MAPSYNC_STR(U_ICU_VERSION_MAJOR_NUM)};
  decltype(&ucasemap_open) open = nullptr;
  decltype(&ucasemap_close) close = nullptr;
  decltype(&ucasemap_utf8FoldCase) fold = nullptr;
  decltype(&u_errorName) error_name = nullptr;
  UCaseMap* map = nullptr;
  std::string error;  // why there is no map

  Icu() {
    if (!lib.bind(open, MAPSYNC_STR(ucasemap_open)) || !lib.bind(close, MAPSYNC_STR(ucasemap_close)) ||
        !lib.bind(fold, MAPSYNC_STR(ucasemap_utf8FoldCase)) || !lib.bind(error_name, MAPSYNC_STR(u_errorName))) {
      error = lib.error();
      return;
    }
    UErrorCode status = U_ZERO_ERROR;
    map = open("en_US", U_FOLD_CASE_DEFAULT, &status);
    if (U_FAILURE(status)) {
      error = std::string("ucasemap_open: ") + error_name(status);
      map = nullptr;
    }
  }
  ~Icu() {
    if (map) close(map);
  }
};

const Icu& icu() {
  static const Icu instance;
  return instance;
}

}  // namespace

bool is_ascii(std::string_view s) {
  return ascii_words(reinterpret_cast<const unsigned char*>(s.data()), s.size());
}

bool is_valid_utf8(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const auto* end = p + s.size();
  while (p < end) {
    unsigned c = *p;
    if (c < 0x80) {
      ++p;
      continue;
    }
    // The second byte's allowed range excludes overlong forms (E0, F0), UTF-16
    // surrogates (ED) and code points past U+10FFFF (F4); C0, C1 and F5..FF never start
    // a character.
    std::size_t len;
    unsigned lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      if (c == 0xE0) lo = 0xA0;
      if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      if (c == 0xF0) lo = 0x90;
      if (c == 0xF4) hi = 0x8F;
    } else {
      return false;
    }
    if (static_cast<std::size_t>(end - p) < len) return false;
    if (p[1] < lo || p[1] > hi) return false;
    for (std::size_t i = 2; i < len; ++i)
      if ((p[i] & 0xC0) != 0x80) return false;
    p += len;
  }
  return true;
}

bool casefold(std::string_view in, std::string& out, std::string* error) {
  // One pass lowercases and notices non-ASCII bytes at the same time; the copy is
  // thrown away in the rare case that ICU has to do the work.
  out.resize(in.size());
  unsigned char seen = 0;
  for (std::size_t i = 0; i < in.size(); ++i) {
    auto c = static_cast<unsigned char>(in[i]);
    seen |= c;
    out[i] = static_cast<char>(c + (static_cast<unsigned char>(c - 'A') < 26u ? 32 : 0));
  }
  if ((seen & 0x80) == 0) return true;

  // ICU folds malformed input without complaint; Postfix checks first (as do we), so that
  // a key it would refuse is refused here too.
  if (!is_valid_utf8(in)) {
    out.clear();
    if (error) *error = "malformed UTF-8";
    return false;
  }
  if (in.size() > INT32_MAX / 2) {
    out.clear();
    if (error) *error = "key too long to fold";
    return false;
  }
  const Icu& lib = icu();
  if (lib.map == nullptr) {
    out.clear();
    if (error) *error = lib.error;
    return false;
  }
  UErrorCode status = U_ZERO_ERROR;
  // Folding may lengthen the text ("ß" -> "ss", "ΐ" -> three code points): guess, and
  // retry once with the size ICU asks for.
  out.resize(in.size() + in.size() / 2 + 8);
  for (int attempt = 0; attempt < 2; ++attempt) {
    status = U_ZERO_ERROR;
    int32_t needed = lib.fold(lib.map, out.data(), static_cast<int32_t>(out.size()), in.data(),
                                           static_cast<int32_t>(in.size()), &status);
    if (status == U_BUFFER_OVERFLOW_ERROR) {
      out.resize(static_cast<std::size_t>(needed));
      continue;
    }
    if (U_FAILURE(status)) break;
    out.resize(static_cast<std::size_t>(needed));
    return true;
  }
  out.clear();
  if (error) *error = std::string("case folding failed: ") + lib.error_name(status);
  return false;
}

std::string fold_key(std::string_view s) {
  std::string out;
  if (!casefold(s, out)) return std::string(s);
  return out;
}

}  // namespace mapsync
