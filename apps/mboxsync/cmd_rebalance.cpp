// mboxsync rebalance [--plan|--apply]: who moves where to even out the back ends; --apply
// queues the moves for mboxsync run.
#include <iostream>
#include <memory>

#include "apps/mboxsync/commands.h"
#include "libmapsync/core/log.h"
#include "libmapsync/mailbox/mboxsync.h"

namespace mboxsync_cli {

void setup_rebalance(CLI::App& app, Global& g) {
  auto o = std::make_shared<mapsync::RebalanceOptions>();
  auto policy = std::make_shared<std::string>();
  auto plan_only = std::make_shared<bool>(false);
  CLI::App* sub = app.add_subcommand("rebalance", "plan (default) or queue the moves that even out the back ends");
  auto* plan = sub->add_flag("--plan", *plan_only, "show the plan only (the default)");
  sub->add_flag("--apply", o->apply, "queue the planned moves for mboxsync run")->excludes(plan);
  sub->add_option("--max-moves", o->max_moves, "at most this many moves (default cyrus.moves.max_moves)");
  sub->add_option("--max-bytes", o->max_bytes, "at most this much quota used moved, in bytes (default cyrus.moves.max_mb)");
  sub->add_option("--policy", *policy, "what to even out: count (mailboxes) or quota (quota used)")
      ->check(CLI::IsMember({"count", "quota"}));
  sub->add_flag("--json", o->json, "print the plan as JSON");
  sub->callback([&g, o, policy, plan_only] {
    g.action = [&g, o, policy] {
      o->policy_given = !policy->empty();
      o->quota_policy = *policy == "quota";
      const mapsync::RebalanceOutput r = mapsync::mboxsync_rebalance(load(g), *o);
      if (r.not_leader) {
        mapsync::log::info("another mboxsync holds the lease " + r.leader + "; nothing queued");
        return 0;
      }
      std::cout << r.text;
      return 0;
    };
  });
}

}  // namespace mboxsync_cli
