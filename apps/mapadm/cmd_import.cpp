// cmd_import.cpp - mapadm import postfix (and the `import` group): options -> the importer room.
//
// Dry run unless --apply; the report (text, or --json) goes to stdout. Exit 0 when every
// representable key answers the same, 1 when the proof found a difference (nothing
// committed), 65 when the renderer refuses the imported rows (nothing written).
#include <iostream>
#include <memory>

#include "apps/mapadm/cmd_import.h"

namespace mapadm_cli {

int finish_import(const mapsync::ImportReport& r, bool json) {
  std::cout << (json ? mapsync::format_import_report_json(r) + "\n" : mapsync::format_import_report(r));
  return r.differences() ? 1 : 0;
}

void add_common_import_options(CLI::App* sub, ImportCli& o) {
  sub->add_flag("--apply", o.options.apply, "write the rows (one transaction); default: dry run");
  sub->add_flag("--accept-differences", o.options.accept_differences,
                "with --apply: commit even when the proof finds differences");
  sub->add_flag("--json", o.json, "the report as JSON");
  sub->add_option("--scratch", o.options.scratch_dir, "directory for the proof's maps (kept)");
  sub->add_option("--postmap", o.options.tools.postmap, "the postmap program")->capture_default_str();
  sub->add_option("--postalias", o.options.tools.postalias, "the postalias program")->capture_default_str();
  sub->add_option("--postfix-config", o.options.tools.config_dir, "postmap -c DIR for the proof's lookups");
}

void setup_import_postfix(CLI::App& parent, Global& g) {
  auto o = std::make_shared<ImportCli>();
  CLI::App* sub = parent.add_subcommand("postfix", "import Postfix text maps; prove the result through postmap -q");
  sub->add_option("--virtual", o->sources.virtual_map, "virtual(5) text map");
  sub->add_option("--transport", o->sources.transport, "transport(5) text map");
  sub->add_option("--canonical,--sender-canonical", o->sources.canonical, "canonical(5) text map");
  sub->add_option("--relay-recipients", o->sources.relay_recipients, "relay_recipient_maps text map");
  sub->add_option("--relay-domains", o->sources.relay_domains, "relay_domains text map");
  sub->add_option("--aliases", o->sources.aliases, "aliases(5) file");
  sub->add_option("--backend-prefix", o->options.backend_prefix, "back ends found in lmtp routes are named PREFIX1, ...")
      ->capture_default_str();
  add_common_import_options(sub, *o);
  sub->callback([&g, o] {
    g.action = [&g, o] { return finish_import(mapsync::import_postfix(load(g), o->sources, o->options), o->json); };
  });
}

void setup_import(CLI::App& app, Global& g) {
  CLI::App* imp = app.add_subcommand("import", "bring existing maps or a PostfixAdmin database into the user database");
  imp->require_subcommand(1);
  setup_import_postfix(*imp, g);
  setup_import_postfixadmin(*imp, g);
}

}  // namespace mapadm_cli
