// error.h - errors that carry a sysexits(3) exit status.
//
// The library throws mapsync::Error; the programs catch it in one place, print the
// message with the program's name and exit with its status. The status says what cron
// and the postmaster should do about it: 75 run again later, 78 fix the config,
// 65 fix the data. Library code never exits and never prints errors itself.
#pragma once

#include <stdexcept>
#include <string>

namespace mapsync {

enum class Exit : int {
  ok = 0,
  usage = 64,        // EX_USAGE: bad command line
  data = 65,         // EX_DATAERR: the database holds something we refuse to publish
  noinput = 66,      // EX_NOINPUT: a file to read is missing
  unavailable = 69,  // EX_UNAVAILABLE
  held = 69,         // publishing is held (mapsync hold, a rollback, a fleet-wide hold): an
                     // operator's decision, so not "try again later", which units treat as success
  software = 70,     // EX_SOFTWARE: a bug
  oserr = 71,        // EX_OSERR
  cantcreat = 73,    // EX_CANTCREAT: cannot write an output file
  ioerr = 74,        // EX_IOERR
  tempfail = 75,     // EX_TEMPFAIL: try again later (database down, disk full, lock held)
  noperm = 77,       // EX_NOPERM
  config = 78,       // EX_CONFIG: configuration (or schema version) is wrong
};

class Error : public std::runtime_error {
 public:
  Error(Exit status, const std::string& message, int server_code = 0)
      : std::runtime_error(message), status_(status), server_code_(server_code) {}
  Exit status() const { return status_; }
  // The database server's (or client library's) error number, 0 when not from there.
  int server_code() const { return server_code_; }

 private:
  Exit status_;
  int server_code_;
};

[[noreturn]] inline void fail(Exit status, const std::string& message) { throw Error(status, message); }

// "open /x/y: No such file or directory" from errno.
std::string errno_text(const std::string& what, int err);

// Worst-first ordering of exit statuses, for jobs that collect several failures:
// a temporary failure wins over a data error, so that cron retries.
Exit worse(Exit a, Exit b);

}  // namespace mapsync
