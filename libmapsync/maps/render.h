// render.h - turns a database snapshot into Postfix lookup tables, and validates them.
//
// What each map holds (docs/postfix-integration.md shows the main.cf lines):
//   virtual           every address we accept -> its final recipients (groups flattened,
//                     forwards followed, alias-domain copies of every address)
//   transport         each final recipient (and relay domain) -> next hop
//   canonical         sender rewrites: explicit rows plus a generated form per account
//   relay_recipients  every address we accept -> OK (Postfix rejects the rest at RCPT)
//   relay_domains     every domain we accept mail for -> its kind
//   aliases           local(8) aliases: system aliases and piped mailing lists
// A key defined twice is an error naming both rows: Postfix would silently keep the
// first one, and which one is "first" depends on row order, not on intent.
// Keys in an internationalized domain are published in its U-label and its A-label form.
// Findings also cover the alias graph (loops, Postfix's recursion and expansion limits,
// targets in our domains that nothing receives) and accounts without a route.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "libmapsync/maps/options.h"
#include "libmapsync/maps/model.h"
#include "libmapsync/maps/owners.h"

namespace mapsync {

// One rendered map: entries sorted by (folded) key, views into strings that the
// Renderer or the Snapshot own (both must outlive the map).
struct MapEntries {
  struct Entry {
    std::string_view key;  // folded like postmap folds
    std::string_view value;
    Origin origin;
  };
  std::string name;
  bool alias_syntax = false;
  std::vector<Entry> entries;
  // Every entry went through entry_problem() and each failure is an error finding
  // (Renderer::render); a map is never written while there is one. Lets the writers skip
  // their own check of the same rule (WriterOptions::entries_checked).
  bool checked = false;

  void add(std::string_view key, std::string_view value, const Origin& origin) {
    entries.push_back({key, value, origin});
  }
};

struct Finding {
  enum Severity { error, warning } severity;
  std::string map;      // which map, or "" for the database as a whole
  std::string message;  // names the rows at fault
};

// The kind of the map called name (options.h map_kinds); Exit::software when there is
// none: the names come from the config, which knows only map_kinds.
MapKind map_kind_named(std::string_view name);

class Findings {
 public:
  void error(const std::string& map, const std::string& message);
  void warning(const std::string& map, const std::string& message);
  const std::vector<Finding>& all() const { return all_; }
  std::size_t errors() const { return errors_; }
  std::size_t warnings() const { return warnings_; }

 private:
  std::vector<Finding> all_;
  std::size_t errors_ = 0, warnings_ = 0;
};

// What a build renders, in the order of the config: relay_recipients holds exactly
// virtual's keys, so when both are enabled it is written from virtual's entries (value
// "OK") instead of being rendered again.
struct RenderPlan {
  const MapConfig* relay = nullptr;
  const MapConfig* virt = nullptr;
  bool derive_relay = false;
  std::vector<MapKind> kinds;  // the maps rendered
};
RenderPlan render_plan(const MapsConfig& maps);

// Logs every finding (errors first, at most 200) through log.h; returns the number of errors.
std::size_t report_findings(const Findings& findings);

class Renderer {
 public:
  // maps: the maps that will be rendered; once the last one that needs the address
  // index (virtual, relay_recipients) is done, the index is freed for the maps after it.
  // graph, when set, receives every edge of the alias graph that rendering virtual follows.
  Renderer(const Snapshot& snapshot, const RenderConfig& config, Findings& findings,
           std::vector<MapKind> maps = all_map_kinds(), AliasGraph* graph = nullptr);
  ~Renderer();
  Renderer(const Renderer&) = delete;
  Renderer& operator=(const Renderer&) = delete;

  // Renders one map; entries sorted, duplicates and invalid values reported to findings
  // (the map is still returned, for diagnostics). A kind not in map_kinds is a caller
  // bug: Exit::software, never an empty map.
  MapEntries render(MapKind kind);

  // The entries relay_recipients has beyond the keys of virtual: "@domain" -> OK for
  // every relay domain, sorted. relay_recipients is exactly virtual's keys plus these.
  std::vector<MapEntries::Entry> relay_wildcards();

 private:
  struct Impl;
  Impl* impl_;
};

}  // namespace mapsync
