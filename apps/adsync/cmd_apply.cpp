// adsync apply: make the database match AD, in one transaction, under the leader lock.
#include <chrono>
#include <iostream>
#include <memory>

#include "apps/adsync/commands.h"
#include "libmapsync/directory/adsync.h"
#include "libmapsync/directory/adsync_ops.h"
#include "libmapsync/core/error.h"
#include "libmapsync/core/log.h"

namespace adsync_cli {
namespace {

struct ApplyOptions {
  bool json = false;
  bool force = false;
  bool full = false;
};

int run_apply(const Global& g, const ApplyOptions& o) {
  const auto cfg = load(g);
  mapsync::AdsyncOptions opt;
  opt.apply = true;
  opt.force = o.force;
  opt.full = o.full;
  // The metrics get the status this run exits with, whichever way it ends.
  const auto t0 = std::chrono::steady_clock::now();
  auto metrics = [&](const mapsync::AdsyncReport* r, int status) {
    mapsync::write_adsync_metrics(cfg, r, status,
                                  std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  };
  mapsync::AdsyncReport r;
  try {
    r = mapsync::run_adsync(cfg, opt);
  } catch (const mapsync::Error& e) {
    metrics(nullptr, static_cast<int>(e.status()));
    throw;
  }
  using mapsync::Exit;
  metrics(&r, static_cast<int>(r.refused ? Exit::data : !r.plan.conflicts.empty() && !r.not_leader ? Exit::data : Exit::ok));
  if (r.not_leader) {
    // Every front end runs adsync from cron; one at a time is enough.
    mapsync::log::info("another adsync holds the lease " + cfg.ad.lock_name + " (" + r.leader + "); nothing to do here");
    return 0;
  }
  if (o.json) std::cout << mapsync::plan_json(r, mapsync::json_format::adsync_apply) << "\n";
  else if (!g.quiet || r.refused || !r.plan.conflicts.empty()) std::cout << mapsync::plan_text(r, g.verbose);
  if (r.refused) {
    std::string gates;
    for (const auto& t : r.plan.gates_tripped) gates += (gates.empty() ? "" : "; ") + t;
    mapsync::fail(mapsync::Exit::data, "nothing applied: gate tripped: " + gates + " (adsync apply --force if intended)");
  }
  if (!r.plan.conflicts.empty())
    mapsync::fail(mapsync::Exit::data, std::to_string(r.plan.conflicts.size()) +
                                           " conflicts left unapplied (listed above); everything else was applied");
  return 0;
}

}  // namespace

void setup_apply(CLI::App& app, Global& g) {
  auto o = std::make_shared<ApplyOptions>();
  CLI::App* sub = app.add_subcommand("apply", "change the database to match AD");
  sub->add_flag("--json", o->json, "print what was done as JSON");
  sub->add_flag("--force", o->force, "apply even when a gate trips (a mass disable you intend)");
  sub->add_flag("--full", o->full, "search everything, not only what changed since the last run");
  sub->callback([&g, o] {
    g.scheduled = true;
    g.action = [&g, o] { return run_apply(g, *o); };
  });
}

}  // namespace adsync_cli
