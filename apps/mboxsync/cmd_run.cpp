// mboxsync run: process the provisioning queue (create and rename jobs) once.
#include <memory>

#include "apps/mboxsync/commands.h"
#include "libmapsync/mailbox/mboxsync.h"

namespace mboxsync_cli {

void setup_run(CLI::App& app, Global& g) {
  auto o = std::make_shared<mapsync::MboxsyncOptions>();
  CLI::App* sub = app.add_subcommand("run", "process the pending jobs of the provisioning queue");
  sub->add_flag("--json", o->json, "print the results as JSON");
  sub->add_option("--limit", o->limit, "at most this many jobs");
  sub->callback([&g, o] {
    g.scheduled = true;
    g.action = [&g, o] {
      const auto cfg = load(g);
      return run_with_metrics(cfg, o->json ? &mapsync::json_format::mboxsync_run : nullptr, "jobs", [&] { return mapsync::mboxsync_run(cfg, *o); });
    };
  });
}

}  // namespace mboxsync_cli
