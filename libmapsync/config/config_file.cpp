// config_file.cpp - reading the config file itself, before YAML sees it.
#include "libmapsync/config/config.h"
#include "libmapsync/core/secret.h"

namespace mapsync {

// A FIFO or /dev/zero given as -c is refused at once, not waited on or read forever.
Config load_config(const std::string& path) { return parse_config(read_regular_file(path, "config", kConfigFileLimit), path); }

}  // namespace mapsync
