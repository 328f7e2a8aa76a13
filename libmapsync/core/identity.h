// identity.h - who and where this process is, for audit rows, leases and fleet reports.
#pragma once

#include <string>

namespace mapsync {

std::string host_name();  // gethostname(), "unknown" if it fails
std::string os_user();    // the effective user's login name, or its uid as a number

}  // namespace mapsync
