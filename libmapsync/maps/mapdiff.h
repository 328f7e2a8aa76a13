// mapdiff.h - what a change does to each map: keys added, removed and changed.
//
// A semantic diff of two map sets (two directories laid out by the same config, e.g.
// published and staged), read through the map readers, so that it compares what
// Postfix would look up rather than file bytes (a hash file built twice from the same
// entries can differ byte for byte). Used by `mapsync diff`, `mapsync plan` and the
// change gates.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "libmapsync/core/json_format.h"
#include "libmapsync/maps/options.h"
#include "libmapsync/maps/model.h"

namespace mapsync {

// A map's entries in key order, owning their strings.
struct MapContent {
  bool exists = false;  // false: there is no such file (not the same as an empty map)
  StringPool pool;
  std::vector<std::pair<std::string_view, std::string_view>> entries;  // sorted by key
};

// Reads a map file of the given type ("hash", ...) whole. A missing file gives
// exists = false; a file that cannot be read throws (tempfail). The "@" record that
// postalias adds to aliases maps is left out: it is the format's, not ours.
MapContent read_map_content(const std::string& type, const std::string& path, bool alias_syntax);

struct MapDiff {
  std::string map;
  bool old_exists = true, new_exists = true;
  std::size_t old_entries = 0, new_entries = 0;
  std::vector<std::pair<std::string, std::string>> added;    // key, value
  std::vector<std::pair<std::string, std::string>> removed;  // key, old value
  struct Change {
    std::string key, old_value, new_value;
  };
  std::vector<Change> changed;
  bool empty() const { return added.empty() && removed.empty() && changed.empty() && old_exists == new_exists; }
};

// Both inputs sorted by key; keys unique.
MapDiff diff_contents(const std::string& map, const MapContent& old_map, const MapContent& new_map);

// Diffs every enabled map (or only those named) between two directories laid out as
// maps (file names and types from the config).
std::vector<MapDiff> diff_map_dirs(const MapsConfig& maps, const std::string& old_dir, const std::string& new_dir,
                                   const std::vector<std::string>& only = {});

// Human-readable report: per map, sorted "+ key value", "- key value",
// "~ key old -> new", then one summary line per map.
std::string format_diff(const std::vector<MapDiff>& diffs, std::size_t max_lines_per_map = 0);

// The same as a JSON document of kind `format` (mapsync.plan or mapsync.diff, docs/json.md):
// {"format", "kind", "maps": [...]}.
std::string format_diff_json(const std::vector<MapDiff>& diffs, const JsonFormat& format);

}  // namespace mapsync
