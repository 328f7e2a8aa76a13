// fuzz_entry.h - one source per fuzz target, built two ways: as a libFuzzer target
// (LLVMFuzzerTestOneInput) and, with MAPSYNC_FUZZ_REPLAY, as a plain function that
// replay.cpp runs over the seed corpus in the unit tests (ctest fuzz_corpus_replay).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <utility>

#ifdef MAPSYNC_FUZZ_REPLAY
#define MAPSYNC_FUZZ_TARGET(name) int mapsync_fuzz_##name(const std::uint8_t* data, std::size_t size)
#else
#define MAPSYNC_FUZZ_TARGET(name) extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
#endif

namespace mapsync::fuzz {

// A property that does not hold is a bug like a crash: abort so that libFuzzer keeps the input.
[[noreturn]] inline void broken(const char* file, int line, const char* what, std::string_view detail) {
  std::string shown;  // C escapes: the detail may hold NUL and other control bytes
  for (unsigned char c : detail) {
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      shown += static_cast<char>(c);
    } else {
      char esc[8];
      std::snprintf(esc, sizeof esc, "\\x%02x", c);
      shown += esc;
    }
  }
  std::fprintf(stderr, "%s:%d: property broken: %s [%s]\n", file, line, what, shown.c_str());
  std::abort();
}

// The input split at its first occurrence of sep (the whole input and "" without one).
inline std::pair<std::string_view, std::string_view> cut(std::string_view in, std::string_view sep) {
  const auto at = in.find(sep);
  if (at == std::string_view::npos) return {in, {}};
  return {in.substr(0, at), in.substr(at + sep.size())};
}

}  // namespace mapsync::fuzz

#define FUZZ_CHECK(cond, detail) \
  do {                           \
    if (!(cond)) ::mapsync::fuzz::broken(__FILE__, __LINE__, #cond, (detail)); \
  } while (0)
