// mapsync build - read the database, render, validate and publish every enabled map.
#include <cstdio>

#include "apps/mapsync/commands.h"
#include "libmapsync/maps/build.h"
#include "libmapsync/core/error.h"
#include "libmapsync/core/log.h"
#include "libmapsync/maps/hooks.h"
#include "libmapsync/maps/metrics.h"
#include "libmapsync/maps/state.h"

namespace mapsync_cli {
namespace {

struct BuildCli {
  bool dry_run = false;
  bool full = false;
  bool force = false;
  bool release = false;
};

int run(const Global& g, const BuildCli& o) {
  const auto cfg = load(g);
  mapsync::BuildOptions opt;
  opt.dry_run = o.dry_run;
  opt.full = o.full;
  opt.force = o.force;
  opt.release = o.release;
  mapsync::BuildReport rep;
  // Whether --release ends a hold, for the record.
  bool was_held = false;
  try {
    const auto st = o.release && !o.dry_run ? mapsync::read_state(cfg.maps.directory) : std::nullopt;
    was_held = st && st->held;
  } catch (const mapsync::Error&) {
  }
  // Metrics describe what is published after the run, whatever the run did.
  auto metrics = [&](int status) {
    if (o.dry_run || cfg.metrics.textfile.empty()) return;
    std::optional<mapsync::PublishState> st;
    try {
      st = mapsync::read_state(cfg.maps.directory);
    } catch (const mapsync::Error&) {
    }
    mapsync::write_metrics(cfg.metrics, rep, st ? &*st : nullptr, status);
  };
  try {
    mapsync::run_build(cfg, opt, rep);
  } catch (const mapsync::Error& e) {
    metrics(static_cast<int>(e.status()));
    throw;
  }
  // A failed hook is a warning and a metric, exit 0: the publish stands (hooks.h).
  const std::string hooks = mapsync::run_publish_hooks(cfg.maps, opt, rep);
  metrics(0);
  mapsync::report_findings(rep.findings);
  char secs[32];
  std::snprintf(secs, sizeof secs, "%.3f", rep.seconds);
  if (rep.nothing_changed) {
    mapsync::log::info("nothing changed (serial " + std::to_string(rep.serial) + " from " + rep.reader + ", generation " +
                       std::to_string(rep.generation) + "), " + secs + " s");
    return 0;
  }
  std::string written, kept;
  for (const auto& m : rep.maps) (m.written ? written : kept) += " " + m.name + "=" + std::to_string(m.entries);
  std::string what = o.dry_run ? "dry run, nothing published" : "generation " + std::to_string(rep.generation);
  const std::string summary = what + ": serial " + std::to_string(rep.serial) + " from " + rep.reader + ", " +
                              std::to_string(rep.findings.warnings()) + " warning(s), " + secs + " s;" +
                              (written.empty() ? "" : " written:" + written) + (kept.empty() ? "" : "; unchanged:" + kept);
  // A publish and the end of a hold are on the record (syslog, even with -q); a run that
  // changed nothing is not.
  if (!o.dry_run && (!written.empty() || was_held))
    mapsync::log::audit((written.empty() ? "hold released, the published maps kept: " : "published ") + summary +
                        (was_held && !written.empty() ? "; hold released" : "") +
                        (o.force && !rep.gates_tripped.empty() ? "; change gates overridden by --force" : "") + hooks);
  else mapsync::log::info(summary);
  return 0;
}

}  // namespace

void setup_build(CLI::App& app, Global& g) {
  auto o = std::make_shared<BuildCli>();
  CLI::App* sub = app.add_subcommand("build", "read one database snapshot, render, validate and publish the maps");
  sub->add_flag("-n,--dry-run", o->dry_run, "render and validate only; write nothing");
  sub->add_flag("--full", o->full, "read, render and rewrite every map even if nothing changed");
  sub->add_flag("--force", o->force, "publish even when change gates trip (once; logged)");
  sub->add_flag("--release", o->release, "publish again after a rollback held the maps");
  sub->callback([&g, o] {
    g.scheduled = true;
    g.action = [&g, o] { return run(g, *o); };
  });
}

}  // namespace mapsync_cli
