// fileio.cpp - see fileio.h.
#include "libmapsync/core/fileio.h"

#include <cerrno>

#include <unistd.h>

namespace mapsync {

int write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno;
    if (n == 0) return EIO;
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return 0;
}

}  // namespace mapsync
