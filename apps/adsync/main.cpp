// adsync - keeps the AD-sourced accounts of the user database in step with Active Directory.
//
// A thin driver: parse options, load the config, call libmapsync (run_adsync), report
// any error once with the sysexits(3) status the library chose. With no subcommand it
// plans: changing the database takes "apply".
#include <cstdlib>
#include <exception>
#include <iostream>

#include "apps/adsync/commands.h"
#include "libmapsync/error.h"
#include "libmapsync/log.h"
#include "libmapsync/signals.h"

namespace adsync_cli {

mapsync::Config load(const Global& g) {
  mapsync::Config c = mapsync::load_config(g.config_path);
  if (g.verbose) c.logging.level = mapsync::LogLevel::debug;
  if (g.quiet && c.logging.level < mapsync::LogLevel::warning) c.logging.level = mapsync::LogLevel::warning;
  mapsync::log::setup("adsync", c.logging);
  return c;
}

}  // namespace adsync_cli

int main(int argc, char** argv) {
  using namespace adsync_cli;
  mapsync::log::setup_early("adsync");
  Global g;
  if (const char* env = std::getenv("MAPSYNC_CONFIG")) g.config_path = env;
  CLI::App app{"adsync: reconcile the e-mail user database with Active Directory"};
  app.set_version_flag("--version", "adsync 0.1.0");
  app.option_defaults()->always_capture_default();
  app.add_option("-c,--config", g.config_path, "config file (env MAPSYNC_CONFIG)");
  app.add_flag("-v,--verbose", g.verbose, "log debug messages; plans list ignored entries too");
  app.add_flag("-q,--quiet", g.quiet, "log only warnings and errors");
  app.require_subcommand(0, 1);
  app.fallthrough();  // -v and -c after the subcommand too
  setup_plan(app, g);
  setup_apply(app, g);
  try {
    app.parse(argc, argv);
    if (!g.action) app.get_subcommand("plan")->parse(std::vector<std::string>{});  // the default
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : static_cast<int>(mapsync::Exit::usage);
  }
  mapsync::install_interrupt_handlers();
  try {
    return g.action ? g.action() : 0;
  } catch (const mapsync::Error& e) {
    mapsync::log::error(e.what());
    return static_cast<int>(e.status());
  } catch (const std::exception& e) {
    mapsync::log::error(std::string("internal error: ") + e.what());
    return static_cast<int>(mapsync::Exit::software);
  }
}
