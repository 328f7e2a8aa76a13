// command.h - runs a program the postmaster configured (a post-publish hook), safely.
//
// No shell: argv as given, argv[0] an absolute path. The child gets only the environment
// it is handed (never ours: it may hold a password's file name, a KRB5 cache, a proxy's
// credentials), /dev/null as stdin, "/" as working directory, no descriptor of ours, and
// a process group of its own, so that a timeout kills everything it started. Its stdout
// and stderr are captured together, the first max_output bytes kept.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace mapsync {

struct CommandResult {
  bool started = false;    // false: it could not be run at all (error says why)
  bool timed_out = false;  // killed (its process group) after the time limit
  int exit_status = -1;    // when it exited
  int signal = 0;          // when a signal ended it
  std::string output;      // stdout and stderr, as they came
  bool truncated = false;  // more output than kept
  double seconds = 0;
  std::string error;
  bool ok() const { return started && !timed_out && signal == 0 && exit_status == 0; }
  // "exit 0", "exit 3", "killed by signal 9", "timed out after 30 s", "not started: ..."
  std::string describe(unsigned timeout_seconds) const;
};

CommandResult run_command(const std::vector<std::string>& argv, const std::vector<std::string>& env,
                          unsigned timeout_seconds, std::size_t max_output = 4096);

}  // namespace mapsync
