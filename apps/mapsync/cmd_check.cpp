// mapsync check [--json] - validate the database as a build would, and publish nothing.
//
// Every finding names the rows that cause it. Exit 0 with no errors (warnings are
// counted), 65 when a build would refuse to publish. --json prints every finding (not
// only the first 200 that the log shows) for scripts, whatever the exit status.
#include <iostream>
#include <nlohmann/json.hpp>

#include "apps/mapsync/commands.h"
#include "libmapsync/core/error.h"
#include "libmapsync/core/json_format.h"
#include "libmapsync/maps/build.h"
#include "libmapsync/core/log.h"

namespace mapsync_cli {
namespace {

std::string findings_json(const mapsync::BuildReport& rep) {
  nlohmann::json j = mapsync::json_document<nlohmann::json>(mapsync::json_format::mapsync_check);
  j["errors"] = rep.findings.errors();
  j["warnings"] = rep.findings.warnings();
  j["findings"] = nlohmann::json::array();
  for (const auto& x : rep.findings.all())
    j["findings"].push_back({{"severity", x.severity == mapsync::Finding::error ? "error" : "warning"},
                             {"map", x.map},
                             {"message", x.message}});
  // Messages hold values escaped already; replace, never throw, should one slip through.
  return j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

int run(const Global& g, bool json) {
  const auto cfg = load(g);
  mapsync::BuildOptions bo;
  bo.dry_run = true;
  mapsync::BuildReport rep;
  try {
    mapsync::run_build(cfg, bo, rep);  // throws (65) on errors, after reporting them
  } catch (const mapsync::Error& e) {
    if (json && e.status() == mapsync::Exit::data) std::cout << findings_json(rep);
    throw;
  }
  mapsync::report_findings(rep.findings);
  if (json) std::cout << findings_json(rep);
  std::string summary;
  for (const auto& m : rep.maps) summary += " " + m.name + "=" + std::to_string(m.entries);
  mapsync::log::info("check: no errors, " + std::to_string(rep.findings.warnings()) + " warning(s);" + summary);
  return 0;
}

}  // namespace

void setup_check(CLI::App& app, Global& g) {
  auto json = std::make_shared<bool>(false);
  CLI::App* sub = app.add_subcommand("check", "validate the database as a build would; publish nothing");
  sub->add_flag("--json", *json, "print every finding as JSON on stdout");
  sub->callback([&g, json] { g.action = [&g, json] { return run(g, *json); }; });
}

}  // namespace mapsync_cli
