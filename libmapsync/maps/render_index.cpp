// render_index.cpp - the index of every address we accept, and of the addresses of rows
// that receive no mail. See render_parts.h.
#include <string>

#include "libmapsync/core/address.h"
#include "libmapsync/core/casefold.h"
#include "libmapsync/maps/render_parts.h"

namespace mapsync::render_detail {

namespace {

std::uint64_t origin_code(const Origin& o) {
  return (static_cast<std::uint64_t>(o.table) << 48) | (static_cast<std::uint64_t>(o.via_domain) << 32) | o.id;
}

}  // namespace

AddressIndex::AddressIndex(RenderContext& c, const Domains& domains, AccountFinals& finals) : c_(c), domains_(domains) {
  const Snapshot& s = c_.s;
  index_.reserve(size_bound());
  for (const Account& a : s.accounts) {
    if (!deliverable(a)) continue;
    const Origin o{Table::accounts, a.id, 0};
    const std::size_t before = index_.size();
    const DomainInfo* d = add(a.primary_address, o);
    if (d && has_mailbox(a)) {
      // The login address: Cyrus delivers by uid, and senders use it.
      const std::string_view fin = finals.cyrus(a);
      if (!fin.empty()) push(fin, d, o, before);
    }
  }
  for (const Address& ad : s.addresses) {
    const Account* a = find_by_id(s.accounts, ad.account_id);
    if (!a || !deliverable(*a)) continue;
    add(ad.address, {Table::addresses, ad.id, 0});
  }
  for (const Group& g : s.groups)
    if (g.enabled) add(g.address, {Table::group_aliases, g.id, 0});
  for (const MailingList& l : s.lists)
    if (l.enabled) add(l.address, {Table::mailing_lists, l.id, 0});
  for (const SystemAlias& sa : s.system_aliases) {
    if (!sa.all_domains) continue;
    for (const Domain& d : s.domains) {
      if (!d.enabled || d.kind != DomainKind::local) continue;
      const std::string addr = std::string(sa.name) + "@" + std::string(d.name);
      add(c_.pool.add(addr), {Table::system_aliases, sa.id, 0});
    }
  }
  add_alias_domain_copies();
  sort_by_key(index_, [](const IndexEntry& a, const IndexEntry& b) {
    if (a.origin.via_domain != b.origin.via_domain) return a.origin.via_domain < b.origin.via_domain;
    return a.origin.table != b.origin.table ? a.origin.table < b.origin.table : a.origin.id < b.origin.id;
  });
  for (std::size_t i = 1; i < index_.size(); ++i)
    if (index_[i].key == index_[i - 1].key) report_duplicate(index_[i - 1], index_[i]);
  check_companions();
}

// A list's companion address (list-request@) that is also another row's address, or
// another list's companion, would be routed twice.
void AddressIndex::check_companions() {
  std::vector<IndexEntry> comp;
  list_companions(c_, domains_, comp);
  std::sort(comp.begin(), comp.end(), [](const IndexEntry& a, const IndexEntry& b) { return a.key < b.key; });
  for (std::size_t i = 0; i < comp.size(); ++i) {
    const IndexEntry* other = lookup(comp[i].key);
    if (!other && i && comp[i].key == comp[i - 1].key) other = &comp[i - 1];
    if (other)
      c_.findings.error("virtual", "address " + q(comp[i].key) + " is both a companion address of " + describe(comp[i].origin) +
                                       " (render.list_companions) and " +
                                       (other->value == "OK" ? "a companion address of " : "") + describe(other->origin));
  }
}

// Alias domains: x@alias.edu exists for every x@example.edu. An address of an
// internationalized target domain is indexed in two forms; its A-label entry stands
// for both, and the copies are made in every form of the alias domain.
void AddressIndex::add_alias_domain_copies() {
  const std::size_t own = index_.size();
  for (const Domain& ad : c_.s.domains) {
    if (!ad.enabled || ad.kind != DomainKind::alias) continue;
    const Domain* t = find_by_id(c_.s.domains, ad.target_domain_id);
    const DomainInfo* ti = domains_.info_of(t);
    const DomainInfo* ai = domains_.info_of(&ad);
    if (!ti || !ai || ti->row->kind != DomainKind::local) continue;
    for (std::size_t i = 0; i < own; ++i) {
      const IndexEntry e = index_[i];
      if (domain_of(e.key) != ti->akey) continue;
      const std::string_view local = e.key.substr(0, e.key.size() - ti->akey.size() - 1);
      Origin o = e.origin;
      o.via_domain = static_cast<std::uint16_t>(ad.id);
      for (std::string_view form : {ai->ukey, ai->akey}) {
        key_buf_.assign(local);
        key_buf_ += '@';
        key_buf_.append(form);
        index_.push_back({c_.pool.add(key_buf_), {}, o});
        if (!ai->idn) break;  // one form: ukey and akey are the same
      }
    }
  }
}

// Rows of the index whose address is in an internationalized domain: they are indexed
// twice. Counted only when such a domain exists.
std::size_t AddressIndex::idn_rows() const {
  const Snapshot& s = c_.s;
  std::size_t n = 0;
  for (const Account& a : s.accounts)
    if (deliverable(a) && is_idn_domain(domain_of(a.primary_address))) n += has_mailbox(a) ? 2 : 1;
  for (const Address& ad : s.addresses) n += is_idn_domain(domain_of(ad.address));
  for (const Group& g : s.groups) n += g.enabled && is_idn_domain(domain_of(g.address));
  for (const MailingList& l : s.lists) n += l.enabled && is_idn_domain(domain_of(l.address));
  return n;
}

// An upper bound of the index size, close enough to reserve once: at a million
// addresses each doubling of a vector of 40-byte entries costs tens of megabytes.
std::size_t AddressIndex::size_bound() const {
  const Snapshot& s = c_.s;
  std::size_t own = s.addresses.size() + s.groups.size() + s.lists.size(), local = 0, alias = 0, idn_local = 0, idn_alias = 0;
  for (const Account& a : s.accounts) own += deliverable(a) ? (has_mailbox(a) ? 2 : 1) : 0;
  for (const Domain& row : s.domains) {
    const DomainInfo* d = domains_.info_of(&row);
    if (!d) continue;
    local += d->row->kind == DomainKind::local;
    alias += d->row->kind == DomainKind::alias;
    idn_local += d->idn && d->row->kind == DomainKind::local;
    idn_alias += d->idn && d->row->kind == DomainKind::alias;
  }
  for (const SystemAlias& sa : s.system_aliases) own += sa.all_domains ? local + idn_local : 0;
  if (idn_local) own += idn_rows();
  return own * (1 + alias + idn_alias);
}

// Adds address if it may be accepted here (else reports why); returns its domain, or
// null when it was not added.
const DomainInfo* AddressIndex::add(std::string_view address, const Origin& o) {
  if (auto why = check_address(address); !why.empty()) {
    c_.findings.error("virtual", describe(o) + ": address " + q(address) + ": " + why);
    return nullptr;
  }
  const std::string_view key = c_.fold(address, "virtual", o);
  if (key.empty()) return nullptr;
  const DomainInfo* d = domains_.find(domain_of(key));
  if (!d) {
    c_.findings.error("virtual", describe(o) + ": address " + q(address) + " is not in one of our local domains");
    return nullptr;
  }
  if (d->row->kind == DomainKind::alias) {
    c_.findings.error("virtual", describe(o) + ": address " + q(address) + " is in alias domain " + q(d->row->name) +
                                     ", which mirrors its target domain and holds no addresses of its own");
    return nullptr;
  }
  if (d->row->kind == DomainKind::list && o.table != Table::mailing_lists) {
    c_.findings.error("virtual", describe(o) + ": address " + q(address) + " is in list domain " + q(d->row->name) +
                                     ", which holds only mailing lists (no accounts, addresses, groups or aliases)");
    return nullptr;
  }
  if (d->row->kind == DomainKind::relay) {
    c_.findings.error("virtual", describe(o) + ": address " + q(address) + " is in relay domain " + q(d->row->name) +
                                     "; relay domains' recipients are not ours to list");
    return nullptr;
  }
  push(key, d, o, index_.size());
  return d;
}

// Adds the folded key of an address in domain d, unless one of the entries from
// index_[from] on has it already. In an internationalized domain the address is added
// in both forms (SMTPUTF8 clients send the U-label, others the A-label); the local
// part stays as it is. An ASCII domain costs one test.
void AddressIndex::push(std::string_view key, const DomainInfo* d, const Origin& o, std::size_t from) {
  if (!d->idn) {
    push_new(key, o, from);
    return;
  }
  const std::string_view local = local_of(key);
  for (std::string_view form : {d->ukey, d->akey}) {
    key_buf_.assign(local);
    key_buf_ += '@';
    key_buf_.append(form);
    push_new(key_buf_ == key ? key : c_.pool.add(key_buf_), o, from);
  }
}

void AddressIndex::push_new(std::string_view key, const Origin& o, std::size_t from) {
  for (std::size_t i = from; i < index_.size(); ++i)
    if (index_[i].key == key) return;
  index_.push_back({key, {}, o});
}

const IndexEntry* AddressIndex::lookup(std::string_view folded) const {
  auto it = std::lower_bound(index_.begin(), index_.end(), folded,
                             [](const IndexEntry& e, std::string_view k) { return e.key < k; });
  return it != index_.end() && it->key == folded ? &*it : nullptr;
}

// The address of an index entry as its row spells it, for messages: the key is folded
// (and for an internationalized domain converted), the postmaster searches for what
// the row holds.
std::string AddressIndex::written(const IndexEntry& e) const {
  const Snapshot& s = c_.s;
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
  const DomainInfo* key_domain = via ? nullptr : domains_.find(domain_of(e.key));
  std::string folded;
  for (const std::string& w : spellings) {
    if (!casefold(w, folded) || local_of(folded) != local_of(e.key)) continue;
    if (via) return std::string(local_of(w)) + "@" + std::string(via->name);
    if (domains_.find(domain_of(folded)) == key_domain) return w;
  }
  return spellings.empty() ? std::string(e.key) : spellings.front();
}

// Two rows with one key. Postfix would keep whichever comes first; say which rows,
// and how they came to be the same key when they are spelt differently.
void AddressIndex::report_duplicate(const IndexEntry& a, const IndexEntry& b) {
  if (!reported_pairs_.emplace(origin_code(a.origin), origin_code(b.origin)).second) return;  // the other IDN form
  const std::string wa = written(a), wb = written(b);
  if (wa == wb) {
    c_.findings.error("virtual", "address " + q(b.key) + " is defined twice: " + describe(a.origin) + " and " + describe(b.origin));
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
  c_.findings.error("virtual", q(wa) + " (" + rows(a.origin) + ") and " + q(wb) + " (" + rows(b.origin) +
                                   ") are the same key " + q(b.key) + " after case folding" + (idn ? " and IDNA conversion" : ""));
}

void InactiveAddresses::add(std::string_view address, const Origin& o) {
  std::string folded;
  if (!casefold(address, folded)) return;
  const DomainInfo* d = domains_.find(domain_of(folded));
  if (!d) return;
  const std::string_view k = domains_.canonical_key(folded, d, canon_buf_);
  entries_.push_back({k == address ? address : c_.pool.add(k), {}, o});
}

void InactiveAddresses::build() {
  const Snapshot& s = c_.s;
  for (const Account& a : s.accounts) {
    if (deliverable(a)) continue;
    const Origin o{Table::accounts, a.id, 0};
    add(a.primary_address, o);
    if (has_mailbox(a) && check_local_part(a.uid).empty())
      add(c_.pool.add(std::string(a.uid) + "@" + std::string(domain_of(a.primary_address))), o);
  }
  for (const Address& ad : s.addresses) {
    const Account* a = find_by_id(s.accounts, ad.account_id);
    if (a && !deliverable(*a)) add(ad.address, {Table::addresses, ad.id, 0});
  }
  for (const Group& g : s.groups)
    if (!g.enabled) add(g.address, {Table::group_aliases, g.id, 0});
  for (const MailingList& l : s.lists)
    if (!l.enabled) add(l.address, {Table::mailing_lists, l.id, 0});
  std::sort(entries_.begin(), entries_.end(), [](const IndexEntry& a, const IndexEntry& b) { return a.key < b.key; });
}

const IndexEntry* InactiveAddresses::lookup(std::string_view folded, const DomainInfo* d) {
  if (!built_) {  // a cache, not an order: see render_parts.h
    built_ = true;
    build();
  }
  std::string buf;
  const std::string_view k = domains_.canonical_key(folded, d, buf);
  auto it = std::lower_bound(entries_.begin(), entries_.end(), k,
                             [](const IndexEntry& e, std::string_view key) { return e.key < key; });
  return it != entries_.end() && it->key == k ? &*it : nullptr;
}

}  // namespace mapsync::render_detail
