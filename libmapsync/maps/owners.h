// owners.h - what an incremental build keeps beside the maps: who owns each entry, and
// who points at whom.
//
// An entry's owner is the row whose change may change it: an account for its addresses,
// its login address, its alias-domain copies, its route and its generated rewrite; a
// group, a list, an explicit rewrite for theirs; a domain, override or delivery target
// for the entries they make. Each published map has a sidecar (.mapsync-owners.<map>)
// holding the owner of every entry in the order of its text source, stamped with the
// map's content digest: a sidecar that does not match the published map (a rollback, a
// crash between rename and state) is never used. The alias graph (.mapsync-graph) holds
// every edge the last render followed (a group to its members, a forwarding account to
// its targets) and every target in our domains that resolved to no row receiving mail,
// stamped with the serial of the published state.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "libmapsync/maps/model.h"

namespace mapsync {

class Publisher;

using OwnerCode = std::uint64_t;
inline OwnerCode owner_code(Table t, std::uint32_t id) { return (static_cast<std::uint64_t>(t) << 32) | id; }
inline Table owner_table(OwnerCode c) { return static_cast<Table>(c >> 32); }
inline std::uint32_t owner_id(OwnerCode c) { return static_cast<std::uint32_t>(c); }

// Whether sorted holds c.
inline bool sorted_has(const std::vector<OwnerCode>& sorted, OwnerCode c) { return std::binary_search(sorted.begin(), sorted.end(), c); }

// sorted_has() for a pass over every entry of a map: a bit per hash of the owners in front
// of the search, because nearly all of a million lookups miss a few hundred owners.
class OwnerFilter {
 public:
  explicit OwnerFilter(const std::vector<OwnerCode>& sorted) : sorted_(sorted) {
    for (OwnerCode c : sorted) bits_[slot(c) >> 6] |= std::uint64_t{1} << (slot(c) & 63);
  }
  bool operator()(OwnerCode c) const { return (bits_[slot(c) >> 6] >> (slot(c) & 63) & 1) && sorted_has(sorted_, c); }

 private:
  static std::uint32_t slot(OwnerCode c) { return static_cast<std::uint32_t>((c * 0x9e3779b97f4a7c15ull) >> 48); }
  const std::vector<OwnerCode>& sorted_;
  std::vector<std::uint64_t> bits_ = std::vector<std::uint64_t>(1024);  // 65536 bits
};

// The owner of an entry with origin o; an address row's owner is its account (0 when the
// row is not in s, which a renderer never produces).
OwnerCode owner_of(const Snapshot& s, const Origin& o);

// Filled by the renderer while it resolves the virtual map (RenderContext::graph).
struct AliasGraph {
  std::vector<std::pair<OwnerCode, OwnerCode>> edges;        // parent -> child
  std::vector<std::pair<OwnerCode, std::string>> unresolved;  // parent -> folded target key
  void normalize();  // sorted, no duplicates
};

inline constexpr const char* kGraphFile = ".mapsync-graph";
std::string owners_file(const std::string& map_name);

// One entry of a sidecar: its owner and the length of its line in the text source (from
// which a reader knows where each line starts, and reads only the lines it needs).
struct OwnedLine {
  OwnerCode owner = 0;
  std::uint64_t line_bytes = 0;
};

// The length of a text-source line: key, separator ("\t", or ": " in alias syntax),
// value, newline.
constexpr std::uint64_t text_line_bytes(std::size_t key, std::size_t value, bool alias_syntax) {
  return key + value + (alias_syntax ? 3 : 2);
}

// The entries of a sidecar as it stores them (LEB128, about 5 bytes an entry where a
// vector of owners and offsets takes 16): a million entries are 7 MB in memory, made or
// read in one pass. Entries are read back in order only, which is all any user needs.
class OwnerIndex {
 public:
  void add(OwnerCode owner, std::uint64_t line_bytes);
  std::uint64_t size() const { return count_; }
  const std::string& encoded() const { return body_; }
  void reserve(std::size_t entries) { body_.reserve(entries * 5); }

  struct Entry {
    OwnerCode owner = 0;
    std::uint64_t offset = 0, line_bytes = 0;  // where the line starts in the text source, its length
  };
  // The entries in text-source order.
  class Cursor {
   public:
    explicit Cursor(const OwnerIndex& index) : body_(index.body_) {}
    bool next(Entry& e);  // false after the last (or at damage, which read_owners() rules out)

   private:
    const std::string& body_;
    std::size_t pos_ = 0;
    std::uint64_t offset_ = 0;
  };

 private:
  friend bool read_owners(const std::string&, const std::string&, const std::string&, std::uint64_t, OwnerIndex&,
                          std::string&);
  std::string body_;
  std::uint64_t count_ = 0;
};

// Writes the sidecar of a map (count entries, made one by one by next, in text-source
// order) under a temp name, fsyncs it and stages it with pub (renamed with the maps).
void stage_owners(Publisher& pub, const std::string& map_name, const std::string& digest, std::size_t count,
                  const std::function<OwnedLine()>& next);
// The same for entries gathered in an OwnerIndex.
void stage_owners(Publisher& pub, const std::string& map_name, const std::string& digest, const OwnerIndex& index);

// Reads a sidecar back; false (why set) when it is missing, damaged or not for this digest
// and size.
bool read_owners(const std::string& dir, const std::string& map_name, const std::string& digest, std::uint64_t entries,
                 OwnerIndex& out, std::string& why);

// The whole regular file at path (not followed if a symlink); false when it cannot be read.
bool read_whole_file(const std::string& path, std::string& out);

void stage_graph(Publisher& pub, std::uint64_t serial, const AliasGraph& g);
bool read_graph(const std::string& dir, std::uint64_t serial, AliasGraph& g, std::string& why);

}  // namespace mapsync
