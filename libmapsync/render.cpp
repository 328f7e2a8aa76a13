// render.cpp - snapshot -> maps. See render.h for what each map holds.
//
// The core is an index of every address we accept (folded key -> the row that owns it)
// and a resolver that follows groups and forwards down to final recipients, with loop
// detection. Finals are what transport routes: uid@domain for Cyrus accounts (Cyrus
// delivers by login name), the primary address for accounts on another SMTP server, the
// list address for list managers, name@local_alias_domain for local(8) aliases.
#include "libmapsync/render.h"

#include <algorithm>
#include <unordered_map>
#include <unordered_set>

#include "libmapsync/address.h"
#include "libmapsync/casefold.h"
#include "libmapsync/log.h"

namespace mapsync {

void Findings::error(const std::string& map, const std::string& message) {
  all_.push_back({Finding::error, map, message});
  ++errors_;
}

void Findings::warning(const std::string& map, const std::string& message) {
  all_.push_back({Finding::warning, map, message});
  ++warnings_;
}

namespace {

enum class NodeKind : std::uint8_t { account, group, list, system_alias };

// A row that receives mail. id is the row's position in its Snapshot vector (not its
// database id): a million lookups need no search.
struct Node {
  NodeKind kind;
  std::uint32_t id;
  std::uint64_t code() const { return (static_cast<std::uint64_t>(kind) << 32) | id; }
};

// The index of accepted addresses holds map entries whose value is not set yet: the
// row an address belongs to follows from its origin (node_of), and the last map built
// from the index (relay_recipients) takes its memory over instead of copying it.
using IndexEntry = MapEntries::Entry;

constexpr std::size_t kExpansionLimit = 1000;  // Postfix virtual_alias_expansion_limit default

std::string q(std::string_view s) { return "\"" + std::string(s) + "\""; }

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

std::string_view domain_of(std::string_view address) {
  const auto at = address.rfind('@');
  return at == std::string_view::npos ? std::string_view() : address.substr(at + 1);
}

}  // namespace

struct Renderer::Impl {
  const Snapshot& s;
  const RenderConfig& cfg;
  Findings& findings;
  StringPool pool;
  std::string fold_buf;

  std::unordered_map<std::string_view, const Domain*> domains;  // folded name -> row
  std::vector<IndexEntry> index;                                  // sorted by key
  std::vector<std::pair<std::uint32_t, std::size_t>> forwards_by_account;  // (account id, row index)
  std::vector<std::pair<std::uint32_t, std::size_t>> members_by_group;
  // Final recipient of each account, by position in s.accounts (cyrus: uid@domain, smtp:
  // the primary address); a vector because a campus has hundreds of thousands.
  std::vector<std::string_view> account_final;
  std::vector<bool> account_final_done;
  // The one final of a cyrus/smtp account: returned by reference like memoized finals.
  std::vector<std::string_view> single_final;
  std::unordered_map<std::uint64_t, std::vector<std::string_view>> finals_memo;
  std::unordered_set<std::uint64_t> in_progress;
  std::vector<Node> stack;
  std::unordered_set<std::uint64_t> reported;  // nodes already complained about
  std::unordered_map<std::uint64_t, std::string_view> values;  // virtual value of group/forward nodes
  bool index_built = false;
  std::unordered_set<std::string> index_users;  // maps still to render from the index

  // The index is the biggest structure after the snapshot; the maps rendered after the
  // last one that needs it should not pay for it.
  void release_index() {
    std::vector<IndexEntry>().swap(index);
    values.clear();
    index_built = false;
  }

  Impl(const Snapshot& snap, const RenderConfig& c, Findings& f)
      : s(snap), cfg(c), findings(f), account_final(snap.accounts.size()), account_final_done(snap.accounts.size()) {}

  // Folds into the pool; reports and returns {} on malformed UTF-8. A string that is
  // folded already (most addresses) is not copied: in stays valid as long as we do.
  std::string_view fold(std::string_view in, const char* map, const Origin& o) {
    std::string err;
    if (!casefold(in, fold_buf, &err)) {
      findings.error(map, describe(o) + ": " + q(in) + ": " + err);
      return {};
    }
    return fold_buf == in ? in : pool.add(fold_buf);
  }

  const Domain* domain(std::string_view folded_name) const {
    auto it = domains.find(folded_name);
    return it == domains.end() ? nullptr : it->second;
  }

  // ---- domains -------------------------------------------------------------------
  void load_domains() {
    for (const Domain& d : s.domains) {
      const Origin o{Table::domains, d.id, 0};
      if (auto why = check_domain(d.name); !why.empty()) {
        findings.error("", describe(o) + ": domain " + q(d.name) + ": " + why);
        continue;
      }
      if (!d.enabled) continue;
      const std::string_view key = fold(d.name, "", o);
      if (key.empty()) continue;
      domains.emplace(key, &d);
    }
    for (const Domain& d : s.domains) {
      if (!d.enabled || d.kind != DomainKind::alias) continue;
      const Domain* t = find_by_id(s.domains, d.target_domain_id);
      if (!t || t->kind != DomainKind::local || !t->enabled)
        findings.error("", describe({Table::domains, d.id, 0}) + ": alias domain " + q(d.name) +
                               " must point to an enabled local domain");
    }
  }

  // ---- the index of accepted addresses -------------------------------------------
  // Checks that address may be accepted here; returns false after reporting.
  bool acceptable(std::string_view address, const Origin& o) {
    if (auto why = check_address(address); !why.empty()) {
      findings.error("virtual", describe(o) + ": address " + q(address) + ": " + why);
      return false;
    }
    std::string folded_domain;
    casefold(domain_of(address), folded_domain);
    const Domain* d = domain(folded_domain);
    if (!d) {
      findings.error("virtual", describe(o) + ": address " + q(address) + " is not in one of our local domains");
      return false;
    }
    if (d->kind == DomainKind::alias) {
      findings.error("virtual", describe(o) + ": address " + q(address) + " is in alias domain " + q(d->name) +
                                    ", which mirrors its target domain and holds no addresses of its own");
      return false;
    }
    if (d->kind == DomainKind::relay) {
      findings.error("virtual", describe(o) + ": address " + q(address) + " is in relay domain " + q(d->name) +
                                    "; relay domains' recipients are not ours to list");
      return false;
    }
    return true;
  }

  void index_add(std::string_view address, const Origin& o) {
    if (!acceptable(address, o)) return;
    const std::string_view key = fold(address, "virtual", o);
    if (!key.empty()) index.push_back({key, {}, o});
  }

  // The row that receives the mail of an index entry.
  Node node_of(const Origin& o) const {
    switch (o.table) {
      case Table::addresses: {
        const Address* ad = find_by_id(s.addresses, o.id);
        return {NodeKind::account, pos(s.accounts, *find_by_id(s.accounts, ad->account_id))};
      }
      case Table::group_aliases: return {NodeKind::group, pos(s.groups, *find_by_id(s.groups, o.id))};
      case Table::mailing_lists: return {NodeKind::list, pos(s.lists, *find_by_id(s.lists, o.id))};
      case Table::system_aliases: return {NodeKind::system_alias, pos(s.system_aliases, *find_by_id(s.system_aliases, o.id))};
      default: return {NodeKind::account, pos(s.accounts, *find_by_id(s.accounts, o.id))};
    }
  }

  static bool deliverable(const Account& a) { return a.status == AccountStatus::active && a.delivery != Delivery::none; }

  // An upper bound of the index size, close enough to reserve once: at a million
  // addresses each doubling of a vector of 40-byte entries costs tens of megabytes.
  std::size_t index_size_bound() const {
    std::size_t own = s.addresses.size() + s.groups.size() + s.lists.size(), local = 0, alias = 0;
    for (const Account& a : s.accounts) own += deliverable(a) ? (a.delivery == Delivery::cyrus ? 2 : 1) : 0;
    for (const Domain& d : s.domains) {
      local += d.enabled && d.kind == DomainKind::local;
      alias += d.enabled && d.kind == DomainKind::alias;
    }
    for (const SystemAlias& sa : s.system_aliases) own += sa.all_domains ? local : 0;
    return own * (1 + alias);
  }

  void build_index() {
    if (index_built) return;
    index_built = true;
    load_domains_once();
    if (forwards_by_account.empty() && members_by_group.empty()) {
      for (std::size_t i = 0; i < s.forwards.size(); ++i) forwards_by_account.emplace_back(s.forwards[i].account_id, i);
      std::sort(forwards_by_account.begin(), forwards_by_account.end());
      for (std::size_t i = 0; i < s.group_members.size(); ++i) members_by_group.emplace_back(s.group_members[i].group_id, i);
      std::sort(members_by_group.begin(), members_by_group.end());
    }

    index.reserve(index_size_bound());
    for (const Account& a : s.accounts) {
      if (!deliverable(a)) continue;
      const Origin o{Table::accounts, a.id, 0};
      const std::size_t before = index.size();
      index_add(a.primary_address, o);
      if (a.delivery == Delivery::cyrus && index.size() > before) {
        // The login address: Cyrus delivers by uid, and senders use it.
        const std::string_view fin = cyrus_final(a);
        if (!fin.empty() && (index.empty() || index.back().key != fin)) index.push_back({fin, {}, o});
      }
    }
    for (const Address& ad : s.addresses) {
      const Account* a = find_by_id(s.accounts, ad.account_id);
      if (!a || !deliverable(*a)) continue;
      index_add(ad.address, {Table::addresses, ad.id, 0});
    }
    for (const Group& g : s.groups)
      if (g.enabled) index_add(g.address, {Table::group_aliases, g.id, 0});
    for (const MailingList& l : s.lists)
      if (l.enabled) index_add(l.address, {Table::mailing_lists, l.id, 0});
    for (const SystemAlias& sa : s.system_aliases) {
      if (!sa.all_domains) continue;
      for (const Domain& d : s.domains) {
        if (!d.enabled || d.kind != DomainKind::local) continue;
        const std::string addr = std::string(sa.name) + "@" + std::string(d.name);
        index_add(pool.add(addr), {Table::system_aliases, sa.id, 0});
      }
    }
    // Alias domains: x@alias.edu exists for every x@example.edu.
    const std::size_t own = index.size();
    for (const Domain& ad : s.domains) {
      if (!ad.enabled || ad.kind != DomainKind::alias) continue;
      const Domain* t = find_by_id(s.domains, ad.target_domain_id);
      if (!t || !t->enabled || t->kind != DomainKind::local) continue;
      std::string target_folded, alias_folded;
      casefold(t->name, target_folded);
      casefold(ad.name, alias_folded);
      for (std::size_t i = 0; i < own; ++i) {
        const IndexEntry e = index[i];
        if (domain_of(e.key) != target_folded) continue;
        const std::string_view local = e.key.substr(0, e.key.size() - target_folded.size() - 1);
        const std::string_view key = pool.add(std::string(local) + "@" + alias_folded);
        Origin o = e.origin;
        o.via_domain = static_cast<std::uint16_t>(ad.id);
        index.push_back({key, {}, o});
      }
    }
    std::sort(index.begin(), index.end(), [](const IndexEntry& a, const IndexEntry& b) {
      if (a.key != b.key) return a.key < b.key;
      if (a.origin.via_domain != b.origin.via_domain) return a.origin.via_domain < b.origin.via_domain;
      return a.origin.table != b.origin.table ? a.origin.table < b.origin.table : a.origin.id < b.origin.id;
    });
    for (std::size_t i = 1; i < index.size(); ++i)
      if (index[i].key == index[i - 1].key)
        findings.error("virtual", "address " + q(index[i].key) + " is defined twice: " + describe(index[i - 1].origin) +
                                      " and " + describe(index[i].origin));
  }

  const IndexEntry* lookup(std::string_view folded) const {
    auto it = std::lower_bound(index.begin(), index.end(), folded,
                               [](const IndexEntry& e, std::string_view k) { return e.key < k; });
    return it != index.end() && it->key == folded ? &*it : nullptr;
  }

  // ---- finals --------------------------------------------------------------------
  std::string_view cyrus_final(const Account& a) {
    const std::size_t pos = static_cast<std::size_t>(&a - s.accounts.data());
    if (account_final_done[pos]) return account_final[pos];
    std::string_view fin;
    const Origin o{Table::accounts, a.id, 0};
    if (auto why = check_local_part(a.uid); !why.empty()) {
      findings.error("virtual", describe(o) + ": uid " + q(a.uid) + " cannot be a mailbox address: " + why);
    } else {
      std::string d;
      casefold(domain_of(a.primary_address), d);
      std::string u;
      casefold(a.uid, u);
      fin = pool.add(u + "@" + d);
    }
    account_final_done[pos] = true;
    return account_final[pos] = fin;
  }

  std::string_view smtp_final(const Account& a) {
    const std::size_t pos = static_cast<std::size_t>(&a - s.accounts.data());
    if (account_final_done[pos]) return account_final[pos];
    account_final_done[pos] = true;
    return account_final[pos] = pool.add(lowercase_domain(a.primary_address));
  }

  std::string node_name(Node n) const {
    switch (n.kind) {
      case NodeKind::account:
        return "account " + std::string(s.accounts[n.id].uid) + " (accounts id=" + std::to_string(s.accounts[n.id].id) + ")";
      case NodeKind::group:
        return "group " + std::string(s.groups[n.id].address) + " (group_aliases id=" + std::to_string(s.groups[n.id].id) + ")";
      case NodeKind::list: return "mailing_lists id=" + std::to_string(s.lists[n.id].id);
      case NodeKind::system_alias: return "system_aliases id=" + std::to_string(s.system_aliases[n.id].id);
    }
    return "?";
  }

  // Follows an address given as a target (forward, group member) to final recipients.
  void resolve(std::string_view address, const Origin& from, std::vector<std::string_view>& out) {
    std::string folded;
    std::string err;
    if (auto why = check_address(address); !why.empty()) {
      findings.error("virtual", describe(from) + ": target " + q(address) + ": " + why);
      return;
    }
    if (!casefold(address, folded, &err)) {
      findings.error("virtual", describe(from) + ": target " + q(address) + ": " + err);
      return;
    }
    if (const IndexEntry* e = lookup(folded)) {
      const auto& f = finals(node_of(e->origin));
      out.insert(out.end(), f.begin(), f.end());
      return;
    }
    std::string d;
    casefold(domain_of(address), d);
    if (const Domain* dom = domain(d); dom && dom->kind != DomainKind::relay) {
      findings.warning("virtual", describe(from) + ": target " + q(address) + " is in our domain " + q(dom->name) +
                                      " but is no valid recipient; left out");
      return;
    }
    out.push_back(pool.add(lowercase_domain(address)));
  }

  const std::vector<std::string_view>& finals(Node n) {
    static const std::vector<std::string_view> none;
    if (n.kind == NodeKind::account) {
      // Most nodes are plain mailboxes: one final, nothing to memoize or loop through.
      const Account* a = &s.accounts[n.id];
      if (!a || !deliverable(*a)) return none;
      if (a->delivery == Delivery::cyrus || a->delivery == Delivery::smtp) {
        const std::string_view f = a->delivery == Delivery::cyrus ? cyrus_final(*a) : smtp_final(*a);
        if (f.empty()) return none;
        single_final.assign(1, f);
        return single_final;
      }
    }
    if (auto it = finals_memo.find(n.code()); it != finals_memo.end()) return it->second;
    if (in_progress.count(n.code())) {
      std::string path;
      bool on = false;
      for (const Node& m : stack) {
        if (m.code() == n.code()) on = true;
        if (on) path += node_name(m) + " -> ";
      }
      path += node_name(n);
      if (reported.insert(n.code()).second) findings.error("virtual", "alias loop: " + path);
      return none;
    }
    in_progress.insert(n.code());
    stack.push_back(n);
    std::vector<std::string_view> out;
    switch (n.kind) {
      case NodeKind::account: {
        const Account* a = &s.accounts[n.id];
        if (!a || !deliverable(*a)) break;
        if (a->delivery == Delivery::cyrus) {
          if (auto f = cyrus_final(*a); !f.empty()) out.push_back(f);
        } else if (a->delivery == Delivery::smtp) {
          out.push_back(smtp_final(*a));
        } else if (a->delivery == Delivery::forward) {
          auto [b, e] = std::equal_range(forwards_by_account.begin(), forwards_by_account.end(),
                                         std::make_pair(a->id, std::size_t{0}),
                                         [](const auto& x, const auto& y) { return x.first < y.first; });
          for (auto it = b; it != e; ++it) {
            const Forward& fw = s.forwards[it->second];
            resolve(fw.target, {Table::account_forwards, fw.id, 0}, out);
          }
          if (b == e && reported.insert(n.code()).second)
            findings.error("virtual", node_name(n) + " has delivery 'forward' but no account_forwards rows");
        }
        break;
      }
      case NodeKind::group: {
        const Group* g = &s.groups[n.id];
        if (!g || !g->enabled) break;
        auto [b, e] = std::equal_range(members_by_group.begin(), members_by_group.end(), std::make_pair(g->id, std::size_t{0}),
                                       [](const auto& x, const auto& y) { return x.first < y.first; });
        for (auto it = b; it != e; ++it) {
          const GroupMember& m = s.group_members[it->second];
          const Origin o{Table::group_members, m.id, 0};
          if (m.account_id) {
            const Account* a = find_by_id(s.accounts, m.account_id);
            if (!a || !deliverable(*a)) {
              findings.warning("virtual", describe(o) + ": member account id=" + std::to_string(m.account_id) + " of group " +
                                              q(g->address) + " receives no mail (disabled or delivery none); left out");
              continue;
            }
            const auto& f = finals({NodeKind::account, pos(s.accounts, *a)});
            out.insert(out.end(), f.begin(), f.end());
          } else if (m.member_group_id) {
            const Group* sub = find_by_id(s.groups, m.member_group_id);
            if (!sub) continue;  // the foreign key makes this impossible
            const auto& f = finals({NodeKind::group, pos(s.groups, *sub)});
            out.insert(out.end(), f.begin(), f.end());
          } else {
            resolve(m.address, o, out);
          }
        }
        break;
      }
      case NodeKind::list: {
        const MailingList* l = &s.lists[n.id];
        if (!l || !l->enabled) break;
        if (l->manager == ListManager::transport) out.push_back(pool.add(lowercase_domain(l->address)));
        else out.push_back(pool.add(std::string(l->local_name) + "@" + cfg.local_alias_domain));
        break;
      }
      case NodeKind::system_alias: {
        const SystemAlias* sa = &s.system_aliases[n.id];
        if (sa) out.push_back(pool.add(std::string(sa->name) + "@" + cfg.local_alias_domain));
        break;
      }
    }
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    if (out.size() > kExpansionLimit && reported.insert(n.code()).second)
      findings.error("virtual", node_name(n) + " expands to " + std::to_string(out.size()) +
                                    " recipients, more than Postfix's virtual_alias_expansion_limit (" +
                                    std::to_string(kExpansionLimit) + ")");
    stack.pop_back();
    in_progress.erase(n.code());
    return finals_memo.emplace(n.code(), std::move(out)).first->second;
  }

  std::string_view joined(Node n) {
    const auto& f = finals(n);
    if (f.size() == 1) return f[0];
    std::string v;
    for (std::size_t i = 0; i < f.size(); ++i) {
      if (i) v += ", ";
      v.append(f[i]);
    }
    return pool.add(v);
  }

  // ---- maps ----------------------------------------------------------------------
  // The virtual value of an index node, computed once (warnings too).
  std::string_view value_of(Node n) {
    if (n.kind == NodeKind::account) {
      const Account* a = &s.accounts[n.id];
      if (a && deliverable(*a) && a->delivery == Delivery::cyrus) return cyrus_final(*a);
      if (a && deliverable(*a) && a->delivery == Delivery::smtp) return smtp_final(*a);
    }
    auto it = values.find(n.code());
    if (it != values.end()) return it->second;
    const std::string_view v = finals(n).empty() ? std::string_view() : joined(n);
    if (v.empty() && n.kind == NodeKind::group)
      findings.warning("virtual", node_name(n) + " has no member that receives mail; its address is not accepted");
    else if (v.empty() && n.kind == NodeKind::account && reported.insert(n.code()).second)
      findings.warning("virtual", node_name(n) + " resolves to no recipient; its addresses are not accepted");
    return values.emplace(n.code(), v).first->second;
  }

  // The accepted addresses (the first entry of each key, if it has a recipient) as map
  // entries; value: the virtual value, or fixed (relay_recipients' "OK"). A key defined
  // twice was reported by build_index(); one is kept so that the map stays a map.
  // consume: no map after this one needs the index, so its memory becomes this map's
  // (a million addresses: no second vector of the same size).
  void entries_from_index(MapEntries& m, std::string_view fixed, bool consume) {
    build_index();
    std::vector<IndexEntry> copy;
    if (!consume) copy.reserve(index.size());
    std::size_t n = 0;
    std::string_view prev;
    for (std::size_t i = 0; i < index.size(); ++i) {
      const IndexEntry e = index[i];
      const bool first = i == 0 || e.key != prev;
      prev = e.key;
      const std::string_view v = first ? value_of(node_of(e.origin)) : std::string_view();
      if (v.empty()) continue;
      const IndexEntry out{e.key, fixed.empty() ? v : fixed, e.origin};
      if (consume) index[n++] = out;  // n <= i: only entries already read are overwritten
      else copy.push_back(out);
    }
    if (consume) {
      index.resize(n);
      m.entries = std::move(index);
      release_index();
    } else {
      m.entries = std::move(copy);
    }
  }

  void render_virtual(MapEntries& m, bool consume) { entries_from_index(m, {}, consume); }

  void render_relay_recipients(MapEntries& m, bool consume) {
    entries_from_index(m, "OK", consume);
    for (const auto& e : relay_wildcards()) m.entries.push_back(e);
  }

  // "@domain" accepts every recipient of a domain we only relay for.
  std::vector<MapEntries::Entry> relay_wildcards() {
    std::vector<MapEntries::Entry> out;
    for (const Domain& d : s.domains)
      if (d.enabled && d.kind == DomainKind::relay) {
        const Origin o{Table::domains, d.id, 0};
        const std::string_view key = fold(pool.add("@" + std::string(d.name)), "relay_recipients", o);
        if (!key.empty()) out.push_back({key, "OK", o});
      }
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.key < b.key; });
    return out;
  }

  void render_relay_domains(MapEntries& m) {
    load_domains_once();
    for (const Domain& d : s.domains) {
      if (!d.enabled) continue;
      const Origin o{Table::domains, d.id, 0};
      const std::string_view key = fold(d.name, "relay_domains", o);
      if (key.empty()) continue;
      m.add(key, d.kind == DomainKind::local ? "local" : d.kind == DomainKind::alias ? "alias" : "relay", o);
    }
  }

  bool domains_loaded = false;
  void load_domains_once() {
    if (domains_loaded) return;
    domains_loaded = true;
    load_domains();
  }

  void render_transport(MapEntries& m) {
    load_domains_once();
    std::unordered_map<std::uint32_t, std::string_view> lmtp;  // backend id -> transport
    for (const Account& a : s.accounts) {
      if (!deliverable(a)) continue;
      const Origin o{Table::accounts, a.id, 0};
      if (a.delivery == Delivery::cyrus) {
        const Backend* b = find_by_id(s.backends, a.backend_id);
        if (!b) {
          findings.error("transport", describe(o) + ": account " + q(a.uid) + " is on back end id=" +
                                          std::to_string(a.backend_id) + ", which does not exist");
          continue;
        }
        if (!b->enabled) {
          findings.error("transport", describe(o) + ": account " + q(a.uid) + " is on back end " + q(b->name) +
                                          " (backends id=" + std::to_string(b->id) + "), which is disabled");
          continue;
        }
        auto it = lmtp.find(b->id);
        if (it == lmtp.end()) {
          const std::string v = "lmtp:[" + std::string(b->lmtp_host) + "]:" + std::to_string(b->lmtp_port);
          if (auto why = check_transport(v); !why.empty())
            findings.error("transport", "backends id=" + std::to_string(b->id) + ": " + q(v) + ": " + why);
          it = lmtp.emplace(b->id, pool.add(v)).first;
        }
        if (!a.partition.empty() && !has_partition(*b, a.partition))
          findings.warning("transport", describe(o) + ": partition " + q(a.partition) + " is not listed for back end " + q(b->name));
        if (auto f = cyrus_final(a); !f.empty()) m.add(f, it->second, o);
      } else if (a.delivery == Delivery::smtp) {
        std::string v = "smtp:" + std::string(a.smtp_nexthop);
        if (auto why = check_transport(v); !why.empty()) {
          findings.error("transport", describe(o) + ": smtp_nexthop " + q(a.smtp_nexthop) + ": " + why);
          continue;
        }
        const std::string_view key = fold(smtp_final(a), "transport", o);
        if (!key.empty()) m.add(key, pool.add(v), o);
      }
    }
    for (const MailingList& l : s.lists) {
      if (!l.enabled || l.manager != ListManager::transport) continue;
      const Origin o{Table::mailing_lists, l.id, 0};
      if (auto why = check_transport(l.transport); !why.empty()) {
        findings.error("transport", describe(o) + ": transport " + q(l.transport) + ": " + why);
        continue;
      }
      const std::string_view key = fold(l.address, "transport", o);
      if (!key.empty()) m.add(key, l.transport, o);
    }
    for (const Domain& d : s.domains) {
      if (!d.enabled || d.kind != DomainKind::relay || d.transport.empty()) continue;
      const Origin o{Table::domains, d.id, 0};
      if (auto why = check_transport(d.transport); !why.empty()) {
        findings.error("transport", describe(o) + ": transport " + q(d.transport) + ": " + why);
        continue;
      }
      const std::string_view key = fold(d.name, "transport", o);
      if (!key.empty()) m.add(key, d.transport, o);
    }
    sort_and_check(m);
    // Overrides replace what was computed, by design: that is what the table is for.
    std::vector<MapEntries::Entry> extra;
    for (const TransportOverride& t : s.transports) {
      if (!t.enabled) continue;
      const Origin o{Table::transport_overrides, t.id, 0};
      const bool is_addr = t.pattern.find('@') != std::string_view::npos;
      const std::string why_pattern = is_addr ? check_address(t.pattern) : check_domain(t.pattern);
      if (!why_pattern.empty()) {
        findings.error("transport", describe(o) + ": pattern " + q(t.pattern) + ": " + why_pattern);
        continue;
      }
      if (auto why = check_transport(t.transport); !why.empty()) {
        findings.error("transport", describe(o) + ": transport " + q(t.transport) + ": " + why);
        continue;
      }
      const std::string_view key = fold(t.pattern, "transport", o);
      if (key.empty()) continue;
      auto it = std::lower_bound(m.entries.begin(), m.entries.end(), key,
                                 [](const MapEntries::Entry& e, std::string_view k) { return e.key < k; });
      if (it != m.entries.end() && it->key == key) {
        log::info("transport: " + describe(o) + " replaces the route of " + q(key) + " (" + std::string(it->value) +
                  " from " + describe(it->origin) + ") with " + std::string(t.transport));
        it->value = t.transport;
        it->origin = o;
      } else {
        extra.push_back({key, t.transport, o});
      }
    }
    m.entries.insert(m.entries.end(), extra.begin(), extra.end());
    sort_and_check(m);
  }

  static bool has_partition(const Backend& b, std::string_view part) {
    std::string_view list = b.partitions;
    while (!list.empty()) {
      const auto comma = list.find(',');
      std::string_view p = list.substr(0, comma);
      while (!p.empty() && p.front() == ' ') p.remove_prefix(1);
      while (!p.empty() && p.back() == ' ') p.remove_suffix(1);
      if (p == part) return true;
      if (comma == std::string_view::npos) break;
      list.remove_prefix(comma + 1);
    }
    return false;
  }

  // Fills a template such as "{given}.{surname}@{domain}"; false when a field is empty.
  bool expand(const std::string& tmpl, const Account& a, std::string& out) {
    out.clear();
    std::string_view local, dom;
    split_address(a.primary_address, local, dom);
    for (std::size_t i = 0; i < tmpl.size(); ++i) {
      if (tmpl[i] != '{') {
        out += tmpl[i];
        continue;
      }
      const auto j = tmpl.find('}', i);
      const std::string ph = tmpl.substr(i + 1, j - i - 1);
      std::string_view v;
      if (ph == "uid") v = a.uid;
      else if (ph == "domain") v = dom;
      else if (ph == "primary") v = a.primary_address;
      else if (ph == "primary_local") v = local;
      else if (ph == "given") v = a.given_name;
      else if (ph == "surname") v = a.surname;
      if (v.empty()) return false;
      out.append(v);
      i = j;
    }
    return true;
  }

  void render_canonical(MapEntries& m) {
    load_domains_once();
    for (const CanonicalRewrite& c : s.canonical) {
      if (!c.enabled) continue;
      const Origin o{Table::canonical_rewrites, c.id, 0};
      bool ok = true;
      for (std::string_view a : {c.source, c.target}) {
        // canonical(5) accepts user@domain and @domain on both sides.
        const std::string why = a.size() > 1 && a.front() == '@' ? check_domain(a.substr(1)) : check_address(a);
        if (!why.empty()) {
          findings.error("canonical", describe(o) + ": " + q(a) + ": " + why);
          ok = false;
        }
      }
      if (!ok) continue;
      const std::string_view key = fold(c.source, "canonical", o);
      if (!key.empty()) m.add(key, c.target, o);
    }
    if (cfg.canonical_generate) {
      std::string k, v, kf, vf;
      for (const Account& a : s.accounts) {
        if (a.status != AccountStatus::active) continue;
        const Origin o{Table::accounts, a.id, 0};
        if (!expand(cfg.canonical_key, a, k) || !expand(cfg.canonical_value, a, v)) continue;
        if (!check_address(k).empty() || !check_address(v).empty()) {
          findings.warning("canonical", describe(o) + ": generated rewrite " + q(k) + " -> " + q(v) +
                                            " is not a valid address pair; left out");
          continue;
        }
        if (!casefold(k, kf) || !casefold(v, vf)) continue;
        if (kf == vf) continue;  // identity: nothing to rewrite
        m.add(pool.add(kf), pool.add(lowercase_domain(v)), o);
      }
    }
    sort_and_check(m);
  }

  void render_aliases(MapEntries& m) {
    bool have_postmaster = false;
    for (const SystemAlias& sa : s.system_aliases) {
      const Origin o{Table::system_aliases, sa.id, 0};
      if (auto why = alias_name_problem(sa.name); !why.empty()) {
        findings.error("aliases", describe(o) + ": name " + q(sa.name) + ": " + why);
        continue;
      }
      std::string value;
      bool ok = true;
      for (const std::string& t : split_alias_targets(sa.targets)) {
        if (auto why = check_alias_target(t); !why.empty()) {
          findings.error("aliases", describe(o) + ": target " + q(t) + ": " + why);
          ok = false;
          continue;
        }
        if (!value.empty()) value += ", ";
        value += quote_alias_target(t);
      }
      if (!ok) continue;
      const std::string_view key = fold(sa.name, "aliases", o);
      if (key.empty()) continue;
      if (key == "postmaster") have_postmaster = true;
      m.add(key, pool.add(value), o);
    }
    for (const MailingList& l : s.lists) {
      if (!l.enabled || l.manager != ListManager::pipe) continue;
      const Origin o{Table::mailing_lists, l.id, 0};
      if (auto why = alias_name_problem(l.local_name); !why.empty()) {
        findings.error("aliases", describe(o) + ": local_name " + q(l.local_name) + ": " + why);
        continue;
      }
      std::string cmd(l.pipe_command);
      if (cmd.empty() || cmd.find_first_of("\r\n\"") != std::string::npos) {
        findings.error("aliases", describe(o) + ": pipe_command " + q(l.pipe_command) + " is empty or holds a line break or a double quote");
        continue;
      }
      if (cmd.front() != '|') cmd.insert(cmd.begin(), '|');
      const std::string_view key = fold(l.local_name, "aliases", o);
      if (!key.empty()) m.add(key, pool.add(quote_alias_target(cmd)), o);
    }
    if (!have_postmaster)
      findings.warning("aliases", "no system alias \"postmaster\": RFC 5321 requires one and local(8) expects it");
    sort_and_check(m);
  }

  static std::string alias_name_problem(std::string_view name) {
    if (name.find_first_of(":@") != std::string_view::npos) return "an alias name may not contain ':' or '@'";
    return check_local_part(name);
  }

  // Sorts by key and reports every key defined more than once, naming both rows.
  void sort_and_check(MapEntries& m) {
    // Not stable_sort: its buffer would cost as much as the map. Ties are broken by
    // origin so that messages come out the same every run. Most maps arrive sorted.
    const auto by_key = [](const MapEntries::Entry& a, const MapEntries::Entry& b) { return a.key < b.key; };
    if (!std::is_sorted(m.entries.begin(), m.entries.end(), by_key))
      std::sort(m.entries.begin(), m.entries.end(), [](const MapEntries::Entry& a, const MapEntries::Entry& b) {
        if (a.key != b.key) return a.key < b.key;
        if (a.origin.table != b.origin.table) return a.origin.table < b.origin.table;
        return a.origin.id != b.origin.id ? a.origin.id < b.origin.id : a.origin.via_domain < b.origin.via_domain;
      });
    for (std::size_t i = 1; i < m.entries.size(); ++i)
      if (m.entries[i].key == m.entries[i - 1].key)
        findings.error(m.name, "key " + q(m.entries[i].key) + " is defined twice: " + describe(m.entries[i - 1].origin) +
                                   " and " + describe(m.entries[i].origin));
  }
};

Renderer::Renderer(const Snapshot& snapshot, const RenderConfig& config, Findings& findings,
                   std::vector<std::string> maps)
    : impl_(new Impl(snapshot, config, findings)) {
  for (const auto& m : maps)
    if (m == "virtual" || m == "relay_recipients") impl_->index_users.insert(m);
}

Renderer::~Renderer() { delete impl_; }

std::vector<MapEntries::Entry> Renderer::relay_wildcards() { return impl_->relay_wildcards(); }

MapEntries Renderer::render(const std::string& name) {
  const bool last_index_user = impl_->index_users.erase(name) && impl_->index_users.empty();
  MapEntries m;
  m.name = name;
  if (name == "virtual") impl_->render_virtual(m, last_index_user);
  else if (name == "transport") impl_->render_transport(m);
  else if (name == "canonical") impl_->render_canonical(m);
  else if (name == "relay_recipients") impl_->render_relay_recipients(m, last_index_user);
  else if (name == "relay_domains") impl_->render_relay_domains(m);
  else if (name == "aliases") {
    m.alias_syntax = true;
    impl_->render_aliases(m);
  }
  if (last_index_user) impl_->release_index();
  // virtual comes out of the sorted, checked index; the others are checked here.
  if (name == "relay_recipients" || name == "relay_domains") impl_->sort_and_check(m);
  return m;
}

}  // namespace mapsync
