// fleet_report.h - this hub in the fleet: its report after every build, the fleet status
// as text, JSON and Prometheus metrics, and the fleet-wide hold.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "libmapsync/db/endpoints.h"
#include "libmapsync/db/fleet.h"
#include "libmapsync/maps/options.h"
#include "libmapsync/maps/state.h"

namespace mapsync {

// SHA-256 over every map's name and digest, in name order: the content of a publish.
std::string combined_digest(const PublishState& state);

// Writes this hub's row (best effort: problems are logged as warnings, never thrown).
// reader: the endpoint the build read (its writer session is reused when there is one).
void report_hub(const MapsSettings& config, ReaderChoice& reader, const PublishState& state, const std::string& result,
                bool held);

FleetStatus fleet_status(const MapsSettings& config);
std::string fleet_text(const FleetStatus& status);
std::string fleet_json(const FleetStatus& status);
std::string fleet_prometheus(const FleetStatus& status);

// mapsync hold --fleet REASON / release --fleet, on a writable endpoint.
void set_fleet_hold(const MapsSettings& config, bool held, const std::string& reason);

// The newest generation stored in dir whose content has this combined digest.
std::optional<std::uint64_t> generation_with_digest(const std::string& dir, const std::string& digest);

// mapsync rollback --fleet GEN: when every hub that reported lately stores GEN's content
// (fleet_generations), holds the fleet at it; each hub publishes that content at its next
// build and holds until `release --fleet`. Refused (Exit::data) naming the hubs without it.
void start_fleet_rollback(const MapsSettings& config, std::uint64_t generation);

}  // namespace mapsync
