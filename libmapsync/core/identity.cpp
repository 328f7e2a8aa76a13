// identity.cpp - see identity.h.
#include "libmapsync/core/identity.h"

#include <pwd.h>
#include <unistd.h>

namespace mapsync {

std::string host_name() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0) return "unknown";
  return buf;
}

std::string os_user() {
  if (const struct passwd* pw = ::getpwuid(::geteuid())) return pw->pw_name;
  return std::to_string(::geteuid());
}

}  // namespace mapsync
