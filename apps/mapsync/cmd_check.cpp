// mapsync check - validate the database as a build would, and publish nothing.
//
// Every finding names the rows that cause it. Exit 0 with no errors (warnings are
// counted), 65 when a build would refuse to publish.
#include <iostream>

#include "apps/mapsync/commands.h"
#include "libmapsync/maps/build.h"
#include "libmapsync/core/log.h"

namespace mapsync_cli {
namespace {

int run(const Global& g) {
  const auto cfg = load(g);
  mapsync::BuildOptions bo;
  bo.dry_run = true;
  mapsync::BuildReport rep;
  mapsync::run_build(cfg, bo, rep);  // throws (65) on errors, after reporting them
  mapsync::report_findings(rep.findings);
  std::string summary;
  for (const auto& m : rep.maps) summary += " " + m.name + "=" + std::to_string(m.entries);
  mapsync::log::info("check: no errors, " + std::to_string(rep.findings.warnings()) + " warning(s);" + summary);
  return 0;
}

}  // namespace

void setup_check(CLI::App& app, Global& g) {
  CLI::App* sub = app.add_subcommand("check", "validate the database as a build would; publish nothing");
  sub->callback([&g] { g.action = [&g] { return run(g); }; });
}

}  // namespace mapsync_cli
