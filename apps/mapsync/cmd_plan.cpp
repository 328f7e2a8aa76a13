// mapsync plan [--check] [--json] [--staging DIR] - what a build would change.
//
// Renders and validates everything into a staging directory, publishes nothing, and
// prints the diff against the published maps. With --check the exit status is for CI:
// 0 the published maps match the database, 1 a build would change them, and the usual
// sysexits codes (65, 75, 78) when the plan itself fails, so that "drift" is never
// confused with "broken".
#include <unistd.h>

#include <filesystem>
#include <iostream>

#include "apps/mapsync/commands.h"
#include "libmapsync/maps/build.h"
#include "libmapsync/core/log.h"
#include "libmapsync/maps/mapdiff.h"

namespace mapsync_cli {
namespace {

struct PlanCli {
  bool check = false;
  bool json = false;
  std::string staging;
  bool keep = false;
};

int run(const Global& g, const PlanCli& o) {
  const auto cfg = load(g);
  // Stage beside the published maps: same file system, and no /tmp filling up.
  const std::string staging = o.staging.empty() ? cfg.maps.directory + "/.plan" : o.staging;
  std::filesystem::remove_all(staging);
  mapsync::BuildOptions bo;
  bo.directory = staging;
  bo.compare_directory = cfg.maps.directory;  // gates judge against what is published
  bo.gates_report_only = true;
  struct Cleanup {
    const std::string& dir;
    bool keep;
    ~Cleanup() {
      std::error_code ec;
      if (!keep) std::filesystem::remove_all(dir, ec);
    }
  } cleanup{staging, o.keep || !o.staging.empty()};
  mapsync::BuildReport rep;
  mapsync::run_build(cfg, bo, rep);
  mapsync::report_findings(rep.findings);
  if (!rep.gates_tripped.empty()) {
    std::string all;
    for (const auto& t : rep.gates_tripped) all += "\n  " + t;
    mapsync::log::warning("a build would refuse to publish this (change gates tripped; `mapsync build --force` "
                          "publishes it once):" + all);
  }
  const auto diffs = mapsync::diff_map_dirs(cfg.maps, cfg.maps.directory, staging);
  std::cout << (o.json ? mapsync::format_diff_json(diffs) : mapsync::format_diff(diffs));
  bool drift = false;
  for (const auto& d : diffs) drift |= !d.empty();
  if (!o.check) return 0;
  mapsync::log::info(drift ? "plan: a build would change the published maps" : "plan: the published maps are up to date");
  return drift ? 1 : 0;
}

}  // namespace

void setup_plan(CLI::App& app, Global& g) {
  auto o = std::make_shared<PlanCli>();
  CLI::App* sub = app.add_subcommand("plan", "render into a staging directory and show the diff against the published maps");
  sub->add_flag("--check", o->check, "exit 1 when a build would change the published maps (0 when not)");
  sub->add_flag("--json", o->json, "machine-readable diff");
  sub->add_option("--staging", o->staging, "stage here and keep it (default: <maps.directory>/.plan, removed)");
  sub->add_flag("--keep", o->keep, "keep the staging directory");
  sub->callback([&g, o] { g.action = [&g, o] { return run(g, *o); }; });
}

}  // namespace mapsync_cli
