// preview.h - the maps as the caller's open transaction would leave the database.
//
// mapadm and the importers change the database in one transaction and must refuse what
// `mapsync build` would refuse, before COMMIT: they render every enabled map from the rows
// their own transaction sees (its uncommitted writes included) with the build's renderer,
// and get the build's findings, word for word. Rendering twice in one transaction, once
// before the first write and once after the last, gives the diff that the change alone
// causes, in the shape `mapsync plan` prints.
#pragma once

#include <string>
#include <vector>

#include "libmapsync/db/database.h"
#include "libmapsync/maps/mapdiff.h"
#include "libmapsync/maps/options.h"
#include "libmapsync/maps/render.h"

namespace mapsync {

// Every enabled map of settings, by name, in build order.
struct RenderedMaps {
  std::uint64_t serial = 0;
  std::vector<std::pair<std::string, MapContent>> maps;
};

// Reads the snapshot through c (inside the caller's transaction) and renders every
// enabled map; findings get what a build would report. contents may be null when only
// the findings are wanted (validation without --dry-run).
void render_in_transaction(Database& c, const MapsSettings& settings, Findings& findings, RenderedMaps* contents);

// The map changes from before to after, one MapDiff per map (format_diff/format_diff_json
// print them as `mapsync plan` does).
std::vector<MapDiff> diff_rendered(const RenderedMaps& before, const RenderedMaps& after);

}  // namespace mapsync
