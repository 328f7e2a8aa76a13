// secret.cpp - password files with checked permissions.
#include "libmapsync/core/secret.h"

#include <fcntl.h>
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
  return {};
}

}  // namespace

void check_secret_file(const std::string& path, const std::string& what, const std::string& kind) {
  if (path.empty()) fail(Exit::config, what + ": no " + kind + " configured");
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) fail(Exit::config, errno_text(what + ": cannot use " + kind + " " + path, errno));
  if (const std::string why = secret_mode_problem(st); !why.empty()) fail(Exit::config, what + ": " + kind + " " + path + " " + why);
  if (::access(path.c_str(), R_OK) != 0) fail(Exit::config, errno_text(what + ": cannot read " + kind + " " + path, errno));
}

std::string read_secret_file(const std::string& path, const std::string& what) {
  if (path.empty()) fail(Exit::config, what + ": no password file configured");
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) fail(Exit::config, errno_text(what + ": cannot open password file " + path, errno));
  struct stat st {};
  if (fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    fail(Exit::config, errno_text(what + ": cannot stat " + path, err));
  }
  auto refuse = [&](const std::string& why) {
    ::close(fd);
    fail(Exit::config, what + ": password file " + path + " " + why);
  };
  if (const std::string why = secret_mode_problem(st); !why.empty()) refuse(why);
  std::string data;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      ::close(fd);
      fail(Exit::config, errno_text(what + ": cannot read " + path, err));
    }
    if (n == 0) break;
    data.append(buf, static_cast<std::size_t>(n));
    if (data.size() > 65536) refuse("is larger than 64 KiB; it should hold one line");
  }
  ::close(fd);
  const auto nl = data.find_first_of("\r\n");
  std::string secret = data.substr(0, nl);
  wipe(data);
  if (secret.empty()) fail(Exit::config, what + ": password file " + path + " is empty");
  return secret;
}

void wipe(std::string& s) {
  volatile char* p = s.data();
  for (std::size_t i = 0; i < s.size(); ++i) p[i] = 0;
  s.clear();
}

}  // namespace mapsync
