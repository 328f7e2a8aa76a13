// render_aliases.cpp - virtual expansion: groups and forwards followed down to final
// recipients, with loop detection and Postfix's virtual_alias_recursion_limit and
// virtual_alias_expansion_limit. See render_parts.h.
//
// Finals are what transport routes: uid@domain for Cyrus accounts (Cyrus delivers by
// login name), the primary address for accounts on another SMTP server, the list address
// for list managers, name@local_alias_domain for local(8) aliases.
#include <string>

#include "libmapsync/core/address.h"
#include "libmapsync/core/casefold.h"
#include "libmapsync/core/error.h"
#include "libmapsync/maps/render_parts.h"

namespace mapsync::render_detail {

AliasResolver::AliasResolver(RenderContext& c, const Domains& domains, AccountFinals& finals)
    : c_(c), domains_(domains), finals_(finals), inactive_(c, domains) {
  const Snapshot& s = c_.s;
  for (std::size_t i = 0; i < s.forwards.size(); ++i) forwards_by_account_.emplace_back(s.forwards[i].account_id, i);
  std::sort(forwards_by_account_.begin(), forwards_by_account_.end());
  for (std::size_t i = 0; i < s.group_members.size(); ++i) members_by_group_.emplace_back(s.group_members[i].group_id, i);
  std::sort(members_by_group_.begin(), members_by_group_.end());
}

void AliasResolver::use_index(const AddressIndex* index) {
  index_ = index;
  // The values of index nodes go with the index: the maps after it should not pay for them.
  if (!index) values_.clear();
}

AliasResolver::EdgeRange AliasResolver::edges(const std::vector<std::pair<std::uint32_t, std::size_t>>& v, std::uint32_t id) {
  auto [b, e] = std::equal_range(v.begin(), v.end(), std::make_pair(id, std::size_t{0}),
                                 [](const auto& x, const auto& y) { return x.first < y.first; });
  return {static_cast<std::size_t>(b - v.begin()), static_cast<std::size_t>(e - v.begin())};
}

std::string AliasResolver::node_name(Node n) const {
  const Snapshot& s = c_.s;
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
std::string AliasResolver::path_text(const std::vector<Node>& path) const {
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
const Resolved* AliasResolver::leaf(Node n) {
  static const Resolved none;
  const Snapshot& s = c_.s;
  switch (n.kind) {
    case NodeKind::account: {
      const Account& a = s.accounts[n.id];
      if (!deliverable(a)) return &none;
      if (a.delivery == Delivery::forward) return nullptr;
      const std::string_view f = a.delivery == Delivery::cyrus ? finals_.cyrus(a) : finals_.smtp(a);
      if (f.empty()) return &none;
      single_.finals.assign(1, f);
      return &single_;
    }
    case NodeKind::group: return s.groups[n.id].enabled ? nullptr : &none;
    case NodeKind::list:
    case NodeKind::system_alias: {
      auto it = finals_memo_.find(n.code());
      if (it != finals_memo_.end()) return &it->second;
      Resolved r;
      if (n.kind == NodeKind::list) {
        const MailingList& l = s.lists[n.id];
        if (l.enabled && l.manager == ListManager::transport) r.finals.push_back(c_.pool.add(lowercase_domain(l.address)));
        else if (l.enabled) r.finals.push_back(c_.pool.add(std::string(l.local_name) + "@" + c_.cfg.local_alias_domain));
      } else {
        r.finals.push_back(c_.pool.add(std::string(s.system_aliases[n.id].name) + "@" + c_.cfg.local_alias_domain));
      }
      return &finals_memo_.emplace(n.code(), std::move(r)).first->second;
    }
  }
  return &none;
}

const Resolved& AliasResolver::resolved(Node root) {
  if (const Resolved* r = leaf(root)) return *r;
  if (auto it = finals_memo_.find(root.code()); it != finals_memo_.end()) return it->second;
  open(root);
  while (!frames_.empty()) {
    Node child{};
    if (next_child(frames_.back(), child)) open(child);
    else close();
  }
  return finals_memo_.find(root.code())->second;
}

void AliasResolver::open(Node n) {
  in_progress_.insert(n.code());
  const EdgeRange r = n.kind == NodeKind::group ? edges(members_by_group_, c_.s.groups[n.id].id)
                                                : edges_of_account(c_.s.accounts[n.id].id);
  frames_.push_back({n, r.first, r.second, {}, 1, kNoNode});
  // "Deliver to mailbox too": the account's own mailbox is one of its recipients.
  if (n.kind == NodeKind::account && has_mailbox(c_.s.accounts[n.id]))
    if (const std::string_view own = finals_.cyrus(c_.s.accounts[n.id]); !own.empty()) frames_.back().out.push_back(own);
}

// Follows f's edges, taking in what is known; true with child set when child must be
// resolved first.
bool AliasResolver::next_child(Frame& f, Node& child) {
  while (f.next < f.end) {
    if (!edge(f, f.next++, child)) continue;
    if (const Resolved* r = leaf(child)) {
      f.out.insert(f.out.end(), r->finals.begin(), r->finals.end());
      continue;
    }
    const std::uint64_t code = child.code();
    if (auto it = finals_memo_.find(code); it != finals_memo_.end()) {
      take(f, child, it->second);
      continue;
    }
    if (in_progress_.count(code)) {
      report_loop(child);
      continue;
    }
    return true;
  }
  return false;
}

void AliasResolver::take(Frame& f, Node child, const Resolved& r) {
  f.out.insert(f.out.end(), r.finals.begin(), r.finals.end());
  if (r.depth + 1 > f.depth) {
    f.depth = r.depth + 1;
    f.deepest = child.code();
  }
}

void AliasResolver::close() {
  Frame& f = frames_.back();
  std::sort(f.out.begin(), f.out.end());
  f.out.erase(std::unique(f.out.begin(), f.out.end()), f.out.end());
  const Node n = f.n;
  Resolved r{std::move(f.out), f.depth, f.deepest};
  frames_.pop_back();
  in_progress_.erase(n.code());
  const Resolved& done = finals_memo_.emplace(n.code(), std::move(r)).first->second;
  report_limits(n, done);
  if (!frames_.empty()) take(frames_.back(), n, done);
}

void AliasResolver::report_limits(Node n, const Resolved& done) {
  const RenderConfig& cfg = c_.cfg;
  if (done.finals.size() > cfg.expansion_limit && reported_.insert(n.code()).second)
    c_.findings.error("virtual", node_name(n) + " expands to " + std::to_string(done.finals.size()) +
                                     " recipients, more than Postfix's virtual_alias_expansion_limit (" +
                                     std::to_string(cfg.expansion_limit) + ")");
  // Reported where the chain first gets too deep: every deeper node leads through
  // such a node, so one message per offending structure, not one per group above it.
  if (done.depth == std::uint64_t{cfg.recursion_limit} + 1) {
    std::vector<Node> chain{n};
    for (std::uint64_t c = done.deepest; c != kNoNode; c = finals_memo_.find(c)->second.deepest) chain.push_back(Node::from(c));
    c_.findings.error("virtual", node_name(n) + " leads through " + std::to_string(done.depth) +
                                     " nested groups and forwards, more than Postfix's virtual_alias_recursion_limit (" +
                                     std::to_string(cfg.recursion_limit) + "), and so does every address that leads to it: " +
                                     path_text(chain));
  }
}

void AliasResolver::report_loop(Node n) {
  if (!reported_.insert(n.code()).second) return;
  std::vector<Node> path;
  bool on = false;
  for (const Frame& f : frames_) {
    on = on || f.n.code() == n.code();
    if (on) path.push_back(f.n);
  }
  path.push_back(n);
  c_.findings.error("virtual", "alias loop: " + path_text(path));
}

OwnerCode AliasResolver::code_of(Node n) const {
  const Snapshot& s = c_.s;
  switch (n.kind) {
    case NodeKind::account: return owner_code(Table::accounts, s.accounts[n.id].id);
    case NodeKind::group: return owner_code(Table::group_aliases, s.groups[n.id].id);
    case NodeKind::list: return owner_code(Table::mailing_lists, s.lists[n.id].id);
    case NodeKind::system_alias: return owner_code(Table::system_aliases, s.system_aliases[n.id].id);
  }
  return 0;
}

void AliasResolver::record_edge(Node child) {
  if (c_.graph) c_.graph->edges.emplace_back(parent_, code_of(child));
}

// Edge i of frame f: a forward of an account, or a member of a group. True with child
// set when it leads to a row; false when it was taken in (an outside address) or
// reported.
bool AliasResolver::edge(Frame& f, std::size_t i, Node& child) {
  const Snapshot& s = c_.s;
  if (c_.graph) parent_ = code_of(f.n);
  if (f.n.kind == NodeKind::account) {
    const Forward& fw = s.forwards[forwards_by_account_[i].second];
    return target(fw.target, {Table::account_forwards, fw.id, 0}, f.out, child);
  }
  const Group& g = s.groups[f.n.id];
  const GroupMember& m = s.group_members[members_by_group_[i].second];
  const Origin o{Table::group_members, m.id, 0};
  if (m.account_id) {
    if (c_.graph) c_.graph->edges.emplace_back(parent_, owner_code(Table::accounts, m.account_id));
    const Account* a = find_by_id(s.accounts, m.account_id);
    if (!a || !deliverable(*a)) {
      // Accounts are disabled and deleted all the time; their group rows go later.
      c_.findings.warning("virtual", describe(o) + ": member account id=" + std::to_string(m.account_id) + " of group " +
                                         q(g.address) + " receives no mail (disabled or delivery none); left out");
      return false;
    }
    child = {NodeKind::account, pos(s.accounts, *a)};
    return true;
  }
  if (m.member_group_id) {
    if (c_.graph) c_.graph->edges.emplace_back(parent_, owner_code(Table::group_aliases, m.member_group_id));
    const Group* sub = find_by_id(s.groups, m.member_group_id);
    if (!sub) return false;  // the foreign key makes this impossible
    if (!sub->enabled) {
      c_.findings.warning("virtual", describe(o) + ": member group " + q(sub->address) + " (group_aliases id=" +
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
bool AliasResolver::target(std::string_view address, const Origin& from, std::vector<std::string_view>& out, Node& child) {
  if (auto why = check_address(address); !why.empty()) {
    c_.findings.error("virtual", describe(from) + ": target " + q(address) + ": " + why);
    return false;
  }
  std::string err;
  if (!casefold(address, target_buf_, &err)) {
    c_.findings.error("virtual", describe(from) + ": target " + q(address) + ": " + err);
    return false;
  }
  if (!index_) fail(Exit::software, "render: a target was resolved without the address index");
  const IndexEntry* e = index_->lookup(target_buf_);
  const DomainInfo* d = nullptr;
  if (!e) {
    d = domains_.find(domain_of(target_buf_));
    if (d && d->idn) e = index_->lookup(domains_.canonical_key(target_buf_, d, canon_buf_));  // a U-label in another normalisation
  }
  if (e) {
    child = node_of(c_.s, e->origin);
    record_edge(child);
    return true;
  }
  if (d && d->row->kind != DomainKind::relay) {
    // Whoever receives this address later makes this node's value change.
    if (c_.graph) {
      c_.graph->unresolved.emplace_back(parent_, target_buf_);
      if (d->idn) c_.graph->unresolved.emplace_back(parent_, std::string(domains_.canonical_key(target_buf_, d, canon_buf_)));
    }
    no_recipient(address, d, from);
    return false;
  }
  out.push_back(c_.pool.add(lowercase_domain(address)));
  return false;
}

// A target in one of our domains that the index does not have. A row that receives no
// mail (disabled, pending deletion, delivery 'none') is the normal lifecycle of an
// account: a warning. No row at all: the address would bounce, which is an error.
void AliasResolver::no_recipient(std::string_view address, const DomainInfo* d, const Origin& from) {
  if (const IndexEntry* owner = inactive_.lookup(target_buf_, d)) {
    c_.findings.warning("virtual", describe(from) + ": target " + q(address) + " is the address of " + owner_text(owner->origin) +
                                       ": it receives no mail; left out");
    return;
  }
  c_.findings.error("virtual", describe(from) + ": target " + q(address) + " is in our domain " + q(d->row->name) +
                                   " but is no valid recipient (no row that receives mail has this address): mail to it would bounce");
}

std::string AliasResolver::owner_text(const Origin& o) const {
  const Snapshot& s = c_.s;
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

std::string_view AliasResolver::joined(const std::vector<std::string_view>& f) {
  if (f.size() == 1) return f[0];
  std::string v;
  for (std::size_t i = 0; i < f.size(); ++i) {
    if (i) v += ", ";
    v.append(f[i]);
  }
  return c_.pool.add(v);
}

std::string_view AliasResolver::value_of(Node n) {
  if (n.kind == NodeKind::account) {
    const Account& a = c_.s.accounts[n.id];
    if (deliverable(a) && a.delivery == Delivery::cyrus) return finals_.cyrus(a);
    if (deliverable(a) && a.delivery == Delivery::smtp) return finals_.smtp(a);
  }
  auto it = values_.find(n.code());
  if (it != values_.end()) return it->second;
  const Resolved& r = resolved(n);
  const std::string_view v = r.finals.empty() ? std::string_view() : joined(r.finals);
  if (v.empty() && n.kind == NodeKind::group)
    c_.findings.warning("virtual", node_name(n) + " has no member that receives mail; its address is not accepted");
  else if (v.empty() && n.kind == NodeKind::account && reported_.insert(n.code()).second)
    c_.findings.warning("virtual", node_name(n) + " resolves to no recipient; its addresses are not accepted");
  return values_.emplace(n.code(), v).first->second;
}

}  // namespace mapsync::render_detail
