// fileio.h - the write loop every file mapsync writes whole goes through.
#pragma once

#include <string_view>

namespace mapsync {

// Writes all of data to fd, retrying short writes and EINTR. Returns 0, or the errno of
// the failed write (EIO for a write that wrote nothing): the caller knows the file's name
// and what a failure means for it (ENOSPC is usually "try again later").
int write_all(int fd, std::string_view data);

}  // namespace mapsync
