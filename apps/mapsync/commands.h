// commands.h - the mapsync subcommands, one file each (CLI11's subcom_in_files shape).
//
// Each setup_* adds its subcommand and options to the app and binds them to a plain
// options struct; the callback stores the action to run. main.cpp runs it and is the
// one place where errors are reported.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <string>

#include "apps/common/driver.h"
#include "libmapsync/config/config.h"

namespace mapsync_cli {

using mapsync_apps::Global;

void setup_build(CLI::App& app, Global& g);
void setup_query(CLI::App& app, Global& g);
void setup_dump(CLI::App& app, Global& g);
void setup_migrate(CLI::App& app, Global& g);
void setup_diff(CLI::App& app, Global& g);
void setup_plan(CLI::App& app, Global& g);
void setup_check(CLI::App& app, Global& g);
void setup_status(CLI::App& app, Global& g);
void setup_rollback(CLI::App& app, Global& g);
void setup_hold(CLI::App& app, Global& g);  // hold and release
void setup_prune(CLI::App& app, Global& g);  // prune-log

// mapsync_apps::load_config, and the maps section must be there.
mapsync::MapsSettings load(const Global& g);

}  // namespace mapsync_cli
