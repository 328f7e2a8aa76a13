// signals.h - SIGTERM/SIGINT/SIGHUP end a run at once, except inside a critical section.
//
// A run can be ended at almost any point without leaving anything half-done where others
// see it: maps are published by rename (temp files left behind are swept by the next
// run, under its lock), database work is in transactions the server rolls back when the
// connection drops, and the programs' locks die with the process. So a signal ends the
// process immediately, with a one-line message on stderr and exit status 75 (EX_TEMPFAIL:
// run again), even while a query waits on a lock or a network read waits on a server.
// Waiting for the next check_interrupted() instead was seen to ignore SIGTERM for as long
// as a query blocked.
//
// The exceptions are a few short sequences that must not be cut in two (the renames of a
// publish, a COMMIT whose outcome must be known): a CriticalSection holds a signal off
// until the outermost section ends, in whichever thread the signal lands. And a run that
// can stop between items and say what it did (mboxsync bulk) holds a GracefulStop: the
// first signal only asks it to stop, the second ends it as above.
#pragma once

#include <memory>

namespace mapsync {

// program names the process in the message written when a signal ends it.
void install_interrupt_handlers(const char* program = "mapsync");
// A signal came: true only inside a critical section (elsewhere the process is gone).
// The loops that called these before signals ended the process still do; it is harmless.
bool interrupted();
void check_interrupted();  // throws mapsync::Error(tempfail) after a signal

// While one exists (in any thread), SIGTERM/SIGINT/SIGHUP wait; the process ends when the
// last one is destroyed, if a signal came meanwhile.
class CriticalSection {
 public:
  CriticalSection();
  ~CriticalSection();
  CriticalSection(const CriticalSection&) = delete;
  CriticalSection& operator=(const CriticalSection&) = delete;
};

// The renames of a publish (libmapsync/maps/publish.cpp) use the older name.
using SignalBlock = CriticalSection;

// While one exists, the first SIGTERM/SIGINT/SIGHUP does not end the process: it is only
// noted (interrupted() turns true, a line on stderr says so) for a long run that can stop
// between items and report what it did and what it did not (mboxsync bulk). A second
// signal ends the process as before (at once, or after the open critical sections).
// The signals are blocked in the creating thread, and so in every thread it starts
// meanwhile, and taken by a thread of its own with sigtimedwait: no read of a database or
// IMAP connection is cut short with EINTR, which would turn a stop into a lost connection.
// Create it in the main thread before the workers; not nested.
class GracefulStop {
 public:
  GracefulStop();
  ~GracefulStop();
  GracefulStop(const GracefulStop&) = delete;
  GracefulStop& operator=(const GracefulStop&) = delete;

 private:
  struct Waiter;
  std::unique_ptr<Waiter> waiter_;
};

// The signal that interrupted the run ("SIGTERM", "SIGINT", "SIGHUP"), or "" when none.
const char* interrupting_signal();

}  // namespace mapsync
