// incremental.h - a build that reads and renders only what changed.
//
// The database's change log (schema/007_change_log.sql) names every row changed since the
// serial the maps reflect. The accounts, groups, lists and rewrites it names are the
// changed owners; the alias graph of the last render (owners.h) adds every group and
// forwarding account that leads to them, transitively: together the affected owners. Their
// rows, and every row they lead to, are read in the run's snapshot (the small tables
// whole) and rendered by the same renderer as a full build; of what that renders, the
// entries of affected owners replace the published entries of the same owners (the owner
// sidecars say which those are). A new key that another owner already publishes, a
// target that resolves to no row, any error at all, a gap in the change log, a change to
// a table whose rows reach every map (domains, back ends, delivery targets, transport
// overrides, system aliases), or too many changes: a full build, which says why.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "libmapsync/maps/delta.h"
#include "libmapsync/maps/options.h"
#include "libmapsync/maps/owners.h"
#include "libmapsync/maps/render.h"
#include "libmapsync/maps/state.h"

namespace mapsync {

class Database;
class Publisher;

// One enabled map as the incremental run would publish it.
struct IncrementalMap {
  const MapConfig* config = nullptr;
  bool alias_syntax = false;
  MapDelta delta;  // against the published map, every change listed
  bool changed() const { return delta.added + delta.removed + delta.changed > 0; }
  // The entries of the affected owners as rendered now, sorted by key, and their owners.
  std::vector<MapEntries::Entry> fresh;
  std::vector<OwnerCode> fresh_owners;
};

class IncrementalBuild {
 public:
  IncrementalBuild(const MapsSettings& config, const PublishState& published, std::string directory);
  ~IncrementalBuild();
  IncrementalBuild(const IncrementalBuild&) = delete;
  IncrementalBuild& operator=(const IncrementalBuild&) = delete;

  // In one snapshot on db: reads the change log since the published serial, renders the
  // affected owners, compares with the published maps. False with why when a full build
  // is needed; findings get the warnings of what was rendered. Throws Exit::tempfail when
  // the database is behind published_serial (a hub never goes back in time).
  bool prepare(Database& db, std::uint64_t published_serial, Findings& findings, std::string& why);
  std::uint64_t serial() const { return serial_; }  // the snapshot's

  std::vector<IncrementalMap>& maps() { return maps_; }
  std::size_t changed_rows() const { return changed_rows_; }
  std::size_t affected_owners() const { return affected_.size(); }
  std::size_t rows_rendered() const { return rendered_; }

  // Stages a changed map: its text source (the published one with the affected owners'
  // entries replaced), its indexed file (a patched copy, or written anew for a type that
  // cannot be patched), and its owner sidecar. Sets digest and entries of what it staged.
  // May run in a thread of its own, one per map.
  void stage(Publisher& pub, const IncrementalMap& m, std::string& digest, std::uint64_t& entries) const;
  // stage() for every changed map, side by side, one thread each; the digest and entries
  // go to the state of the same name in states. The first failure is thrown.
  void stage_changed(Publisher& pub, std::vector<MapState>& states) const;

  // The alias graph after this change: the published one, with the edges of affected
  // owners replaced by what they follow now.
  const AliasGraph& graph() const { return graph_; }

 private:
  struct Impl;
  bool compare(IncrementalMap& m, const MapState& published, std::string& why) const;
  bool prepare_in(Database& db, Findings& findings, std::string& why);
  bool settle(const AliasGraph& old_graph, Findings& findings, std::string& why);
  static bool patched(const IncrementalMap& m);
  // The owner sidecar of a published map, read once a run (by prepare(): stage() only
  // looks it up, from threads of its own); nullptr with why when it is not usable.
  const OwnerIndex* load_owners(const MapConfig& mc, std::string& why);
  const OwnerIndex& published_owners(const MapConfig& mc) const;
  void stage_whole(Publisher& pub, const IncrementalMap& m, const OwnerIndex& owners, std::string& digest,
                   std::uint64_t& entries) const;  // patch a copy of the indexed file, or write it anew
  const MapsSettings& cfg_;
  const PublishState& old_;
  const std::string dir_;
  std::unique_ptr<Impl> impl_;
  std::vector<IncrementalMap> maps_;
  std::vector<OwnerCode> affected_;  // sorted
  AliasGraph graph_;
  std::map<std::string, OwnerIndex> owners_;  // by map name
  std::size_t changed_rows_ = 0, rendered_ = 0;
  std::uint64_t serial_ = 0, conn_id_ = 0;
};

// Stages the owner sidecar of a map a full build publishes (owners in the order of its
// files, MapView::Cursor's): what the next incremental run starts from.
void stage_owners_of(Publisher& pub, const std::string& map_name, const std::string& digest, const Snapshot& s, const MapView& v);

}  // namespace mapsync
