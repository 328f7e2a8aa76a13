// mapsync hold --fleet REASON / mapsync release --fleet - a fleet-wide hold, stored in the
// database: every hub keeps its published maps and refuses to publish until released.
// (A hold of this hub alone is what `mapsync rollback` leaves; `build --release` ends it.)
#include "apps/mapsync/commands.h"
#include "libmapsync/core/error.h"
#include "libmapsync/maps/fleet_report.h"

namespace mapsync_cli {
namespace {

struct HoldCli {
  bool fleet = false;
  std::string reason;
};

int run(const Global& g, const HoldCli& o, bool hold) {
  if (!o.fleet)
    mapsync::fail(mapsync::Exit::usage, std::string(hold ? "hold" : "release") +
                                            " needs --fleet (this hub alone: `mapsync rollback`, then `mapsync build --release`)");
  if (hold && o.reason.empty()) mapsync::fail(mapsync::Exit::usage, "hold --fleet needs a reason (shown by every hub that refuses)");
  const auto cfg = load(g);
  mapsync::set_fleet_hold(cfg, hold, o.reason);
  return 0;
}

}  // namespace

void setup_hold(CLI::App& app, Global& g) {
  auto o = std::make_shared<HoldCli>();
  CLI::App* sub = app.add_subcommand("hold", "hold publishing on every hub (--fleet) until `mapsync release --fleet`");
  sub->add_flag("--fleet", o->fleet, "on every hub of the fleet (stored in the database)");
  sub->add_option("reason", o->reason, "why (shown by every hub that refuses to publish)");
  sub->callback([&g, o] { g.action = [&g, o] { return run(g, *o, true); }; });
  auto r = std::make_shared<HoldCli>();
  CLI::App* rel = app.add_subcommand("release", "end a fleet-wide hold (--fleet): hubs publish at their next run");
  rel->add_flag("--fleet", r->fleet, "the fleet-wide hold");
  rel->callback([&g, r] { g.action = [&g, r] { return run(g, *r, false); }; });
}

}  // namespace mapsync_cli
