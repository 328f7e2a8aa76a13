// identity.cpp - see identity.h.
#include "libmapsync/core/identity.h"

#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <map>
#include <mutex>

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

namespace {

template <class Id, class Lookup>
std::optional<Id> remembered(const std::string& name, Lookup lookup) {
  static std::mutex mu;
  static std::map<std::string, Id> known;
  std::lock_guard<std::mutex> lock(mu);
  if (auto it = known.find(name); it != known.end()) return it->second;
  const std::optional<Id> id = lookup(name.c_str());
  if (id) known.emplace(name, *id);
  return id;
}

}  // namespace

std::optional<uid_t> user_id(const std::string& name) {
  return remembered<uid_t>(name, [](const char* n) -> std::optional<uid_t> {
    if (const struct passwd* pw = ::getpwnam(n)) return pw->pw_uid;
    return std::nullopt;
  });
}

std::optional<gid_t> group_id(const std::string& name) {
  return remembered<gid_t>(name, [](const char* n) -> std::optional<gid_t> {
    if (const struct group* gr = ::getgrnam(n)) return gr->gr_gid;
    return std::nullopt;
  });
}

}  // namespace mapsync
