// commands.h - the mboxsync subcommands, one file each (CLI11's subcom_in_files shape).
#pragma once

#include <CLI/CLI.hpp>

#include "apps/common/driver.h"
#include "libmapsync/config.h"
#include "libmapsync/mboxsync.h"

namespace mboxsync_cli {

using mapsync_apps::Global;

void setup_plan(CLI::App& app, Global& g);
void setup_run(CLI::App& app, Global& g);
void setup_bulk(CLI::App& app, Global& g);

// mapsync_apps::load_config, and the cyrus section must be there.
mapsync::Config load(const Global& g);

// Exit status of a run or bulk: 0 all done, 75 some to retry later, 65 some failed for good.
int exit_status(const mapsync::MboxReport& r);

}  // namespace mboxsync_cli
