// testhooks.h - fault injection points for the crash and fault tests.
//
// Tests must reach "killed between write and rename" or "connection killed after the
// first table" deterministically, without sleeps. These hooks do nothing unless the
// environment asks for them:
//   MAPSYNC_TEST_CRASH_AT=N     the Nth crash_point() of the run raises SIGKILL
//   MAPSYNC_TEST_CRASH_TRACE=F  every crash_point() appends its number and name to F
//   MAPSYNC_TEST_PAUSE=P:FIFO   at pause_point(P), write the info line to FIFO, then wait
//                               for a line on FIFO.resume before going on
// They only ever make the process die or wait; they cannot change what it writes.
#pragma once

#include <string>

namespace mapsync::testhook {

void crash_point(const char* what);
void pause_point(const char* point, const std::string& info);

}  // namespace mapsync::testhook
