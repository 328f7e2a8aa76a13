// identity.h - who and where this process is, for audit rows, leases and fleet reports.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>

namespace mapsync {

std::string host_name();  // gethostname(), "unknown" if it fails
std::string os_user();    // the effective user's login name, or its uid as a number

// getpwnam()/getgrnam(), each name looked up once a process (every map of a config names
// the same account, and each lookup reads /etc/passwd or /etc/group anew); a name not
// found is asked again next time.
std::optional<uid_t> user_id(const std::string& name);
std::optional<gid_t> group_id(const std::string& name);

}  // namespace mapsync
