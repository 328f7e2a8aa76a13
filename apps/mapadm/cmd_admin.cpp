// cmd_admin.cpp - mapadm ENTITY VERB KEY... FIELD=VALUE... [--dry-run] [--json]. One subcommand per entity of the change layer (libmapsync/admin/admin.h):
// the words are handed to the library as they are, so the command line and a bulk file
// (cmd_bulk.cpp) say the same thing the same way.
#include <iostream>

#include "apps/mapadm/commands.h"
#include "libmapsync/admin/admin.h"

namespace mapadm_cli {
namespace {

namespace admin = mapsync::admin;

struct EntityCli {
  const admin::Entity* entity = nullptr;
  std::vector<std::string> words;
  bool dry_run = false;
  bool json = false;
  std::size_t limit = 1000;
};

int run(const Global& g, const EntityCli& o) {
  std::vector<std::string> words{std::string(o.entity->name)};
  words.insert(words.end(), o.words.begin(), o.words.end());
  const admin::Change c = admin::parse_change(words);
  const auto cfg = load(g);
  if (c.verb == admin::Verb::show || c.verb == admin::Verb::list) {
    const std::string rows = admin::query_rows(cfg, c, o.limit);
    std::cout << (o.json ? rows + "\n" : admin::format_rows(rows, c.verb == admin::Verb::show));
    return 0;
  }
  admin::AdminOptions ao;
  ao.dry_run = o.dry_run;
  std::cout << admin::format_report(admin::apply_changes(cfg, {c}, ao), o.json);
  return 0;
}

std::string fields_help(const admin::Entity& e) {
  std::string s = "Verbs: add, set, remove, show, list";
  if (e.field("status") || e.field("enabled")) s += ", enable, disable";
  s += "\nKey:";
  for (std::size_t k = 0; k < e.keys; ++k) s += " " + std::string(e.fields[k].name);
  s += "\nFields (FIELD=VALUE; an empty VALUE clears it):";
  for (const auto& f : e.fields) {
    s += "\n  " + std::string(f.name);
    if (f.required) s += " (required on add)";
    if (f.ad_managed) s += " (adsync's on source 'ad' accounts)";
    if (f.read_only) s += " (read only)";
    if (!f.words.empty()) {
      s += ":";
      for (auto w : f.words) s += " " + std::string(w);
    }
  }
  return s;
}

}  // namespace

void setup_bulk(CLI::App& app, Global& g);  // cmd_bulk.cpp
void setup_log(CLI::App& app, Global& g);   // cmd_log.cpp

void setup_admin(CLI::App& app, Global& g) {
  for (const admin::Entity& e : admin::entities()) {
    auto o = std::make_shared<EntityCli>();
    o->entity = &e;
    CLI::App* sub = app.add_subcommand(std::string(e.name), std::string(e.help));
    sub->add_option("words", o->words, "VERB KEY... FIELD=VALUE...")->required();
    sub->add_flag("--dry-run,-n", o->dry_run, "show the map changes, write nothing");
    sub->add_flag("--json", o->json, "machine-readable output");
    sub->add_option("--limit", o->limit, "list: at most this many rows (default 1000)");
    sub->footer(fields_help(e));
    sub->callback([&g, o] { g.action = [&g, o] { return run(g, *o); }; });
  }
  setup_bulk(app, g);
  setup_log(app, g);
}

}  // namespace mapadm_cli
