// build.cpp - see build.h.
#include "libmapsync/build.h"

#include <chrono>

#include "libmapsync/casefold.h"
#include "libmapsync/error.h"
#include "libmapsync/log.h"
#include "libmapsync/publish.h"
#include "libmapsync/signals.h"
#include "libmapsync/source_mysql.h"
#include "libmapsync/testhooks.h"

namespace mapsync {
namespace {

const MapType& type_of(const MapConfig& m) {
  const MapType* t = find_map_type(m.type);
  if (!t) fail(Exit::config, "map " + m.name + ": unknown type " + m.type);
  return *t;
}

// Writes one map's entries into a new temp file of the given type and stages it.
void write_one(Publisher& pub, const MapType& type, const MapConfig& mc, const MapEntries& m) {
  const std::string final_name = mc.file + std::string(type.suffix);
  const std::string temp = pub.temp_path(final_name);
  WriterOptions wo;
  wo.expected_entries = m.entries.size();
  wo.sorted_input = true;
  wo.alias_syntax = m.alias_syntax;
  auto w = type.create(temp, wo);
  testhook::crash_point(("created " + final_name).c_str());
  std::size_t n = 0;
  for (const auto& e : m.entries) {
    w->add(e.key, e.value);
    if (++n % 65536 == 0) check_interrupted();
    if (n == m.entries.size() / 2) testhook::crash_point(("half written " + final_name).c_str());
  }
  testhook::crash_point(("written " + final_name).c_str());
  w->finish();
  testhook::crash_point(("fsynced " + final_name).c_str());
  check_interrupted();
  pub.stage(temp, final_name, mc.owner, mc.group, mc.mode);
}

}  // namespace

std::string published_path(const MapsConfig& maps, const MapConfig& map) {
  return maps.directory + "/" + map.file + std::string(type_of(map).suffix);
}

std::unique_ptr<MapReader> open_published(const MapsConfig& maps, const MapConfig& map) {
  return type_of(map).open(published_path(maps, map), map.name == "aliases");
}

std::size_t report_findings(const Findings& f) {
  constexpr std::size_t kShow = 200;  // a broken import can produce 100,000 findings
  std::size_t shown = 0;
  for (auto sev : {Finding::error, Finding::warning}) {
    for (const Finding& x : f.all()) {
      if (x.severity != sev) continue;
      if (++shown > kShow) break;
      const std::string text = (x.map.empty() ? "" : x.map + ": ") + x.message;
      if (sev == Finding::error) log::error(text);
      else log::warning(text);
    }
  }
  if (shown > kShow) log::error("... and " + std::to_string(f.all().size() - kShow) + " more findings");
  return f.errors();
}

BuildReport run_build(const Config& cfg, const BuildOptions& opt) {
  const auto t0 = std::chrono::steady_clock::now();
  BuildReport rep;
  // Lock first: two runs must not interleave, and the lock makes leftover temp files safe to sweep.
  std::unique_ptr<Publisher> pub;
  if (!opt.dry_run) pub = std::make_unique<Publisher>(cfg.maps.directory);

  Snapshot snap;
  read_snapshot(cfg.database, snap);
  rep.serial = snap.serial;
  check_interrupted();

  std::size_t active = 0;
  for (const Account& a : snap.accounts) active += a.status == AccountStatus::active;
  if (active < cfg.render.min_accounts)
    fail(Exit::tempfail, "the database returned " + std::to_string(active) + " active accounts, fewer than render.min_accounts (" +
                             std::to_string(cfg.render.min_accounts) + "); refusing to publish what looks like a failed or empty read");

  Renderer renderer(snap, cfg.render, rep.findings);
  for (const MapConfig& mc : cfg.maps.maps) {
    if (!mc.enabled) continue;
    MapEntries m = renderer.render(mc.name);
    check_interrupted();
    BuiltMap bm{mc.name, published_path(cfg.maps, mc), m.entries.size()};
    rep.maps.push_back(bm);
    // Once anything is wrong nothing will be published: keep rendering to report every
    // problem in one run, but stop writing files.
    if (rep.findings.errors() || opt.dry_run) continue;
    write_one(*pub, text_map_type(), mc, m);
    write_one(*pub, type_of(mc), mc, m);
    log::debug("map " + mc.name + ": " + std::to_string(m.entries.size()) + " entries written");
  }
  if (rep.findings.errors()) {
    report_findings(rep.findings);
    fail(Exit::data, std::to_string(rep.findings.errors()) + " error(s) in the database; nothing published");
  }
  if (!opt.dry_run) pub->commit();
  rep.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return rep;
}

}  // namespace mapsync
