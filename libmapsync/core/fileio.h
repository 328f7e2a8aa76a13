// fileio.h - the write loop every file mapsync writes whole goes through, the replacement
// of a small file by rename, and the page cache of a file read once before it is replaced.
#pragma once

#include <string>
#include <string_view>

#include <sys/types.h>

namespace mapsync {

// Writes all of data to fd, retrying short writes and EINTR. Returns 0, or the errno of
// the failed write (EIO for a write that wrote nothing): the caller knows the file's name
// and what a failure means for it (ENOSPC is usually "try again later").
int write_all(int fd, std::string_view data);

// How replace_file() makes the new file.
struct Replacement {
  mode_t mode = 0644;         // exactly: the umask does not apply
  std::string temp_template;  // beside path: ends in "XXXXXX" and then suffix_len characters
  int suffix_len = 0;
  bool durable = true;  // the file and the rename survive a crash (fsync of file and directory)
};

// Replaces path by a file holding data (qmail-newu's way): a new file of its own beside it
// (mkostemps: O_EXCL, so never through a symlink planted under a name one could guess),
// written whole, given its mode, fsynced, renamed over path, and the directory fsynced.
// Returns 0, or the errno of the step that failed with *what saying which ("cannot write
// /dir/.x.tmp.a1b2c3"); then the temp file is gone and path untouched.
int replace_file(const std::string& path, std::string_view data, const Replacement& how, std::string* what);

// The same, for a file the run cannot do without: a failure throws, 75 (try again) when
// it may pass by itself (a full disk, an I/O error), else 73 (cannot create).
void replace_file_or_fail(const std::string& path, std::string_view data, const Replacement& how);

// For a file written front to back and fsynced at the end: every few megabytes the disk
// is set to work on what has been written (sync_file_range, SYNC_FILE_RANGE_WRITE: no
// waiting), so that the writing of the file overlaps the work that makes the rest of it
// and the final fsync finds little left to do. Advice only: a failure shows at the fsync.
class WriteBehind {
 public:
  explicit WriteBehind(int fd) noexcept : fd_(fd) {}
  // Everything before pos has been written.
  void written_to(off_t pos) noexcept;

 private:
  int fd_;
  off_t started_ = 0;
};

// For a file read once, front to back, while its successor is written (a published map
// that this run replaces): what has been read leaves the page cache every few megabytes,
// so that the new file takes those pages back at once rather than memory the kernel has
// not handed out for a while (on a virtual machine with free page reporting each of those
// costs a fault in the host: docs/benchmarks.md, first section). Advice only: errors are
// ignored, and pages another process has mapped stay.
class DropBehind {
 public:
  explicit DropBehind(int fd) noexcept : fd_(fd) {}
  // Everything before pos has been read.
  void read_to(off_t pos) noexcept;
  // The whole file has been read.
  void done() noexcept;

 private:
  int fd_;
  off_t dropped_ = 0;
};

}  // namespace mapsync
