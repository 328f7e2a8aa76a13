// mboxsync move USER... --to BACKEND[!PARTITION]: move users' mailbox trees with XFER now
// (or only queue the moves for mboxsync run).
#include <unistd.h>

#include <memory>

#include "apps/mboxsync/commands.h"
#include "libmapsync/mailbox/mboxsync.h"

namespace mboxsync_cli {

void setup_move(CLI::App& app, Global& g) {
  auto o = std::make_shared<mapsync::MboxsyncOptions>();
  auto req = std::make_shared<mapsync::MoveRequest>();
  CLI::App* sub = app.add_subcommand("move", "move users' mailboxes to another back end (XFER), checked on arrival");
  sub->add_option("users", req->uids, "the accounts' uids")->required();
  sub->add_option("--to", req->to, "the target: BACKEND or BACKEND!PARTITION (a backends.name)")->required();
  sub->add_flag("--queue", req->queue_only, "only queue the moves; mboxsync run carries them out");
  sub->add_flag("--json", o->json, "print the results as JSON");
  sub->callback([&g, o, req] {
    g.action = [&g, o, req] {
      o->progress = isatty(STDERR_FILENO) && !g.quiet;
      const auto cfg = load(g);
      return run_with_metrics(cfg, o->json ? &mapsync::json_format::mboxsync_move : nullptr, "moves", [&] { return mapsync::mboxsync_move(cfg, *req, *o); });
    };
  });
}

}  // namespace mboxsync_cli
