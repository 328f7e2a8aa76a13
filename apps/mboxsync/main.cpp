// mboxsync - creates and renames mailboxes on the Cyrus back ends for the user database.
//
// A thin driver (apps/common/driver.h) over libmapsync/mboxsync.h.
#include <chrono>
#include <iostream>

#include "libmapsync/core/version.h"
#include "apps/mboxsync/commands.h"
#include "libmapsync/core/error.h"
#include "libmapsync/core/log.h"
#include "libmapsync/mailbox/mbox_ops.h"
#include "libmapsync/mailbox/mboxsync.h"

namespace mboxsync_cli {

mapsync::MboxsyncSettings load(const Global& g) {
  mapsync::Config c = mapsync_apps::load_config(g);
  if (!c.cyrus.present)
    mapsync::fail(mapsync::Exit::config, c.path + ": cyrus: required section is missing (cyrus.password_file or cyrus.keytab at least)");
  return mapsync::mboxsync_settings(c);
}

int report_results(const mapsync::MboxReport& r, const mapsync::JsonFormat* json, const std::string& what) {
  if (json) std::cout << mapsync::mbox_plan_json(r, *json) << "\n";
  if (r.not_leader) {
    mapsync::log::info("another mboxsync holds the lease " + r.leader + "; nothing to do here");
    return 0;
  }
  using mapsync::MboxOutcome;
  const std::size_t not_tried = r.count(MboxOutcome::not_tried);
  for (const auto& x : r.results)
    if (!mapsync::succeeded(x.outcome) && x.outcome != MboxOutcome::not_tried)
      mapsync::log::warning(x.uid + " (" + x.mailbox + " on " + x.backend + "): " + mapsync::outcome_word(x.outcome) +
                            ": " + x.detail);
  // A run from cron that found nothing to do stays quiet at the default level; one that
  // did something is on the record (syslog, even with -q). The line's first part is grepped
  // by bench/bench_mboxsync.sh; "not tried" follows only when some were.
  (r.results.empty() ? mapsync::log::info : mapsync::log::audit)(
      std::to_string(r.results.size()) + " " + what + ": " + std::to_string(r.count(MboxOutcome::created)) +
      " created, " + std::to_string(r.count(MboxOutcome::existed)) + " existed, " +
      std::to_string(r.count(MboxOutcome::renamed)) + " renamed, " + std::to_string(r.count(MboxOutcome::moved)) +
      " moved, " + std::to_string(r.count(MboxOutcome::retry)) +
      " to retry, " + std::to_string(r.count(MboxOutcome::failed) + r.count(MboxOutcome::conflict)) + " failed" +
      (not_tried ? ", " + std::to_string(not_tried) + " not tried" : std::string()));
  if (!r.interrupted.empty() || not_tried)
    mapsync::log::warning((r.interrupted.empty() ? std::string("stopped") : "interrupted by " + r.interrupted) +
                          " after trying " + std::to_string(r.tried()) + " of " + std::to_string(r.results.size()) + " " +
                          what + "; what was tried is recorded, " + std::to_string(not_tried) +
                          " not tried: run it again to continue");
  if (r.count(MboxOutcome::failed) || r.count(MboxOutcome::conflict)) return static_cast<int>(mapsync::Exit::data);
  if (r.count(MboxOutcome::retry) || not_tried || !r.interrupted.empty()) return static_cast<int>(mapsync::Exit::tempfail);
  return 0;
}

int run_with_metrics(const mapsync::MboxsyncSettings& cfg, const mapsync::JsonFormat* json, const std::string& what,
                     const std::function<mapsync::MboxReport()>& job) {
  const auto t0 = std::chrono::steady_clock::now();
  auto seconds = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); };
  mapsync::MboxReport r;
  try {
    r = job();
  } catch (const mapsync::Error& e) {
    mapsync::write_mboxsync_metrics(cfg, nullptr, static_cast<int>(e.status()), seconds());
    throw;
  }
  const int status = report_results(r, json, what);
  mapsync::write_mboxsync_metrics(cfg, &r, status, seconds());
  return status;
}

}  // namespace mboxsync_cli

int main(int argc, char** argv) {
  using namespace mboxsync_cli;
  Global g;
  g.program = "mboxsync";
  CLI::App app{"mboxsync: mailboxes on the Cyrus back ends for the accounts of the user database"};
  mapsync_apps::add_global_options(app, g, mapsync::kVersion);
  app.require_subcommand(1);
  setup_plan(app, g);
  setup_run(app, g);
  setup_bulk(app, g);
  setup_move(app, g);
  setup_rebalance(app, g);
  setup_jobs(app, g);
  setup_status(app, g);
  mapsync_apps::run(app, g, argc, argv);
}
