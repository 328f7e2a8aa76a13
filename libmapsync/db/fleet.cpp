// fleet.cpp - see fleet.h.
#include "libmapsync/db/fleet.h"

#include <algorithm>
#include <map>

#include "libmapsync/core/error.h"

namespace mapsync {
namespace {

// fleet_hubs.maps: "name digest" lines (readable in a mysql client, no JSON needed here).
std::string maps_text(const HubReport& r) {
  std::string s;
  for (const auto& [name, digest] : r.maps) s += name + " " + digest + "\n";
  return s;
}

std::vector<std::pair<std::string, std::string>> parse_maps(const std::string& text) {
  std::vector<std::pair<std::string, std::string>> out;
  std::size_t at = 0;
  while (at < text.size()) {
    std::size_t nl = text.find('\n', at);
    if (nl == std::string::npos) nl = text.size();
    const std::string line = text.substr(at, nl - at);
    const auto sp = line.find(' ');
    if (sp != std::string::npos) out.emplace_back(line.substr(0, sp), line.substr(sp + 1));
    at = nl + 1;
  }
  return out;
}

SqlParam unix_time(std::int64_t t) { return t ? SqlParam(t) : SqlParam(nullptr); }

// The hub's row: what it published, when it last reported.
void replace_hub_row(Database& db, const HubReport& r) {
  db.update("REPLACE INTO fleet_hubs (hub, host, generation, serial, digest, maps, published_at, reported_at, version, "
            "schema_needed, reader, lag_serials, lag_seconds, result, held) VALUES (?, ?, ?, ?, ?, ?, FROM_UNIXTIME(?), "
            "NOW(6), ?, ?, ?, ?, ?, ?, ?)",
            {r.hub, r.host, r.generation, r.serial, r.digest, maps_text(r), unix_time(r.published_at), r.version,
             std::uint64_t{r.schema_needed}, r.reader, r.lag_serials, std::to_string(r.lag_seconds), r.result,
             std::uint64_t{r.held}},
            "writing the fleet report");
}

}  // namespace

void write_hub_report(Database& db, const HubReport& r) {
  if (!r.with_generations) {
    // One statement (every hub, every run, most of them finding nothing changed) in
    // autocommit, once what a failed read may have left open is ended: one round trip
    // instead of a transaction's three.
    db.end_transaction("writing the fleet report");
    replace_hub_row(db, r);
    return;
  }
  Transaction tx(db, "writing the fleet report");
  replace_hub_row(db, r);
  std::string keep;
  for (const GenerationDigest& g : r.generations) {
    db.update("REPLACE INTO fleet_generations (hub, generation, serial, digest, published_at) VALUES (?, ?, ?, ?, "
              "FROM_UNIXTIME(?))",
              {r.hub, g.generation, g.serial, g.digest, unix_time(g.published_at)}, "writing the fleet generations");
    keep += (keep.empty() ? "" : ",") + std::to_string(g.generation);
  }
  db.update("DELETE FROM fleet_generations WHERE hub = ?" + (keep.empty() ? "" : " AND generation NOT IN (" + keep + ")"),
            {r.hub}, "pruning the fleet generations");
  tx.commit("writing the fleet report");
}

void judge_fleet(FleetStatus& st, unsigned period, unsigned stale_periods) {
  st.newest_serial = 0;
  for (const HubRow& h : st.hubs) st.newest_serial = std::max(st.newest_serial, h.report.serial);
  std::map<std::uint64_t, std::map<std::string, int>> digests;  // serial -> digest -> hubs
  for (const HubRow& h : st.hubs) ++digests[h.report.serial][h.report.digest];
  for (HubRow& h : st.hubs) {
    h.behind = h.report.serial < st.newest_serial;
    h.drift = digests[h.report.serial].size() > 1;
    h.stale = h.age > static_cast<double>(period) * stale_periods;
  }
}

FleetStatus read_fleet(Database& db, unsigned period, unsigned stale_periods) {
  FleetStatus st;
  db.each_row("SELECT hub, host, generation, serial, digest, maps, COALESCE(UNIX_TIMESTAMP(published_at), 0), reported_at, "
              "version, schema_needed, reader, lag_serials, lag_seconds, result, held, "
              "TIMESTAMPDIFF(MICROSECOND, reported_at, NOW(6)) FROM fleet_hubs ORDER BY hub",
              "reading the fleet status", [&](const SqlRow& r) {
                HubRow h;
                HubReport& x = h.report;
                x.hub = r.str(1);
                x.host = r.str(2);
                x.generation = r.u64(3);
                x.serial = r.u64(4);
                x.digest = r.str(5);
                x.maps = parse_maps(r.str(6));
                x.published_at = static_cast<std::int64_t>(std::stod("0" + r.str(7)));
                h.reported_at = r.str(8);
                x.version = r.str(9);
                x.schema_needed = static_cast<unsigned>(r.u64(10));
                x.reader = r.str(11);
                x.lag_serials = r.u64(12);
                x.lag_seconds = std::stod("0" + r.str(13));
                x.result = r.str(14);
                x.held = r.u64(15) != 0;
                h.age = std::stod("0" + r.str(16)) / 1e6;
                st.hubs.push_back(std::move(h));
              });
  st.hold = read_fleet_hold(db);
  judge_fleet(st, period, stale_periods);
  return st;
}

FleetHold fleet_hold_from(const SqlRow& r, int first) {
  FleetHold h;
  h.held = r.u64(first) != 0;
  h.reason = r.str(first + 1);
  h.by = r.str(first + 2);
  h.at = r.str(first + 3);
  h.rollback_digest = r.str(first + 4);
  return h;
}

FleetHold read_fleet_hold(Database& db) {
  FleetHold h;
  db.each_row(std::string("SELECT ") + kFleetHoldColumns + " FROM fleet_control f WHERE f.id = 1", "reading the fleet hold",
              [&](const SqlRow& r) { h = fleet_hold_from(r, 1); });
  return h;
}

void write_fleet_hold(Database& db, const FleetHold& h) {
  db.update("REPLACE INTO fleet_control (id, held, reason, held_by, held_at, rollback_digest) VALUES (1, ?, ?, ?, "
            "IF(?, NOW(6), NULL), ?)",
            {std::uint64_t{h.held}, h.reason, h.by, std::uint64_t{h.held},
             h.rollback_digest.empty() ? SqlParam(nullptr) : SqlParam(h.rollback_digest)},
            h.held ? "setting the fleet hold" : "releasing the fleet hold");
}

std::vector<std::string> hubs_without(Database& db, const std::string& digest, unsigned active_seconds) {
  std::vector<std::string> out;
  db.query("SELECT h.hub FROM fleet_hubs h WHERE h.reported_at > NOW(6) - INTERVAL ? SECOND AND NOT EXISTS "
           "(SELECT 1 FROM fleet_generations g WHERE g.hub = h.hub AND g.digest = ?) ORDER BY h.hub",
           {std::uint64_t{active_seconds}, digest}, "looking for the generation on every hub",
           [&](const SqlRow& r) { out.push_back(r.str(1)); });
  return out;
}

}  // namespace mapsync
