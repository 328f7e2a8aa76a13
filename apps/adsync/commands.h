// commands.h - the adsync subcommands, one file each (CLI11's subcom_in_files shape).
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <string>

#include "apps/common/driver.h"
#include "libmapsync/config/config.h"

namespace adsync_cli {

using mapsync_apps::Global;

void setup_plan(CLI::App& app, Global& g);
void setup_apply(CLI::App& app, Global& g);
void setup_status(CLI::App& app, Global& g);

// mapsync_apps::load_config, and the ad section must be there.
mapsync::AdsyncSettings load(const Global& g);

}  // namespace adsync_cli
