// commands.h - the adsync subcommands, one file each (CLI11's subcom_in_files shape).
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <string>

#include "libmapsync/config.h"

namespace adsync_cli {

struct Global {
  std::string config_path = "/etc/mapsync/mapsync.yaml";
  bool verbose = false;
  bool quiet = false;
  std::function<int()> action;  // set by the chosen subcommand
};

void setup_plan(CLI::App& app, Global& g);
void setup_apply(CLI::App& app, Global& g);

// Loads the config named by -c and sets up logging from it (-v, -q applied).
mapsync::Config load(const Global& g);

}  // namespace adsync_cli
