// fleet_report.cpp - see fleet_report.h.
#include "libmapsync/maps/fleet_report.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <sstream>

#include "libmapsync/core/digest.h"
#include "libmapsync/core/error.h"
#include "libmapsync/core/identity.h"
#include "libmapsync/core/json_format.h"
#include "libmapsync/core/log.h"
#include "libmapsync/core/version.h"
#include "libmapsync/db/schema.h"
#include "libmapsync/maps/generations.h"

namespace mapsync {

std::string combined_digest(const PublishState& st) {
  std::vector<const MapState*> maps;
  for (const MapState& m : st.maps) maps.push_back(&m);
  std::sort(maps.begin(), maps.end(), [](const MapState* a, const MapState* b) { return a->name < b->name; });
  Digest d;
  for (const MapState* m : maps) d.update(m->name + " " + m->digest + "\n");
  return d.hex();
}

namespace {

// The content of every stored generation kept (kept_generations: a build's pruning may
// still be under way when it reports), from the state file stored with it.
std::vector<GenerationDigest> stored_digests(const std::string& dir, unsigned keep = 0) {
  std::vector<GenerationDigest> out;
  for (std::uint64_t g : kept_generations(dir, keep)) {
    try {
      const auto st = read_state(dir + "/" + kGenerationsDir + "/" + std::to_string(g));
      if (st) out.push_back({g, st->serial, combined_digest(*st), st->published_at});
    } catch (const Error& e) {
      log::debug("generation " + std::to_string(g) + " left out of the fleet report: " + e.what());
    }
  }
  return out;
}

}  // namespace

std::optional<std::uint64_t> generation_with_digest(const std::string& dir, const std::string& digest) {
  std::optional<std::uint64_t> found;
  for (const GenerationDigest& g : stored_digests(dir))
    if (g.digest == digest) found = g.generation;
  return found;
}

void start_fleet_rollback(const MapsSettings& cfg, std::uint64_t gen) {
  const std::string& dir = cfg.maps.directory;
  const std::string stored = dir + "/" + kGenerationsDir + "/" + std::to_string(gen);
  const auto st = read_state(stored);
  if (!st) fail(Exit::usage, "generation " + std::to_string(gen) + " is not stored in " + dir + " (see " + dir + "/" + kGenerationsDir + ")");
  const std::string digest = combined_digest(*st);
  auto db = connect_writer(cfg.database);
  const unsigned active = cfg.database.fleet.period * cfg.database.fleet.stale_periods;
  const auto lacking = hubs_without(*db, digest, active);
  if (!lacking.empty()) {
    std::string list;
    for (const auto& h : lacking) list += (list.empty() ? "" : ", ") + h;
    fail(Exit::data, "generation " + std::to_string(gen) + " (serial " + std::to_string(st->serial) + ", content " +
                         digest.substr(0, 12) + ") is not stored on every hub: missing on " + list +
                         "; nothing changed (roll back those hubs one by one, or pick a generation they all have)");
  }
  FleetHold h;
  h.held = true;
  h.reason = "rollback to the content of generation " + std::to_string(gen) + " of hub " + cfg.database.fleet.hub +
             " (serial " + std::to_string(st->serial) + ")";
  h.by = os_user() + "@" + host_name();
  h.rollback_digest = digest;
  write_fleet_hold(*db, h);
  log::audit("fleet-wide rollback to content " + digest.substr(0, 12) + " (" + h.reason +
              "): every hub publishes it at its next build and holds until `mapsync release --fleet`");
}

void report_hub(const MapsSettings& cfg, ReaderChoice& reader, const PublishState& st, const std::string& result,
                bool held) {
  HubReport r;
  r.hub = cfg.database.fleet.hub;
  r.host = host_name();
  r.generation = st.generation;
  r.serial = st.serial;
  r.digest = combined_digest(st);
  for (const MapState& m : st.maps) r.maps.emplace_back(m.name, m.digest);
  r.published_at = st.published_at;
  r.version = kVersion;
  r.schema_needed = required_schema_version();
  r.reader = reader.endpoint;
  r.lag_serials = reader.lag_serials;
  r.lag_seconds = reader.lag_seconds;
  r.result = result;
  r.held = held || st.held;
  // The stored generations change only when something is published.
  r.with_generations = result != "unchanged" && result != "held";
  if (r.with_generations) r.generations = stored_digests(cfg.maps.directory, cfg.maps.generations);
  try {
    Database* w = reader.writable ? reader.db.get() : reader.writer.get();
    if (!w) {
      std::string why;
      reader.writer = try_connect_writer(cfg.database, std::min(cfg.database.connect_timeout, 5u), why);
      if (!reader.writer) {
        log::warning("fleet report of hub " + r.hub + " not written: no writable database endpoint" +
                     (why.empty() ? std::string() : " (" + why + ")"));
        return;
      }
      w = reader.writer.get();
    }
    write_hub_report(*w, r);
  } catch (const Error& e) {
    log::warning("fleet report of hub " + r.hub + " not written: " + e.what());
  }
}

FleetStatus fleet_status(const MapsSettings& cfg) {
  ReaderChoice reader = connect_reader(cfg.database, 0, SchemaCheck::on_connect);
  return read_fleet(*reader.db, cfg.database.fleet.period, cfg.database.fleet.stale_periods);
}

std::string fleet_text(const FleetStatus& st) {
  std::ostringstream o;
  if (st.hold.held)
    o << "HELD fleet-wide since " << st.hold.at << " by " << st.hold.by << ": " << st.hold.reason << "\n";
  o << "newest serial: " << st.newest_serial << "\n";
  for (const HubRow& h : st.hubs) {
    const HubReport& r = h.report;
    o << r.hub << " (" << r.host << "): generation " << r.generation << ", serial " << r.serial << ", digest "
      << r.digest.substr(0, 12) << ", read from " << r.reader;
    if (r.lag_serials) o << " (" << r.lag_serials << " changes behind, up to " << static_cast<long long>(r.lag_seconds) << " s)";
    o << ", last run " << static_cast<long long>(h.age) << " s ago (" << r.result << "), mapsync " << r.version;
    if (h.behind) o << "  BEHIND";
    if (h.drift) o << "  DRIFT";
    if (h.stale) o << "  STALE";
    o << "\n";
  }
  if (st.hubs.empty()) o << "no hub has reported yet\n";
  return o.str();
}

std::string fleet_json(const FleetStatus& st) {
  nlohmann::json j = json_document<nlohmann::json>(json_format::mapsync_fleet_status);
  j["newest_serial"] = st.newest_serial;
  j["hold"] = st.hold.held ? nlohmann::json{{"reason", st.hold.reason},
                                            {"by", st.hold.by},
                                            {"at", st.hold.at},
                                            {"rollback_digest", st.hold.rollback_digest.empty()
                                                                    ? nlohmann::json(nullptr)
                                                                    : nlohmann::json(st.hold.rollback_digest)}}
                           : nlohmann::json(nullptr);
  j["hubs"] = nlohmann::json::array();
  for (const HubRow& h : st.hubs) {
    const HubReport& r = h.report;
    nlohmann::json maps = nlohmann::json::object();
    for (const auto& [name, digest] : r.maps) maps[name] = digest;
    j["hubs"].push_back({{"hub", r.hub},           {"host", r.host},         {"generation", r.generation},
                         {"serial", r.serial},     {"digest", r.digest},     {"maps", maps},
                         {"published_at", r.published_at},                   {"reported_at", h.reported_at},
                         {"age_seconds", h.age},   {"version", r.version},   {"schema", r.schema_needed},
                         {"reader", r.reader},     {"lag_serials", r.lag_serials},
                         {"lag_seconds", r.lag_seconds},                     {"result", r.result},
                         {"held", r.held},         {"behind", h.behind},     {"drift", h.drift},
                         {"stale", h.stale}});
  }
  return j.dump(2) + "\n";
}

std::string fleet_prometheus(const FleetStatus& st) {
  std::ostringstream o;
  auto family = [&](const char* name, const char* help) {
    o << "# HELP " << name << " " << help << "\n# TYPE " << name << " gauge\n";
  };
  auto label = [](const std::string& hub) {
    std::string v;
    for (char c : hub) {
      if (c == '\\' || c == '"') v += '\\';
      if (c == '\n') v += "\\n";
      else v += c;
    }
    return "{hub=\"" + v + "\"}";
  };
  family("mapsync_fleet_hold", "1 while publishing is held fleet-wide");
  o << "mapsync_fleet_hold " << (st.hold.held ? 1 : 0) << "\n";
  family("mapsync_fleet_newest_serial", "the newest database serial any hub published");
  o << "mapsync_fleet_newest_serial " << st.newest_serial << "\n";
  struct Gauge {
    const char* name;
    const char* help;
    double (*value)(const HubRow&);
  };
  const Gauge gauges[] = {
      {"mapsync_fleet_hub_serial", "the database serial the hub published", [](const HubRow& h) { return double(h.report.serial); }},
      {"mapsync_fleet_hub_generation", "the hub's published generation", [](const HubRow& h) { return double(h.report.generation); }},
      {"mapsync_fleet_hub_behind", "1 when the hub published an older serial than another hub", [](const HubRow& h) { return h.behind ? 1.0 : 0.0; }},
      {"mapsync_fleet_hub_drift", "1 when hubs at the same serial published different maps", [](const HubRow& h) { return h.drift ? 1.0 : 0.0; }},
      {"mapsync_fleet_hub_stale", "1 when the hub has not reported for fleet.stale_periods periods", [](const HubRow& h) { return h.stale ? 1.0 : 0.0; }},
      {"mapsync_fleet_hub_lag_seconds", "how far the hub's reader was behind the primary", [](const HubRow& h) { return h.report.lag_seconds; }},
      {"mapsync_fleet_hub_lag_serials", "changes the hub's reader was behind the primary", [](const HubRow& h) { return double(h.report.lag_serials); }},
      {"mapsync_fleet_hub_report_age_seconds", "seconds since the hub last reported", [](const HubRow& h) { return h.age; }},
  };
  for (const Gauge& g : gauges) {
    family(g.name, g.help);
    for (const HubRow& h : st.hubs) o << g.name << label(h.report.hub) << " " << g.value(h) << "\n";
  }
  return o.str();
}

void set_fleet_hold(const MapsSettings& cfg, bool held, const std::string& reason) {
  auto db = connect_writer(cfg.database);
  FleetHold h;
  h.held = held;
  h.reason = reason;
  h.by = os_user() + "@" + host_name();
  write_fleet_hold(*db, h);
  if (held) log::audit("publishing held fleet-wide: " + reason + " (every hub keeps its maps until `mapsync release --fleet`)");
  else log::audit("fleet-wide hold released: hubs publish again at their next run");
}

}  // namespace mapsync
