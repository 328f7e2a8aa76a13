// render_routing.cpp - routes beyond "one mailbox per person": delivery targets with a
// routing domain (Exchange coexistence, a cloud tenant) and list domains. See
// render_parts.h and schema/004_routing.sql.
#include <string>

#include "libmapsync/core/address.h"
#include "libmapsync/core/casefold.h"
#include "libmapsync/maps/render_parts.h"

namespace mapsync::render_detail {

bool expand_template(std::string_view tmpl, const Account& a, std::string_view domain, std::string& out) {
  out.clear();
  std::string_view local, dom;
  split_address(a.primary_address, local, dom);
  if (!domain.empty()) dom = domain;
  for (std::size_t i = 0; i < tmpl.size(); ++i) {
    if (tmpl[i] != '{') {
      out += tmpl[i];
      continue;
    }
    const auto j = tmpl.find('}', i);
    if (j == std::string_view::npos) return false;
    const std::string_view ph = tmpl.substr(i + 1, j - i - 1);
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

namespace {

// Whether a domain that is not ours is routed by a relay domain row or a transport
// override (the other ways a routing domain may be sent on).
bool routed_elsewhere(const Snapshot& s, std::string_view folded) {
  std::string f;
  for (const Domain& d : s.domains)
    if (d.enabled && d.kind == DomainKind::relay && !d.transport.empty() && casefold(d.name, f) && f == folded) return true;
  for (const TransportOverride& t : s.transports)
    if (t.enabled && casefold(t.pattern, f) && f == folded) return true;
  return false;
}

}  // namespace

void check_targets(RenderContext& c, const Domains& domains) {
  for (const DeliveryTarget& t : c.s.targets) {
    if (!t.enabled) continue;
    const Origin o{Table::delivery_targets, t.id, 0};
    const std::string what = describe(o) + ": delivery target " + q(t.name);
    if (!t.transport.empty())
      if (auto why = check_transport(t.transport); !why.empty()) c.findings.error("transport", what + ": transport " + q(t.transport) + ": " + why);
    if (t.routing_domain.empty()) {
      if (t.transport.empty())
        c.findings.error("transport", what + " has neither a transport nor a routing domain: its accounts' mail routes nowhere");
      continue;
    }
    if (auto why = check_domain(t.routing_domain); !why.empty()) {
      c.findings.error("transport", what + ": routing domain " + q(t.routing_domain) + ": " + why);
      continue;
    }
    std::string folded;
    if (!casefold(t.routing_domain, folded)) continue;
    if (const DomainInfo* d = domains.find(folded); d && d->row->kind != DomainKind::relay) {
      c.findings.error("transport", what + ": routing domain " + q(t.routing_domain) + " is our own domain (" +
                                        describe({Table::domains, d->row->id, 0}) +
                                        "): mail rewritten to it would come back to the virtual map instead of leaving");
      continue;
    }
    if (t.transport.empty() && !routed_elsewhere(c.s, folded))
      c.findings.error("transport", what + ": routing domain " + q(t.routing_domain) +
                                        " routes nowhere: give the target a transport, or route the domain as a relay domain or a transport override");
    std::string probe;
    if (std::string_view tmpl = t.address_template; !tmpl.empty()) {
      // A template that cannot make an address for a complete account is a typo.
      Account sample;
      sample.uid = "u";
      sample.primary_address = "p@example.edu";
      sample.given_name = sample.surname = "n";
      if (!expand_template(tmpl, sample, t.routing_domain, probe) || !check_address(probe).empty())
        c.findings.error("virtual", what + ": address template " + q(tmpl) +
                                        " does not make an address (placeholders: {uid} {domain} {primary_local} {given} {surname})");
    }
  }
}

void list_companions(RenderContext& c, const Domains& domains, std::vector<MapEntries::Entry>& out) {
  if (c.cfg.list_companions.empty()) return;
  std::string folded, suffix, key;
  for (const MailingList& l : c.s.lists) {
    if (!l.enabled || !casefold(l.address, folded)) continue;  // a bad address is reported by the index
    const DomainInfo* d = domains.find(domain_of(folded));
    if (!d || d->row->kind != DomainKind::list) continue;
    const Origin o{Table::mailing_lists, l.id, 0};
    for (const std::string& x : c.cfg.list_companions) {
      if (!casefold(x, suffix)) continue;
      for (std::string_view form : {d->ukey, d->akey}) {
        key.assign(local_of(folded));
        key += suffix;
        key += '@';
        key.append(form);
        out.push_back({c.pool.add(key), "OK", o});
        if (!d->idn) break;
      }
    }
  }
}

}  // namespace mapsync::render_detail
