// signals.cpp - see signals.h.
//
// One atomic word holds the number of open critical sections and two flags. The handler
// and the sections change it only by compare-and-swap, so that "no section is open" and
// "the process is ending" are decided together: a section never starts once the handler
// has decided to end the process, and the handler never ends it while one is open.
#include "libmapsync/core/signals.h"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <ctime>
#include <string>
#include <thread>

#include "libmapsync/core/error.h"

namespace mapsync {
namespace {

constexpr unsigned kEnding = 1u << 31;   // the process is being ended
constexpr unsigned kPending = 1u << 30;  // a signal came during a section
constexpr unsigned kDepth = kPending - 1;

std::atomic<unsigned> state{0};
static_assert(std::atomic<unsigned>::is_always_lock_free, "the signal handler needs a lock-free atomic");

// Written by the handler and by GracefulStop's thread, read by any: atomic, and lock-free
// for the handler.
std::atomic<int> caught{0};
static_assert(std::atomic<int>::is_always_lock_free, "the signal handler needs a lock-free atomic");
// GracefulStop's thread, while there is one: the handler passes a signal on to it.
std::atomic<bool> waiter_active{false};
pthread_t waiter_thread{};
char program_name[64] = "mapsync";

void put(const char* s) {
  // Nothing to do about a failed write to stderr in a handler that is about to exit.
  const ssize_t ignored = ::write(STDERR_FILENO, s, std::strlen(s));
  (void)ignored;
}

// Async-signal-safe: write(2) and _exit(2) only.
[[noreturn]] void end_process(int sig) {
  put(program_name);
  put(sig == SIGINT ? ": interrupted by signal SIGINT" : sig == SIGHUP ? ": interrupted by signal SIGHUP" : ": interrupted by signal SIGTERM");
  put("; stopped at once, uncommitted work is discarded (exit 75: run again)\n");
  ::_exit(static_cast<int>(Exit::tempfail));
}

extern "C" void on_signal(int sig) {
  // A thread that did not block the signals (one started before the GracefulStop) got it:
  // hand it on (pthread_kill is async-signal-safe); the waiter has it blocked and takes it.
  if (waiter_active.load()) {
    pthread_kill(waiter_thread, sig);
    return;
  }
  caught = sig;
  unsigned s = state.load();
  for (;;) {
    if (s & kEnding) return;  // another thread is ending the process already
    const unsigned next = (s & kDepth) == 0 ? (s | kEnding) : (s | kPending);
    if (state.compare_exchange_weak(s, next)) break;
  }
  if ((s & kDepth) == 0) end_process(sig);
}

}  // namespace

void install_interrupt_handlers(const char* program) {
  std::strncpy(program_name, program, sizeof program_name - 1);
  struct sigaction sa;
  std::memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  for (int sig : {SIGTERM, SIGINT, SIGHUP}) sigaddset(&sa.sa_mask, sig);
  for (int sig : {SIGTERM, SIGINT, SIGHUP}) sigaction(sig, &sa, nullptr);
}

bool interrupted() { return caught.load() != 0; }

const char* interrupting_signal() {
  switch (caught.load()) {
    case 0: return "";
    case SIGINT: return "SIGINT";
    case SIGHUP: return "SIGHUP";
    default: return "SIGTERM";
  }
}

struct GracefulStop::Waiter {
  sigset_t set{}, old{};
  std::atomic<bool> done{false};
  std::thread thread;
};

GracefulStop::GracefulStop() : waiter_(std::make_unique<Waiter>()) {
  Waiter& w = *waiter_;
  sigemptyset(&w.set);
  for (int sig : {SIGTERM, SIGINT, SIGHUP}) sigaddset(&w.set, sig);
  pthread_sigmask(SIG_BLOCK, &w.set, &w.old);
  w.thread = std::thread([&w] {
    while (!w.done.load()) {
      // A timeout, only so that the destructor can end this thread.
      const timespec tick{0, 200 * 1000 * 1000};
      const int sig = sigtimedwait(&w.set, nullptr, &tick);
      if (sig <= 0) continue;
      if (caught.load() == 0) {
        caught = sig;
        put(program_name);
        put(sig == SIGINT ? ": SIGINT" : sig == SIGHUP ? ": SIGHUP" : ": SIGTERM");
        put(": finishing what is in flight, then stopping with a report (signal again to stop at once)\n");
      } else {
        waiter_active = false;  // the second one: as without GracefulStop
        on_signal(sig);
      }
    }
  });
  waiter_thread = w.thread.native_handle();
  waiter_active = true;
}

GracefulStop::~GracefulStop() {
  waiter_active = false;
  waiter_->done = true;
  waiter_->thread.join();
  pthread_sigmask(SIG_SETMASK, &waiter_->old, nullptr);
}

void check_interrupted() {
  if (caught) fail(Exit::tempfail, std::string("interrupted by signal ") + strsignal(caught) + "; nothing published");
}

CriticalSection::CriticalSection() {
  unsigned s = state.load();
  for (;;) {
    // The process is ending: this thread must not start what it cannot finish.
    while (s & kEnding) {
      ::pause();
      s = state.load();
    }
    if (state.compare_exchange_weak(s, s + 1)) return;
  }
}

CriticalSection::~CriticalSection() {
  unsigned s = state.load();
  for (;;) {
    unsigned next = s - 1;
    const bool end = (next & kDepth) == 0 && (next & kPending);
    if (end) next = (next & ~kPending) | kEnding;
    if (state.compare_exchange_weak(s, next)) {
      if (end) end_process(caught);
      return;
    }
  }
}

}  // namespace mapsync
