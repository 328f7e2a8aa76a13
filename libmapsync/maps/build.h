// build.h - the map build job: read one snapshot, render, validate, publish.
//
// Shaped like every mapsync job: inspect (the database), compute what the maps should
// hold, check it, and only then change anything. Nothing is published unless every
// enabled map rendered without error and was written completely.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "libmapsync/maps/options.h"
#include "libmapsync/maps/map_backend.h"
#include "libmapsync/maps/render.h"

namespace mapsync {

struct BuildOptions {
  bool dry_run = false;  // render and validate, write nothing
  // Read and render even when the database serial says nothing changed, and rewrite
  // maps whose content is unchanged (after a manual edit of a published file, say).
  bool full = false;
  // Publish even when change gates trip (logged as a warning).
  bool force = false;
  // Publish again after a rollback held the maps.
  bool release = false;
  // mapsync plan: write every map into directory, but take the published state from
  // here, so that change gates judge the change against what is really published.
  std::string compare_directory;
  // mapsync plan: record tripped gates in the report and go on, instead of refusing.
  bool gates_report_only = false;
  // Publish here instead of maps.directory (mapsync plan stages into its own directory).
  std::string directory;
};

struct BuiltMap {
  std::string name;
  std::string path;  // the indexed file
  std::size_t entries = 0;
  bool written = false;  // false: same content as published, file left alone
};

struct BuildReport {
  std::uint64_t serial = 0;
  // The database serial and the config were those of the published maps: nothing was
  // read beyond the serial, nothing written.
  bool nothing_changed = false;
  // Only the rows the change log names were read and rendered (incremental.h).
  bool incremental = false;
  std::uint64_t generation = 0;
  std::vector<std::string> gates_tripped;  // one message per gate
  std::vector<BuiltMap> maps;
  Findings findings;
  double seconds = 0;
  std::string reader;  // the database endpoint read
  std::uint64_t lag_serials = 0;
  double lag_seconds = 0;
  bool fleet_held = false;  // refused: held fleet-wide
  // maps.hooks run after this publish (hooks.h), and how many failed or timed out.
  unsigned hooks_run = 0, hooks_failed = 0;
};

// Fills report as it goes, so that a caller has the findings, the gates and the serial
// even when it throws mapsync::Error: Exit::data when validation found errors,
// tempfail for source trouble or tripped gates, config for configuration.
void run_build(const MapsSettings& config, const BuildOptions& options, BuildReport& report);

// Everything in the config that changes what is rendered or how it is published.
std::string config_digest(const MapsSettings& config);


// Opens the published file of one map for reading (query, dump).
std::unique_ptr<MapReader> open_published(const MapConfig& map);

}  // namespace mapsync
