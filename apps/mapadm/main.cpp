// mapadm - changes the e-mail user database the way admins do by hand, without raw SQL,
// and imports what a site already runs (Postfix maps, PostfixAdmin).
//
// Every change is validated, inside its transaction and before COMMIT, by the same
// renderer `mapsync build` uses: what a build would refuse is refused here, with the same
// message, and nothing is written.
#include "libmapsync/core/version.h"
#include "apps/mapadm/commands.h"

namespace mapadm_cli {

mapsync::MapsSettings load(const Global& g) { return mapsync::maps_settings(mapsync_apps::load_config(g)); }

}  // namespace mapadm_cli

int main(int argc, char** argv) {
  using namespace mapadm_cli;
  Global g;
  g.program = "mapadm";
  CLI::App app{"mapadm: change the e-mail user database, validated like a map build; import existing maps"};
  mapsync_apps::add_global_options(app, g, mapsync::kVersion);
  app.require_subcommand(1);
  setup_admin(app, g);
  setup_import(app, g);
  mapsync_apps::run(app, g, argc, argv);
}
