// publish.cpp - temp file, fsync, rename, fsync(dir); one run per directory.
#include "libmapsync/maps/publish.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <system_error>

#include "libmapsync/core/error.h"
#include "libmapsync/core/fileio.h"
#include "libmapsync/core/log.h"
#include "libmapsync/core/signals.h"
#include "libmapsync/core/testhooks.h"

namespace mapsync {
namespace {

constexpr const char* kLockName = ".mapsync.lock";

void make_dirs(const std::string& path) {
  std::string cur;
  std::size_t pos = 0;
  while (pos != std::string::npos) {
    pos = path.find('/', pos + 1);
    cur = path.substr(0, pos);
    if (cur.empty()) continue;
    if (::mkdir(cur.c_str(), 0755) != 0 && errno != EEXIST)
      fail(Exit::cantcreat, errno_text("cannot create map directory " + cur, errno));
  }
}

}  // namespace

Publisher::Publisher(std::string directory) : dir_(std::move(directory)) {
  while (dir_.size() > 1 && dir_.back() == '/') dir_.pop_back();
  make_dirs(dir_);
  dir_fd_ = ::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd_ < 0) fail(Exit::cantcreat, errno_text("cannot open map directory " + dir_, errno));
  // No O_TRUNC, and nothing written before fstat: a symlink or a hard link planted at the
  // lock's name must not make us truncate or write the file it leads to.
  lock_fd_ = ::openat(dir_fd_, kLockName, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (lock_fd_ < 0) {
    const int err = errno;
    ::close(dir_fd_);
    if (err == ELOOP)
      fail(Exit::config, "lock file " + dir_ + "/" + kLockName + " is a symbolic link; refusing to follow it (remove it)");
    fail(Exit::cantcreat, errno_text("cannot open lock file " + dir_ + "/" + kLockName, err));
  }
  struct stat lst {};
  if (::fstat(lock_fd_, &lst) != 0 || !S_ISREG(lst.st_mode) || lst.st_nlink != 1) {
    ::close(lock_fd_);
    ::close(dir_fd_);
    fail(Exit::config, "lock file " + dir_ + "/" + kLockName +
                           " is not a regular file with one link (a hard link to another file?); refusing to write it (remove it)");
  }
  if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    std::string holder;
    char buf[32] = {};
    if (::pread(lock_fd_, buf, sizeof buf - 1, 0) > 0) holder = std::string(buf).substr(0, std::string(buf).find('\n'));
    ::close(lock_fd_);
    ::close(dir_fd_);
    if (err == EWOULDBLOCK)
      fail(Exit::tempfail, "another mapsync run" + (holder.empty() ? std::string() : " (pid " + holder + ")") +
                               " is publishing into " + dir_ + "; try again later");
    fail(Exit::tempfail, errno_text("cannot lock " + dir_ + "/" + kLockName, err));
  }
  const std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(lock_fd_, 0) != 0 || ::pwrite(lock_fd_, pid.data(), pid.size(), 0) < 0)
    log::warning(errno_text("cannot record our pid in " + dir_ + "/" + kLockName, errno));

  // We hold the lock, so any temp file here is left over from a run that was killed.
  if (DIR* d = ::fdopendir(::dup(dir_fd_))) {
    while (struct dirent* e = ::readdir(d)) {
      const std::string name = e->d_name;
      if (name.rfind(kTempPrefix, 0) != 0) continue;
      if (::unlinkat(dir_fd_, name.c_str(), 0) == 0) log::notice("removed " + dir_ + "/" + name + ", left by an interrupted run");
      else log::warning(errno_text("cannot remove stale temp file " + dir_ + "/" + name, errno));
    }
    ::closedir(d);
  }
}

Publisher::~Publisher() {
  if (retiring_.joinable()) retiring_.join();
  discard();
  if (lock_fd_ >= 0) ::close(lock_fd_);  // releases the flock
  if (dir_fd_ >= 0) ::close(dir_fd_);
}

std::string Publisher::temp_path(const std::string& final_name) {
  std::lock_guard<std::mutex> lock(mu_);
  std::string p = dir_ + "/" + kTempPrefix + std::to_string(::getpid()) + "." + std::to_string(++seq_) + "." + final_name;
  temps_.push_back(p);
  return p;
}

std::string Publisher::copy_to_temp(const std::string& final_name) {
  const std::string src = dir_ + "/" + final_name;
  const std::string temp = temp_path(final_name);
  const int in = ::open(src.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (in < 0) fail(Exit::tempfail, errno_text("cannot read " + src, errno));
  const int out = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (out < 0) {
    const int err = errno;
    ::close(in);
    fail(Exit::cantcreat, errno_text("cannot create " + temp, err));
  }
  // Only the data extents are copied (SEEK_DATA/SEEK_HOLE), with copy_file_range in the
  // kernel: a hash file pre-sized by libdb is sparse, and copying its holes would double
  // the bytes written and fsynced. ftruncate restores the length after a trailing hole.
  // The file copied is the published one this run replaces: what has been copied leaves
  // the page cache as the copy goes (the copy takes those pages back; core/fileio.h).
  // Running Postfix daemons keep reading it until the rename, from disk where a page has
  // left the cache, and pages a reader has mapped (lmdb) stay. The copy goes to disk as
  // it is made, not all at the patch's fsync.
  struct stat st {};
  if (::fstat(in, &st) != 0) {
    const int err = errno;
    ::close(in);
    ::close(out);
    fail(Exit::tempfail, errno_text("cannot stat " + src, err));
  }
  auto failed = [&](const std::string& what, int err) {
    ::close(in);
    ::close(out);
    fail(err == ENOSPC || err == EIO ? Exit::tempfail : Exit::cantcreat, errno_text(what, err));
  };
  constexpr std::size_t kStep = 4 << 20;
  DropBehind dropper(in);
  WriteBehind write_behind(out);
  off_t pos = 0;
  while (pos < st.st_size) {
    off_t data = ::lseek(in, pos, SEEK_DATA);
    if (data < 0 && errno == ENXIO) break;  // only a hole is left
    if (data < 0) failed("cannot seek in " + src, errno);
    off_t hole = ::lseek(in, data, SEEK_HOLE);
    if (hole < 0) failed("cannot seek in " + src, errno);
    off_t from = data, to = data;
    while (from < hole) {
      const ssize_t n = ::copy_file_range(in, &from, out, &to, std::min(kStep, static_cast<std::size_t>(hole - from)), 0);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) failed("cannot copy " + src + " to " + temp, errno);
      if (n == 0) break;  // the file shrank under us: it was replaced, and so is ours
      dropper.read_to(from);
      write_behind.written_to(to);
    }
    pos = hole;
  }
  dropper.done();
  if (::ftruncate(out, st.st_size) != 0) failed("cannot size " + temp, errno);
  ::close(in);
  if (::close(out) != 0) fail(Exit::tempfail, errno_text("cannot write " + temp, errno));
  return temp;
}

void Publisher::stage(const std::string& temp, const std::string& final_name, uid_t owner, gid_t group, mode_t mode) {
  const int fd = ::open(temp.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) fail(Exit::cantcreat, errno_text("cannot reopen " + temp, errno));
  struct stat st {};
  int rc = ::fstat(fd, &st);
  if (rc == 0 && (st.st_uid != owner || st.st_gid != group)) rc = ::fchown(fd, owner, group);
  if (rc == 0) rc = ::fchmod(fd, mode);
  // The data was fsynced by the writer; this makes owner and mode durable too.
  if (rc == 0) rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0)
    fail(err == ENOSPC || err == EIO ? Exit::tempfail : Exit::cantcreat,
         errno_text("cannot set owner/mode of " + temp + " (for " + final_name + ")", err));
  {
    std::lock_guard<std::mutex> lock(mu_);
    staged_.push_back({temp, final_name});
  }
  testhook::crash_point(("staged " + final_name).c_str());
}

bool Publisher::reassert(const std::string& final_name, uid_t owner, gid_t group, mode_t mode) {
  // O_NOFOLLOW and O_NONBLOCK: never change a file a symlink leads to, never hang on a fifo.
  const int fd = ::openat(dir_fd_, final_name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return false;  // gone or not ours: the state check already rebuilds it
  struct stat st {};
  bool changed = false;
  int rc = ::fstat(fd, &st);
  if (rc == 0 && S_ISREG(st.st_mode)) {
    if (st.st_uid != owner || st.st_gid != group) {
      rc = ::fchown(fd, owner, group);
      changed = true;
    }
    // chown clears set-id bits, and a mode set by hand may have lost or gained any bit.
    if (rc == 0 && (st.st_mode & 07777) != mode) {
      rc = ::fchmod(fd, mode);
      changed = true;
    }
    if (rc == 0 && changed) rc = ::fsync(fd);
  }
  const int err = errno;
  ::close(fd);
  const std::string path = dir_ + "/" + final_name;
  if (rc != 0) fail(Exit::cantcreat, errno_text("cannot restore owner/mode of " + path, err));
  if (changed) {
    char m[8];
    std::snprintf(m, sizeof m, "%04o", static_cast<unsigned>(mode));
    log::notice("restored owner " + std::to_string(owner) + ":" + std::to_string(group) + " and mode " + m + " of " + path +
                " (changed since it was published)");
  }
  return changed;
}

void Publisher::commit() {
  std::lock_guard<std::mutex> lock(mu_);
  // A rename that takes the last link of the file it replaces frees that file's blocks
  // then and there (a 130 MB .db: 30 ms on ext4), which widens the window in which
  // Postfix can see some maps new and some old. A second link keeps each replaced file
  // until every rename is done (or one failed); then a thread unlinks them while the run
  // records its state. A run killed before leaves temp names, which the next one removes.
  struct Retired {
    std::vector<std::string> paths;
    static void unlink_all(const std::vector<std::string>& paths) {
      for (const std::string& r : paths)
        if (::unlink(r.c_str()) != 0) log::warning(errno_text("cannot remove " + r + " (a replaced file)", errno));
    }
    ~Retired() { unlink_all(paths); }
  } retired;
  if (retiring_.joinable()) retiring_.join();
  {
    // A signal between two renames would leave a mixed set for no reason: hold them off.
    SignalBlock block;
    for (const Staged& s : staged_) {
      testhook::crash_point(("before rename " + s.final_name).c_str());
      const std::string target = dir_ + "/" + s.final_name;
      std::string keep = s.temp + ".replaced";
      if (::link(target.c_str(), keep.c_str()) == 0) retired.paths.push_back(std::move(keep));
      if (::rename(s.temp.c_str(), target.c_str()) != 0)
        fail(Exit::cantcreat, errno_text("cannot rename " + s.temp + " to " + target, errno));
      temps_.erase(std::remove(temps_.begin(), temps_.end(), s.temp), temps_.end());
      testhook::crash_point(("after rename " + s.final_name).c_str());
    }
    staged_.clear();
    if (::fsync(dir_fd_) != 0) fail(Exit::tempfail, errno_text("cannot fsync directory " + dir_, errno));
    testhook::crash_point("after directory fsync");
  }
  try {
    retiring_ = std::thread(&Retired::unlink_all, retired.paths);
    retired.paths.clear();
  } catch (const std::system_error&) {
    // No thread to be had: ~Retired unlinks them here.
  }
}

void Publisher::discard() {
  std::lock_guard<std::mutex> lock(mu_);
  for (const std::string& t : temps_)
    if (::unlink(t.c_str()) != 0 && errno != ENOENT) log::warning(errno_text("cannot remove temp file " + t, errno));
  temps_.clear();
  staged_.clear();
}

}  // namespace mapsync
