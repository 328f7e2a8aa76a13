// mapsync query KEY [MAP] - look a key up in the published maps, like postmap -q.
//
// Exit 0 found, 1 not found (as postmap -q), 75 when a map could not be read.
#include <iostream>

#include "apps/mapsync/commands.h"
#include "libmapsync/maps/build.h"
#include "libmapsync/core/casefold.h"
#include "libmapsync/core/error.h"

namespace mapsync_cli {
namespace {

struct QueryCli {
  std::string key;
  std::string map;
};

int run(const Global& g, const QueryCli& o) {
  const auto cfg = load(g);
  std::string folded, err;
  if (!mapsync::casefold(o.key, folded, &err)) mapsync::fail(mapsync::Exit::usage, "key \"" + o.key + "\": " + err);
  bool found = false;
  for (const auto& mc : cfg.maps.maps) {
    if (!mc.enabled || (!o.map.empty() && mc.name != o.map)) continue;
    auto reader = mapsync::open_published(mc);
    const mapsync::LookupResult r = reader->lookup(folded);
    if (r.status == mapsync::LookupStatus::retry)
      mapsync::fail(mapsync::Exit::tempfail, "map " + mc.name + ": " + r.error);
    if (r.status != mapsync::LookupStatus::found) continue;
    found = true;
    if (o.map.empty()) std::cout << mc.name << '\t';
    std::cout << r.value << '\n';
  }
  if (!o.map.empty() && !cfg.maps.find(o.map))
    mapsync::fail(mapsync::Exit::usage, "no map named \"" + o.map + "\"");
  return found ? 0 : 1;
}

}  // namespace

void setup_query(CLI::App& app, Global& g) {
  auto o = std::make_shared<QueryCli>();
  CLI::App* sub = app.add_subcommand("query", "look KEY up in the published maps (all, or MAP)");
  sub->add_option("key", o->key, "the key, folded like Postfix folds it")->required();
  sub->add_option("map", o->map, "map name: virtual, transport, canonical, relay_recipients, relay_domains, aliases");
  sub->callback([&g, o] { g.action = [&g, o] { return run(g, *o); }; });
}

}  // namespace mapsync_cli
