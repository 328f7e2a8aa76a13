// mapsync - builds and publishes the Postfix lookup tables from the user database.
//
// A thin driver: parse options, load the config, call libmapsync, and report any error
// once, with the program's name, exiting with the sysexits(3) status the library chose.
#include <cstdlib>
#include <exception>
#include <iostream>

#include "apps/mapsync/commands.h"
#include "libmapsync/error.h"
#include "libmapsync/log.h"
#include "libmapsync/signals.h"

namespace mapsync_cli {

mapsync::Config load(const Global& g) {
  mapsync::Config c = mapsync::load_config(g.config_path);
  if (c.maps.directory.empty())
    mapsync::fail(mapsync::Exit::config, c.path + ": maps: required section is missing (maps.directory at least)");
  if (g.verbose) c.logging.level = mapsync::LogLevel::debug;
  if (g.quiet && c.logging.level < mapsync::LogLevel::warning) c.logging.level = mapsync::LogLevel::warning;
  mapsync::log::setup("mapsync", c.logging);
  return c;
}

}  // namespace mapsync_cli

int main(int argc, char** argv) {
  using namespace mapsync_cli;
  mapsync::log::setup_early("mapsync");
  Global g;
  if (const char* env = std::getenv("MAPSYNC_CONFIG")) g.config_path = env;
  CLI::App app{"mapsync: publish Postfix lookup tables from the e-mail user database"};
  app.set_version_flag("--version", "mapsync 0.1.0");
  app.option_defaults()->always_capture_default();
  app.add_option("-c,--config", g.config_path, "config file (env MAPSYNC_CONFIG)");
  app.add_flag("-v,--verbose", g.verbose, "log debug messages");
  app.add_flag("-q,--quiet", g.quiet, "log only warnings and errors");
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
  try {
    app.parse(argc, argv);
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
