// mapsync rollback [GEN] - publish a stored generation again, and hold the maps there.
#include "apps/mapsync/commands.h"
#include "libmapsync/maps/generations.h"

namespace mapsync_cli {
namespace {

struct RollbackCli {
  std::uint64_t generation = 0;  // 0: the one before the published generation
};

int run(const Global& g, const RollbackCli& o) {
  const auto cfg = load(g);
  mapsync::rollback(cfg, o.generation ? std::optional<std::uint64_t>(o.generation) : std::nullopt);
  return 0;
}

}  // namespace

void setup_rollback(CLI::App& app, Global& g) {
  auto o = std::make_shared<RollbackCli>();
  CLI::App* sub = app.add_subcommand(
      "rollback", "publish a stored generation again (default: the previous one) and hold builds until --release");
  sub->add_option("generation", o->generation, "generation number (see mapsync status and maps.directory/.generations)");
  sub->callback([&g, o] { g.action = [&g, o] { return run(g, *o); }; });
}

}  // namespace mapsync_cli
