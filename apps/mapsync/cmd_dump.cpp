// mapsync dump MAP - print every entry of a published map, like postmap -s.
#include <iostream>

#include "apps/mapsync/commands.h"
#include "libmapsync/maps/build.h"
#include "libmapsync/core/error.h"

namespace mapsync_cli {
namespace {

struct DumpCli {
  std::string map;
};

int run(const Global& g, const DumpCli& o) {
  const auto cfg = load(g);
  const mapsync::MapConfig* mc = cfg.maps.find(o.map);
  if (!mc) mapsync::fail(mapsync::Exit::usage, "no map named \"" + o.map + "\"");
  auto reader = mapsync::open_published(*mc);
  const char* sep = mc->spec.alias_syntax ? ": " : "\t";
  reader->for_each([&](std::string_view k, std::string_view v) { std::cout << k << sep << v << '\n'; });
  std::cout.flush();
  if (!std::cout) mapsync::fail(mapsync::Exit::ioerr, "cannot write to standard output");
  return 0;
}

}  // namespace

void setup_dump(CLI::App& app, Global& g) {
  auto o = std::make_shared<DumpCli>();
  CLI::App* sub = app.add_subcommand("dump", "print every entry of a published map");
  sub->add_option("map", o->map, "map name")->required();
  sub->callback([&g, o] { g.action = [&g, o] { return run(g, *o); }; });
}

}  // namespace mapsync_cli
