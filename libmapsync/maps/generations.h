// generations.h - the last N published generations, and rollback to one of them.
//
// After every publish that changed files, <maps.directory>/.generations/<N>/ gets a hard
// link to the text source of every map and to the state file: cheap (no data is copied)
// and safe, because those files are only ever replaced by rename. The indexed files are
// never linked: Postfix notices a replaced map by its old inode's link count dropping
// to zero, and a second link would hide the replacement from running daemons.
// A rollback rebuilds the indexed files from a generation's text sources and publishes
// them through the build's own steps (publish_steps.h), as a new generation, and then holds
// the maps: builds refuse to publish until `mapsync build --release`, so that the next
// cron run does not bring back what was just rolled back.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "libmapsync/maps/options.h"
#include "libmapsync/maps/state.h"

namespace mapsync {

inline constexpr const char* kGenerationsDir = ".generations";

// Records state's generation (whose maps and state file are published in dir).
void store_generation(const std::string& dir, const MapsConfig& maps, const PublishState& state, unsigned keep);

// Removes all but the newest keep stored generations, and what a killed run left half
// made. Freeing old text sources takes a while (their last link goes), so a build runs
// it beside its fleet report; a failure is only logged: nothing published depends on it.
void prune_generations(const std::string& dir, unsigned keep) noexcept;
// The same in a thread of its own, joined when the result goes (inline when no thread
// can be had), so that it overlaps what the caller does next.
std::jthread prune_generations_beside(const std::string& dir, unsigned keep);

// Stored generation numbers, ascending.
std::vector<std::uint64_t> stored_generations(const std::string& dir);
// The newest keep of them (all when keep is 0): what prune_generations leaves, also while
// it is still at work.
std::vector<std::uint64_t> kept_generations(const std::string& dir, unsigned keep);

struct RollbackReport {
  std::uint64_t restored = 0;        // the generation whose content is published again
  std::uint64_t new_generation = 0;  // the number the rollback published under
  std::vector<std::string> maps;     // maps rewritten
};

// A generation number as given on the command line: a positive decimal number, no sign,
// no blanks, at most 2^64-1. Anything else (0, -1, 1e3, 18446744073709551616) is
// Exit::usage: "-1" must not become 2^64-1, nor "0" mean "the previous one".
std::uint64_t parse_generation(const std::string& text);

// Restores generation gen (default: the newest stored one older than the published
// generation) and holds the maps.
// fleet: the rollback a fleet-wide one asked for (the hold ends with the fleet's hold).
RollbackReport rollback(const MapsSettings& config, std::optional<std::uint64_t> gen, bool fleet = false);

}  // namespace mapsync
