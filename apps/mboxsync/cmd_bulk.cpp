// mboxsync bulk: create every missing mailbox of existing accounts (the one-off
// migration). Resumable: run it again after an interruption and it continues.
#include <unistd.h>

#include <iostream>
#include <memory>

#include "apps/mboxsync/commands.h"
#include "libmapsync/log.h"
#include "libmapsync/mboxsync.h"

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
      const mapsync::MboxReport r = mapsync::mboxsync_bulk(load(g), *o);
      if (o->json) std::cout << mapsync::mbox_plan_json(r) << "\n";
      for (const auto& x : r.results)
        if (x.outcome != "created" && x.outcome != "existed")
          mapsync::log::warning(x.uid + " (" + x.mailbox + " on " + x.backend + "): " + x.outcome + ": " + x.detail);
      mapsync::log::notice(std::to_string(r.results.size()) + " accounts: " + std::to_string(r.count("created")) +
                           " created, " + std::to_string(r.count("existed")) + " existed, " +
                           std::to_string(r.count("retry")) + " to retry, " +
                           std::to_string(r.count("failed") + r.count("conflict")) + " failed");
      return exit_status(r);
    };
  });
}

}  // namespace mboxsync_cli
