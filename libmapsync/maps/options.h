// maps/options.h - where and how the maps are published, and the rendering policy (`maps:`, `render:`, `metrics:`).
//
// A plain struct, filled from the YAML file by config/ (the one room that sees every
// section) or directly by tests; this room's code takes it and nothing else.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "libmapsync/db/options.h"

namespace mapsync {

// The formats a map can be published in, as main.cf names them, and the suffix each adds
// to the file name. The registry (map_backend.h) implements them and a unit test checks
// that the two agree; the list is here so that config/ can check a type without linking
// the database libraries behind it.
struct MapFormat {
  std::string_view name;
  std::string_view suffix;
};
inline constexpr MapFormat map_formats[] = {{"hash", ".db"}, {"btree", ".db"}, {"lmdb", ".lmdb"}, {"cdb", ".cdb"}};

// Change gates: a publish that removes or changes more than this is refused (exit 75)
// unless --force; a map that would be empty where entries were published always is.
struct GateConfig {
  std::uint64_t max_removed = UINT64_MAX;  // keys removed, as a count
  double max_removed_percent = 50;         // ... and as a share of the published entries
  std::uint64_t max_changed = UINT64_MAX;  // values changed
  double max_changed_percent = 50;
  std::uint64_t min_entries = 0;
};

// Where and how one map is published.
struct MapConfig {
  std::string name;      // virtual, transport, canonical, relay_recipients, aliases, relay_domains
  bool enabled = true;
  std::string type;      // hash, btree, lmdb, cdb
  std::string file;      // file name inside maps.directory; the type adds its suffix
  uid_t owner = 0;
  gid_t group = 0;
  mode_t mode = 0644;
  std::string owner_name;  // as written in the config, for messages
  std::string group_name;
  GateConfig gates;
};

struct MapsConfig {
  std::string directory;
  unsigned generations = 5;  // published generations kept for rollback (text sources, hard links)
  std::vector<MapConfig> maps;  // every known map, enabled or not, in a fixed order
  const MapConfig* find(const std::string& name) const {
    for (const auto& m : maps)
      if (m.name == name) return &m;
    return nullptr;
  }
};

// Policy for rendering the maps out of the database rows.
struct RenderConfig {
  // Domain that local(8) delivers for (in mydestination): system aliases and pipe
  // mailing lists are rewritten to name@this and resolved by the aliases map.
  std::string local_alias_domain = "localhost";
  // Generated sender rewrite per active account, with placeholders {uid}, {domain},
  // {primary}, {primary_local}, {given}, {surname}. Empty key template: off.
  std::string canonical_key = "{uid}@{domain}";
  std::string canonical_value = "{primary}";
  bool canonical_generate = true;
  // Refuse to publish when the database has fewer active accounts than this: an empty
  // or truncated read must never become an empty map.
  unsigned min_accounts = 1;
  // Postfix's virtual_alias_recursion_limit and virtual_alias_expansion_limit (both
  // 1000 by default; set them as in main.cf). The published virtual map is flattened,
  // but a chain of groups and forwards deeper than recursion_limit, or an address that
  // expands to more than expansion_limit recipients, is an error.
  unsigned recursion_limit = 1000;
  unsigned expansion_limit = 1000;
};

struct MetricsConfig {
  // node_exporter textfile collector file, rewritten after every run ("" = none).
  std::string textfile;
};


// The map names mapsync knows, in build order. Build order matters for memory: the small
// maps first, then virtual and relay_recipients back to back, so the address index they
// share is built late and freed early, and the map being written in the background while
// the next one renders is never big at the same time as the index (see build.cpp).
inline const std::vector<std::string>& known_map_names() {
  static const std::vector<std::string> names = {"transport", "canonical", "relay_domains",
                                                 "aliases",   "virtual",   "relay_recipients"};
  return names;
}

// Everything a maps job (build, plan, diff, rollback, ...) reads.
struct MapsSettings {
  std::string path;  // the config file, for messages and the config digest
  DatabaseConfig database;
  MapsConfig maps;
  RenderConfig render;
  MetricsConfig metrics;
};

}  // namespace mapsync
