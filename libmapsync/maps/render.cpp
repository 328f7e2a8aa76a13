// render.cpp - snapshot -> maps. See render.h for what each map holds.
//
// The core is an index of every address we accept (folded key -> the row that owns it)
// and a resolver that follows groups and forwards down to final recipients, with loop
// detection. Finals are what transport routes: uid@domain for Cyrus accounts (Cyrus
// delivers by login name), the primary address for accounts on another SMTP server, the
// list address for list managers, name@local_alias_domain for local(8) aliases.
//
// Validation of the whole graph happens on the way: alias loops, chains deeper than
// Postfix's virtual_alias_recursion_limit, expansions beyond virtual_alias_expansion_limit,
// targets in our domains that no row receives, keys that collide after case folding or
// IDNA conversion, addresses outside our domains, routes to unknown or disabled back
// ends, active accounts without a route. An address in an internationalized domain is
// published under both the U-label and the A-label form of its domain.
#include "libmapsync/maps/render.h"

#include <algorithm>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "libmapsync/core/address.h"
#include "libmapsync/core/casefold.h"
#include "libmapsync/core/log.h"

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
  static Node from(std::uint64_t code) { return {static_cast<NodeKind>(code >> 32), static_cast<std::uint32_t>(code)}; }
};

constexpr std::uint64_t kNoNode = ~std::uint64_t{0};

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

std::string_view local_of(std::string_view address) {
  const auto at = address.rfind('@');
  return at == std::string_view::npos ? address : address.substr(0, at);
}

std::uint64_t origin_code(const Origin& o) {
  return (static_cast<std::uint64_t>(o.table) << 48) | (static_cast<std::uint64_t>(o.via_domain) << 32) | o.id;
}

}  // namespace

struct Renderer::Impl {
  const Snapshot& s;
  const RenderConfig& cfg;
  Findings& findings;
  StringPool pool;
  std::string fold_buf, key_buf, target_buf, canon_buf;

  std::vector<DomainInfo> domain_info;                                // by position in s.domains
  std::unordered_map<std::string_view, const DomainInfo*> domains;  // every spelling -> the domain
  std::vector<IndexEntry> index;                                      // sorted by key
  std::vector<std::pair<std::uint32_t, std::size_t>> forwards_by_account;  // (account id, row index)
  std::vector<std::pair<std::uint32_t, std::size_t>> members_by_group;
  // Final recipient of each account, by position in s.accounts (cyrus: uid@domain, smtp:
  // the primary address); a vector because a campus has hundreds of thousands.
  std::vector<std::string_view> account_final;
  std::vector<bool> account_final_done;
  // The one final of a cyrus/smtp account: returned by reference like memoized results.
  Resolved single;
  std::unordered_map<std::uint64_t, Resolved> finals_memo;
  std::unordered_set<std::uint64_t> in_progress;
  std::unordered_set<std::uint64_t> reported;  // nodes already complained about
  std::set<std::pair<std::uint64_t, std::uint64_t>> reported_pairs;  // duplicate keys, by both origins
  std::unordered_map<std::uint64_t, std::string_view> values;  // virtual value of group/forward nodes
  bool index_built = false;
  std::unordered_set<std::string> index_users;  // maps still to render from the index
  // Addresses of rows that receive no mail (disabled, delivery 'none'), keys in the form
  // canonical_key() gives; built on the first target that is not in the index.
  std::vector<IndexEntry> inactive;
  bool inactive_built = false;

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

  // The domain of a folded address or a folded domain name; null when it is not ours.
  const DomainInfo* domain(std::string_view folded) {
    auto it = domains.find(folded);
    if (it != domains.end()) return it->second;
    if (is_ascii(folded)) return nullptr;
    // A U-label in another Unicode normalisation than the row's: the A-labels agree.
    const std::string a = domain_to_alabel(folded);
    it = a.empty() ? domains.end() : domains.find(a);
    return it == domains.end() ? nullptr : it->second;
  }

  const DomainInfo* info_of(const Domain* d) const {
    return d && domain_info[pos(s.domains, *d)].row ? &domain_info[pos(s.domains, *d)] : nullptr;
  }

  // ---- domains -------------------------------------------------------------------
  void load_domains() {
    domain_info.resize(s.domains.size());
    for (const Domain& d : s.domains) {
      const Origin o{Table::domains, d.id, 0};
      if (auto why = check_domain(d.name); !why.empty()) {
        findings.error("", describe(o) + ": domain " + q(d.name) + ": " + why);
        continue;
      }
      if (!d.enabled) continue;
      const std::string_view written = fold(d.name, "", o);
      if (written.empty()) continue;
      DomainInfo& info = domain_info[pos(s.domains, d)];
      info.ukey = info.akey = written;
      if (is_idn_domain(d.name)) {
        // check_domain() converted it already; both forms are normalised through the A-label.
        std::string err;
        const std::string a = domain_to_alabel(d.name, &err);
        const std::string u = a.empty() ? std::string() : domain_to_ulabel(a, &err);
        if (u.empty()) {
          findings.error("", describe(o) + ": domain " + q(d.name) + ": internationalized domain is not valid IDNA: " + err);
          continue;
        }
        info.idn = true;
        info.akey = pool.add(a);
        info.ukey = fold(pool.add(u), "", o);  // fold() may return its input: it must outlive us
        if (info.ukey.empty()) continue;
      }
      info.row = &d;
      for (std::string_view key : {written, info.ukey, info.akey}) {
        auto [it, fresh] = domains.emplace(key, &info);
        if (!fresh && it->second != &info) {
          findings.error("", describe(o) + ": domain " + q(d.name) + " and domain " + q(it->second->row->name) + " (" +
                                 describe({Table::domains, it->second->row->id, 0}) + ") are the same domain " + q(key) +
                                 " after case folding" + (info.idn ? " and IDNA conversion" : ""));
          break;
        }
      }
    }
    for (const Domain& d : s.domains) {
      if (!d.enabled || d.kind != DomainKind::alias) continue;
      const Domain* t = find_by_id(s.domains, d.target_domain_id);
      if (!t || t->kind != DomainKind::local || !t->enabled)
        findings.error("", describe({Table::domains, d.id, 0}) + ": alias domain " + q(d.name) +
                               " must point to an enabled local domain");
    }
  }

  bool domains_loaded = false;
  void load_domains_once() {
    if (domains_loaded) return;
    domains_loaded = true;
    load_domains();
  }

  // The keys a domain, "@domain" or an address of the small tables (domains, transport
  // overrides) is published under: folded as written, or for an internationalized domain
  // both normalised forms.
  void keys_of(std::string_view written, const char* map, const Origin& o, std::vector<std::string_view>& out) {
    out.clear();
    const std::string_view folded = fold(written, map, o);
    if (folded.empty()) return;
    const auto at = written.rfind('@');
    const std::string_view dom = at == std::string_view::npos ? written : written.substr(at + 1);
    std::string a, u;
    if (is_idn_domain(dom)) {
      a = domain_to_alabel(dom);
      u = a.empty() ? std::string() : domain_to_ulabel(a);
    }
    if (u.empty()) {  // ASCII, or not valid IDNA (reported where the row is checked)
      out.push_back(folded);
      return;
    }
    std::string fu;
    if (!casefold(u, fu)) return;
    const std::string_view prefix = at == std::string_view::npos ? std::string_view() : local_of(folded);
    for (const std::string* form : {&fu, &a}) {
      key_buf.assign(prefix);
      if (at != std::string_view::npos) key_buf += '@';
      key_buf += *form;
      out.push_back(key_buf == folded ? folded : pool.add(key_buf));
    }
  }

  // ---- accounts: routes, checked once whichever maps are rendered -----------------
  bool validated = false;
  void validate_once() {
    if (validated) return;
    validated = true;
    load_domains_once();
    for (std::size_t i = 0; i < s.forwards.size(); ++i) forwards_by_account.emplace_back(s.forwards[i].account_id, i);
    std::sort(forwards_by_account.begin(), forwards_by_account.end());
    for (std::size_t i = 0; i < s.group_members.size(); ++i) members_by_group.emplace_back(s.group_members[i].group_id, i);
    std::sort(members_by_group.begin(), members_by_group.end());

    for (const Account& a : s.accounts) {
      if (a.status != AccountStatus::active) continue;
      const Origin o{Table::accounts, a.id, 0};
      switch (a.delivery) {
        case Delivery::none:
          findings.warning("virtual", describe(o) + ": account " + q(a.uid) +
                                          " is active but has delivery 'none': it receives no mail, and its addresses are not accepted");
          break;
        case Delivery::forward:
          if (const EdgeRange r = edges_of_account(a.id); r.first == r.second) {
            const Node n{NodeKind::account, pos(s.accounts, a)};
            reported.insert(n.code());
            findings.error("virtual", node_name(n) + " has delivery 'forward' but no account_forwards rows");
          }
          break;
        case Delivery::cyrus: {
          const Backend* b = find_by_id(s.backends, a.backend_id);
          if (!b)
            findings.error("transport", describe(o) + ": account " + q(a.uid) + " is on back end id=" +
                                            std::to_string(a.backend_id) + ", which does not exist");
          else if (!b->enabled)
            findings.error("transport", describe(o) + ": account " + q(a.uid) + " is on back end " + q(b->name) +
                                            " (backends id=" + std::to_string(b->id) + "), which is disabled");
          break;
        }
        case Delivery::smtp: break;
      }
    }
  }

  using EdgeRange = std::pair<std::size_t, std::size_t>;  // positions in forwards_by_account / members_by_group
  static EdgeRange edges(const std::vector<std::pair<std::uint32_t, std::size_t>>& v, std::uint32_t id) {
    auto [b, e] = std::equal_range(v.begin(), v.end(), std::make_pair(id, std::size_t{0}),
                                   [](const auto& x, const auto& y) { return x.first < y.first; });
    return {static_cast<std::size_t>(b - v.begin()), static_cast<std::size_t>(e - v.begin())};
  }
  EdgeRange edges_of_account(std::uint32_t id) const { return edges(forwards_by_account, id); }
  EdgeRange edges_of_group(std::uint32_t id) const { return edges(members_by_group, id); }

  // ---- the index of accepted addresses -------------------------------------------
  static bool deliverable(const Account& a) { return a.status == AccountStatus::active && a.delivery != Delivery::none; }

  // Adds address if it may be accepted here (else reports why); returns its domain, or
  // null when it was not added.
  const DomainInfo* index_add(std::string_view address, const Origin& o) {
    if (auto why = check_address(address); !why.empty()) {
      findings.error("virtual", describe(o) + ": address " + q(address) + ": " + why);
      return nullptr;
    }
    const std::string_view key = fold(address, "virtual", o);
    if (key.empty()) return nullptr;
    const DomainInfo* d = domain(domain_of(key));
    if (!d) {
      findings.error("virtual", describe(o) + ": address " + q(address) + " is not in one of our local domains");
      return nullptr;
    }
    if (d->row->kind == DomainKind::alias) {
      findings.error("virtual", describe(o) + ": address " + q(address) + " is in alias domain " + q(d->row->name) +
                                    ", which mirrors its target domain and holds no addresses of its own");
      return nullptr;
    }
    if (d->row->kind == DomainKind::relay) {
      findings.error("virtual", describe(o) + ": address " + q(address) + " is in relay domain " + q(d->row->name) +
                                    "; relay domains' recipients are not ours to list");
      return nullptr;
    }
    index_push(key, d, o, index.size());
    return d;
  }

  // Adds the folded key of an address in domain d, unless one of the entries from
  // index[from] on has it already. In an internationalized domain the address is added
  // in both forms (SMTPUTF8 clients send the U-label, others the A-label); the local
  // part stays as it is. An ASCII domain costs one test.
  void index_push(std::string_view key, const DomainInfo* d, const Origin& o, std::size_t from) {
    if (!d->idn) {
      push_new(key, o, from);
      return;
    }
    const std::string_view local = local_of(key);
    for (std::string_view form : {d->ukey, d->akey}) {
      key_buf.assign(local);
      key_buf += '@';
      key_buf.append(form);
      push_new(key_buf == key ? key : pool.add(key_buf), o, from);
    }
  }

  void push_new(std::string_view key, const Origin& o, std::size_t from) {
    for (std::size_t i = from; i < index.size(); ++i)
      if (index[i].key == key) return;
    index.push_back({key, {}, o});
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

  // Rows of the index whose address is in an internationalized domain: they are indexed
  // twice. Counted only when such a domain exists.
  std::size_t idn_rows() const {
    std::size_t n = 0;
    for (const Account& a : s.accounts)
      if (deliverable(a) && is_idn_domain(domain_of(a.primary_address))) n += a.delivery == Delivery::cyrus ? 2 : 1;
    for (const Address& ad : s.addresses) n += is_idn_domain(domain_of(ad.address));
    for (const Group& g : s.groups) n += g.enabled && is_idn_domain(domain_of(g.address));
    for (const MailingList& l : s.lists) n += l.enabled && is_idn_domain(domain_of(l.address));
    return n;
  }

  // An upper bound of the index size, close enough to reserve once: at a million
  // addresses each doubling of a vector of 40-byte entries costs tens of megabytes.
  std::size_t index_size_bound() const {
    std::size_t own = s.addresses.size() + s.groups.size() + s.lists.size(), local = 0, alias = 0, idn_local = 0, idn_alias = 0;
    for (const Account& a : s.accounts) own += deliverable(a) ? (a.delivery == Delivery::cyrus ? 2 : 1) : 0;
    for (std::size_t i = 0; i < s.domains.size(); ++i) {
      const DomainInfo& d = domain_info[i];
      if (!d.row) continue;
      local += d.row->kind == DomainKind::local;
      alias += d.row->kind == DomainKind::alias;
      idn_local += d.idn && d.row->kind == DomainKind::local;
      idn_alias += d.idn && d.row->kind == DomainKind::alias;
    }
    for (const SystemAlias& sa : s.system_aliases) own += sa.all_domains ? local + idn_local : 0;
    if (idn_local) own += idn_rows();
    return own * (1 + alias + idn_alias);
  }

  void build_index() {
    if (index_built) return;
    index_built = true;
    validate_once();

    index.reserve(index_size_bound());
    for (const Account& a : s.accounts) {
      if (!deliverable(a)) continue;
      const Origin o{Table::accounts, a.id, 0};
      const std::size_t before = index.size();
      const DomainInfo* d = index_add(a.primary_address, o);
      if (d && a.delivery == Delivery::cyrus) {
        // The login address: Cyrus delivers by uid, and senders use it.
        const std::string_view fin = cyrus_final(a);
        if (!fin.empty()) index_push(fin, d, o, before);
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
    // Alias domains: x@alias.edu exists for every x@example.edu. An address of an
    // internationalized target domain is indexed in two forms; its A-label entry stands
    // for both, and the copies are made in every form of the alias domain.
    const std::size_t own = index.size();
    for (const Domain& ad : s.domains) {
      if (!ad.enabled || ad.kind != DomainKind::alias) continue;
      const Domain* t = find_by_id(s.domains, ad.target_domain_id);
      const DomainInfo* ti = info_of(t);
      const DomainInfo* ai = info_of(&ad);
      if (!ti || !ai || ti->row->kind != DomainKind::local) continue;
      for (std::size_t i = 0; i < own; ++i) {
        const IndexEntry e = index[i];
        if (domain_of(e.key) != ti->akey) continue;
        const std::string_view local = e.key.substr(0, e.key.size() - ti->akey.size() - 1);
        Origin o = e.origin;
        o.via_domain = static_cast<std::uint16_t>(ad.id);
        for (std::string_view form : {ai->ukey, ai->akey}) {
          key_buf.assign(local);
          key_buf += '@';
          key_buf.append(form);
          index.push_back({pool.add(key_buf), {}, o});
          if (!ai->idn) break;  // one form: ukey and akey are the same
        }
      }
    }
    std::sort(index.begin(), index.end(), [](const IndexEntry& a, const IndexEntry& b) {
      if (a.key != b.key) return a.key < b.key;
      if (a.origin.via_domain != b.origin.via_domain) return a.origin.via_domain < b.origin.via_domain;
      return a.origin.table != b.origin.table ? a.origin.table < b.origin.table : a.origin.id < b.origin.id;
    });
    for (std::size_t i = 1; i < index.size(); ++i)
      if (index[i].key == index[i - 1].key) report_duplicate(index[i - 1], index[i]);
  }

  const IndexEntry* lookup(std::string_view folded) const {
    auto it = std::lower_bound(index.begin(), index.end(), folded,
                               [](const IndexEntry& e, std::string_view k) { return e.key < k; });
    return it != index.end() && it->key == folded ? &*it : nullptr;
  }

  // ---- keys defined twice ---------------------------------------------------------
  // The address of an index entry as its row spells it, for messages: the key is folded
  // (and for an internationalized domain converted), the postmaster searches for what
  // the row holds.
  std::string written(const IndexEntry& e) {
    std::vector<std::string> spellings;
    switch (e.origin.table) {
      case Table::accounts:
        if (const Account* a = find_by_id(s.accounts, e.origin.id)) {
          spellings.emplace_back(a->primary_address);
          spellings.push_back(std::string(a->uid) + "@" + std::string(domain_of(a->primary_address)));
        }
        break;
      case Table::addresses:
        if (const Address* ad = find_by_id(s.addresses, e.origin.id)) spellings.emplace_back(ad->address);
        break;
      case Table::group_aliases:
        if (const Group* g = find_by_id(s.groups, e.origin.id)) spellings.emplace_back(g->address);
        break;
      case Table::mailing_lists:
        if (const MailingList* l = find_by_id(s.lists, e.origin.id)) spellings.emplace_back(l->address);
        break;
      case Table::system_aliases:
        if (const SystemAlias* sa = find_by_id(s.system_aliases, e.origin.id))
          for (const Domain& d : s.domains)
            if (d.enabled && d.kind == DomainKind::local) spellings.push_back(std::string(sa->name) + "@" + std::string(d.name));
        break;
      default: break;
    }
    const Domain* via = e.origin.via_domain ? find_by_id(s.domains, e.origin.via_domain) : nullptr;
    const DomainInfo* key_domain = via ? nullptr : domain(domain_of(e.key));
    std::string folded;
    for (const std::string& w : spellings) {
      if (!casefold(w, folded) || local_of(folded) != local_of(e.key)) continue;
      if (via) return std::string(local_of(w)) + "@" + std::string(via->name);
      if (domain(domain_of(folded)) == key_domain) return w;
    }
    return spellings.empty() ? std::string(e.key) : spellings.front();
  }

  // Two rows with one key. Postfix would keep whichever comes first; say which rows,
  // and how they came to be the same key when they are spelt differently.
  void report_duplicate(const IndexEntry& a, const IndexEntry& b) {
    if (!reported_pairs.emplace(origin_code(a.origin), origin_code(b.origin)).second) return;  // the other IDN form
    const std::string wa = written(a), wb = written(b);
    if (wa == wb) {
      findings.error("virtual", "address " + q(b.key) + " is defined twice: " + describe(a.origin) + " and " + describe(b.origin));
      return;
    }
    std::string fa, fb;
    casefold(wa, fa);
    casefold(wb, fb);
    const bool idn = domain_of(fa) != domain_of(a.key) || domain_of(fb) != domain_of(b.key);
    const auto rows = [](const Origin& o) {
      std::string t = std::string(table_name(o.table)) + " id=" + std::to_string(o.id);
      if (o.via_domain) t += ", copied into alias domain, domains id=" + std::to_string(o.via_domain);
      return t;
    };
    findings.error("virtual", q(wa) + " (" + rows(a.origin) + ") and " + q(wb) + " (" + rows(b.origin) +
                                  ") are the same key " + q(b.key) + " after case folding" + (idn ? " and IDNA conversion" : ""));
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

  // "a -> b -> c": a chain of a thousand rows is shortened to its ends.
  std::string path_text(const std::vector<Node>& path) const {
    constexpr std::size_t kEnds = 4;
    std::string t;
    for (std::size_t i = 0; i < path.size(); ++i) {
      if (path.size() > 3 * kEnds && i == kEnds) {
        t += "... (" + std::to_string(path.size() - 2 * kEnds) + " more) -> ";
        i = path.size() - kEnds;
      }
      t += node_name(path[i]);
      if (i + 1 < path.size()) t += " -> ";
    }
    return t;
  }

  // The result of a node that follows no group or forward (nothing to memoize or loop
  // through), else null.
  const Resolved* leaf(Node n) {
    static const Resolved none;
    switch (n.kind) {
      case NodeKind::account: {
        const Account& a = s.accounts[n.id];
        if (!deliverable(a)) return &none;
        if (a.delivery == Delivery::forward) return nullptr;
        const std::string_view f = a.delivery == Delivery::cyrus ? cyrus_final(a) : smtp_final(a);
        if (f.empty()) return &none;
        single.finals.assign(1, f);
        return &single;
      }
      case NodeKind::group: return s.groups[n.id].enabled ? nullptr : &none;
      case NodeKind::list:
      case NodeKind::system_alias: {
        auto it = finals_memo.find(n.code());
        if (it != finals_memo.end()) return &it->second;
        Resolved r;
        if (n.kind == NodeKind::list) {
          const MailingList& l = s.lists[n.id];
          if (l.enabled && l.manager == ListManager::transport) r.finals.push_back(pool.add(lowercase_domain(l.address)));
          else if (l.enabled) r.finals.push_back(pool.add(std::string(l.local_name) + "@" + cfg.local_alias_domain));
        } else {
          r.finals.push_back(pool.add(std::string(s.system_aliases[n.id].name) + "@" + cfg.local_alias_domain));
        }
        return &finals_memo.emplace(n.code(), std::move(r)).first->second;
      }
    }
    return &none;
  }

  // The resolver walks groups and forwards depth first with a stack of its own, not by
  // recursion: a chain of a hundred thousand groups must not overflow the C++ stack (it
  // is reported as deeper than recursion_limit, and still resolved).
  struct Frame {
    Node n;
    std::size_t next, end;  // the edges still to follow: positions in members_by_group or forwards_by_account
    std::vector<std::string_view> out;
    std::uint32_t depth = 1;
    std::uint64_t deepest = kNoNode;
  };
  std::vector<Frame> frames;

  const Resolved& resolved(Node root) {
    if (const Resolved* r = leaf(root)) return *r;
    if (auto it = finals_memo.find(root.code()); it != finals_memo.end()) return it->second;
    open(root);
    while (!frames.empty()) {
      Node child{};
      if (next_child(frames.back(), child)) open(child);
      else close();
    }
    return finals_memo.find(root.code())->second;
  }

  void open(Node n) {
    in_progress.insert(n.code());
    const EdgeRange r = n.kind == NodeKind::group ? edges_of_group(s.groups[n.id].id) : edges_of_account(s.accounts[n.id].id);
    frames.push_back({n, r.first, r.second, {}, 1, kNoNode});
  }

  // Follows f's edges, taking in what is known; true with child set when child must be
  // resolved first.
  bool next_child(Frame& f, Node& child) {
    while (f.next < f.end) {
      if (!edge(f, f.next++, child)) continue;
      if (const Resolved* r = leaf(child)) {
        f.out.insert(f.out.end(), r->finals.begin(), r->finals.end());
        continue;
      }
      const std::uint64_t code = child.code();
      if (auto it = finals_memo.find(code); it != finals_memo.end()) {
        take(f, child, it->second);
        continue;
      }
      if (in_progress.count(code)) {
        report_loop(child);
        continue;
      }
      return true;
    }
    return false;
  }

  void take(Frame& f, Node child, const Resolved& r) {
    f.out.insert(f.out.end(), r.finals.begin(), r.finals.end());
    if (r.depth + 1 > f.depth) {
      f.depth = r.depth + 1;
      f.deepest = child.code();
    }
  }

  void close() {
    Frame& f = frames.back();
    std::sort(f.out.begin(), f.out.end());
    f.out.erase(std::unique(f.out.begin(), f.out.end()), f.out.end());
    const Node n = f.n;
    Resolved r{std::move(f.out), f.depth, f.deepest};
    frames.pop_back();
    in_progress.erase(n.code());
    const Resolved& done = finals_memo.emplace(n.code(), std::move(r)).first->second;
    if (done.finals.size() > cfg.expansion_limit && reported.insert(n.code()).second)
      findings.error("virtual", node_name(n) + " expands to " + std::to_string(done.finals.size()) +
                                    " recipients, more than Postfix's virtual_alias_expansion_limit (" +
                                    std::to_string(cfg.expansion_limit) + ")");
    // Reported where the chain first gets too deep: every deeper node leads through
    // such a node, so one message per offending structure, not one per group above it.
    if (done.depth == std::uint64_t{cfg.recursion_limit} + 1) {
      std::vector<Node> chain{n};
      for (std::uint64_t c = done.deepest; c != kNoNode; c = finals_memo.find(c)->second.deepest) chain.push_back(Node::from(c));
      findings.error("virtual", node_name(n) + " leads through " + std::to_string(done.depth) +
                                    " nested groups and forwards, more than Postfix's virtual_alias_recursion_limit (" +
                                    std::to_string(cfg.recursion_limit) + "), and so does every address that leads to it: " +
                                    path_text(chain));
    }
    if (!frames.empty()) take(frames.back(), n, done);
  }

  void report_loop(Node n) {
    if (!reported.insert(n.code()).second) return;
    std::vector<Node> path;
    bool on = false;
    for (const Frame& f : frames) {
      on = on || f.n.code() == n.code();
      if (on) path.push_back(f.n);
    }
    path.push_back(n);
    findings.error("virtual", "alias loop: " + path_text(path));
  }

  // Edge i of frame f: a forward of an account, or a member of a group. True with child
  // set when it leads to a row; false when it was taken in (an outside address) or
  // reported.
  bool edge(Frame& f, std::size_t i, Node& child) {
    if (f.n.kind == NodeKind::account) {
      const Forward& fw = s.forwards[forwards_by_account[i].second];
      return target(fw.target, {Table::account_forwards, fw.id, 0}, f.out, child);
    }
    const Group& g = s.groups[f.n.id];
    const GroupMember& m = s.group_members[members_by_group[i].second];
    const Origin o{Table::group_members, m.id, 0};
    if (m.account_id) {
      const Account* a = find_by_id(s.accounts, m.account_id);
      if (!a || !deliverable(*a)) {
        // Accounts are disabled and deleted all the time; their group rows go later.
        findings.warning("virtual", describe(o) + ": member account id=" + std::to_string(m.account_id) + " of group " +
                                        q(g.address) + " receives no mail (disabled or delivery none); left out");
        return false;
      }
      child = {NodeKind::account, pos(s.accounts, *a)};
      return true;
    }
    if (m.member_group_id) {
      const Group* sub = find_by_id(s.groups, m.member_group_id);
      if (!sub) return false;  // the foreign key makes this impossible
      if (!sub->enabled) {
        findings.warning("virtual", describe(o) + ": member group " + q(sub->address) + " (group_aliases id=" +
                                        std::to_string(sub->id) + ") of group " + q(g.address) + " is disabled; left out");
        return false;
      }
      child = {NodeKind::group, pos(s.groups, *sub)};
      return true;
    }
    return target(m.address, o, f.out, child);
  }

  // An address given as a target (forward, group member): a row of ours (true, child
  // set), an outside address (added to out), or a finding.
  bool target(std::string_view address, const Origin& from, std::vector<std::string_view>& out, Node& child) {
    if (auto why = check_address(address); !why.empty()) {
      findings.error("virtual", describe(from) + ": target " + q(address) + ": " + why);
      return false;
    }
    std::string err;
    if (!casefold(address, target_buf, &err)) {
      findings.error("virtual", describe(from) + ": target " + q(address) + ": " + err);
      return false;
    }
    const IndexEntry* e = lookup(target_buf);
    const DomainInfo* d = nullptr;
    if (!e) {
      d = domain(domain_of(target_buf));
      if (d && d->idn) e = lookup(canonical_key(target_buf, d, canon_buf));  // a U-label in another normalisation
    }
    if (e) {
      child = node_of(e->origin);
      return true;
    }
    if (d && d->row->kind != DomainKind::relay) {
      no_recipient(address, d, from);
      return false;
    }
    out.push_back(pool.add(lowercase_domain(address)));
    return false;
  }

  // A target in one of our domains that the index does not have. A row that receives no
  // mail (disabled, pending deletion, delivery 'none') is the normal lifecycle of an
  // account: a warning. No row at all: the address would bounce, which is an error.
  void no_recipient(std::string_view address, const DomainInfo* d, const Origin& from) {
    if (const IndexEntry* owner = inactive_lookup(target_buf, d)) {
      findings.warning("virtual", describe(from) + ": target " + q(address) + " is the address of " + owner_text(owner->origin) +
                                      ": it receives no mail; left out");
      return;
    }
    findings.error("virtual", describe(from) + ": target " + q(address) + " is in our domain " + q(d->row->name) +
                                  " but is no valid recipient (no row that receives mail has this address): mail to it would bounce");
  }

  // The form in which addresses of rows that receive no mail are compared: x@alias.edu
  // stands for x@target, and an internationalized domain is compared in A-label form.
  std::string_view canonical_key(std::string_view folded, const DomainInfo* d, std::string& buf) {
    const DomainInfo* t = d;
    if (d->row->kind == DomainKind::alias) t = info_of(find_by_id(s.domains, d->row->target_domain_id));
    if (!t) return folded;
    const std::string_view dom = domain_of(folded);
    if (dom == t->akey) return folded;
    buf.assign(folded.substr(0, folded.size() - dom.size()));  // with the '@'
    buf.append(t->akey);
    return buf;
  }

  void inactive_add(std::string_view address, const Origin& o) {
    std::string folded;
    if (!casefold(address, folded)) return;
    const DomainInfo* d = domain(domain_of(folded));
    if (!d) return;
    const std::string_view k = canonical_key(folded, d, canon_buf);
    inactive.push_back({k == address ? address : pool.add(k), {}, o});
  }

  const IndexEntry* inactive_lookup(std::string_view folded, const DomainInfo* d) {
    if (!inactive_built) {
      inactive_built = true;
      for (const Account& a : s.accounts) {
        if (deliverable(a)) continue;
        const Origin o{Table::accounts, a.id, 0};
        inactive_add(a.primary_address, o);
        if (a.delivery == Delivery::cyrus && check_local_part(a.uid).empty())
          inactive_add(pool.add(std::string(a.uid) + "@" + std::string(domain_of(a.primary_address))), o);
      }
      for (const Address& ad : s.addresses) {
        const Account* a = find_by_id(s.accounts, ad.account_id);
        if (a && !deliverable(*a)) inactive_add(ad.address, {Table::addresses, ad.id, 0});
      }
      for (const Group& g : s.groups)
        if (!g.enabled) inactive_add(g.address, {Table::group_aliases, g.id, 0});
      for (const MailingList& l : s.lists)
        if (!l.enabled) inactive_add(l.address, {Table::mailing_lists, l.id, 0});
      std::sort(inactive.begin(), inactive.end(), [](const IndexEntry& a, const IndexEntry& b) { return a.key < b.key; });
    }
    std::string buf;
    const std::string_view k = canonical_key(folded, d, buf);
    auto it = std::lower_bound(inactive.begin(), inactive.end(), k,
                               [](const IndexEntry& e, std::string_view key) { return e.key < key; });
    return it != inactive.end() && it->key == k ? &*it : nullptr;
  }

  std::string owner_text(const Origin& o) const {
    const auto account_text = [](const Account& a, const std::string& rows) {
      const char* why = a.status == AccountStatus::disabled         ? "disabled"
                        : a.status == AccountStatus::pending_delete ? "pending deletion"
                                                                    : "active with delivery 'none'";
      return "account " + q(a.uid) + " (" + rows + "), " + why;
    };
    switch (o.table) {
      case Table::accounts:
        if (const Account* a = find_by_id(s.accounts, o.id)) return account_text(*a, describe(o));
        break;
      case Table::addresses:
        if (const Address* ad = find_by_id(s.addresses, o.id))
          if (const Account* a = find_by_id(s.accounts, ad->account_id))
            return account_text(*a, "accounts id=" + std::to_string(a->id) + ", " + describe(o));
        break;
      case Table::group_aliases:
        if (const Group* g = find_by_id(s.groups, o.id)) return "group " + q(g->address) + " (" + describe(o) + "), disabled";
        break;
      case Table::mailing_lists: return "mailing list " + describe(o) + ", disabled";
      default: break;
    }
    return describe(o);
  }

  std::string_view joined(const std::vector<std::string_view>& f) {
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
      const Account& a = s.accounts[n.id];
      if (deliverable(a) && a.delivery == Delivery::cyrus) return cyrus_final(a);
      if (deliverable(a) && a.delivery == Delivery::smtp) return smtp_final(a);
    }
    auto it = values.find(n.code());
    if (it != values.end()) return it->second;
    const Resolved& r = resolved(n);
    const std::string_view v = r.finals.empty() ? std::string_view() : joined(r.finals);
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
    // Every value first, while the index is whole: resolving a group member or a forward
    // looks its target up in the index, which compacting below overwrites.
    std::string_view prev;
    for (std::size_t i = 0; i < index.size(); ++i) {
      IndexEntry& e = index[i];
      const bool first = i == 0 || e.key != prev;
      prev = e.key;
      e.value = first ? value_of(node_of(e.origin)) : std::string_view();
    }
    std::vector<IndexEntry> copy;
    if (!consume) copy.reserve(index.size());
    std::size_t n = 0;
    for (std::size_t i = 0; i < index.size(); ++i) {
      const IndexEntry e = index[i];
      if (e.value.empty()) continue;
      const IndexEntry out{e.key, fixed.empty() ? e.value : fixed, e.origin};
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
    load_domains_once();
    std::vector<MapEntries::Entry> out;
    std::vector<std::string_view> keys;
    for (const Domain& d : s.domains)
      if (d.enabled && d.kind == DomainKind::relay) {
        const Origin o{Table::domains, d.id, 0};
        keys_of(pool.add("@" + std::string(d.name)), "relay_recipients", o, keys);
        for (std::string_view k : keys) out.push_back({k, "OK", o});
      }
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.key < b.key; });
    return out;
  }

  void render_relay_domains(MapEntries& m) {
    load_domains_once();
    std::vector<std::string_view> keys;
    for (const Domain& d : s.domains) {
      if (!d.enabled) continue;
      const Origin o{Table::domains, d.id, 0};
      keys_of(d.name, "relay_domains", o, keys);
      for (std::string_view k : keys)
        m.add(k, d.kind == DomainKind::local ? "local" : d.kind == DomainKind::alias ? "alias" : "relay", o);
    }
  }

  void render_transport(MapEntries& m) {
    load_domains_once();
    std::unordered_map<std::uint32_t, std::string_view> lmtp;  // backend id -> transport
    std::vector<std::string_view> keys;
    for (const Account& a : s.accounts) {
      if (!deliverable(a)) continue;
      const Origin o{Table::accounts, a.id, 0};
      if (a.delivery == Delivery::cyrus) {
        const Backend* b = find_by_id(s.backends, a.backend_id);
        if (!b || !b->enabled) continue;  // reported once by validate_once()
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
      keys_of(d.name, "transport", o, keys);
      for (std::string_view k : keys) m.add(k, d.transport, o);
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
      keys_of(t.pattern, "transport", o, keys);
      for (std::string_view key : keys) {
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
  impl_->validate_once();  // accounts and their routes: once, whichever maps are rendered
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
