// build.cpp - see build.h.
#include "libmapsync/maps/build.h"

#include <malloc.h>

#include <algorithm>
#include <chrono>
#include <optional>
#include <exception>
#include <fstream>
#include <mutex>
#include <thread>

#include "libmapsync/core/digest.h"
#include "libmapsync/core/error.h"
#include "libmapsync/core/log.h"
#include "libmapsync/maps/delta.h"
#include "libmapsync/maps/generations.h"
#include "libmapsync/maps/incremental.h"
#include "libmapsync/maps/owners.h"
#include "libmapsync/maps/publish.h"
#include "libmapsync/maps/publish_steps.h"
#include "libmapsync/core/signals.h"
#include "libmapsync/db/database.h"
#include "libmapsync/db/endpoints.h"
#include "libmapsync/db/fleet.h"
#include "libmapsync/maps/fleet_report.h"
#include "libmapsync/maps/snapshot.h"
#include "libmapsync/maps/state.h"

namespace mapsync {

// Everything in the config that changes what is rendered or how it is published.
std::string config_digest(const MapsSettings& cfg) {
  Digest d;
  const RenderConfig& r = cfg.render;
  // Another database with the same change serial is not "nothing changed".
  const DatabaseConfig& db = cfg.database;
  d.update(db.host + ":" + std::to_string(db.port) + " " + db.socket + " " + db.database + "\n");
  // Not database.endpoints: replicas and nodes of one database share its serial, so which
  // one a run reads (or a changed list) is not "another database"; and a hub must keep
  // refusing to go back in time when its list changes.
  for (const std::string& x : {r.local_alias_domain, r.canonical_key, r.canonical_value, std::to_string(r.canonical_generate)})
    d.update(x + "\n");
  for (const std::string& x : r.list_companions) d.update("companion " + x + "\n");
  for (const MapConfig& mc : cfg.maps.maps) d.update(mc.name + (mc.enabled ? " on " : " off ") + map_settings(mc) + "\n");
  return d.hex();
}

namespace {

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
    const Snapshot* owners_from = nullptr;  // set: stage the owner sidecar (owners.h) too
    std::string digest;
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
      stage_map(pub_, *o.config, view, o.patch.get());
      if (o.owners_from) stage_owners_of(pub_, o.config->name, o.digest, *o.owners_from, view);
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

std::unique_ptr<MapReader> open_published(const MapConfig& map) {
  return map_type_of(map).open(map.spec.published_path, map.spec.alias_syntax);
}

namespace {

// "virtual: +50 -25 ~25 (1406253 -> 1406278)": the -v line of a map's change (bench/ reads it).
std::string delta_text(const std::string& map, const MapDelta& d) {
  return map + ": +" + std::to_string(d.added) + " -" + std::to_string(d.removed) + " ~" + std::to_string(d.changed) + " (" +
         std::to_string(d.old_entries) + " -> " + std::to_string(d.new_entries) + ")";
}

// The published files are the ones this map's state describes (nobody rebuilt them).
bool intact(const std::string& dir, const MapState& ms) {
  for (const FileStamp& f : ms.files)
    if (stamp_file(dir, f.name) != f) return false;
  return !ms.files.empty();
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
  try {
    if (old_intact) {
      d = delta_from_text(dir + "/" + mc.spec.text_file, view, patch_limit);
    } else if (stamp_file(dir, mc.spec.indexed_file)) {
      // Published by something else (or before a state file existed): compare with what
      // Postfix reads now.
      d = delta_from_map(mc.type, dir + "/" + mc.spec.indexed_file, view, 0);
    } else {
      return nullptr;  // nothing published yet: nothing to protect
    }
  } catch (const Error& e) {
    // Only a failure that may pass is worth a retry. A file we cannot read as our own
    // previous generation (damaged, empty, foreign, a symlink) would fail every run the
    // same way, so cron would retry forever: rebuild the map from scratch instead (our
    // rename replaces whatever is there, and never writes through it).
    if (e.status() == Exit::tempfail) throw;
    log::warning(mc.name + ": cannot read the published map as our previous generation (" + e.what() +
                 "); rebuilding it from scratch");
    return nullptr;
  }
  log::debug(delta_text(mc.name, d));
  for (auto& t : gate_trips(mc, d)) rep.gates_tripped.push_back(std::move(t));
  if (!patch_limit || !d.complete) return nullptr;
  return std::make_shared<const MapDelta>(std::move(d));
}

std::int64_t now_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

namespace {

// One run of run_build(): inspect (state, serial, snapshot), render and stage every map,
// refuse on errors or tripped gates, then commit and record. Each step is a method; the
// members are what the steps hand on to each other.
class BuildJob {
 public:
  BuildJob(const MapsSettings& cfg, const BuildOptions& opt, BuildReport& rep)
      : cfg_(cfg),
        opt_(opt),
        rep_(rep),
        dir_(opt.directory.empty() ? cfg.maps.directory : opt.directory),
        staging_(!opt.compare_directory.empty()),
        cmp_dir_(staging_ ? opt.compare_directory : dir_) {}

  void run() {
    // Lock first: two runs must not interleave, and the lock makes leftover temp files safe to sweep.
    if (!opt_.dry_run) pub_ = std::make_unique<Publisher>(dir_);
    read_old_state();
    cfg_digest_ = config_digest(cfg_);
    open_reader();
    if (fleet_rollback()) return;
    if (nothing_changed()) {
      report("unchanged", old_ ? &*old_ : nullptr);
      return;
    }
    refuse_when_held();
    if (incremental()) {
      refuse_when_wrong();
      commit();
      report("published", &next_);
      return;
    }
    Snapshot snap;
    read(snap);
    render_and_stage(snap);
    refuse_when_wrong();
    if (opt_.dry_run) {
      rep_.seconds = seconds();
      return;
    }
    commit();
    report("published", &next_);
  }

 private:
  double seconds() const { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count(); }

  void lap(const std::string& what) {
    const auto now = std::chrono::steady_clock::now();
    log::debug(what + ": " + std::to_string(std::chrono::duration<double>(now - lap_).count()) + " s, " + memory_use());
    lap_ = now;
  }

  // Where the published state lives: the same directory, except for mapsync plan.
  void read_old_state() {
    if (pub_) {
      try {
        old_ = read_state(cmp_dir_);
      } catch (const Error& e) {
        if (e.status() != Exit::data) throw;
        log::warning(std::string(e.what()) + "; doing a full build");
      }
    }
    if (old_ && old_->held && !old_->held_by_fleet && !opt_.release && !staging_)
      fail(Exit::held, "the maps in " + dir_ + " are held at generation " + std::to_string(old_->generation) +
                               " (a rollback to generation " + std::to_string(old_->held_generation) +
                               "); fix the database, then publish it again with `mapsync build --release`");
  }

  bool map_intact(const MapConfig& mc) const {
    const MapState* ms = old_ ? old_->find(mc.name) : nullptr;
    return ms && ms->settings == map_settings(mc) && intact(cmp_dir_, *ms);
  }

  // The serial this directory already reflects: no endpoint older than that is read (a
  // hub never goes back in time when its replica lags or it moves to another node).
  std::uint64_t published_serial() const {
    return old_ && old_->config_digest == cfg_digest_ ? old_->serial : 0;
  }

  void open_reader() {
    reader_ = connect_reader(cfg_.database, published_serial(), SchemaCheck::on_connect);
    rep_.reader = reader_.endpoint;
    rep_.lag_serials = reader_.lag_serials;
    rep_.lag_seconds = reader_.lag_seconds;
    hold_ = reader_.hold;
  }

  // A fleet-wide rollback (mapsync rollback --fleet): publish the stored generation with the
  // fleet's content once, then hold like every hub. True when this run did that.
  bool fleet_rollback() {
    if (!hold_.held || hold_.rollback_digest.empty() || opt_.dry_run || staging_) return false;
    if (old_ && combined_digest(*old_) == hold_.rollback_digest) return false;  // done: held below
    const auto gen = generation_with_digest(dir_, hold_.rollback_digest);
    if (!gen)
      fail(Exit::held, "a fleet-wide rollback (by " + hold_.by + ": " + hold_.reason + ") asks for content " +
                               hold_.rollback_digest.substr(0, 12) + ", and no generation stored in " + dir_ +
                               " has it; the maps stay as they are, held");
    pub_.reset();  // rollback() takes the directory's lock itself
    const RollbackReport rb = rollback(cfg_, *gen, true);
    old_ = read_state(dir_);
    rep_.generation = rb.new_generation;
    rep_.serial = old_ ? old_->serial : 0;
    rep_.fleet_held = true;
    report("rolled back", old_ ? &*old_ : nullptr);
    return true;
  }

  // A fleet-wide hold (mapsync hold --fleet): keep what is published, publish nothing.
  void refuse_when_held() {
    if (!hold_.held && old_ && old_->held_by_fleet)
      log::notice("the fleet-wide hold was released: publishing the database again");
    if (!hold_.held || opt_.dry_run || staging_) return;
    rep_.fleet_held = true;
    report("held", old_ ? &*old_ : nullptr);
    fail(Exit::held, "publishing is held fleet-wide since " + hold_.at + " by " + hold_.by + ": " + hold_.reason +
                             "; the maps in " + dir_ + " stay as they are until `mapsync release --fleet`");
  }

  // Best effort: the fleet's record of this hub. Never fails the run.
  void report(const char* result, const PublishState* st) {
    if (opt_.dry_run || staging_ || !cfg_.database.fleet.report || !st) return;
    report_hub(cfg_, reader_, *st, result, hold_.held);
  }

  // Seconds since the last full build when a periodic one is due, else 0.
  std::int64_t full_build_due() const {
    const std::int64_t since = now_seconds() - (old_ ? old_->full_at : 0);
    return cfg_.maps.full_build_interval && since >= std::int64_t{cfg_.maps.full_build_interval} ? since : 0;
  }

  // The run every few minutes that finds nothing to do: one query, nothing written.
  bool nothing_changed() {
    if (!old_ || opt_.full || staging_ || old_->held || old_->config_digest != cfg_digest_) return false;
    if (full_build_due() && reader_.serial == old_->serial) {
      // Quiet now: render everything and compare it with what incremental runs published.
      log::info("periodic full build (maps.full_build_interval " + std::to_string(cfg_.maps.full_build_interval) +
                " s): rendering every row to prove the published maps");
      proof_ = true;
      return false;
    }
    for (const MapConfig& mc : cfg_.maps.maps)
      if (mc.enabled && !map_intact(mc)) return false;
    const std::uint64_t serial = reader_.serial;
    if (serial != old_->serial) return false;
    reassert_published();
    rep_.serial = serial;
    rep_.generation = old_->generation;
    rep_.nothing_changed = true;
    for (const MapConfig& mc : cfg_.maps.maps)
      if (mc.enabled) rep_.maps.push_back({mc.name, dir_ + "/" + mc.spec.indexed_file, old_->find(mc.name)->entries, false});
    rep_.seconds = seconds();
    return true;
  }

  // Files kept as they are still get the configured owner and mode (logged when they
  // had changed): a chmod or chown by hand would otherwise last until the content changes.
  void reassert_published(const MapConfig& mc) {
    for (const std::string* f : {&mc.spec.text_file, &mc.spec.indexed_file}) pub_->reassert(*f, mc.owner, mc.group, mc.mode);
  }
  void reassert_published() {
    for (const MapConfig& mc : cfg_.maps.maps)
      if (mc.enabled) reassert_published(mc);
  }

  // Why this run cannot be incremental before reading anything, or "".
  std::string incremental_excluded() const {
    if (!old_) return "no published state";
    if (opt_.full) return "--full";
    if (!cfg_.maps.incremental) return "maps.incremental is off";
    if (proof_) return "the periodic full build";
    if (old_->config_digest != cfg_digest_) return "the configuration changed";
    if (const std::int64_t since = full_build_due(); since >= 2 * std::int64_t{cfg_.maps.full_build_interval})
      return "no full build for " + std::to_string(since) + " s (maps.full_build_interval " +
             std::to_string(cfg_.maps.full_build_interval) + " s)";
    for (const MapConfig& mc : cfg_.maps.maps)
      if (mc.enabled && !map_intact(mc)) return "map " + mc.name + " is not the published one (new, changed on disk, or new settings)";
    return {};
  }

  // Reads, renders and publishes only what the change log names (incremental.h); false
  // when a full build is needed, which is logged with the reason.
  bool incremental() {
    if (!pub_ || staging_ || opt_.dry_run) return false;
    if (std::string why = incremental_excluded(); !why.empty()) {
      if (old_) log::info("full build: " + why);
      return false;
    }
    auto ib = std::make_unique<IncrementalBuild>(cfg_, *old_, dir_);
    std::string why;
    if (!ib->prepare(*reader_.db, published_serial(), rep_.findings, why)) {
      log::notice("full build: " + why);
      return false;
    }
    const std::uint64_t serial = ib->serial();
    lap("incremental read and render");
    log::debug("incremental: " + std::to_string(ib->changed_rows()) + " changed rows, " + std::to_string(ib->affected_owners()) +
               " owners affected, " + std::to_string(ib->rows_rendered()) + " read and rendered");
    rep_.serial = serial;
    rep_.incremental = true;
    next_.generation = old_->generation;
    next_.serial = serial;
    next_.config_digest = cfg_digest_;
    next_.published_at = old_->published_at;
    next_.full_at = old_->full_at;
    new_generation_ = next_generation(next_.generation, cmp_dir_);
    graph_ = ib->graph();
    stage_incremental(*ib);
    return true;
  }

  // Gates, then the changed maps written side by side, one thread each.
  void stage_incremental(IncrementalBuild& ib) {
    std::size_t changed = 0;
    for (IncrementalMap& m : ib.maps()) {
      const MapConfig& mc = *m.config;
      const MapState* prev = old_->find(mc.name);
      MapState ms = *prev;
      if (m.changed()) {
        for (auto& t : gate_trips(mc, m.delta)) rep_.gates_tripped.push_back(std::move(t));
        ms.generation = new_generation_;
        ms.files.clear();
        ms.entries = m.delta.new_entries;
      } else {
        reassert_published(mc);
      }
      log::debug(delta_text(mc.name, m.delta));
      rep_.maps.push_back({ms.name, dir_ + "/" + mc.spec.indexed_file, ms.entries, m.changed()});
      next_.maps.push_back(std::move(ms));
      changed += m.changed();
    }
    if (!changed || (!rep_.gates_tripped.empty() && !opt_.force)) return;
    wrote_ = true;
    ib.stage_changed(*pub_, next_.maps);
    lap("incremental write");
  }

  void read(Snapshot& snap) {
    SnapshotOptions so;
    // Names are only needed by a generated canonical form that uses them.
    for (const std::string* t : {&cfg_.render.canonical_key, &cfg_.render.canonical_value})
      so.names |= t->find("{given}") != std::string::npos || t->find("{surname}") != std::string::npos;
    so.names &= cfg_.render.canonical_generate;
    read_snapshot(*reader_.db, snap, so);
    malloc_trim(0);  // the client library's result buffers are gone; give their pages back
    lap("read snapshot");
    rep_.serial = snap.serial;
    if (snap.serial < published_serial())
      fail(Exit::tempfail, reader_.db->where() + ": the snapshot has serial " + std::to_string(snap.serial) +
                               ", older than the serial " + std::to_string(published_serial()) +
                               " already published here; not going back in time");
    check_interrupted();

    std::size_t active = 0;
    for (const Account& a : snap.accounts) active += a.status == AccountStatus::active;
    if (active < cfg_.render.min_accounts)
      fail(Exit::data, "the database returned " + std::to_string(active) + " active accounts, fewer than render.min_accounts (" +
                               std::to_string(cfg_.render.min_accounts) + "); refusing to publish what looks like a failed or empty read");

    next_.generation = old_ ? old_->generation : 0;
    next_.serial = snap.serial;
    next_.config_digest = cfg_digest_;
    next_.published_at = old_ ? old_->published_at : 0;
    next_.full_at = now_seconds();
    new_generation_ = next_generation(next_.generation, cmp_dir_);
  }

  void render_and_stage(const Snapshot& snap) {
    const RenderPlan plan = render_plan(cfg_.maps);
    const MapConfig* relay = plan.relay;
    const MapConfig* virt = plan.virt;
    const bool derive_relay = plan.derive_relay;
    const std::vector<MapKind>& to_render = plan.kinds;
    Renderer renderer(snap, cfg_.render, rep_.findings, to_render, &graph_);
    // A map being written points into the renderer: on the way out, by an exception
    // too, the writer is joined before the renderer goes.
    struct Join {
      std::unique_ptr<BackgroundWrite>& w;
      ~Join() { w.reset(); }
    } join{writing_};
    for (const MapConfig& mc : cfg_.maps.maps) {
      if (!mc.enabled || (derive_relay && &mc == relay)) continue;
      MapEntries m = renderer.render(mc.kind);
      lap("render " + mc.name);
      check_interrupted();
      std::vector<BackgroundWrite::Output> outputs{{&mc, {}, {}, nullptr, nullptr, {}}};
      if (derive_relay && &mc == virt) outputs.push_back({relay, "OK", renderer.relay_wildcards(), nullptr, nullptr, {}});
      stage(snap, std::move(m), std::move(outputs));
    }
    if (writing_) writing_->wait();
    lap("last write");
  }

  // Records the state of each output of m and hands those whose content changed to a
  // background writer.
  void stage(const Snapshot& snap, MapEntries&& m, std::vector<BackgroundWrite::Output> candidates) {
    // Once anything is wrong nothing will be published: keep rendering to report every
    // problem in one run, but stop writing files.
    const bool writing_allowed = !rep_.findings.errors() && !opt_.dry_run;
    std::vector<BackgroundWrite::Output> outputs;
    for (auto& o : candidates) {
      const MapView view{&m, o.value, o.extra, m.alias_syntax};
      MapState ms = map_state(*o.config, view, new_generation_, writing_allowed);
      const MapState* prev = old_ ? old_->find(ms.name) : nullptr;
      // Postfix daemons restart whenever a map file is replaced: same content, same file.
      const bool same = prev && !opt_.full && !staging_ && prev->digest == ms.digest && map_intact(*o.config);
      if (!same && writing_allowed)
        o.patch = compare_with_published(*o.config, view, prev && map_intact(*o.config), !opt_.full && !staging_, cmp_dir_, rep_);
      if (same) {
        if (pub_) reassert_published(*o.config);
        ms.generation = prev->generation;
        ms.files = prev->files;
      }
      // (No digest once an error stopped writing: nothing to compare then.)
      if (proof_ && prev && !ms.digest.empty() && snap.serial == old_->serial && prev->digest != ms.digest)
        log::error(ms.name + ": the full build renders other content than the incremental runs published at serial " +
                   std::to_string(snap.serial) + " (" + ms.digest.substr(0, 12) + " against " + prev->digest.substr(0, 12) +
                   "); publishing the full build");
      // Every full build leaves the owner sidecars the next incremental run starts from.
      if (writing_allowed && pub_ && !staging_) {
        o.owners_from = &snap;
        o.digest = ms.digest;
        OwnerIndex published;
        std::string why;
        if (same && !read_owners(dir_, o.config->name, o.digest, ms.entries, published, why))
          stage_owners_of(*pub_, o.config->name, o.digest, snap, view);
      }
      rep_.maps.push_back({ms.name, dir_ + "/" + o.config->spec.indexed_file, ms.entries, !same && writing_allowed});
      next_.maps.push_back(std::move(ms));
      if (!same) outputs.push_back(std::move(o));
    }
    if (!writing_allowed || outputs.empty() || (!rep_.gates_tripped.empty() && !opt_.force && !opt_.gates_report_only))
      return;
    wrote_ = true;
    if (writing_) writing_->wait();
    writing_ = std::make_unique<BackgroundWrite>(*pub_, std::move(m), std::move(outputs));
  }

  void refuse_when_wrong() {
    if (rep_.findings.errors()) {
      report_findings(rep_.findings);
      fail(Exit::data, std::to_string(rep_.findings.errors()) + " error(s) in the database; nothing published");
    }
    if (!rep_.gates_tripped.empty() && !opt_.gates_report_only) {
      report_findings(rep_.findings);
      std::string all;
      for (const auto& t : rep_.gates_tripped) all += "\n  " + t;
      if (!opt_.force)
        fail(Exit::data, "change gates tripped, nothing published (check the database; `mapsync build --force` "
                             "publishes this once):" + all);
      log::warning("change gates overridden by --force:" + all);
    }
  }

  void commit() {
    // The history must be usable before anything is published, so that a refused
    // .generations (a symlink, say) leaves the old maps and their state in place.
    if (wrote_ && !staging_ && cfg_.maps.generations > 0) stored_generations(dir_);
    if (!staging_) {
      graph_.normalize();
      stage_graph(*pub_, next_.serial, graph_);
    }
    commit_staged(*pub_, cfg_.maps, next_, new_generation_);
    lap("commit");
    if (wrote_) {
      next_.generation = new_generation_;
      next_.published_at = now_seconds();
    }
    rep_.generation = next_.generation;
    rep_.seconds = seconds();
    next_.checked_at = now_seconds();
    next_.duration = rep_.seconds;
    pruning_ = record_publish(dir_, cfg_.maps, next_, wrote_ && !staging_);
  }

  const MapsSettings& cfg_;
  const BuildOptions& opt_;
  BuildReport& rep_;
  const std::chrono::steady_clock::time_point t0_ = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point lap_ = t0_;
  const std::string& dir_;
  const bool staging_;
  const std::string& cmp_dir_;
  std::unique_ptr<Publisher> pub_;
  ReaderChoice reader_;
  FleetHold hold_;
  std::optional<PublishState> old_;
  std::string cfg_digest_;
  PublishState next_;
  std::uint64_t new_generation_ = 0;
  bool wrote_ = false;
  bool proof_ = false;  // this full build is the periodic one that checks incremental runs
  AliasGraph graph_;    // recorded by the full render, or carried on by an incremental run
  std::unique_ptr<BackgroundWrite> writing_;  // its threads read the members above
  std::jthread pruning_;                       // last: old generations go while the job reports
};

}  // namespace

void run_build(const MapsSettings& cfg, const BuildOptions& opt, BuildReport& rep) {
  rep = BuildReport();
  // The duration is known to a caller that reports a failure, too.
  struct Timer {
    BuildReport& rep;
    std::chrono::steady_clock::time_point t0 = std::chrono::steady_clock::now();
    ~Timer() { rep.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); }
  } timer{rep};
  BuildJob(cfg, opt, rep).run();
}

}  // namespace mapsync
