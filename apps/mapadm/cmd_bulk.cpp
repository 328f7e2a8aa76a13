// cmd_bulk.cpp - mapadm bulk FILE [--dry-run] [--json]: many changes from a CSV file,
// all or nothing in one transaction, validated once at the end (format: docs/mapadm.8,
// libmapsync/admin/bulk_csv.cpp). "-" reads standard input.
#include <fstream>
#include <iostream>

#include "apps/mapadm/commands.h"
#include "libmapsync/admin/admin.h"
#include "libmapsync/core/error.h"

namespace mapadm_cli {
namespace {

namespace admin = mapsync::admin;

struct BulkCli {
  std::string file;
  bool dry_run = false;
  bool json = false;
};

int run(const Global& g, const BulkCli& o) {
  std::vector<admin::Change> changes;
  if (o.file == "-") {
    changes = admin::parse_bulk(std::cin, "<stdin>");
  } else {
    std::ifstream in(o.file);
    if (!in) mapsync::fail(mapsync::Exit::noinput, mapsync::errno_text("open " + o.file, errno));
    changes = admin::parse_bulk(in, o.file);
  }
  if (changes.empty()) mapsync::fail(mapsync::Exit::data, o.file + ": no changes");
  const auto cfg = load(g);
  admin::AdminOptions ao;
  ao.dry_run = o.dry_run;
  ao.command_prefix = "bulk " + o.file + ": ";
  std::cout << admin::format_report(admin::apply_changes(cfg, changes, ao), o.json);
  return 0;
}

}  // namespace

void setup_bulk(CLI::App& app, Global& g) {
  auto o = std::make_shared<BulkCli>();
  CLI::App* sub = app.add_subcommand("bulk", "apply a CSV file of changes (ENTITY,VERB,KEY...,FIELD=VALUE...), all or nothing");
  sub->add_option("file", o->file, "the CSV file, or - for standard input")->required();
  sub->add_flag("--dry-run,-n", o->dry_run, "show the map changes, write nothing");
  sub->add_flag("--json", o->json, "machine-readable output");
  sub->callback([&g, o] { g.action = [&g, o] { return run(g, *o); }; });
}

}  // namespace mapadm_cli
