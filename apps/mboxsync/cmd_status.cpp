// mboxsync status: the provisioning queue by kind and state, the oldest pending job, the
// last run (the lease), read from the database.
#include <iostream>
#include <memory>

#include "apps/mboxsync/commands.h"
#include "libmapsync/mailbox/mbox_ops.h"

namespace mboxsync_cli {

void setup_status(CLI::App& app, Global& g) {
  auto json = std::make_shared<bool>(false);
  CLI::App* sub = app.add_subcommand("status", "the provisioning queue and the last run");
  sub->add_flag("--json", *json, "print it as JSON");
  sub->callback([&g, json] {
    g.action = [&g, json] {
      const mapsync::MboxStatus st = mapsync::mboxsync_status(load(g));
      std::cout << (*json ? mapsync::mbox_status_json(st) + "\n" : mapsync::mbox_status_text(st));
      return 0;
    };
  });
}

}  // namespace mboxsync_cli
