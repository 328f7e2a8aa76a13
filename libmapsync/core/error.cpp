// error.cpp - helpers for mapsync::Error.
#include "libmapsync/core/error.h"

#include <cstring>

namespace mapsync {

std::string errno_text(const std::string& what, int err) { return what + ": " + std::strerror(err); }

Exit worse(Exit a, Exit b) {
  auto rank = [](Exit e) {
    switch (e) {
      case Exit::ok: return 0;
      case Exit::data: return 1;
      case Exit::config: return 2;
      case Exit::tempfail: return 3;
      default: return 4;  // I/O and software trouble: the most serious
    }
  };
  return rank(a) >= rank(b) ? a : b;
}

}  // namespace mapsync
