// mapsync build - read the database, render, validate and publish every enabled map.
#include <cstdio>

#include "apps/mapsync/commands.h"
#include "libmapsync/build.h"
#include "libmapsync/log.h"

namespace mapsync_cli {
namespace {

struct BuildCli {
  bool dry_run = false;
};

int run(const Global& g, const BuildCli& o) {
  const mapsync::Config cfg = load(g);
  mapsync::BuildOptions opt;
  opt.dry_run = o.dry_run;
  const mapsync::BuildReport rep = mapsync::run_build(cfg, opt);
  mapsync::report_findings(rep.findings);
  std::string summary;
  for (const auto& m : rep.maps) summary += " " + m.name + "=" + std::to_string(m.entries);
  char secs[32];
  std::snprintf(secs, sizeof secs, "%.2f", rep.seconds);
  mapsync::log::info(std::string(o.dry_run ? "dry run, nothing published" : "published") + ": serial " +
                     std::to_string(rep.serial) + ", " + std::to_string(rep.findings.warnings()) + " warning(s), " + secs +
                     " s;" + summary);
  return 0;
}

}  // namespace

void setup_build(CLI::App& app, Global& g) {
  auto o = std::make_shared<BuildCli>();
  CLI::App* sub = app.add_subcommand("build", "read one database snapshot, render, validate and publish the maps");
  sub->add_flag("-n,--dry-run", o->dry_run, "render and validate only; write nothing");
  sub->callback([&g, o] { g.action = [&g, o] { return run(g, *o); }; });
}

}  // namespace mapsync_cli
