// adsync plan: what apply would change, changing nothing. --check for monitoring and CI.
#include <iostream>
#include <memory>

#include "apps/adsync/commands.h"
#include "libmapsync/directory/adsync.h"
#include "libmapsync/core/error.h"

namespace adsync_cli {
namespace {

struct PlanOptions {
  bool json = false;
  bool check = false;
  bool full = false;
  std::string user;
};

int run_plan(const Global& g, const PlanOptions& o) {
  const auto cfg = load(g);
  mapsync::AdsyncOptions opt;
  opt.full = o.full;
  opt.only_uid = o.user;
  const mapsync::AdsyncReport r = mapsync::run_adsync(cfg, opt);
  if (o.json) std::cout << mapsync::plan_json(r, mapsync::json_format::adsync_plan) << "\n";
  else std::cout << mapsync::plan_text(r, g.verbose);
  return o.check && !r.plan.in_sync() ? 1 : 0;
}

}  // namespace

void setup_plan(CLI::App& app, Global& g) {
  auto o = std::make_shared<PlanOptions>();
  CLI::App* sub = app.add_subcommand("plan", "show what apply would change (the default)");
  sub->add_flag("--json", o->json, "print the plan as JSON");
  sub->add_flag("--check", o->check, "exit 1 when the database is out of step with AD, 0 when in step");
  sub->add_flag("--full", o->full, "search everything, not only what changed since the last run");
  sub->add_option("--user", o->user, "plan for this one user name only");
  sub->callback([&g, o] { g.action = [&g, o] { return run_plan(g, *o); }; });
}

}  // namespace adsync_cli
