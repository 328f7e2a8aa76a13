// cmd_import_postfixadmin.cpp - mapadm import postfixadmin: options -> the importer room.
//
// The PostfixAdmin database is reached through the database: section of a second config
// file (--source-config), with its password in a file as for mapsync's own database:
// there is no password option.
#include <memory>

#include "apps/mapadm/cmd_import.h"

namespace mapadm_cli {

void setup_import_postfixadmin(CLI::App& parent, Global& g) {
  auto o = std::make_shared<ImportCli>();
  auto pfa = std::make_shared<mapsync::PostfixAdminOptions>();
  auto source_config = std::make_shared<std::string>();
  CLI::App* sub = parent.add_subcommand(
      "postfixadmin", "import a PostfixAdmin database; prove the result against its own mysql: lookups");
  sub->add_option("--source-config", *source_config,
                  "a config file whose database: section reaches the PostfixAdmin database")
      ->required();
  sub->add_option("--backend", pfa->backend, "the back end mailboxes go to (created when missing)")->required();
  sub->add_option("--backend-host", pfa->backend_host, "its LMTP and IMAP host")->required();
  sub->add_option("--backend-port", pfa->backend_port, "its LMTP port")->capture_default_str();
  sub->add_option("--mysql-cf-dir", pfa->mysql_cf_dir,
                  "the mysql_*.cf files of PostfixAdmin's POSTFIX_CONF.txt, for the proof")
      ->required();
  add_common_import_options(sub, *o);
  sub->callback([&g, o, pfa, source_config] {
    g.action = [&g, o, pfa, source_config] {
      pfa->source = mapsync::load_config(*source_config).database;
      return finish_import(mapsync::import_postfixadmin(load(g), *pfa, o->options), o->json);
    };
  });
}

}  // namespace mapadm_cli
