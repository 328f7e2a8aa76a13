// adsync - keeps the AD-sourced accounts of the user database in step with Active Directory.
//
// A thin driver (apps/common/driver.h): the subcommands call run_adsync in libmapsync.
// With no subcommand it plans: changing the database takes "apply".
#include "libmapsync/core/version.h"
#include "apps/adsync/commands.h"
#include "libmapsync/core/error.h"

namespace adsync_cli {

mapsync::AdsyncSettings load(const Global& g) {
  mapsync::Config c = mapsync_apps::load_config(g);
  if (!c.ad.present)
    mapsync::fail(mapsync::Exit::config, c.path + ": ad: required section is missing (ad.uris, ad.bases, ad.placement at least)");
  return mapsync::adsync_settings(c);
}

}  // namespace adsync_cli

int main(int argc, char** argv) {
  using namespace adsync_cli;
  Global g;
  g.program = "adsync";
  CLI::App app{"adsync: reconcile the e-mail user database with Active Directory"};
  mapsync_apps::add_global_options(app, g, mapsync::kVersion);
  app.require_subcommand(0, 1);
  setup_plan(app, g);
  setup_apply(app, g);
  setup_status(app, g);
  mapsync_apps::run(app, g, argc, argv, "plan");
}
