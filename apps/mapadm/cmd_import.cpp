// cmd_import.cpp - placeholder until the importers land.
#include "apps/mapadm/commands.h"

namespace mapadm_cli {

void setup_import(CLI::App&, Global&) {}

}  // namespace mapadm_cli
