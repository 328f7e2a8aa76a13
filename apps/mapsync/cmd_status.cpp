// mapsync status [--json] - what is published: generation, serial, maps, when.
//
// Reads the state file beside the maps; touches neither the database nor the maps.
// Exit 0; 66 (no input) when nothing was ever published there.
#include <ctime>
#include <iostream>

#include "apps/mapsync/commands.h"
#include "libmapsync/core/error.h"
#include "libmapsync/maps/state.h"

namespace mapsync_cli {
namespace {

struct StatusCli {
  bool json = false;
};

std::string when(std::int64_t t) {
  if (!t) return "never";
  char buf[64];
  const std::time_t tt = static_cast<std::time_t>(t);
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S %Z", std::localtime(&tt));
  return buf;
}

int run(const Global& g, const StatusCli& o) {
  const auto cfg = load(g);
  const auto st = mapsync::read_state(cfg.maps.directory);
  if (!st) mapsync::fail(mapsync::Exit::noinput, "nothing published in " + cfg.maps.directory + " yet (no state file)");
  if (o.json) {
    std::cout << mapsync::state_to_json(*st);
    return 0;
  }
  std::cout << "directory:    " << cfg.maps.directory << "\n"
            << "generation:   " << st->generation << (st->held ? "  (HELD after rollback: builds do not publish)" : "") << "\n"
            << "serial:       " << st->serial << "\n"
            << "published at: " << when(st->published_at) << "\n"
            << "checked at:   " << when(st->checked_at) << " (" << st->duration << " s)\n";
  for (const auto& m : st->maps)
    std::cout << "  " << m.name << ": " << m.entries << " entries, generation " << m.generation << ", sha256 "
              << m.digest.substr(0, 16) << "\n";
  return 0;
}

}  // namespace

void setup_status(CLI::App& app, Global& g) {
  auto o = std::make_shared<StatusCli>();
  CLI::App* sub = app.add_subcommand("status", "show what is published (generation, serial, maps)");
  sub->add_flag("--json", o->json, "the state file as JSON");
  sub->callback([&g, o] { g.action = [&g, o] { return run(g, *o); }; });
}

}  // namespace mapsync_cli
