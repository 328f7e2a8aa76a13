// build.cpp - see build.h.
#include "libmapsync/maps/build.h"

#include <malloc.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <optional>
#include <exception>
#include <fstream>
#include <mutex>
#include <thread>

#include "libmapsync/core/casefold.h"
#include "libmapsync/maps/delta.h"
#include "libmapsync/core/digest.h"
#include "libmapsync/core/error.h"
#include "libmapsync/maps/generations.h"
#include "libmapsync/core/log.h"
#include "libmapsync/maps/publish.h"
#include "libmapsync/core/signals.h"
#include "libmapsync/db/database.h"
#include "libmapsync/maps/snapshot.h"
#include "libmapsync/maps/state.h"
#include "libmapsync/core/testhooks.h"

namespace mapsync {
const MapType& map_type_of(const MapConfig& m) {
  const MapType* t = find_map_type(m.type);
  if (!t) fail(Exit::config, "map " + m.name + ": unknown type " + m.type);
  return *t;
}

std::string map_settings(const MapConfig& mc) {
  char mode[8];
  std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(mc.mode));
  return mc.type + " " + mc.file + " " + std::to_string(mc.owner) + ":" + std::to_string(mc.group) + " " + mode;
}

// Everything in the config that changes what is rendered or how it is published.
std::string config_digest(const MapsSettings& cfg) {
  Digest d;
  const RenderConfig& r = cfg.render;
  // Another database with the same change serial is not "nothing changed".
  const DatabaseConfig& db = cfg.database;
  d.update(db.host + ":" + std::to_string(db.port) + " " + db.socket + " " + db.database + "\n");
  for (const std::string& x : {r.local_alias_domain, r.canonical_key, r.canonical_value, std::to_string(r.canonical_generate)})
    d.update(x + "\n");
  for (const MapConfig& mc : cfg.maps.maps) d.update(mc.name + (mc.enabled ? " on " : " off ") + map_settings(mc) + "\n");
  return d.hex();
}

void write_map_file(Publisher& pub, const MapType& type, const MapConfig& mc, const MapView& view) {
  const std::string final_name = mc.file + std::string(type.suffix);
  const std::string temp = pub.temp_path(final_name);
  WriterOptions wo;
  wo.expected_entries = view.size();
  wo.alias_syntax = view.alias_syntax;
  for (std::size_t i = 0; i < view.size(); ++i) {
    const auto [k, v] = view.at(i);
    wo.payload_bytes += k.size() + v.size();
  }
  // A type that builds faster in another order than key order gets a permutation:
  // rank << 32 | position, one 8-byte word an entry, rather than a reordered copy.
  std::vector<std::uint64_t> order;
  if (type.insert_rank) {
    wo.cache_bytes = 4u << 20;  // pages are filled one after another: 4 MB builds as fast as 64
    order.resize(view.size());
    for (std::uint32_t i = 0; i < order.size(); ++i)
      order[i] = (std::min<std::uint64_t>(type.insert_rank(view.at(i).first, wo), 0xffffffffu) << 32) | i;
    std::sort(order.begin(), order.end());
  } else {
    wo.sorted_input = true;
  }
  auto w = type.create(temp, wo);
  testhook::crash_point(("created " + final_name).c_str());
  const std::size_t total = view.size();
  std::size_t n = 0;
  auto add = [&](std::pair<std::string_view, std::string_view> e) {
    w->add(e.first, e.second);
    if (++n % 65536 == 0) check_interrupted();
    if (n == total / 2) testhook::crash_point(("half written " + final_name).c_str());
  };
  if (order.empty()) view.for_each_sorted(add);
  else
    for (std::uint64_t o : order) add(view.at(static_cast<std::uint32_t>(o)));
  testhook::crash_point(("written " + final_name).c_str());
  w->finish();
  testhook::crash_point(("fsynced " + final_name).c_str());
  check_interrupted();
  pub.stage(temp, final_name, mc.owner, mc.group, mc.mode);
}

namespace {

// Publishes a map by patching a copy of its published indexed file with a delta.
void patch_map_file(Publisher& pub, const MapType& type, const MapConfig& mc, const MapDelta& delta) {
  const std::string final_name = mc.file + std::string(type.suffix);
  const std::string temp = pub.copy_to_temp(final_name);
  testhook::crash_point(("copied " + final_name).c_str());
  auto p = type.patch(temp);
  std::size_t n = 0;
  for (const auto& [k, v] : delta.changes) {
    if (v.empty()) p->remove(k);
    else p->put(k, v);
    if (++n == delta.changes.size() / 2) testhook::crash_point(("half patched " + final_name).c_str());
  }
  p->finish();
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

// Writes a rendered map in threads of its own, so that the next map renders while libdb
// writes this one: a build keeps both cores busy. A map may feed more than one output
// (virtual also gives relay_recipients its keys); each output (text source, then the
// indexed file) is written by its own thread. wait() hands the first failure on.
class BackgroundWrite {
 public:
  struct Output {
    const MapConfig* config;
    std::string_view value;  // see MapView
    std::vector<MapEntries::Entry> extra;
    std::shared_ptr<const MapDelta> patch;  // set: patch a copy of the published file
  };

  BackgroundWrite(Publisher& pub, MapEntries&& m, std::vector<Output> outputs)
      : pub_(pub), m_(std::move(m)), outputs_(std::move(outputs)) {
    for (const Output& o : outputs_) threads_.emplace_back([this, &o] { run(o); });
  }
  ~BackgroundWrite() { join(); }
  BackgroundWrite(const BackgroundWrite&) = delete;
  BackgroundWrite& operator=(const BackgroundWrite&) = delete;

  void wait() {
    join();
    m_ = MapEntries();
    // glibc keeps freed heap pages otherwise, and RSS would grow map by map.
    malloc_trim(0);
    if (error_) std::rethrow_exception(error_);
  }

 private:
  void join() {
    for (auto& t : threads_)
      if (t.joinable()) t.join();
  }

  void run(const Output& o) {
    const auto t0 = std::chrono::steady_clock::now();
    try {
      MapView view{&m_, o.value, o.extra, m_.alias_syntax};
      write_map_file(pub_, text_map_type(), *o.config, view);
      if (o.patch) patch_map_file(pub_, map_type_of(*o.config), *o.config, *o.patch);
      else write_map_file(pub_, map_type_of(*o.config), *o.config, view);
      log::debug("write " + o.config->name + " (text and " + o.config->type +
                 (o.patch ? ", patched with " + std::to_string(o.patch->changes.size()) + " changes" : std::string()) +
                 "): " + std::to_string(view.size()) + " entries, " +
                 std::to_string(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count()) + " s, " +
                 memory_use());
    } catch (...) {
      std::lock_guard<std::mutex> lock(mu_);
      if (!error_) error_ = std::current_exception();
    }
  }

  Publisher& pub_;
  MapEntries m_;
  const std::vector<Output> outputs_;
  std::mutex mu_;
  std::exception_ptr error_;
  std::vector<std::thread> threads_;  // last: started once everything above is set
};

}  // namespace

std::string published_path(const MapsConfig& maps, const MapConfig& map) {
  return maps.directory + "/" + map.file + std::string(map_type_of(map).suffix);
}

std::unique_ptr<MapReader> open_published(const MapsConfig& maps, const MapConfig& map) {
  return map_type_of(map).open(published_path(maps, map), map.name == "aliases");
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

namespace {

std::vector<std::string> file_names(const MapConfig& mc) {
  return {mc.file, mc.file + std::string(map_type_of(mc).suffix)};
}

// The published files are the ones this map's state describes (nobody rebuilt them).
bool intact(const std::string& dir, const MapState& ms) {
  for (const FileStamp& f : ms.files)
    if (stamp_file(dir, f.name) != f) return false;
  return !ms.files.empty();
}

std::string content_digest(const MapView& v) {
  Digest d;
  v.for_each_sorted([&](std::pair<std::string_view, std::string_view> e) {
    d.update(e.first);
    d.update("\t");
    d.update(e.second);
    d.update("\n");
  });
  return d.hex();
}

// Compares what is about to be published with what is: records the gates the change
// trips, and returns the delta when it is small enough to patch the published file
// (old_intact: the published text source is the one we wrote, sorted, trustworthy).
std::shared_ptr<const MapDelta> compare_with_published(const MapConfig& mc, const MapView& view, bool old_intact,
                                                       bool may_patch, const std::string& dir, BuildReport& rep) {
  const MapType& type = map_type_of(mc);
  // Beyond this many changes a rebuild in bucket order is as fast as patching a copy.
  const std::size_t patch_limit =
      may_patch && type.patch && old_intact ? std::max<std::size_t>(1000, view.size() / 20) : 0;
  MapDelta d;
  if (old_intact) {
    d = delta_from_text(dir + "/" + mc.file, view, patch_limit);
  } else if (stamp_file(dir, mc.file + std::string(type.suffix))) {
    // Published by something else (or before a state file existed): compare with what
    // Postfix reads now.
    d = delta_from_map(mc.type, dir + "/" + mc.file + std::string(type.suffix), view, 0);
  } else {
    return nullptr;  // nothing published yet: nothing to protect
  }
  log::debug(mc.name + ": +" + std::to_string(d.added) + " -" + std::to_string(d.removed) + " ~" + std::to_string(d.changed) +
             " (" + std::to_string(d.old_entries) + " -> " + std::to_string(d.new_entries) + ")");
  for (auto& t : gate_trips(mc, d)) rep.gates_tripped.push_back(std::move(t));
  if (!patch_limit || !d.complete) return nullptr;
  return std::make_shared<const MapDelta>(std::move(d));
}

std::int64_t now_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

void run_build(const MapsSettings& cfg, const BuildOptions& opt, BuildReport& rep) {
  const auto t0 = std::chrono::steady_clock::now();
  rep = BuildReport();
  // The duration is known to a caller that reports a failure, too.
  struct Timer {
    BuildReport& rep;
    std::chrono::steady_clock::time_point t0;
    ~Timer() { rep.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); }
  } timer{rep, t0};
  const std::string& dir = opt.directory.empty() ? cfg.maps.directory : opt.directory;
  // Where the published state lives: the same directory, except for mapsync plan.
  const bool staging = !opt.compare_directory.empty();
  const std::string& cmp_dir = staging ? opt.compare_directory : dir;
  // Lock first: two runs must not interleave, and the lock makes leftover temp files safe to sweep.
  std::unique_ptr<Publisher> pub;
  if (!opt.dry_run) pub = std::make_unique<Publisher>(dir);
  auto lap = [t = std::chrono::steady_clock::now()](const std::string& what) mutable {
    const auto now = std::chrono::steady_clock::now();
    log::debug(what + ": " + std::to_string(std::chrono::duration<double>(now - t).count()) + " s, " + memory_use());
    t = now;
  };

  std::optional<PublishState> old;
  if (pub) {
    try {
      old = read_state(cmp_dir);
    } catch (const Error& e) {
      if (e.status() != Exit::data) throw;
      log::warning(std::string(e.what()) + "; doing a full build");
    }
  }
  if (old && old->held && !opt.release && !staging)
    fail(Exit::tempfail, "the maps in " + dir + " are held at generation " + std::to_string(old->generation) +
                             " (a rollback to generation " + std::to_string(old->held_generation) +
                             "); fix the database, then publish it again with `mapsync build --release`");
  const std::string cfg_digest = config_digest(cfg);
  auto map_intact = [&](const MapConfig& mc) {
    const MapState* ms = old ? old->find(mc.name) : nullptr;
    return ms && ms->settings == map_settings(mc) && intact(cmp_dir, *ms);
  };

  // The run every few minutes that finds nothing to do: one query, nothing written.
  if (old && !opt.full && !staging && !old->held && old->config_digest == cfg_digest) {
    bool all_intact = true;
    for (const MapConfig& mc : cfg.maps.maps) all_intact &= !mc.enabled || map_intact(mc);
    if (all_intact) {
      const std::uint64_t serial = read_change_serial(cfg.database);
      if (serial == old->serial) {
        rep.serial = serial;
        rep.generation = old->generation;
        rep.nothing_changed = true;
        for (const MapConfig& mc : cfg.maps.maps)
          if (mc.enabled) rep.maps.push_back({mc.name, dir + "/" + file_names(mc)[1], old->find(mc.name)->entries, false});
        rep.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        return;
      }
    }
  }

  Snapshot snap;
  SnapshotOptions so;
  // Names are only needed by a generated canonical form that uses them.
  for (const std::string* t : {&cfg.render.canonical_key, &cfg.render.canonical_value})
    so.names |= t->find("{given}") != std::string::npos || t->find("{surname}") != std::string::npos;
  so.names &= cfg.render.canonical_generate;
  read_snapshot(cfg.database, snap, so);
  malloc_trim(0);  // the client library's result buffers are gone; give their pages back
  lap("read snapshot");
  rep.serial = snap.serial;
  check_interrupted();

  std::size_t active = 0;
  for (const Account& a : snap.accounts) active += a.status == AccountStatus::active;
  if (active < cfg.render.min_accounts)
    fail(Exit::tempfail, "the database returned " + std::to_string(active) + " active accounts, fewer than render.min_accounts (" +
                             std::to_string(cfg.render.min_accounts) + "); refusing to publish what looks like a failed or empty read");

  PublishState next;
  next.generation = old ? old->generation : 0;
  next.serial = snap.serial;
  next.config_digest = cfg_digest;
  next.published_at = old ? old->published_at : 0;
  const std::uint64_t new_generation = next.generation + 1;
  bool wrote = false;

  // relay_recipients holds exactly virtual's keys: when both are enabled it is written
  // from virtual's entries (value "OK") instead of being rendered again.
  const MapConfig* relay = cfg.maps.find("relay_recipients");
  const MapConfig* virt = cfg.maps.find("virtual");
  const bool derive_relay = relay && relay->enabled && virt && virt->enabled;
  std::vector<std::string> to_render;
  for (const MapConfig& mc : cfg.maps.maps)
    if (mc.enabled && !(derive_relay && &mc == relay)) to_render.push_back(mc.name);
  Renderer renderer(snap, cfg.render, rep.findings, to_render);
  std::unique_ptr<BackgroundWrite> writing;
  for (const MapConfig& mc : cfg.maps.maps) {
    if (!mc.enabled || (derive_relay && &mc == relay)) continue;
    MapEntries m = renderer.render(mc.name);
    lap("render " + mc.name);
    check_interrupted();
    std::vector<BackgroundWrite::Output> candidates{{&mc, {}, {}, nullptr}};
    if (derive_relay && &mc == virt) candidates.push_back({relay, "OK", renderer.relay_wildcards(), nullptr});
    // Once anything is wrong nothing will be published: keep rendering to report every
    // problem in one run, but stop writing files.
    const bool writing_allowed = !rep.findings.errors() && !opt.dry_run;
    std::vector<BackgroundWrite::Output> outputs;
    for (auto& o : candidates) {
      const MapView view{&m, o.value, o.extra, m.alias_syntax};
      MapState ms;
      ms.name = o.config->name;
      ms.settings = map_settings(*o.config);
      ms.entries = view.size();
      ms.digest = writing_allowed ? content_digest(view) : std::string();
      const MapState* prev = old ? old->find(ms.name) : nullptr;
      // Postfix daemons restart whenever a map file is replaced: same content, same file.
      const bool same = prev && !opt.full && !staging && prev->digest == ms.digest && map_intact(*o.config);
      if (!same && writing_allowed)
        o.patch = compare_with_published(*o.config, view, prev && map_intact(*o.config), !opt.full && !staging, cmp_dir, rep);
      ms.generation = same ? prev->generation : new_generation;
      if (same) ms.files = prev->files;
      rep.maps.push_back({ms.name, dir + "/" + file_names(*o.config)[1], ms.entries, !same && writing_allowed});
      next.maps.push_back(std::move(ms));
      if (!same) outputs.push_back(std::move(o));
    }
    if (!writing_allowed || outputs.empty() || (!rep.gates_tripped.empty() && !opt.force && !opt.gates_report_only))
      continue;
    wrote = true;
    if (writing) writing->wait();
    writing = std::make_unique<BackgroundWrite>(*pub, std::move(m), std::move(outputs));
  }
  if (writing) writing->wait();
  lap("last write");
  if (rep.findings.errors()) {
    report_findings(rep.findings);
    fail(Exit::data, std::to_string(rep.findings.errors()) + " error(s) in the database; nothing published");
  }
  if (!rep.gates_tripped.empty() && !opt.gates_report_only) {
    report_findings(rep.findings);
    std::string all;
    for (const auto& t : rep.gates_tripped) all += "\n  " + t;
    if (!opt.force)
      fail(Exit::tempfail, "change gates tripped, nothing published (check the database; `mapsync build --force` "
                           "publishes this once):" + all);
    log::warning("change gates overridden by --force:" + all);
  }
  if (opt.dry_run) {
    rep.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return;
  }
  pub->commit();
  lap("commit");
  for (MapState& ms : next.maps) {
    if (ms.generation != new_generation) continue;
    const MapConfig* mc = cfg.maps.find(ms.name);
    for (const std::string& f : file_names(*mc))
      if (auto st = stamp_file(dir, f)) ms.files.push_back(*st);
  }
  if (wrote) {
    next.generation = new_generation;
    next.published_at = now_seconds();
  }
  rep.generation = next.generation;
  rep.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  next.checked_at = now_seconds();
  next.duration = rep.seconds;
  testhook::crash_point("before state");
  write_state(dir, next);
  if (wrote && !staging) store_generation(dir, cfg.maps, next, cfg.maps.generations);
}

}  // namespace mapsync
