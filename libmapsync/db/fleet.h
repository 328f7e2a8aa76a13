// fleet.h - the hubs of a fleet as the database records them: what each published and
// when it last ran (fleet_hubs, fleet_generations), and the fleet-wide hold (fleet_control).
//
// Reports are best effort: a hub that cannot write its report still publishes. The hold is
// read by every hub before it publishes. What the status means (behind, drift, stale) is
// computed here from the rows, so that it can be tested without servers.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "libmapsync/db/database.h"

namespace mapsync {

struct GenerationDigest {
  std::uint64_t generation = 0, serial = 0;
  std::string digest;            // of all maps (maps/fleet_report.h)
  std::int64_t published_at = 0;  // unix time
};

struct HubReport {
  std::string hub, host;
  std::uint64_t generation = 0, serial = 0;
  std::string digest;                                      // of all maps
  std::vector<std::pair<std::string, std::string>> maps;  // name, SHA-256 of its entries
  std::int64_t published_at = 0;
  std::string version;
  unsigned schema_needed = 0;
  std::string reader;  // the endpoint read from
  std::uint64_t lag_serials = 0;
  double lag_seconds = 0;
  std::string result;  // published, unchanged, held, refused
  bool held = false;
  std::vector<GenerationDigest> generations;  // stored ones, for fleet rollback
  bool with_generations = false;              // false: leave the recorded ones as they are
};

// REPLACE of the hub's row and its generations, in one transaction on a writable session.
void write_hub_report(Database& writer, const HubReport& report);

struct HubRow {
  HubReport report;
  double age = 0;  // seconds since reported_at, by the server's clock
  std::string reported_at;
  bool behind = false, drift = false, stale = false;
};

struct FleetHold {
  bool held = false;
  std::string reason, by, at;
  std::string rollback_digest;  // set by rollback --fleet
};

struct FleetStatus {
  std::vector<HubRow> hubs;
  std::uint64_t newest_serial = 0;
  FleetHold hold;
};

// Reads every hub and the hold. stale: not reported for period * stale_periods seconds.
FleetStatus read_fleet(Database& db, unsigned period, unsigned stale_periods);
// behind: serial below the newest any hub published; drift: the same serial as another
// hub but other digests; stale: silent too long.
void judge_fleet(FleetStatus& status, unsigned period, unsigned stale_periods);

FleetHold read_fleet_hold(Database& db);
// The hold as columns of another statement (a hub's reader brings it along with the serial:
// one round trip fewer on every run): kFleetHoldColumns of fleet_control row id = 1 joined as
// alias f, read back from column first on (NULLs, no row: not held).
inline constexpr const char* kFleetHoldColumns =
    "f.held, f.reason, f.held_by, COALESCE(f.held_at, ''), COALESCE(f.rollback_digest, '')";
FleetHold fleet_hold_from(const SqlRow& row, int first);
void write_fleet_hold(Database& writer, const FleetHold& hold);

// Hubs reported within active_seconds that have no stored generation with this digest.
std::vector<std::string> hubs_without(Database& db, const std::string& digest, unsigned active_seconds);

}  // namespace mapsync
