// testhooks.cpp - see testhooks.h.
#include "libmapsync/core/testhooks.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
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

// Writer threads reach crash points concurrently.
std::atomic<long> counter{0};

}  // namespace

void crash_point(const char* what) {
  const Settings& s = settings();
  if (!s.crash_at && !s.trace) return;
  const long n = ++counter;
  if (s.trace) {
    if (FILE* f = std::fopen(s.trace, "a")) {
      std::fprintf(f, "%ld %s\n", n, what);
      std::fclose(f);
    }
  }
  if (n == s.crash_at) std::raise(SIGKILL);
}

void pause_point(const char* point, const std::string& info) {
  const Settings& s = settings();
  if (s.pause_point.empty() || s.pause_point != point) return;
  // Raw syscalls, retried on EINTR: the test sends signals while we wait here, and a
  // wait cut short would leave the test blocked on a FIFO nobody reads.
  auto open_retry = [](const std::string& path, int flags) {
    int fd;
    while ((fd = ::open(path.c_str(), flags | O_CLOEXEC)) < 0 && errno == EINTR) {
    }
    return fd;
  };
  const std::string line = info + "\n";
  if (int fd = open_retry(s.pause_fifo, O_WRONLY); fd >= 0) {
    while (::write(fd, line.data(), line.size()) < 0 && errno == EINTR) {
    }
    ::close(fd);
  }
  if (int fd = open_retry(s.pause_fifo + ".resume", O_RDONLY); fd >= 0) {
    char c;
    ssize_t n;
    while ((n = ::read(fd, &c, 1)) != 0 && (n > 0 ? c != '\n' : errno == EINTR)) {
    }
    ::close(fd);
  }
}

}  // namespace mapsync::testhook
