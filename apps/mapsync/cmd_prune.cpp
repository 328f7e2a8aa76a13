// mapsync prune-log - delete change-log rows that no hub needs any more (run on one host,
// as the migrate account, e.g. weekly from cron).
#include "apps/mapsync/commands.h"
#include "libmapsync/core/error.h"
#include "libmapsync/core/log.h"
#include "libmapsync/db/change_log.h"
#include "libmapsync/db/database.h"
#include "libmapsync/db/endpoints.h"

namespace mapsync_cli {
namespace {

// The options bind straight to the library's struct: nothing to translate.
int run(const Global& g, mapsync::PruneOptions po) {
  const auto cfg = load(g);
  // Hubs that ran within their stale window count as running (as for `mapsync migrate`).
  po.active_seconds = cfg.database.fleet.period * cfg.database.fleet.stale_periods;
  auto db = mapsync::connect_writer(cfg.database);
  const mapsync::PruneReport r = mapsync::prune_change_log(*db, po);
  std::string held;
  if (!r.floor_hub.empty())
    held = "; hub " + r.floor_hub + " published serial " + std::to_string(r.hub_floor) + ", so nothing after it goes";
  mapsync::log::info(std::string(po.dry_run ? "would delete " : "deleted ") + std::to_string(r.deleted) +
                     " change-log row(s), kept " + std::to_string(r.kept) + "; the log starts at serial " +
                     std::to_string(r.start_after) + (r.start_after != r.start_before
                                                          ? " (was " + std::to_string(r.start_before) + ")"
                                                          : " (unchanged)") +
                     held);
  return 0;
}

}  // namespace

void setup_prune(CLI::App& app, Global& g) {
  auto o = std::make_shared<mapsync::PruneOptions>();
  CLI::App* sub = app.add_subcommand(
      "prune-log", "delete change-log rows older than --keep-days that no running hub still needs (the migrate account)");
  sub->add_option("--keep-days", o->keep_days, "keep the rows of this many days (default 30)")->check(CLI::Range(1u, 36500u));
  sub->add_option("--batch", o->batch, "rows deleted per statement and commit (default 10000)")
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{1000000}));
  sub->add_flag("-n,--dry-run", o->dry_run, "only say what would be deleted");
  sub->callback([&g, o] { g.action = [&g, o] { return run(g, *o); }; });
}

}  // namespace mapsync_cli
