// state.cpp - see state.h.
#include "libmapsync/maps/state.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <limits>
#include <nlohmann/json.hpp>

#include "libmapsync/core/error.h"
#include "libmapsync/core/fileio.h"
#include "libmapsync/core/json_format.h"
#include "libmapsync/maps/publish.h"

namespace mapsync {

using nlohmann::json;

const MapState* PublishState::find(const std::string& name) const {
  for (const auto& m : maps)
    if (m.name == name) return &m;
  return nullptr;
}

std::optional<FileStamp> stamp_file(const std::string& dir, const std::string& name) {
  struct stat st {};
  if (::lstat((dir + "/" + name).c_str(), &st) != 0) return std::nullopt;
  FileStamp f;
  f.name = name;
  f.inode = st.st_ino;
  f.size = static_cast<std::uint64_t>(st.st_size);
  f.mtime_ns = static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  return f;
}

namespace {

// The state's fields, for the state file and for `mapsync status --json`.
void state_fields(json& j, const PublishState& s) {
  j["generation"] = s.generation;
  j["serial"] = s.serial;
  j["config_digest"] = s.config_digest;
  j["published_at"] = s.published_at;
  j["checked_at"] = s.checked_at;
  j["full_at"] = s.full_at;
  j["duration_seconds"] = s.duration;
  j["held"] = s.held;
  j["held_generation"] = s.held_generation;
  j["held_by_fleet"] = s.held_by_fleet;
  j["maps"] = json::array();
  for (const auto& m : s.maps) {
    json jm{{"name", m.name}, {"settings", m.settings}, {"digest", m.digest}, {"entries", m.entries}, {"generation", m.generation}};
    jm["files"] = json::array();
    for (const auto& f : m.files)
      jm["files"].push_back({{"name", f.name}, {"inode", f.inode}, {"size", f.size}, {"mtime_ns", f.mtime_ns}});
    j["maps"].push_back(std::move(jm));
  }
}

}  // namespace

std::string state_to_json(const PublishState& s) {
  json j;
  // The file's own tag, older than docs/json.md's convention; read_state checks it.
  j["format"] = "mapsync-state-1";
  state_fields(j, s);
  return j.dump(2) + "\n";
}

std::string status_json(const PublishState& s) {
  json j = json_document<json>(json_format::mapsync_status);
  state_fields(j, s);
  return j.dump(2) + "\n";
}

std::uint64_t next_generation(std::uint64_t current, const std::string& dir) {
  if (current == std::numeric_limits<std::uint64_t>::max())
    fail(Exit::data, dir + "/" + kStateFile + ": generation " + std::to_string(current) +
                         " is the last one a 64-bit counter holds; refusing to wrap to 0 (remove the state file and " +
                         dir + "/.generations to start again at 1)");
  return current + 1;
}

namespace {

// The state file's text, read without following a symlink at its name (a state file
// we did not write is not ours to trust: Exit::data, and the build rewrites it).
std::optional<std::string> read_state_text(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    if (err == ENOENT) return std::nullopt;
    if (err == ELOOP) fail(Exit::data, path + " is a symbolic link, not a state file of ours (remove it to force a full build)");
    fail(Exit::tempfail, errno_text("cannot read " + path, err));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    fail(Exit::data, path + ": not a regular file (remove it to force a full build)");
  }
  std::string text;
  char buf[65536];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      fail(err == EIO ? Exit::tempfail : Exit::data, errno_text("cannot read " + path, err));
    }
    if (n == 0) break;
    text.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return text;
}

}  // namespace

std::optional<PublishState> read_state(const std::string& dir) {
  const std::string path = dir + "/" + kStateFile;
  const std::optional<std::string> text = read_state_text(path);
  if (!text) return std::nullopt;
  PublishState s;
  try {
    const json j = json::parse(*text);
    if (j.value("format", "") != "mapsync-state-1") fail(Exit::data, path + ": not a mapsync state file");
    s.generation = j.at("generation").get<std::uint64_t>();
    s.serial = j.at("serial").get<std::uint64_t>();
    s.config_digest = j.at("config_digest").get<std::string>();
    s.published_at = j.at("published_at").get<std::int64_t>();
    s.checked_at = j.at("checked_at").get<std::int64_t>();
    s.full_at = j.value("full_at", std::int64_t{0});  // state files before incremental builds have none
    s.duration = j.at("duration_seconds").get<double>();
    s.held = j.value("held", false);
    s.held_generation = j.value("held_generation", std::uint64_t{0});
    s.held_by_fleet = j.value("held_by_fleet", false);
    for (const auto& jm : j.at("maps")) {
      MapState m;
      m.name = jm.at("name").get<std::string>();
      m.settings = jm.at("settings").get<std::string>();
      m.digest = jm.at("digest").get<std::string>();
      m.entries = jm.at("entries").get<std::uint64_t>();
      m.generation = jm.at("generation").get<std::uint64_t>();
      for (const auto& jf : jm.at("files"))
        m.files.push_back({jf.at("name").get<std::string>(), jf.at("inode").get<std::uint64_t>(),
                           jf.at("size").get<std::uint64_t>(), jf.at("mtime_ns").get<std::int64_t>()});
      s.maps.push_back(std::move(m));
    }
  } catch (const json::exception& e) {
    // A damaged state file only costs a full run; say so rather than stop.
    fail(Exit::data, path + ": " + e.what() + " (remove it to force a full build)");
  }
  return s;
}

void write_state(const std::string& dir, const PublishState& state) {
  // Under the temp prefix, so that a run killed before the rename leaves nothing the next
  // publish does not clear away.
  replace_file_or_fail(dir + "/" + kStateFile, state_to_json(state),
                       {.temp_template = dir + "/" + kTempPrefix + "XXXXXX.state", .suffix_len = 6});
}

}  // namespace mapsync
