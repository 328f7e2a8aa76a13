// commands.h - the mboxsync subcommands, one file each (CLI11's subcom_in_files shape).
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <string>

#include "apps/common/driver.h"
#include "libmapsync/config/config.h"
#include "libmapsync/mailbox/mboxsync.h"

namespace mboxsync_cli {

using mapsync_apps::Global;

void setup_plan(CLI::App& app, Global& g);
void setup_run(CLI::App& app, Global& g);
void setup_bulk(CLI::App& app, Global& g);
void setup_move(CLI::App& app, Global& g);
void setup_rebalance(CLI::App& app, Global& g);
void setup_jobs(CLI::App& app, Global& g);
void setup_status(CLI::App& app, Global& g);

// mapsync_apps::load_config, and the cyrus section must be there.
mapsync::MboxsyncSettings load(const Global& g);

// Reports the results of a run or bulk (a JSON document of kind *json on stdout when json
// is not null, a warning for every
// mailbox not done, a summary of the `what`: "jobs" or "accounts") and returns the exit
// status: 0 all done, 75 some to retry later, 65 some failed for good.
int report_results(const mapsync::MboxReport& r, const mapsync::JsonFormat* json, const std::string& what);

// Runs job, reports its results (report_results) and writes metrics.mboxsync_textfile with
// the exit status, the one report_results gives or the one a thrown error carries.
int run_with_metrics(const mapsync::MboxsyncSettings& cfg, const mapsync::JsonFormat* json, const std::string& what,
                     const std::function<mapsync::MboxReport()>& job);

}  // namespace mboxsync_cli
