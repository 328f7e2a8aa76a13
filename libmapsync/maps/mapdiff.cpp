// mapdiff.cpp - see mapdiff.h.
#include "libmapsync/maps/mapdiff.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <nlohmann/json.hpp>

#include "libmapsync/core/error.h"
#include "libmapsync/core/escape.h"
#include "libmapsync/maps/map_backend.h"

namespace mapsync {

MapContent read_map_content(const std::string& type_name, const std::string& path, bool alias_syntax) {
  MapContent c;
  const MapType* type = find_map_type(type_name);
  if (!type) fail(Exit::config, "unknown map type \"" + type_name + "\"");
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return c;
    fail(Exit::tempfail, errno_text("cannot stat " + path, errno));
  }
  c.exists = true;
  auto reader = type->open(path, alias_syntax);
  reader->for_each([&](std::string_view k, std::string_view v) {
    if (alias_syntax && k == "@" && v == "@") return;
    c.entries.emplace_back(c.pool.add(k), c.pool.add(v));
  });
  // Hash files list in bucket order; a key written twice would be a corrupt file.
  std::sort(c.entries.begin(), c.entries.end());
  return c;
}

MapDiff diff_contents(const std::string& map, const MapContent& a, const MapContent& b) {
  MapDiff d;
  d.map = map;
  d.old_exists = a.exists;
  d.new_exists = b.exists;
  d.old_entries = a.entries.size();
  d.new_entries = b.entries.size();
  std::size_t i = 0, j = 0;
  while (i < a.entries.size() || j < b.entries.size()) {
    if (j == b.entries.size() || (i < a.entries.size() && a.entries[i].first < b.entries[j].first)) {
      d.removed.emplace_back(a.entries[i].first, a.entries[i].second);
      ++i;
    } else if (i == a.entries.size() || b.entries[j].first < a.entries[i].first) {
      d.added.emplace_back(b.entries[j].first, b.entries[j].second);
      ++j;
    } else {
      if (a.entries[i].second != b.entries[j].second)
        d.changed.push_back({std::string(a.entries[i].first), std::string(a.entries[i].second), std::string(b.entries[j].second)});
      ++i;
      ++j;
    }
  }
  return d;
}

std::vector<MapDiff> diff_map_dirs(const MapsConfig& maps, const std::string& old_dir, const std::string& new_dir,
                                   const std::vector<std::string>& only) {
  std::vector<MapDiff> out;
  for (const MapConfig& mc : maps.maps) {
    if (!mc.enabled) continue;
    if (!only.empty() && std::find(only.begin(), only.end(), mc.name) == only.end()) continue;
    if (mc.spec.type.empty()) fail(Exit::config, "map " + mc.name + ": unknown type " + mc.type);
    const std::string file = "/" + mc.spec.indexed_file;
    // One side at a time in memory would be nicer, but hash files only list in bucket
    // order: both sides are sorted in memory (about 100 bytes an entry).
    const MapContent a = read_map_content(mc.type, old_dir + file, mc.spec.alias_syntax);
    const MapContent b = read_map_content(mc.type, new_dir + file, mc.spec.alias_syntax);
    out.push_back(diff_contents(mc.name, a, b));
  }
  for (const std::string& name : only)
    if (!maps.find(name)) fail(Exit::usage, "no map named \"" + name + "\"");
  return out;
}

std::string format_diff(const std::vector<MapDiff>& diffs, std::size_t max_lines) {
  std::string out;
  for (const MapDiff& d : diffs) {
    if (d.empty()) continue;
    out += "--- " + escape(d.map) + "\n";
    if (!d.old_exists) out += "  (no published file yet)\n";
    if (!d.new_exists) out += "  (the new side has no file)\n";
    // One sorted list: removed, changed and added entries interleaved by key.
    struct Line {
      std::string_view key;
      std::string text;
    };
    std::vector<Line> lines;
    // Keys and values as the files hold them: a line feed or a tab in one must not
    // split or shift a line of the report.
    const auto e = [](const std::string& x) { return escape(x, std::string::npos); };
    for (const auto& [k, v] : d.removed) lines.push_back({k, "- " + e(k) + "\t" + e(v)});
    for (const auto& c : d.changed) lines.push_back({c.key, "~ " + e(c.key) + "\t" + e(c.old_value) + " -> " + e(c.new_value)});
    for (const auto& [k, v] : d.added) lines.push_back({k, "+ " + e(k) + "\t" + e(v)});
    std::stable_sort(lines.begin(), lines.end(), [](const Line& x, const Line& y) { return x.key < y.key; });
    std::size_t shown = 0;
    for (const Line& l : lines) {
      if (max_lines && ++shown > max_lines) {
        out += "  ... " + std::to_string(lines.size() - max_lines) + " more\n";
        break;
      }
      out += l.text + "\n";
    }
  }
  for (const MapDiff& d : diffs)
    out += d.map + ": +" + std::to_string(d.added.size()) + " -" + std::to_string(d.removed.size()) + " ~" +
           std::to_string(d.changed.size()) + " (" + std::to_string(d.old_entries) + " -> " +
           std::to_string(d.new_entries) + " entries)\n";
  return out;
}

std::string format_diff_json(const std::vector<MapDiff>& diffs, const JsonFormat& format) {
  nlohmann::json j = json_document<nlohmann::json>(format);
  j["maps"] = nlohmann::json::array();
  for (const MapDiff& d : diffs) {
    nlohmann::json m;
    m["map"] = d.map;
    m["old_exists"] = d.old_exists;
    m["new_exists"] = d.new_exists;
    m["old_entries"] = d.old_entries;
    m["new_entries"] = d.new_entries;
    m["added"] = nlohmann::json::array();
    for (const auto& [k, v] : d.added) m["added"].push_back({{"key", k}, {"value", v}});
    m["removed"] = nlohmann::json::array();
    for (const auto& [k, v] : d.removed) m["removed"].push_back({{"key", k}, {"value", v}});
    m["changed"] = nlohmann::json::array();
    for (const auto& c : d.changed) m["changed"].push_back({{"key", c.key}, {"old", c.old_value}, {"new", c.new_value}});
    j["maps"].push_back(std::move(m));
  }
  // Keys and values are UTF-8 as Postfix stores them; replace anything else rather than throw.
  return j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

}  // namespace mapsync
