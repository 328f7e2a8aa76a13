// mboxsync run: process the provisioning queue (create and rename jobs) once.
#include <iostream>
#include <memory>

#include "apps/mboxsync/commands.h"
#include "libmapsync/log.h"
#include "libmapsync/mboxsync.h"

namespace mboxsync_cli {

void setup_run(CLI::App& app, Global& g) {
  auto o = std::make_shared<mapsync::MboxsyncOptions>();
  CLI::App* sub = app.add_subcommand("run", "process the pending jobs of the provisioning queue");
  sub->add_flag("--json", o->json, "print the results as JSON");
  sub->add_option("--limit", o->limit, "at most this many jobs");
  sub->callback([&g, o] {
    g.action = [&g, o] {
      const mapsync::MboxReport r = mapsync::mboxsync_run(load(g), *o);
      if (o->json) std::cout << mapsync::mbox_plan_json(r) << "\n";
      for (const auto& x : r.results)
        if (x.outcome != "created" && x.outcome != "existed" && x.outcome != "renamed")
          mapsync::log::warning(x.uid + " (" + x.mailbox + " on " + x.backend + "): " + x.outcome + ": " + x.detail);
      mapsync::log::info(std::to_string(r.results.size()) + " jobs: " + std::to_string(r.count("created")) + " created, " +
                         std::to_string(r.count("existed")) + " existed, " + std::to_string(r.count("renamed")) +
                         " renamed, " + std::to_string(r.count("retry")) + " to retry, " +
                         std::to_string(r.count("failed") + r.count("conflict")) + " failed");
      return exit_status(r);
    };
  });
}

}  // namespace mboxsync_cli
