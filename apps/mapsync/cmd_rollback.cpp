// mapsync rollback [GEN] - publish a stored generation again, and hold the maps there.
#include "apps/mapsync/commands.h"
#include "libmapsync/core/error.h"
#include "libmapsync/maps/fleet_report.h"
#include "libmapsync/maps/generations.h"
#include "libmapsync/maps/hooks.h"

namespace mapsync_cli {
namespace {

struct RollbackCli {
  std::string generation;  // empty: the one before the published generation
  bool fleet = false;
};

int run(const Global& g, const RollbackCli& o) {
  // Parsed before anything else: a mistyped number must not roll back anything.
  std::optional<std::uint64_t> gen;
  if (!o.generation.empty()) gen = mapsync::parse_generation(o.generation);
  const auto cfg = load(g);
  if (o.fleet) {
    if (!gen) mapsync::fail(mapsync::Exit::usage, "rollback --fleet needs the generation (of this hub) whose content every hub publishes again");
    mapsync::start_fleet_rollback(cfg, *gen);
    return 0;
  }
  const mapsync::RollbackReport rep = mapsync::rollback(cfg, gen);
  // Every map was rewritten: transport and relay_domains want their reload too.
  mapsync::run_publish_hooks(cfg.maps, rep.maps, rep.new_generation);
  return 0;
}

}  // namespace

void setup_rollback(CLI::App& app, Global& g) {
  auto o = std::make_shared<RollbackCli>();
  CLI::App* sub = app.add_subcommand(
      "rollback", "publish a stored generation again (default: the previous one) and hold builds until --release");
  // A string, parsed strictly by parse_generation: CLI11's integer conversion would take
  // "-1" as 2^64-1.
  sub->add_option("generation", o->generation, "generation number (see mapsync status and maps.directory/.generations)");
  sub->add_flag("--fleet", o->fleet,
                "every hub publishes this generation's content again and holds until `mapsync release --fleet` "
                "(refused unless every hub stores it)");
  sub->callback([&g, o] { g.action = [&g, o] { return run(g, *o); }; });
}

}  // namespace mapsync_cli
