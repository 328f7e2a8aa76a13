// mapsync plan [--check] [--json] [--staging DIR] - what a build would change.
//
// Renders and validates everything into a staging directory, publishes nothing, and
// prints the diff against the published maps. With --check the exit status is for CI:
// 0 the published maps match the database, 1 a build would change them, and the usual
// sysexits codes (65, 75, 78) when the plan itself fails, so that "drift" is never
// confused with "broken".
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

#include <filesystem>
#include <iostream>

#include "apps/mapsync/commands.h"
#include "libmapsync/maps/build.h"
#include "libmapsync/core/error.h"
#include "libmapsync/core/log.h"
#include "libmapsync/maps/mapdiff.h"

namespace mapsync_cli {
namespace {

namespace fs = std::filesystem;

// Whether path is dir or lies inside it, symlinks resolved.
bool inside(const std::string& path, const std::string& dir) {
  std::error_code ec;
  const fs::path p = fs::weakly_canonical(path, ec), d = fs::weakly_canonical(dir, ec);
  const fs::path rel = p.lexically_relative(d);
  return !rel.empty() && *rel.begin() != "..";
}

// The staging directory for --staging DIR. mapsync removes nothing there, ever: DIR must
// be new or empty (a non-empty one would be mixed with, and its files taken for, the
// plan), and must not be maps.directory or inside it (a build there would publish).
std::string given_staging(const std::string& dir, const std::string& maps_dir) {
  if (inside(dir, maps_dir))
    mapsync::fail(mapsync::Exit::cantcreat, "--staging " + dir + " is inside maps.directory " + maps_dir +
                                                "; stage somewhere else (the default stages in a new directory there)");
  if (::mkdir(dir.c_str(), 0700) == 0) return dir;
  const int err = errno;
  if (err != EEXIST) mapsync::fail(mapsync::Exit::cantcreat, mapsync::errno_text("cannot create staging directory " + dir, err));
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    mapsync::fail(mapsync::Exit::cantcreat, "--staging " + dir + " exists and is not a directory");
  if (!fs::is_empty(dir, ec) || ec)
    mapsync::fail(mapsync::Exit::cantcreat, "--staging " + dir +
                                                " is not empty; give a new or empty directory (mapsync deletes nothing it did not create)");
  return dir;
}

struct PlanCli {
  bool check = false;
  bool json = false;
  std::string staging;
  bool keep = false;
};

int run(const Global& g, const PlanCli& o) {
  const auto cfg = load(g);
  // By default stage beside the published maps (same file system, and no /tmp filling
  // up) in a new directory of our own, the only thing the cleanup removes.
  std::string staging;
  if (o.staging.empty()) {
    ::mkdir(cfg.maps.directory.c_str(), 0755);  // the first plan may come before the first build
    staging = cfg.maps.directory + "/.plan.XXXXXX";
    if (!::mkdtemp(staging.data()))
      mapsync::fail(mapsync::Exit::cantcreat, mapsync::errno_text("cannot create a staging directory in " + cfg.maps.directory, errno));
    if (o.keep) mapsync::log::notice("staging in " + staging + " (kept)");
  } else {
    staging = given_staging(o.staging, cfg.maps.directory);
  }
  mapsync::BuildOptions bo;
  bo.directory = staging;
  bo.compare_directory = cfg.maps.directory;  // gates judge against what is published
  bo.gates_report_only = true;
  struct Cleanup {
    const std::string& dir;
    bool keep;
    ~Cleanup() {
      std::error_code ec;
      if (!keep) fs::remove_all(dir, ec);
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
  std::cout << (o.json ? mapsync::format_diff_json(diffs, mapsync::json_format::mapsync_plan) : mapsync::format_diff(diffs));
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
  sub->add_option("--staging", o->staging, "stage here and keep it: a new or empty directory outside maps.directory (default: a new <maps.directory>/.plan.XXXXXX, removed)");
  sub->add_flag("--keep", o->keep, "keep the staging directory");
  sub->callback([&g, o] { g.action = [&g, o] { return run(g, *o); }; });
}

}  // namespace mapsync_cli
