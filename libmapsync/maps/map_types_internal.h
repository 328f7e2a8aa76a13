// map_types_internal.h - what the map backends share with the registry and each other.
//
// Not part of the library's interface. Each backend .cpp exposes its MapType through a
// function declared here, so that map_registry.cpp can list it without including the
// backend's library header (db.h, lmdb.h, cdb.h); and the backends share the way they
// create their output file and classify write errors.
#pragma once

#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>
#include <string>
#include <string_view>

#include "libmapsync/core/error.h"
#include "libmapsync/maps/map_backend.h"

namespace mapsync {

const MapType& bdb_hash_map_type();   // map_bdb.cpp
const MapType& bdb_btree_map_type();  // map_bdb.cpp
const MapType& lmdb_map_type();       // map_lmdb.cpp
const MapType& cdb_map_type();        // map_cdb.cpp

namespace detail {

// Exit status for a failed write, sync or close of an output file: a full disk, a quota
// or an I/O error may be gone at the next run, so cron should try again.
inline Exit write_failure_status(int err) {
  switch (err) {
    case EINVAL:
    case EBADF:
      return Exit::software;
    default:
      return Exit::tempfail;
  }
}

// Exit status for a failed creation of an output file: a wrong path or permission
// will not fix itself, a full disk or file table may.
inline Exit create_failure_status(int err) {
  switch (err) {
    case EACCES:
    case EPERM:
    case EROFS:
    case EEXIST:
    case ENOENT:
    case ENOTDIR:
    case EISDIR:
    case ELOOP:
    case ENAMETOOLONG:
      return Exit::cantcreat;
    default:
      return write_failure_status(err);
  }
}

// Exit status for a published file that cannot be opened or read. Missing is noinput;
// a lock held, a full file or memory table, an I/O error may pass by the next run
// (tempfail); anything else (a symlink, a directory, another kind of file, a damaged one)
// will not, and a build rebuilds such a file from scratch instead of retrying forever.
inline Exit read_failure_status(int err) {
  switch (err) {
    case ENOENT:
      return Exit::noinput;
    case EAGAIN:
    case EINTR:
    case ENOMEM:
    case ENFILE:
    case EMFILE:
    case EIO:
    case EBUSY:
    case ENOLCK:
    case ETXTBSY:
      return Exit::tempfail;
    default:
      return Exit::data;
  }
}

// Opens a published file for reading; a symlink at its name is never followed (ELOOP).
inline int open_published_file(const std::string& path) {
  return ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
}

// A published map is a regular file: a fifo would hang a reader, a device is not ours.
inline void require_regular(int fd, const std::string& path) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) fail(read_failure_status(errno), errno_text("stat " + path, errno));
  if (!S_ISREG(st.st_mode)) fail(Exit::data, "open " + path + ": not a regular file");
}

// For error messages: keys can hold anything, terminals should not see it raw.
inline std::string printable(std::string_view s) {
  static const char hex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7f || c == '\\' || c == '"') {
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

// The entries every indexed writer refuses: what Postfix cannot look up, or would warn
// about in postmap -s, is a caller bug (the renderer never produces it).
inline void check_entry(const std::string& path, std::string_view key, std::string_view value, bool alias_syntax) {
  if (key.empty()) fail(Exit::software, "write " + path + ": empty key");
  if (value.empty()) fail(Exit::software, "write " + path + ": key \"" + printable(key) + "\": empty value");
  if (key.find('\0') != key.npos || value.find('\0') != value.npos)
    fail(Exit::software, "write " + path + ": key \"" + printable(key) + "\": NUL byte in key or value");
  if (alias_syntax && key == "@") fail(Exit::software, "write " + path + ": key \"@\" is reserved in alias maps");
}

// Creates path, which must not exist yet (not even as a symlink), mode 0600; the
// publisher sets the final owner and mode before it renames the file into place.
inline int create_new_file(const std::string& path) {
  int fd;
  do {
    fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) {
    int err = errno;
    fail(create_failure_status(err), errno_text("create " + path, err));
  }
  return fd;
}

}  // namespace detail
}  // namespace mapsync
