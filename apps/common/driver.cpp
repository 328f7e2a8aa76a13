// driver.cpp - option parsing, config loading and the single error sink of the programs.
#include "apps/common/driver.h"

#include <cstdlib>
#include <exception>

#include "libmapsync/core/error.h"
#include "libmapsync/core/log.h"
#include "libmapsync/core/secret.h"
#include "libmapsync/core/signals.h"

namespace mapsync_apps {

void add_global_options(CLI::App& app, Global& g, const std::string& version) {
  mapsync::log::setup_early(g.program);
  if (const char* env = std::getenv("MAPSYNC_CONFIG")) g.config_path = env;
  app.set_version_flag("--version", g.program + " " + version);
  app.option_defaults()->always_capture_default();
  app.add_option("-c,--config", g.config_path, "config file (env MAPSYNC_CONFIG)");
  app.add_flag("-v,--verbose", g.verbose, "log debug messages");
  app.add_flag("-q,--quiet", g.quiet, "log only warnings and errors");
  app.fallthrough();  // -c, -v and -q after the subcommand too
}

mapsync::Config load_config(const Global& g) {
  mapsync::Config c = mapsync::load_config(g.config_path);
  if (g.verbose) c.logging.level = mapsync::LogLevel::debug;
  if (g.quiet && c.logging.level < mapsync::LogLevel::warning) c.logging.level = mapsync::LogLevel::warning;
  mapsync::log::setup(g.program, c.logging);
  return c;
}

int run(CLI::App& app, Global& g, int argc, char** argv, const char* default_subcommand) {
  // Before any password is read: a core file or a debugger must not find it.
  mapsync::protect_secrets_in_memory();
  try {
    app.parse(argc, argv);
    if (!g.action && default_subcommand) app.get_subcommand(default_subcommand)->parse(std::vector<std::string>{});
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    // A mistyped cron entry fails every run: syslog should say so too.
    if (rc != 0) mapsync::log::error_to_syslog(std::string("usage: ") + e.what());
    return rc == 0 ? 0 : static_cast<int>(mapsync::Exit::usage);
  }
  // From here a signal ends the process at once (75), except in a critical section:
  // libmapsync/core/signals.h.
  mapsync::install_interrupt_handlers(g.program.c_str());
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

}  // namespace mapsync_apps
