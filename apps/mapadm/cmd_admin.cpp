// cmd_admin.cpp - placeholder until the admin subcommands land.
#include "apps/mapadm/commands.h"

namespace mapadm_cli {

void setup_admin(CLI::App&, Global&) {}

}  // namespace mapadm_cli
