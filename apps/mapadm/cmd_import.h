// cmd_import.h - what the two import subcommands share: their options struct, the options
// common to both, and the report sink.
#pragma once

#include "apps/mapadm/commands.h"
#include "libmapsync/importer/importer.h"

namespace mapadm_cli {

struct ImportCli {
  mapsync::PostfixSources sources;
  mapsync::ImportOptions options;
  bool json = false;
};

// --apply, --accept-differences, --json, --scratch, --postmap, --postalias, --postfix-config.
void add_common_import_options(CLI::App* sub, ImportCli& o);
// Prints the report; 1 when the proof found a difference, else 0.
int finish_import(const mapsync::ImportReport& r, bool json);

void setup_import_postfix(CLI::App& parent, Global& g);       // cmd_import.cpp
void setup_import_postfixadmin(CLI::App& parent, Global& g);  // cmd_import_postfixadmin.cpp

}  // namespace mapadm_cli
