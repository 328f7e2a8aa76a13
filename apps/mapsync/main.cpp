// mapsync - builds and publishes the Postfix lookup tables from the user database.
//
// A thin driver (apps/common/driver.h): the subcommands call libmapsync; errors are
// reported once, with the sysexits(3) status the library chose.
#include "libmapsync/core/version.h"
#include "apps/mapsync/commands.h"
#include "libmapsync/core/error.h"

namespace mapsync_cli {

mapsync::MapsSettings load(const Global& g) {
  mapsync::Config c = mapsync_apps::load_config(g);
  if (c.maps.directory.empty())
    mapsync::fail(mapsync::Exit::config, c.path + ": maps: required section is missing (maps.directory at least)");
  return mapsync::maps_settings(c);
}

}  // namespace mapsync_cli

int main(int argc, char** argv) {
  using namespace mapsync_cli;
  Global g;
  g.program = "mapsync";
  CLI::App app{"mapsync: publish Postfix lookup tables from the e-mail user database"};
  mapsync_apps::add_global_options(app, g, mapsync::kVersion);
  app.require_subcommand(1);
  setup_build(app, g);
  setup_query(app, g);
  setup_dump(app, g);
  setup_migrate(app, g);
  setup_plan(app, g);
  setup_diff(app, g);
  setup_check(app, g);
  setup_status(app, g);
  setup_rollback(app, g);
  setup_hold(app, g);
  setup_prune(app, g);
  mapsync_apps::run(app, g, argc, argv);
}
