// publish_steps.h - the steps every publish of maps takes, a build's or a rollback's.
//
//   stage_map       write a map's text source and indexed file under temp names (the
//                   writers check every entry), fsync, set owner and mode, queue the rename
//   commit_staged   rename everything staged, in staging order, fsync the directory, and
//                   record the new files' stamps in the state to be written
//   record_publish  replace the state file, then store the generation for rollback
// One path for both, so that what publish.h promises about a kill at any point (every
// file wholly old or wholly new; the state file never describes files not yet renamed)
// is proved once by tests/integration/crash_safety.sh for both. content_digest() is the
// one definition of "same content": a rollback and the next build agree on it.
#pragma once

#include <cstdint>
#include <string>
#include <thread>

#include "libmapsync/maps/delta.h"
#include "libmapsync/maps/map_backend.h"
#include "libmapsync/maps/options.h"
#include "libmapsync/maps/state.h"

namespace mapsync {

class Publisher;

// The registered type of a map (Exit::config when unknown).
const MapType& map_type_of(const MapConfig& map);

// How a map is published (type, file, owner, group, mode), as one string.
std::string map_settings(const MapConfig& map);

// SHA-256 of the entries in key order ("key TAB value NL" each), whatever the file
// syntax: what MapState::digest holds.
std::string content_digest(const MapView& view);

// The state of map as view would publish it, in generation; digest: also its content
// digest (a pass over every entry).
MapState map_state(const MapConfig& map, const MapView& view, std::uint64_t generation, bool digest);

// Writes one file of a map (the text source or the indexed file, by type) under a new
// temp name in pub's directory, makes it durable and stages it for the rename.
void write_map_file(Publisher& pub, const MapType& type, const MapConfig& map, const MapView& view);

// Stages both files of a map: the text source from view, then the indexed file, written
// from view or, given patch, patched into a copy of the published one.
void stage_map(Publisher& pub, const MapConfig& map, const MapView& view, const MapDelta* patch = nullptr);

// Stages a map's indexed file as a copy of the published one with delta's changes made.
void patch_map_file(Publisher& pub, const MapType& type, const MapConfig& map, const MapDelta& delta);

// Commits what is staged (Publisher::commit), then stamps the files of every map of next
// whose generation is written (the maps this publish rewrote).
void commit_staged(Publisher& pub, const MapsConfig& maps, PublishState& next, std::uint64_t written);

// Writes next as the state of dir and, when store, keeps it as a generation for rollback.
// Returns the removal of the generations beyond maps.generations, under way in a thread
// (generations.h), joined when the result goes.
std::jthread record_publish(const std::string& dir, const MapsConfig& maps, const PublishState& next, bool store);

}  // namespace mapsync
