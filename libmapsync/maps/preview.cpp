// preview.cpp - renders the maps from inside a caller's transaction. See preview.h.
#include "libmapsync/maps/preview.h"

#include <algorithm>

#include "libmapsync/maps/snapshot.h"

namespace mapsync {
namespace {

MapContent to_content(const MapEntries& m) {
  MapContent out;
  out.exists = true;
  out.entries.reserve(m.entries.size());
  for (const auto& e : m.entries) out.entries.emplace_back(out.pool.add(e.key), out.pool.add(e.value));
  std::sort(out.entries.begin(), out.entries.end());
  // A key defined twice is a finding already; a map keeps the first, as the files do.
  out.entries.erase(std::unique(out.entries.begin(), out.entries.end(),
                                [](const auto& a, const auto& b) { return a.first == b.first; }),
                    out.entries.end());
  return out;
}

}  // namespace

void render_in_transaction(Database& c, const MapsSettings& settings, Findings& findings, RenderedMaps* contents) {
  Snapshot snap;
  read_snapshot_in(c, snap);
  if (contents) contents->serial = snap.serial;
  std::vector<MapKind> kinds;
  for (const MapConfig& mc : settings.maps.maps)
    if (mc.enabled) kinds.push_back(mc.kind);
  Renderer renderer(snap, settings.render, findings, kinds);
  for (const MapConfig& mc : settings.maps.maps) {
    if (!mc.enabled) continue;
    MapEntries m = renderer.render(mc.kind);
    if (contents) contents->maps.emplace_back(mc.name, to_content(m));
  }
}

std::vector<MapDiff> diff_rendered(const RenderedMaps& before, const RenderedMaps& after) {
  std::vector<MapDiff> out;
  for (const auto& [name, content] : after.maps) {
    const MapContent* old = nullptr;
    for (const auto& [n, c] : before.maps)
      if (n == name) old = &c;
    static const MapContent none;
    out.push_back(diff_contents(name, old ? *old : none, content));
  }
  return out;
}

}  // namespace mapsync
