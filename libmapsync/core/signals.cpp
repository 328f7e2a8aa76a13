// signals.cpp - see signals.h.
#include "libmapsync/core/signals.h"

#include <signal.h>

#include <cstring>
#include <string>

#include "libmapsync/core/error.h"

namespace mapsync {
namespace {

volatile sig_atomic_t caught = 0;

extern "C" void on_signal(int sig) { caught = sig; }

}  // namespace

void install_interrupt_handlers() {
  struct sigaction sa;
  std::memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  for (int sig : {SIGTERM, SIGINT, SIGHUP}) sigaction(sig, &sa, nullptr);
}

bool interrupted() { return caught != 0; }

void check_interrupted() {
  if (caught) fail(Exit::tempfail, std::string("interrupted by signal ") + strsignal(caught) + "; nothing published");
}

static_assert(sizeof(sigset_t) <= sizeof(unsigned long) * 16, "sigset_t too large");

SignalBlock::SignalBlock() {
  sigset_t block;
  sigemptyset(&block);
  for (int sig : {SIGTERM, SIGINT, SIGHUP}) sigaddset(&block, sig);
  sigprocmask(SIG_BLOCK, &block, reinterpret_cast<sigset_t*>(saved_));
}

SignalBlock::~SignalBlock() { sigprocmask(SIG_SETMASK, reinterpret_cast<sigset_t*>(saved_), nullptr); }

}  // namespace mapsync
