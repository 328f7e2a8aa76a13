// render_domains.cpp - our domains in every spelling keys use, and the final recipient of
// each account. See render_parts.h.
#include <string>

#include "libmapsync/core/address.h"
#include "libmapsync/core/casefold.h"
#include "libmapsync/maps/render_parts.h"

namespace mapsync::render_detail {

std::string_view RenderContext::fold(std::string_view in, const char* map, const Origin& o) {
  std::string err;
  if (!casefold(in, fold_buf, &err)) {
    findings.error(map, describe(o) + ": " + q(in) + ": " + err);
    return {};
  }
  return fold_buf == in ? in : pool.add(fold_buf);
}

Node node_of(const Snapshot& s, const Origin& o) {
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

Domains::Domains(RenderContext& c) : c_(c), info_(c.s.domains.size()) {
  for (const Domain& d : c_.s.domains) load(d);
  for (const Domain& d : c_.s.domains) {
    if (!d.enabled || d.kind != DomainKind::alias) continue;
    const Domain* t = find_by_id(c_.s.domains, d.target_domain_id);
    if (!t || t->kind != DomainKind::local || !t->enabled)
      c_.findings.error("", describe({Table::domains, d.id, 0}) + ": alias domain " + q(d.name) +
                                " must point to an enabled local domain");
  }
  for (const Domain& d : c_.s.domains)
    if (d.enabled && d.kind == DomainKind::list && d.transport.empty())
      c_.findings.error("transport", describe({Table::domains, d.id, 0}) + ": list domain " + q(d.name) +
                                         " has no transport: where would its lists' mail go?");
}

void Domains::load(const Domain& d) {
  const Origin o{Table::domains, d.id, 0};
  if (auto why = check_domain(d.name); !why.empty()) {
    c_.findings.error("", describe(o) + ": domain " + q(d.name) + ": " + why);
    return;
  }
  if (!d.enabled) return;
  const std::string_view written = c_.fold(d.name, "", o);
  if (written.empty()) return;
  DomainInfo& info = info_[pos(c_.s.domains, d)];
  info.ukey = info.akey = written;
  if (is_idn_domain(d.name)) {
    // check_domain() converted it already; both forms are normalised through the A-label.
    std::string err;
    const std::string a = domain_to_alabel(d.name, &err);
    const std::string u = a.empty() ? std::string() : domain_to_ulabel(a, &err);
    if (u.empty()) {
      c_.findings.error("", describe(o) + ": domain " + q(d.name) + ": internationalized domain is not valid IDNA: " + err);
      return;
    }
    info.idn = true;
    info.akey = c_.pool.add(a);
    info.ukey = c_.fold(c_.pool.add(u), "", o);  // fold() may return its input: it must outlive us
    if (info.ukey.empty()) return;
  }
  info.row = &d;
  for (std::string_view key : {written, info.ukey, info.akey}) {
    auto [it, fresh] = by_key_.emplace(key, &info);
    if (!fresh && it->second != &info) {
      c_.findings.error("", describe(o) + ": domain " + q(d.name) + " and domain " + q(it->second->row->name) + " (" +
                                describe({Table::domains, it->second->row->id, 0}) + ") are the same domain " + q(key) +
                                " after case folding" + (info.idn ? " and IDNA conversion" : ""));
      break;
    }
  }
}

const DomainInfo* Domains::find(std::string_view folded) const {
  auto it = by_key_.find(folded);
  if (it != by_key_.end()) return it->second;
  if (is_ascii(folded)) return nullptr;
  // A U-label in another Unicode normalisation than the row's: the A-labels agree.
  const std::string a = domain_to_alabel(folded);
  it = a.empty() ? by_key_.end() : by_key_.find(a);
  return it == by_key_.end() ? nullptr : it->second;
}

const DomainInfo* Domains::info_of(const Domain* d) const {
  return d && info_[pos(c_.s.domains, *d)].row ? &info_[pos(c_.s.domains, *d)] : nullptr;
}

void Domains::keys_of(std::string_view written, const char* map, const Origin& o, std::vector<std::string_view>& out) {
  out.clear();
  const std::string_view folded = c_.fold(written, map, o);
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
    key_buf_.assign(prefix);
    if (at != std::string_view::npos) key_buf_ += '@';
    key_buf_ += *form;
    out.push_back(key_buf_ == folded ? folded : c_.pool.add(key_buf_));
  }
}

std::string_view Domains::canonical_key(std::string_view folded, const DomainInfo* d, std::string& buf) const {
  const DomainInfo* t = d;
  if (d->row->kind == DomainKind::alias) t = info_of(find_by_id(c_.s.domains, d->row->target_domain_id));
  if (!t) return folded;
  const std::string_view dom = domain_of(folded);
  if (dom == t->akey) return folded;
  buf.assign(folded.substr(0, folded.size() - dom.size()));  // with the '@'
  buf.append(t->akey);
  return buf;
}

std::string_view AccountFinals::cyrus(const Account& a) {
  const std::size_t i = static_cast<std::size_t>(&a - c_.s.accounts.data());
  if (done_[i]) return final_[i];
  std::string_view fin;
  const Origin o{Table::accounts, a.id, 0};
  if (auto why = check_local_part(a.uid); !why.empty()) {
    c_.findings.error("virtual", describe(o) + ": uid " + q(a.uid) + " cannot be a mailbox address: " + why);
  } else {
    std::string d;
    casefold(domain_of(a.primary_address), d);
    std::string u;
    casefold(a.uid, u);
    fin = c_.pool.add(u + "@" + d);
  }
  done_[i] = true;
  return final_[i] = fin;
}

// The routing address of an account of a delivery target (its own routing_address, or
// the target's template in the routing domain), else its primary address: what the next
// hop receives. A routing address that cannot be made is an error: the account's mail
// would go nowhere.
std::string_view AccountFinals::smtp(const Account& a) {
  const std::size_t i = static_cast<std::size_t>(&a - c_.s.accounts.data());
  if (done_[i]) return final_[i];
  done_[i] = true;
  const DeliveryTarget* t = a.delivery_target_id ? find_by_id(c_.s.targets, a.delivery_target_id) : nullptr;
  const Origin o{Table::accounts, a.id, 0};
  std::string addr;
  if (!a.routing_address.empty()) {
    addr = a.routing_address;
  } else if (t && !t->routing_domain.empty()) {
    if (!expand_template(t->address_template, a, t->routing_domain, addr)) {
      c_.findings.error("virtual", describe(o) + ": account " + q(a.uid) + ": the address template " + q(t->address_template) +
                                       " of delivery target " + q(t->name) + " needs a field this account has empty");
      return final_[i] = {};
    }
  } else {
    return final_[i] = c_.pool.add(lowercase_domain(a.primary_address));
  }
  if (auto why = check_address(addr); !why.empty()) {
    c_.findings.error("virtual", describe(o) + ": account " + q(a.uid) + ": routing address " + q(addr) + ": " + why);
    return final_[i] = {};
  }
  return final_[i] = c_.pool.add(lowercase_domain(addr));
}

}  // namespace mapsync::render_detail
