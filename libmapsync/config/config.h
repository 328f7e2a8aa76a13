// config.h - the settings every mapsync program shares, as plain structs.
//
// One YAML file (examples/mapsync.yaml documents every key) is turned into these
// structs by config_yaml.cpp, the only module that includes yaml-cpp. Library code
// takes these structs and nothing else, so it can be driven by tests without a file.
#pragma once

#include <cstddef>
#include <string>

#include "libmapsync/core/log.h"
#include "libmapsync/db/options.h"
#include "libmapsync/directory/options.h"
#include "libmapsync/mailbox/options.h"
#include "libmapsync/maps/options.h"

namespace mapsync {

struct Config {
  std::string path;  // the file it came from
  DatabaseConfig database;
  MapsConfig maps;   // maps.directory empty: the file has no maps section
  AdConfig ad;
  CyrusConfig cyrus;
  RenderConfig render;
  LoggingConfig logging;
  MetricsConfig metrics;
};

// The sections each job reads, copied out so that a room never sees the others.
inline MapsSettings maps_settings(const Config& c) { return {c.path, c.database, c.maps, c.render, c.metrics}; }
inline AdsyncSettings adsync_settings(const Config& c) { return {c.path, c.database, c.ad}; }
inline MboxsyncSettings mboxsync_settings(const Config& c) { return {c.path, c.database, c.cyrus}; }

// Far beyond any real config (a few hundred YAML nodes), far below what takes noticeable
// time: a larger file, or one whose aliases expand to more nodes, is refused.
constexpr std::size_t kConfigFileLimit = 4 << 20;
constexpr std::size_t kConfigNodeLimit = 100000;
constexpr std::size_t kConfigDepthLimit = 32;  // mapsync.yaml needs 4

// Reads and checks a config file, which must be a regular file (a symbolic link to one
// is fine: /etc/mapsync/mapsync.yaml often is one). Throws mapsync::Error with Exit::config and a
// message "FILE:LINE: KEY: what is wrong" on any problem.
Config load_config(const std::string& path);

// Same, from a string (tests); name stands for the file in messages.
Config parse_config(const std::string& text, const std::string& name);

}  // namespace mapsync
