// state.h - what is published in a map directory, recorded beside the maps.
//
// <maps.directory>/.mapsync-state.json is replaced (temp, fsync, rename) after every
// publish. It lets the next run skip everything when the database serial and the
// config are unchanged and the files are the ones we wrote, lets it leave unchanged
// maps untouched, and is what `mapsync status` shows.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace mapsync {

// Identity of a published file: if someone rewrote it (postmap by hand), it differs.
struct FileStamp {
  std::string name;  // file name inside the directory
  std::uint64_t inode = 0, size = 0;
  std::int64_t mtime_ns = 0;
  bool operator==(const FileStamp&) const = default;
};

struct MapState {
  std::string name;
  std::string settings;  // type, file, owner, group, mode: a change means rewrite
  std::string digest;    // SHA-256 of the entries
  std::uint64_t entries = 0;
  std::uint64_t generation = 0;  // the generation that last wrote it
  std::vector<FileStamp> files;  // text source and indexed file
};

struct PublishState {
  std::uint64_t generation = 0;  // bumped by every publish that changed a file
  std::uint64_t serial = 0;      // database change serial the maps reflect
  std::string config_digest;     // of the render settings
  std::int64_t published_at = 0;  // unix time of the last publish that changed files
  std::int64_t checked_at = 0;    // unix time of the last successful run
  std::int64_t full_at = 0;       // unix time of the last full build (render of every row)
  double duration = 0;            // seconds, last successful run
  // Set by a rollback: builds leave the maps alone until `mapsync build --release`, so
  // that the next cron run does not publish the database that was just rolled back.
  bool held = false;
  std::uint64_t held_generation = 0;  // the generation rolled back to
  // The hold came with a fleet-wide rollback (mapsync rollback --fleet): it ends when the
  // fleet's hold is released, not by `build --release` on this hub.
  bool held_by_fleet = false;
  std::vector<MapState> maps;
  const MapState* find(const std::string& name) const;
};

inline constexpr const char* kStateFile = ".mapsync-state.json";

// nullopt when there is no state file; throws (tempfail) when it cannot be read and
// (data) when it is not ours.
std::optional<PublishState> read_state(const std::string& dir);

// The generation after current. A counter at 2^64-1 is refused (Exit::data, naming
// dir's state file) rather than wrapped to 0, which would make every stored generation
// look newer than the published one.
std::uint64_t next_generation(std::uint64_t current, const std::string& dir);

// Replaces the state file atomically (temp, fsync, rename, fsync dir).
void write_state(const std::string& dir, const PublishState& state);

// The state file's text.
std::string state_to_json(const PublishState& state);

// `mapsync status --json`: the same fields as a mapsync.status document (docs/json.md).
std::string status_json(const PublishState& state);

// Stamp of dir/name now; nullopt when missing.
std::optional<FileStamp> stamp_file(const std::string& dir, const std::string& name);

}  // namespace mapsync
