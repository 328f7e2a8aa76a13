// commands.h - the mapadm subcommands: the admin tool over the user database, and the
// importers. One file per subcommand group (CLI11's subcom_in_files shape); main.cpp is
// the one place where errors are reported.
#pragma once

#include <CLI/CLI.hpp>

#include "apps/common/driver.h"
#include "libmapsync/config/config.h"

namespace mapadm_cli {

using mapsync_apps::Global;

// account, address, group, forward, domain, list, alias, canonical, backend, target, bulk,
// log (cmd_admin.cpp and the files it names).
void setup_admin(CLI::App& app, Global& g);
// import postfix, import postfixadmin (cmd_import.cpp).
void setup_import(CLI::App& app, Global& g);

// mapsync_apps::load_config, as the maps job sees it: the database, and the render and
// map settings every change is validated with.
mapsync::MapsSettings load(const Global& g);

}  // namespace mapadm_cli
