// fileio.cpp - see fileio.h.
#include "libmapsync/core/fileio.h"

#include <cerrno>
#include <cstdlib>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "libmapsync/core/error.h"

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

int replace_file(const std::string& path, std::string_view data, const Replacement& how, std::string* what) {
  std::string temp = how.temp_template;
  const int fd = ::mkostemps(temp.data(), how.suffix_len, O_CLOEXEC);
  if (fd < 0) {
    *what = "cannot create " + temp;
    return errno;
  }
  int err = ::fchmod(fd, how.mode) == 0 ? 0 : errno;
  if (err == 0) err = write_all(fd, data);
  if (err == 0 && how.durable && ::fsync(fd) != 0) err = errno;
  if (::close(fd) != 0 && err == 0) err = errno;
  if (err != 0) {
    *what = "cannot write " + temp;
    ::unlink(temp.c_str());
    return err;
  }
  if (::rename(temp.c_str(), path.c_str()) != 0) {
    err = errno;
    *what = "cannot rename " + temp + " to " + path;
    ::unlink(temp.c_str());
    return err;
  }
  if (!how.durable) return 0;
  // The rename is durable once the directory is: a crash right after must not bring back
  // the old file after this run said it was replaced.
  const std::string::size_type slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0 || ::fsync(dfd) != 0) {
    err = errno;
    *what = "cannot sync directory " + dir;
  }
  if (dfd >= 0) ::close(dfd);
  return err;
}

void replace_file_or_fail(const std::string& path, std::string_view data, const Replacement& how) {
  std::string what;
  if (const int err = replace_file(path, data, how, &what))
    fail(err == ENOSPC || err == EDQUOT || err == EIO ? Exit::tempfail : Exit::cantcreat, errno_text(what, err));
}

namespace {
// Large enough that the advice costs nothing beside the copy, small enough that dropped
// pages come back while the new file still needs them.
constexpr off_t kDropStep = 4 << 20;
}  // namespace

void WriteBehind::written_to(off_t pos) noexcept {
  if (pos - started_ < 2 * kDropStep) return;
  ::sync_file_range(fd_, started_, pos - started_, SYNC_FILE_RANGE_WRITE);
  started_ = pos;
}

void DropBehind::read_to(off_t pos) noexcept {
  if (pos - dropped_ < kDropStep) return;
  ::posix_fadvise(fd_, dropped_, pos - dropped_, POSIX_FADV_DONTNEED);
  dropped_ = pos;
}

void DropBehind::done() noexcept {
  ::posix_fadvise(fd_, dropped_, 0, POSIX_FADV_DONTNEED);
  dropped_ = 0;
}

}  // namespace mapsync
