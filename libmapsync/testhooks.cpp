// testhooks.cpp - see testhooks.h.
#include "libmapsync/testhooks.h"

#include <fcntl.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

namespace mapsync::testhook {
namespace {

struct Settings {
  long crash_at = 0;
  const char* trace = nullptr;
  std::string pause_point, pause_fifo;
  Settings() {
    if (const char* s = std::getenv("MAPSYNC_TEST_CRASH_AT")) crash_at = std::atol(s);
    trace = std::getenv("MAPSYNC_TEST_CRASH_TRACE");
    if (const char* p = std::getenv("MAPSYNC_TEST_PAUSE")) {
      std::string v = p;
      const auto colon = v.find(':');
      if (colon != std::string::npos) {
        pause_point = v.substr(0, colon);
        pause_fifo = v.substr(colon + 1);
      }
    }
  }
};

const Settings& settings() {
  static const Settings s;
  return s;
}

long counter = 0;

}  // namespace

void crash_point(const char* what) {
  const Settings& s = settings();
  if (!s.crash_at && !s.trace) return;
  ++counter;
  if (s.trace) {
    if (FILE* f = std::fopen(s.trace, "a")) {
      std::fprintf(f, "%ld %s\n", counter, what);
      std::fclose(f);
    }
  }
  if (counter == s.crash_at) std::raise(SIGKILL);
}

void pause_point(const char* point, const std::string& info) {
  const Settings& s = settings();
  if (s.pause_point.empty() || s.pause_point != point) return;
  {
    std::ofstream out(s.pause_fifo);
    out << info << '\n';
  }
  std::ifstream in(s.pause_fifo + ".resume");
  std::string line;
  std::getline(in, line);
}

}  // namespace mapsync::testhook
