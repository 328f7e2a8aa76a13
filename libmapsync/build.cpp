// build.cpp - see build.h.
#include "libmapsync/build.h"

#include <malloc.h>

#include <algorithm>
#include <chrono>
#include <fstream>

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
  wo.alias_syntax = m.alias_syntax;
  for (const auto& e : m.entries) wo.payload_bytes += e.key.size() + e.value.size();
  // Entries are in key order; a type that builds faster in another order gets a
  // permutation (4 bytes an entry) rather than a reordered copy.
  // rank << 32 | position: one 8-byte word an entry, sorted by rank, then key order.
  std::vector<std::uint64_t> order;
  if (type.insert_rank) {
    wo.cache_bytes = 16u << 20;  // pages are filled one after another: little cache needed
    order.resize(m.entries.size());
    for (std::uint32_t i = 0; i < order.size(); ++i)
      order[i] = (std::min<std::uint64_t>(type.insert_rank(m.entries[i].key, wo), 0xffffffffu) << 32) | i;
    std::sort(order.begin(), order.end());
  } else {
    wo.sorted_input = true;
  }
  auto w = type.create(temp, wo);
  testhook::crash_point(("created " + final_name).c_str());
  const std::size_t total = m.entries.size();
  for (std::size_t n = 0; n < total; ++n) {
    const auto& e = m.entries[order.empty() ? n : static_cast<std::uint32_t>(order[n])];
    w->add(e.key, e.value);
    if ((n + 1) % 65536 == 0) check_interrupted();
    if (n + 1 == total / 2) testhook::crash_point(("half written " + final_name).c_str());
  }
  testhook::crash_point(("written " + final_name).c_str());
  w->finish();
  testhook::crash_point(("fsynced " + final_name).c_str());
  check_interrupted();
  pub.stage(temp, final_name, mc.owner, mc.group, mc.mode);
}

// "rss 120 MB, peak 300 MB" from /proc, for -v: memory is a goal like speed.
std::string memory_use() {
  std::ifstream in("/proc/self/status");
  std::string line, rss = "?", peak = "?";
  while (std::getline(in, line)) {
    auto mb = [&](std::string& out) { out = std::to_string(std::stol(line.substr(line.find(':') + 1)) / 1024); };
    if (line.rfind("VmRSS:", 0) == 0) mb(rss);
    if (line.rfind("VmHWM:", 0) == 0) mb(peak);
  }
  return "rss " + rss + " MB, peak " + peak + " MB";
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
  if (shown > kShow) {
    const std::string more = "... and " + std::to_string(f.all().size() - kShow) + " more findings (" +
                             std::to_string(f.errors()) + " errors, " + std::to_string(f.warnings()) + " warnings in all)";
    if (f.errors()) log::error(more);
    else log::warning(more);
  }
  return f.errors();
}

BuildReport run_build(const Config& cfg, const BuildOptions& opt) {
  const auto t0 = std::chrono::steady_clock::now();
  BuildReport rep;
  // Lock first: two runs must not interleave, and the lock makes leftover temp files safe to sweep.
  std::unique_ptr<Publisher> pub;
  if (!opt.dry_run) pub = std::make_unique<Publisher>(cfg.maps.directory);

  auto lap = [t = std::chrono::steady_clock::now()](const std::string& what) mutable {
    const auto now = std::chrono::steady_clock::now();
    log::debug(what + ": " + std::to_string(std::chrono::duration<double>(now - t).count()) + " s, " + memory_use());
    t = now;
  };
  Snapshot snap;
  read_snapshot(cfg.database, snap);
  lap("read snapshot");
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
    lap("render " + mc.name);
    check_interrupted();
    BuiltMap bm{mc.name, published_path(cfg.maps, mc), m.entries.size()};
    rep.maps.push_back(bm);
    // Once anything is wrong nothing will be published: keep rendering to report every
    // problem in one run, but stop writing files.
    if (rep.findings.errors() || opt.dry_run) continue;
    write_one(*pub, text_map_type(), mc, m);
    lap("write " + mc.name + " (text)");
    write_one(*pub, type_of(mc), mc, m);
    lap("write " + mc.name + " (" + mc.type + ")");
    m = MapEntries();
    // The next map's vectors reuse this memory only if it goes back to the system:
    // glibc keeps freed heap pages otherwise, and RSS grows map by map.
    malloc_trim(0);
    log::debug("map " + mc.name + ": " + std::to_string(m.entries.size()) + " entries written");
  }
  if (rep.findings.errors()) {
    report_findings(rep.findings);
    fail(Exit::data, std::to_string(rep.findings.errors()) + " error(s) in the database; nothing published");
  }
  if (!opt.dry_run) pub->commit();
  lap("commit");
  rep.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return rep;
}

}  // namespace mapsync
