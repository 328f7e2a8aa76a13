// mapsync status [--json] - what is published: generation, serial, maps, when.
//
// Reads the state file beside the maps; touches neither the database nor the maps.
// Exit 0; 66 (no input) when nothing was ever published there.
#include <ctime>
#include <iostream>

#include "apps/mapsync/commands.h"
#include "libmapsync/core/error.h"
#include "libmapsync/core/fileio.h"
#include "libmapsync/maps/fleet_report.h"
#include "libmapsync/maps/state.h"

namespace mapsync_cli {
namespace {

struct StatusCli {
  bool json = false;
  bool fleet = false;
  std::string prometheus;
};

std::string when(std::int64_t t) {
  if (!t) return "never";
  char buf[64];
  const std::time_t tt = static_cast<std::time_t>(t);
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S %Z", std::localtime(&tt));
  return buf;
}

// Every hub as the database records it: exit 0 (the status is in the output and the
// metrics; monitoring alerts on those).
int run_fleet(const mapsync::MapsSettings& cfg, const StatusCli& o) {
  const mapsync::FleetStatus st = mapsync::fleet_status(cfg);
  if (!o.prometheus.empty()) mapsync::replace_file_or_fail(o.prometheus, mapsync::fleet_prometheus(st), {.temp_template = o.prometheus + ".tmp.XXXXXX"});
  std::cout << (o.json ? mapsync::fleet_json(st) : mapsync::fleet_text(st));
  return 0;
}

int run(const Global& g, const StatusCli& o) {
  const auto cfg = load(g);
  if (o.fleet) return run_fleet(cfg, o);
  if (!o.prometheus.empty()) mapsync::fail(mapsync::Exit::usage, "--prometheus goes with --fleet");
  const auto st = mapsync::read_state(cfg.maps.directory);
  if (!st) mapsync::fail(mapsync::Exit::noinput, "nothing published in " + cfg.maps.directory + " yet (no state file)");
  if (o.json) {
    std::cout << mapsync::status_json(*st);
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
  sub->add_flag("--json", o->json, "the state file (with --fleet: every hub) as JSON");
  sub->add_flag("--fleet", o->fleet, "every hub as recorded in the database: behind, drift, stale");
  sub->add_option("--prometheus", o->prometheus, "with --fleet: also write Prometheus metrics to this file (replaced atomically)");
  sub->callback([&g, o] { g.action = [&g, o] { return run(g, *o); }; });
}

}  // namespace mapsync_cli
