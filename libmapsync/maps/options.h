// maps/options.h - where and how the maps are published, and the rendering policy (`maps:`, `render:`, `metrics:`).
//
// A plain struct, filled from the YAML file by config/ (the one room that sees every
// section) or directly by tests; this room's code takes it and nothing else.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <optional>
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

inline constexpr const MapFormat* find_map_format(std::string_view name) {
  for (const MapFormat& f : map_formats)
    if (f.name == name) return &f;
  return nullptr;
}

// The maps mapsync publishes. Everything that depends on which map it is (its name, its
// file syntax, where it comes in a build) is in this table and nowhere else; the
// enumerators are in build order, so comparing two kinds compares their build order.
//
// Build order matters for memory: the small maps first, then virtual and
// relay_recipients back to back, so the address index they share is built late and
// freed early, and the map being written in the background while the next one renders
// is never big at the same time as the index (see build.cpp and render.cpp).
enum class MapKind : std::uint8_t { transport, canonical, relay_domains, aliases, virtual_alias, relay_recipients };

struct MapKindInfo {
  MapKind kind;
  std::string_view name;  // in the config, in messages and on the command line
  bool alias_syntax;      // aliases(5): "name: value" text and postalias' "@" record
  bool address_index;     // rendered from the index of accepted addresses
};

inline constexpr MapKindInfo map_kinds[] = {
    {MapKind::transport, "transport", false, false},
    {MapKind::canonical, "canonical", false, false},
    {MapKind::relay_domains, "relay_domains", false, false},
    {MapKind::aliases, "aliases", true, false},
    {MapKind::virtual_alias, "virtual", false, true},
    {MapKind::relay_recipients, "relay_recipients", false, true},
};

inline constexpr bool map_kinds_in_order() {
  for (std::size_t i = 0; i < std::size(map_kinds); ++i)
    if (static_cast<std::size_t>(map_kinds[i].kind) != i) return false;
  return true;
}
static_assert(map_kinds_in_order(), "map_kinds is indexed by MapKind: keep both in build order");

inline constexpr const MapKindInfo& map_kind_info(MapKind k) { return map_kinds[static_cast<std::size_t>(k)]; }

// nullopt when no map has this name.
inline constexpr std::optional<MapKind> find_map_kind(std::string_view name) {
  for (const MapKindInfo& k : map_kinds)
    if (k.name == name) return k.kind;
  return std::nullopt;
}

// Change gates: a publish that removes or changes more than this is refused (exit 75)
// unless --force; a map that would be empty where entries were published always is.
struct GateConfig {
  std::uint64_t max_removed = UINT64_MAX;  // keys removed, as a count
  double max_removed_percent = 50;         // ... and as a share of the published entries
  std::uint64_t max_changed = UINT64_MAX;  // values changed
  double max_changed_percent = 50;
  std::uint64_t min_entries = 0;
};

// How one configured map is published, resolved once when the config is loaded
// (resolve_map_spec) so that no code derives a suffix, a syntax or a path again.
struct MapSpec {
  std::string_view type;       // a map_formats name: "hash"; empty: not resolved
  std::string_view suffix;     // what the type adds to the file name: ".db"
  bool alias_syntax = false;   // aliases(5) text and postalias' "@" record
  std::string text_file;       // the text source, a name inside the maps directory
  std::string indexed_file;    // the file Postfix opens: text_file + suffix
  std::string text_path;       // both in maps.directory
  std::string published_path;
};

// Where and how one map is published.
struct MapConfig {
  MapKind kind = MapKind::transport;
  std::string name;      // map_kind_info(kind).name
  bool enabled = true;
  std::string type;      // hash, btree, lmdb, cdb
  std::string file;      // file name inside maps.directory; the type adds its suffix
  uid_t owner = 0;
  gid_t group = 0;
  mode_t mode = 0644;
  std::string owner_name;  // as written in the config, for messages
  std::string group_name;
  GateConfig gates;
  MapSpec spec;
};

// The spec of map in directory; spec.type stays empty when the type is not a map_formats
// name (config/ reports that before it resolves).
inline MapSpec resolve_map_spec(const std::string& directory, const MapConfig& map) {
  MapSpec spec;
  if (const MapFormat* f = find_map_format(map.type)) {
    spec.type = f->name;
    spec.suffix = f->suffix;
  }
  spec.alias_syntax = map_kind_info(map.kind).alias_syntax;
  spec.text_file = map.file;
  spec.indexed_file = map.file + std::string(spec.suffix);
  spec.text_path = directory + "/" + spec.text_file;
  spec.published_path = directory + "/" + spec.indexed_file;
  return spec;
}

// maps.hooks: a command run after a publish that replaced one of these maps (Postfix
// reads virtual and the other lookup tables again by itself, but transport and
// relay_domains changes want a `postfix reload`). Never undoes or fails the publish.
struct PublishHook {
  std::vector<std::string> maps;     // names from map_kinds; a hook runs once per publish
  std::vector<std::string> command;  // argv, no shell; command[0] an absolute path
  unsigned timeout = 30;             // seconds, then its process group is killed
};

struct MapsConfig {
  std::string directory;
  std::vector<PublishHook> hooks;
  unsigned generations = 5;  // published generations kept for rollback (text sources, hard links)
  // Re-render only what the change log names (owners.h); off: every change is a full build.
  bool incremental = true;
  // Seconds between full builds while incremental runs publish: the first run after this
  // that finds nothing changed renders everything and compares (a proof of the incremental
  // state); a run at twice this builds in full whatever changed. 0: never.
  unsigned full_build_interval = 86400;
  std::vector<MapConfig> maps;  // every known map, enabled or not, in a fixed order
  const MapConfig* find(std::string_view name) const {
    for (const auto& m : maps)
      if (m.name == name) return &m;
    return nullptr;
  }
  const MapConfig* find(MapKind kind) const {
    for (const auto& m : maps)
      if (m.kind == kind) return &m;
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
  // List domains (domains.kind 'list'): besides each list's address, these suffixes of
  // its local part are accepted and routed to the list server. Mailman 3's set.
  std::vector<std::string> list_companions = {"-bounces", "-confirm", "-join", "-leave",
                                              "-owner", "-request", "-subscribe", "-unsubscribe"};
  // The transport of a Cyrus account whose mailbox mboxsync is moving (accounts.
  // mailbox_moving): Postfix's retry service defers the mail until the move is over and the
  // map routes it to the new back end. A front end's LMTP proxy (lmtp:[fe]:24) also works
  // (it answers 451 during the move, then delivers to the new place); a back end does not.
  std::string moving_transport = "retry:4.2.1 mailbox is being moved to another server";
};

struct MetricsConfig {
  // node_exporter textfile collector file, rewritten after every run ("" = none).
  std::string textfile;
};


// The map names mapsync knows, in build order (map_kinds).
inline const std::vector<std::string>& known_map_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> v;
    for (const MapKindInfo& k : map_kinds) v.emplace_back(k.name);
    return v;
  }();
  return names;
}

// Every map kind, in build order.
inline std::vector<MapKind> all_map_kinds() {
  std::vector<MapKind> v;
  for (const MapKindInfo& k : map_kinds) v.push_back(k.kind);
  return v;
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
