// publish.h - crash-safe replacement of published files (qmail-newu's way).
//
// Every new file is written under a temp name in the target directory, made durable
// (fsync), given its owner and mode, and only then renamed over the published name; the
// directory is fsynced after the renames. A run that fails or is killed at any point
// leaves each published file either wholly old or wholly new. Temp files of a failed
// run are removed by the destructor; those of a killed run (kill -9) by the next run,
// which holds the directory lock and so knows that no one else is writing.
#pragma once

#include <sys/types.h>

#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace mapsync {

class Publisher {
 public:
  // Creates the directory if needed and takes its lock (non-blocking): a second run
  // fails at once with Exit::tempfail naming the holder.
  explicit Publisher(std::string directory);
  ~Publisher();
  Publisher(const Publisher&) = delete;
  Publisher& operator=(const Publisher&) = delete;

  const std::string& directory() const { return dir_; }

  // A fresh temp path in the directory for the file that will become final_name.
  // The file does not exist yet; the caller's writer creates it (O_EXCL).
  std::string temp_path(const std::string& final_name);

  // A temp copy of the published file final_name, for patching (contents only; made
  // durable by the patcher's finish()).
  std::string copy_to_temp(const std::string& final_name);

  // The writer has finished temp (complete and fsynced): set owner and mode, make that
  // durable, and queue the rename to final_name.
  void stage(const std::string& temp, const std::string& final_name, uid_t owner, gid_t group, mode_t mode);

  // Gives the published file final_name the configured owner, group and mode again when
  // they were changed by hand since (a run with nothing to publish keeps files as they
  // are, so it must not keep a chmod 0666 either). A symlink or other non-file is left
  // alone. Returns whether anything changed (logged).
  bool reassert(const std::string& final_name, uid_t owner, gid_t group, mode_t mode);

  // Renames every staged file into place (signals held off meanwhile), then fsyncs the
  // directory. Throws when a rename fails; files renamed before stay renamed. The files
  // replaced are freed afterwards, in a thread the destructor waits for.
  void commit();

  // Removes temp files not committed (also done by the destructor).
  void discard();

 private:
  struct Staged {
    std::string temp, final_name;
  };
  std::string dir_;
  int dir_fd_ = -1;
  int lock_fd_ = -1;
  unsigned seq_ = 0;
  std::mutex mu_;                   // temp_path() and stage() may run in a writer thread
  std::vector<std::string> temps_;  // every temp path handed out and not yet renamed
  std::vector<Staged> staged_;
  std::thread retiring_;  // unlinks what the last commit() replaced
};

// Prefix of temp files in a map directory; never used for a map's own name.
inline constexpr const char* kTempPrefix = ".mapsync-tmp.";

}  // namespace mapsync
