// delta.h - what a publish would change in one map, and the gates that refuse too much.
//
// The new side is what was just rendered; the old side is the published map, read from
// its text source (written by us, in key order: one sequential pass, no memory per
// entry), or from the indexed file when the text cannot be trusted. The counts feed the
// change gates; the individual changes, when few, let a publish patch a copy of the
// published file instead of rebuilding it.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "libmapsync/maps/options.h"
#include "libmapsync/maps/render.h"

namespace mapsync {

// What one output file holds: a map's entries as rendered, or, for relay_recipients,
// the keys of the virtual map with one value for all plus a few entries of its own
// (relay domains' "@domain"). Sharing the keys saves a second copy of a million entries.
struct MapView {
  const MapEntries* base = nullptr;
  std::string_view value;                // non-empty: replaces every value of base
  std::vector<MapEntries::Entry> extra;  // sorted by key, no key of base among them
  bool alias_syntax = false;

  std::size_t size() const { return base->entries.size() + extra.size(); }
  std::pair<std::string_view, std::string_view> at(std::size_t i) const {
    const MapEntries::Entry& e = i < base->entries.size() ? base->entries[i] : extra[i - base->entries.size()];
    return {e.key, value.empty() || i >= base->entries.size() ? e.value : value};
  }
  // Walks the entries in key order (base and extra are both sorted: a merge).
  class Cursor {
   public:
    explicit Cursor(const MapView& v) : v_(v) {}
    bool done() const { return i_ == v_.base->entries.size() && j_ == v_.extra.size(); }
    // The current entry; valid while !done().
    std::pair<std::string_view, std::string_view> get() const { return v_.at(from_base() ? i_ : v_.base->entries.size() + j_); }
    void next() { from_base() ? ++i_ : ++j_; }

   private:
    bool from_base() const {
      return j_ == v_.extra.size() || (i_ < v_.base->entries.size() && v_.base->entries[i_].key < v_.extra[j_].key);
    }
    const MapView& v_;
    std::size_t i_ = 0, j_ = 0;
  };

  template <class Fn>
  void for_each_sorted(Fn fn) const {
    for (Cursor c(*this); !c.done(); c.next()) fn(c.get());
  }
};

struct MapDelta {
  std::uint64_t old_entries = 0, new_entries = 0, added = 0, removed = 0, changed = 0;
  // The individual changes (key, new value; empty value: remove) while there are no
  // more than the caller asked to keep; complete tells whether all of them are here.
  std::vector<std::pair<std::string, std::string>> changes;
  bool complete = true;
};

// A text-source line (without its newline) split at the separator mapsync writes ("\t",
// or ": " in alias syntax); false when it has none.
bool split_text_line(std::string_view line, bool alias_syntax, std::string_view& key, std::string_view& value);

// Reads a text source that mapsync wrote ("key<TAB>value" lines, or "key: value" for
// aliases), in file order, checking that keys ascend. Throws Exit::tempfail when the
// file cannot be read, Exit::data when it is not in our format or not sorted.
// drop_behind: the file is being replaced and read for the last time (core/fileio.h).
void read_text_source(const std::string& path, bool alias_syntax,
                      const std::function<void(std::string_view key, std::string_view value)>& fn,
                      bool drop_behind = false);

// Compares the published text source at path (our format, sorted) with view. Throws
// Exit::tempfail when the file cannot be read, Exit::data when it is not sorted.
MapDelta delta_from_text(const std::string& path, const MapView& view, std::size_t keep_changes);

// The same against a published indexed file of any type (read whole, sorted in memory).
MapDelta delta_from_map(const std::string& type, const std::string& path, const MapView& view, std::size_t keep_changes);

// The gates this delta trips, as messages ("virtual: 1200 keys removed (12.0% of
// 10000), more than maps.virtual.gates.max_removed_percent (10%)"); empty when none.
std::vector<std::string> gate_trips(const MapConfig& map, const MapDelta& delta);

}  // namespace mapsync
