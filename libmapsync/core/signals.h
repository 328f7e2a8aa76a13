// signals.h - SIGTERM/SIGINT/SIGHUP end a run cleanly instead of killing it mid-write.
//
// The handler only sets a flag; long loops call check_interrupted(), which throws
// Exit::tempfail so that every destructor on the way out removes its temp files.
#pragma once

namespace mapsync {

void install_interrupt_handlers();
bool interrupted();
void check_interrupted();  // throws mapsync::Error(tempfail) after a signal

// Holds off SIGTERM/SIGINT/SIGHUP for its lifetime (the renames of a publish).
class SignalBlock {
 public:
  SignalBlock();
  ~SignalBlock();
  SignalBlock(const SignalBlock&) = delete;
  SignalBlock& operator=(const SignalBlock&) = delete;

 private:
  unsigned long saved_[16];
};

}  // namespace mapsync
