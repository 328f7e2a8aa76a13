// render_parts.h - the parts of the renderer, internal to maps/ (render.h is the interface).
//
//   RenderContext     the rows, the policy, the findings, the string pool every part shares
//   Domains           our domains in every spelling keys use          (render_domains.cpp)
//   AccountFinals     the final recipient of each account             (render_domains.cpp)
//   AddressIndex      every address we accept -> the row it belongs to (render_index.cpp)
//   AliasResolver     groups and forwards down to final recipients, with
//                     loop detection and Postfix's recursion and
//                     expansion limits                                 (render_aliases.cpp)
//   render_map_kind() one function per map, chosen by MapKind         (render_maps.cpp)
// Renderer (render.cpp) builds them in its constructor, in this order, except the
// address index: it is the biggest structure after the snapshot, so it is built for the
// first map that reads it and freed after the last one (see known_map_names()).
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "libmapsync/core/escape.h"
#include "libmapsync/maps/model.h"
#include "libmapsync/maps/options.h"
#include "libmapsync/maps/owners.h"
#include "libmapsync/maps/render.h"

namespace mapsync::render_detail {

enum class NodeKind : std::uint8_t { account, group, list, system_alias };

// A row that receives mail. id is the row's position in its Snapshot vector (not its
// database id): a million lookups need no search.
struct Node {
  NodeKind kind;
  std::uint32_t id;
  std::uint64_t code() const { return (static_cast<std::uint64_t>(kind) << 32) | id; }
  static Node from(std::uint64_t code) { return {static_cast<NodeKind>(code >> 32), static_cast<std::uint32_t>(code)}; }
};

inline constexpr std::uint64_t kNoNode = ~std::uint64_t{0};

// What a node resolves to. Mailboxes, lists and system aliases are final (depth 0); a
// group or a forwarding account is one level more than the deepest node it leads to, so
// the address of a group of mailboxes has depth 1.
struct Resolved {
  std::vector<std::string_view> finals;  // sorted, no duplicates
  std::uint32_t depth = 0;
  std::uint64_t deepest = kNoNode;  // the next node on the longest chain, for messages
};

// A domain we accept mail for, in the spellings that keys use. For an internationalized
// domain both forms are normalised (folded U-label, A-label) whichever one the row holds,
// so rows and addresses written in either form meet.
struct DomainInfo {
  const Domain* row = nullptr;  // null: disabled or invalid
  std::string_view ukey;        // folded; for an ASCII domain simply its lowercase name
  std::string_view akey;        // A-label; the same view as ukey for an ASCII domain
  bool idn = false;
};

// The index of accepted addresses holds map entries whose value is not set yet: the
// row an address belongs to follows from its origin (node_of), and the last map built
// from the index (relay_recipients) takes its memory over instead of copying it.
using IndexEntry = MapEntries::Entry;

// A database value in a message: quoted, and escaped so that it cannot forge a line.
inline std::string q(std::string_view s) { return "\"" + escape(s) + "\""; }

template <class T>
std::uint32_t pos(const std::vector<T>& rows, const T& row) {
  return static_cast<std::uint32_t>(&row - rows.data());
}

// rows are sorted by id. AUTO_INCREMENT ids are mostly dense, so the row is usually
// where its id says; a million lookups then need no search.
template <class T>
const T* find_by_id(const std::vector<T>& rows, std::uint32_t id) {
  if (rows.empty()) return nullptr;
  if (id >= rows.front().id) {
    const std::size_t guess = id - rows.front().id;
    if (guess < rows.size() && rows[guess].id == id) return &rows[guess];
  }
  auto it = std::lower_bound(rows.begin(), rows.end(), id, [](const T& r, std::uint32_t v) { return r.id < v; });
  return it != rows.end() && it->id == id ? &*it : nullptr;
}

inline std::string_view domain_of(std::string_view address) {
  const auto at = address.rfind('@');
  return at == std::string_view::npos ? std::string_view() : address.substr(at + 1);
}

inline std::string_view local_of(std::string_view address) {
  const auto at = address.rfind('@');
  return at == std::string_view::npos ? address : address.substr(0, at);
}

inline bool deliverable(const Account& a) { return a.status == AccountStatus::active && a.delivery != Delivery::none; }

// Accounts whose mail, or a copy of it, goes to their own Cyrus mailbox: delivery
// 'cyrus', and 'forward' with keep_copy ("deliver to mailbox too").
inline bool has_mailbox(const Account& a) {
  return a.delivery == Delivery::cyrus || (a.delivery == Delivery::forward && a.keep_copy);
}

// Fills a template such as "{given}.{surname}@{domain}" from an account ({uid},
// {domain}, {primary}, {primary_local}, {given}, {surname}); domain, when not empty,
// replaces the primary address's domain ({domain} of a delivery target's routing
// address). False when a field is empty.
bool expand_template(std::string_view tmpl, const Account& a, std::string_view domain, std::string& out);

// The row that receives the mail of an index entry.
Node node_of(const Snapshot& s, const Origin& o);

// What every part shares.
struct RenderContext {
  const Snapshot& s;
  const RenderConfig& cfg;
  Findings& findings;
  StringPool pool;  // every string a map points to that the snapshot does not hold
  std::string fold_buf;
  AliasGraph* graph = nullptr;  // set: every edge the resolver follows is recorded (owners.h)

  // Folds into the pool; reports and returns {} on malformed UTF-8. A string that is
  // folded already (most addresses) is not copied: in stays valid as long as we do.
  std::string_view fold(std::string_view in, const char* map, const Origin& o);
};

class Domains {
 public:
  // Reads every domain row, reporting invalid ones, spellings that collide and alias
  // domains without an enabled local target.
  explicit Domains(RenderContext& c);

  // The domain of a folded address or a folded domain name; null when it is not ours.
  const DomainInfo* find(std::string_view folded) const;
  // The info of an enabled, valid domain row; else null.
  const DomainInfo* info_of(const Domain* d) const;
  // The keys a domain, "@domain" or an address of the small tables (domains, transport
  // overrides) is published under: folded as written, or for an internationalized domain
  // both normalised forms.
  void keys_of(std::string_view written, const char* map, const Origin& o, std::vector<std::string_view>& out);
  // The form in which addresses of rows that receive no mail are compared: x@alias.edu
  // stands for x@target, and an internationalized domain is compared in A-label form.
  std::string_view canonical_key(std::string_view folded, const DomainInfo* d, std::string& buf) const;

 private:
  void load(const Domain& d);
  RenderContext& c_;
  std::vector<DomainInfo> info_;                                    // by position in s.domains
  std::unordered_map<std::string_view, const DomainInfo*> by_key_;  // every spelling -> the domain
  std::string key_buf_;
};

// The final recipient of each account (cyrus: uid@domain; smtp: the routing address of
// its delivery target, or the primary address),
// made on first use and kept: a vector by position, because a campus has hundreds of
// thousands. A uid that cannot be a mailbox address is reported once.
class AccountFinals {
 public:
  explicit AccountFinals(RenderContext& c) : c_(c), final_(c.s.accounts.size()), done_(c.s.accounts.size()) {}
  std::string_view cyrus(const Account& a);
  std::string_view smtp(const Account& a);

 private:
  RenderContext& c_;
  std::vector<std::string_view> final_;
  std::vector<bool> done_;
};

// Every address we accept, folded, sorted by key, each with the row it belongs to; keys
// defined twice are reported as it is built.
class AddressIndex {
 public:
  AddressIndex(RenderContext& c, const Domains& domains, AccountFinals& finals);
  const IndexEntry* lookup(std::string_view folded) const;
  std::vector<IndexEntry>& entries() { return index_; }

 private:
  std::size_t size_bound() const;
  std::size_t idn_rows() const;
  const DomainInfo* add(std::string_view address, const Origin& o);
  void push(std::string_view key, const DomainInfo* d, const Origin& o, std::size_t from);
  void push_new(std::string_view key, const Origin& o, std::size_t from);
  void add_alias_domain_copies();
  void check_companions();
  std::string written(const IndexEntry& e) const;
  void report_duplicate(const IndexEntry& a, const IndexEntry& b);

  RenderContext& c_;
  const Domains& domains_;
  std::vector<IndexEntry> index_;
  std::set<std::pair<std::uint64_t, std::uint64_t>> reported_pairs_;  // duplicate keys, by both origins
  std::string key_buf_;
};

// Addresses of rows that receive no mail (disabled, delivery 'none'), keys in the form
// Domains::canonical_key() gives. Made on the first target that is not in the index:
// most runs have none, and a campus has many disabled accounts.
class InactiveAddresses {
 public:
  InactiveAddresses(RenderContext& c, const Domains& domains) : c_(c), domains_(domains) {}
  const IndexEntry* lookup(std::string_view folded, const DomainInfo* d);

 private:
  void build();
  void add(std::string_view address, const Origin& o);
  RenderContext& c_;
  const Domains& domains_;
  std::vector<IndexEntry> entries_;
  bool built_ = false;
  std::string canon_buf_;
};

// Follows groups and forwards down to final recipients: the value of every virtual
// entry. Walks depth first with a stack of its own, not by recursion: a chain of a
// hundred thousand groups must not overflow the C++ stack (it is reported as deeper than
// recursion_limit, and still resolved).
class AliasResolver {
 public:
  AliasResolver(RenderContext& c, const Domains& domains, AccountFinals& finals);

  // The index targets are looked up in; null between the maps that use it.
  void use_index(const AddressIndex* index);
  // The virtual value of a node (finals joined by ", "), computed once, warnings too;
  // empty when it resolves to no recipient.
  std::string_view value_of(Node n);
  // A node already complained about: no second message for it.
  void mark_reported(Node n) { reported_.insert(n.code()); }
  // Forwards of an account: [first, second) in forwards_by_account order.
  using EdgeRange = std::pair<std::size_t, std::size_t>;
  EdgeRange edges_of_account(std::uint32_t id) const { return edges(forwards_by_account_, id); }
  std::string node_name(Node n) const;

 private:
  struct Frame {
    Node n;
    std::size_t next, end;  // the edges still to follow: positions in members_by_group or forwards_by_account
    std::vector<std::string_view> out;
    std::uint32_t depth = 1;
    std::uint64_t deepest = kNoNode;
  };
  static EdgeRange edges(const std::vector<std::pair<std::uint32_t, std::size_t>>& v, std::uint32_t id);
  const Resolved* leaf(Node n);
  const Resolved& resolved(Node root);
  void open(Node n);
  bool next_child(Frame& f, Node& child);
  void take(Frame& f, Node child, const Resolved& r);
  void close();
  void report_limits(Node n, const Resolved& done);
  void report_loop(Node n);
  bool edge(Frame& f, std::size_t i, Node& child);
  bool target(std::string_view address, const Origin& from, std::vector<std::string_view>& out, Node& child);
  void no_recipient(std::string_view address, const DomainInfo* d, const Origin& from);
  std::string owner_text(const Origin& o) const;
  OwnerCode code_of(Node n) const;
  void record_edge(Node child);
  std::string path_text(const std::vector<Node>& path) const;
  std::string_view joined(const std::vector<std::string_view>& f);

  RenderContext& c_;
  const Domains& domains_;
  AccountFinals& finals_;
  const AddressIndex* index_ = nullptr;
  InactiveAddresses inactive_;
  std::vector<std::pair<std::uint32_t, std::size_t>> forwards_by_account_;  // (account id, row index)
  std::vector<std::pair<std::uint32_t, std::size_t>> members_by_group_;
  Resolved single_;  // the one final of a cyrus/smtp account: returned by reference like memoized results
  std::unordered_map<std::uint64_t, Resolved> finals_memo_;
  std::unordered_set<std::uint64_t> in_progress_;
  std::unordered_set<std::uint64_t> reported_;                  // nodes already complained about
  std::unordered_map<std::uint64_t, std::string_view> values_;  // virtual value of group/forward nodes
  std::vector<Frame> frames_;
  std::string target_buf_, canon_buf_;
  OwnerCode parent_ = 0;  // the node whose edge is being followed, for the graph
};

// Everything a map function may use. index is set for the maps that read it
// (MapKindInfo::address_index); consume_index: no map after this one needs it, so its
// memory becomes this map's.
struct RenderParts {
  RenderContext& c;
  Domains& domains;
  AccountFinals& finals;
  AliasResolver& resolver;
  AddressIndex* index;
  bool consume_index;
};

// Renders map m (m.name set) of the given kind: the one function per map. Exit::software
// for a kind that is not in map_kinds.
void render_map_kind(MapKind kind, RenderParts& p, MapEntries& m);

// What relay_recipients holds beyond virtual's keys, sorted: "@domain" -> OK for every
// relay domain, and the companion addresses of every list in a list domain.
std::vector<MapEntries::Entry> relay_wildcards(RenderContext& c, Domains& domains);

// The companion addresses (render.list_companions: list-request, ...) of every enabled
// list in a list domain, folded, in every form of the domain, value "OK", unsorted.
void list_companions(RenderContext& c, const Domains& domains, std::vector<MapEntries::Entry>& out);

// Delivery targets: each enabled one's routing domain must route somewhere and must not
// be one of our own domains. Accounts' use of them is checked by check_routes().
void check_targets(RenderContext& c, const Domains& domains);

// Accounts and their routes, checked once whichever maps are rendered: active accounts
// with delivery 'none', forwards without rows, back ends that are missing or disabled.
void check_routes(RenderContext& c, AliasResolver& resolver);

// Sorts entries by key, entries with equal keys by tie_less (which must order every pair
// that is not wholly alike, so that the result does not depend on the algorithm). Sorts
// 16-byte slots (the first 8 bytes of the key as a number, a position) and moves the
// entries once at the end: a million keys compared through their pointers cost a cache
// miss per comparison, and this sort was a third of the renderer's time.
void sort_by_key(std::vector<MapEntries::Entry>& entries,
                 bool (*tie_less)(const MapEntries::Entry& a, const MapEntries::Entry& b));

// The writers' rule for keys and values (map_backend.h entry_problem()) applied to every
// entry of a rendered map, before anything is written: a value no map file can hold is
// a finding naming its row, and the build reports them all and exits 65.
void check_entries(RenderContext& c, const std::string& map, bool alias_syntax, const std::vector<MapEntries::Entry>& entries);

}  // namespace mapsync::render_detail
