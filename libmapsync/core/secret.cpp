// secret.cpp - password files with checked permissions, and bounded reads of small files.
#include "libmapsync/core/secret.h"

#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

#include "libmapsync/core/error.h"

namespace mapsync {
namespace {

// Empty when st may hold a secret; otherwise why not.
std::string secret_mode_problem(const struct stat& st) {
  if (!S_ISREG(st.st_mode)) return "is not a regular file";
  if (st.st_mode & 077) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return std::string("has permissions ") + mode + ", which are too open: it must not be accessible by group or others (chmod 600)";
  }
  if (st.st_uid != 0 && st.st_uid != geteuid()) return "is owned by uid " + std::to_string(st.st_uid) + ", not by us or root";
  if (st.st_size == 0) return "is empty";
  return {};
}

const char* const kSymlink = "is a symbolic link; name the file itself (a link's target may be swapped after the check)";

// An open file descriptor that closes itself, so that every refusal below is one line.
struct Fd {
  int fd;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

// Opens path without waiting: O_NONBLOCK keeps open() of a FIFO from blocking until a
// writer appears. The caller checks fstat() before reading, then blocking is restored.
int open_nonblocking(const std::string& path, bool follow) {
  int flags = O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY;
  if (!follow) flags |= O_NOFOLLOW;
  return ::open(path.c_str(), flags);
}

// Reads fd (a regular file) to its end; more than limit bytes is refused by the caller.
std::string read_at_most(int fd, std::size_t limit, const std::string& what_failed) {
  const int fl = ::fcntl(fd, F_GETFL);
  if (fl < 0 || ::fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) != 0) fail(Exit::config, errno_text(what_failed, errno));
  std::string data;
  char buf[4096];
  while (data.size() <= limit) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      wipe(data);
      fail(Exit::config, errno_text(what_failed, err));
    }
    if (n == 0) break;
    data.append(buf, static_cast<std::size_t>(n));
  }
  return data;
}

}  // namespace

void check_secret_file(const std::string& path, const std::string& what, const std::string& kind) {
  if (path.empty()) fail(Exit::config, what + ": no " + kind + " configured");
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) fail(Exit::config, errno_text(what + ": cannot use " + kind + " " + path, errno));
  if (S_ISLNK(st.st_mode)) fail(Exit::config, what + ": " + kind + " " + path + " " + kSymlink);
  if (const std::string why = secret_mode_problem(st); !why.empty()) fail(Exit::config, what + ": " + kind + " " + path + " " + why);
  if (::access(path.c_str(), R_OK) != 0) fail(Exit::config, errno_text(what + ": cannot read " + kind + " " + path, errno));
}

std::string read_secret_file(const std::string& path, const std::string& what) {
  if (path.empty()) fail(Exit::config, what + ": no password file configured");
  const std::string file = what + ": password file " + path;
  Fd f{open_nonblocking(path, false)};
  if (f.fd < 0 && errno == ELOOP) fail(Exit::config, file + " " + kSymlink);
  if (f.fd < 0) fail(Exit::config, errno_text(what + ": cannot open password file " + path, errno));
  struct stat st {};
  if (::fstat(f.fd, &st) != 0) fail(Exit::config, errno_text(what + ": cannot stat " + path, errno));
  if (const std::string why = secret_mode_problem(st); !why.empty()) fail(Exit::config, file + " " + why);
  const std::string too_big = " is larger than " + std::to_string(kSecretFileLimit) + " bytes; it should hold one line";
  if (static_cast<std::size_t>(st.st_size) > kSecretFileLimit) fail(Exit::config, file + too_big);
  std::string data = read_at_most(f.fd, kSecretFileLimit, what + ": cannot read " + path);
  if (data.size() > kSecretFileLimit) {
    wipe(data);
    fail(Exit::config, file + too_big);
  }
  const auto nl = data.find_first_of("\r\n");
  std::string secret = data.substr(0, nl);
  wipe(data);
  if (secret.empty()) fail(Exit::config, file + " is empty (no password on its first line)");
  return secret;
}

std::string read_regular_file(const std::string& path, const std::string& kind, std::size_t limit) {
  const std::string cannot = "cannot read " + kind + " " + path;
  Fd f{open_nonblocking(path, true)};
  if (f.fd < 0) fail(Exit::config, errno_text(cannot, errno));
  struct stat st {};
  if (::fstat(f.fd, &st) != 0) fail(Exit::config, errno_text(cannot, errno));
  if (!S_ISREG(st.st_mode)) fail(Exit::config, kind + " " + path + " is not a regular file");
  const std::string too_big = kind + " " + path + " is larger than " + std::to_string(limit) + " bytes";
  if (static_cast<std::size_t>(st.st_size) > limit) fail(Exit::config, too_big);
  std::string data = read_at_most(f.fd, limit, cannot);
  if (data.size() > limit) fail(Exit::config, too_big);
  return data;
}

void protect_secrets_in_memory() {
  // Best effort: neither call fails for an unprivileged process lowering its own limits.
  const struct rlimit none {0, 0};
  ::setrlimit(RLIMIT_CORE, &none);
  ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}

void wipe(std::string& s) {
  volatile char* p = s.data();
  for (std::size_t i = 0; i < s.size(); ++i) p[i] = 0;
  s.clear();
}

}  // namespace mapsync
