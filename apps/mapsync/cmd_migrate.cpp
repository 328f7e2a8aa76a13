// mapsync migrate - bring the database schema to the version this mapsync needs.
#include <iostream>

#include "apps/mapsync/commands.h"
#include "libmapsync/core/log.h"
#include "libmapsync/db/schema.h"
#include "libmapsync/db/database.h"

namespace mapsync_cli {
namespace {

struct MigrateCli {
  bool dry_run = false;
  bool force = false;
};

int run(const Global& g, const MigrateCli& o) {
  const auto cfg = load(g);
  mapsync::MigrateOptions mo;
  mo.dry_run = o.dry_run;
  mo.force = o.force;
  // Hubs that ran within their stale window count as running.
  mo.active_seconds = cfg.database.fleet.period * cfg.database.fleet.stale_periods;
  const mapsync::MigrationReport r = mapsync::migrate_schema(cfg.database, mo);
  if (r.applied.empty()) {
    mapsync::log::info("schema is at version " + std::to_string(r.from) + ", nothing to do");
    return 0;
  }
  for (const auto& name : r.applied) mapsync::log::info(std::string(o.dry_run ? "would apply " : "applied ") + name);
  mapsync::log::info("schema version " + std::to_string(r.from) + " -> " + std::to_string(r.to));
  return 0;
}

}  // namespace

void setup_migrate(CLI::App& app, Global& g) {
  auto o = std::make_shared<MigrateCli>();
  CLI::App* sub = app.add_subcommand("migrate", "apply the schema migrations this mapsync carries");
  sub->add_flag("-n,--dry-run", o->dry_run, "only say which migrations would run");
  sub->add_flag("--force", o->force, "apply a step even though running hubs could not read the schema after it");
  sub->callback([&g, o] { g.action = [&g, o] { return run(g, *o); }; });
}

}  // namespace mapsync_cli
