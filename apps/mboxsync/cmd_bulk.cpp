// mboxsync bulk: create every missing mailbox of existing accounts (the one-off
// migration). Resumable: run it again after an interruption and it continues.
#include <unistd.h>

#include <memory>

#include "apps/mboxsync/commands.h"
#include "libmapsync/mailbox/mboxsync.h"

namespace mboxsync_cli {

void setup_bulk(CLI::App& app, Global& g) {
  auto o = std::make_shared<mapsync::MboxsyncOptions>();
  CLI::App* sub = app.add_subcommand("bulk", "create the mailboxes of every account that has none yet");
  sub->add_option("--log", o->result_log, "append one line per user: uid, back end, mailbox, outcome, the server's words");
  sub->add_option("--limit", o->limit, "at most this many accounts");
  sub->add_flag("--json", o->json, "print the results as JSON");
  sub->callback([&g, o] {
    g.action = [&g, o] {
      o->progress = isatty(STDERR_FILENO) && !g.quiet;
      const auto cfg = load(g);
      return run_with_metrics(cfg, o->json ? &mapsync::json_format::mboxsync_bulk : nullptr, "accounts", [&] { return mapsync::mboxsync_bulk(cfg, *o); });
    };
  });
}

}  // namespace mboxsync_cli
