// cmd_log.cpp - mapadm log [--key KEY] [--limit N]: the last changes made through mapadm
// (admin_audit), newest first, as JSON.
#include <iostream>

#include "apps/mapadm/commands.h"
#include "libmapsync/admin/admin.h"

namespace mapadm_cli {
namespace {

struct LogCli {
  std::size_t limit = 20;
  std::string key;
};

}  // namespace

void setup_log(CLI::App& app, Global& g) {
  auto o = std::make_shared<LogCli>();
  CLI::App* sub = app.add_subcommand("log", "the last changes made through mapadm (admin_audit), newest first, as JSON");
  sub->add_option("--limit", o->limit, "at most this many rows (default 20)");
  sub->add_option("--key", o->key, "only changes of this object key (e.g. an account's uid)");
  sub->callback([&g, o] {
    g.action = [&g, o] {
      std::cout << mapsync::admin::audit_log(load(g), o->limit, o->key) << "\n";
      return 0;
    };
  });
}

}  // namespace mapadm_cli
