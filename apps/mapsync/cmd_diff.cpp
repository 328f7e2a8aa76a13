// mapsync diff OLD_DIR NEW_DIR [--map M]... [--json] - what changes between two map sets.
//
// Both directories are laid out as maps.directory is (file names and types from the
// config). Exit 0 when they hold the same entries, 1 when they differ (like diff(1)).
#include <iostream>

#include "apps/mapsync/commands.h"
#include "libmapsync/maps/mapdiff.h"

namespace mapsync_cli {
namespace {

struct DiffCli {
  std::string old_dir, new_dir;
  std::vector<std::string> maps;
  bool json = false;
};

int run(const Global& g, const DiffCli& o) {
  const auto cfg = load(g);
  const auto diffs = mapsync::diff_map_dirs(cfg.maps, o.old_dir, o.new_dir, o.maps);
  std::cout << (o.json ? mapsync::format_diff_json(diffs, mapsync::json_format::mapsync_diff) : mapsync::format_diff(diffs));
  for (const auto& d : diffs)
    if (!d.empty()) return 1;
  return 0;
}

}  // namespace

void setup_diff(CLI::App& app, Global& g) {
  auto o = std::make_shared<DiffCli>();
  CLI::App* sub = app.add_subcommand("diff", "compare two map sets entry by entry (exit 1 when they differ)");
  sub->add_option("old", o->old_dir, "directory of the old maps (e.g. the published ones)")->required()->check(CLI::ExistingDirectory);
  sub->add_option("new", o->new_dir, "directory of the new maps")->required()->check(CLI::ExistingDirectory);
  sub->add_option("-m,--map", o->maps, "only this map (repeatable)");
  sub->add_flag("--json", o->json, "machine-readable output");
  sub->callback([&g, o] { g.action = [&g, o] { return run(g, *o); }; });
}

}  // namespace mapsync_cli
