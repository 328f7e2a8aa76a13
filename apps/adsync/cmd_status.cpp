// adsync status: the last success and USN per DC, the last run, the accounts pending
// delete, read from the database (no AD connection).
#include <iostream>
#include <memory>

#include "apps/adsync/commands.h"
#include "libmapsync/directory/adsync_ops.h"

namespace adsync_cli {

void setup_status(CLI::App& app, Global& g) {
  auto json = std::make_shared<bool>(false);
  CLI::App* sub = app.add_subcommand("status", "the last success per DC, the last run, pending deletes");
  sub->add_flag("--json", *json, "print it as JSON");
  sub->callback([&g, json] {
    g.action = [&g, json] {
      const mapsync::AdStatus st = mapsync::adsync_status(load(g));
      std::cout << (*json ? mapsync::ad_status_json(st) + "\n" : mapsync::ad_status_text(st));
      return 0;
    };
  });
}

}  // namespace adsync_cli
