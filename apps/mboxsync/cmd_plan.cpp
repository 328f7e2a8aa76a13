// mboxsync plan: accounts that should have a mailbox against the mailboxes that exist.
#include <iostream>
#include <memory>

#include "apps/mboxsync/commands.h"
#include "libmapsync/mailbox/mboxsync.h"

namespace mboxsync_cli {

struct PlanOptions {
  bool json = false;
  bool check = false;
};

void setup_plan(CLI::App& app, Global& g) {
  auto o = std::make_shared<PlanOptions>();
  CLI::App* sub = app.add_subcommand("plan", "list missing, misplaced and orphaned mailboxes (LIST on every back end)");
  sub->add_flag("--json", o->json, "print as JSON");
  sub->add_flag("--check", o->check, "exit 1 unless every account has its mailbox where the database says");
  sub->callback([&g, o] {
    g.action = [&g, o] {
      const mapsync::MboxReport r = mapsync::mboxsync_plan(load(g));
      std::cout << (o->json ? mapsync::mbox_plan_json(r, mapsync::json_format::mboxsync_plan) + "\n" : mapsync::mbox_plan_text(r));
      return o->check && !r.in_sync() ? 1 : 0;
    };
  });
}

}  // namespace mboxsync_cli
