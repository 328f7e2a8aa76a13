// hooks.h - maps.hooks: commands run after a publish that replaced certain maps.
//
// Postfix opens a changed lookup table again by itself (virtual, canonical,
// relay_recipients), but some changes want `postfix reload` (transport, relay_domains
// in some setups). A hook runs once per publish when any of its maps was replaced, with
// the environment of run_command (command.h) plus MAPSYNC_MAPS (the replaced maps of its
// list, blank-separated), MAPSYNC_GENERATION and MAPSYNC_DIRECTORY. Its output is logged
// (shortened), its failure or timeout is a warning and counted in the metrics; it never
// fails or undoes the publish: the maps are already what Postfix reads.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "libmapsync/maps/build.h"
#include "libmapsync/maps/options.h"

namespace mapsync {

struct HookRun {
  std::string command;  // argv joined, for messages
  bool ok = false;
  bool timed_out = false;
  std::string outcome;  // "exit 0", "timed out after 30 s", ...
};

// Runs the hooks whose maps are among replaced (map names), in config order.
std::vector<HookRun> run_publish_hooks(const MapsConfig& maps, const std::vector<std::string>& replaced,
                                       std::uint64_t generation);

// After a build: the hooks of the maps it wrote (none for a dry run or a build that found
// nothing changed), counted in rep.hooks_run and rep.hooks_failed. Returns
// "; hook CMD: OUTCOME" per hook run, for the audit line.
std::string run_publish_hooks(const MapsConfig& maps, const BuildOptions& options, BuildReport& rep);

}  // namespace mapsync
