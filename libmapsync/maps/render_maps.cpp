// render_maps.cpp - one function per map, chosen by MapKind through a table. See
// render.h for what each map holds and render_parts.h for the parts they use.
#include <string>
#include <unordered_map>

#include "libmapsync/core/address.h"
#include "libmapsync/core/casefold.h"
#include "libmapsync/core/error.h"
#include "libmapsync/core/log.h"
#include "libmapsync/maps/render_parts.h"

namespace mapsync::render_detail {

namespace {

// Sorts by key and reports every key defined more than once, naming both rows.
void sort_and_check(RenderContext& c, MapEntries& m) {
  // Not stable_sort: its buffer would cost as much as the map. Ties are broken by
  // origin so that messages come out the same every run. Most maps arrive sorted.
  const auto by_key = [](const MapEntries::Entry& a, const MapEntries::Entry& b) { return a.key < b.key; };
  if (!std::is_sorted(m.entries.begin(), m.entries.end(), by_key))
    sort_by_key(m.entries, [](const MapEntries::Entry& a, const MapEntries::Entry& b) {
      if (a.origin.table != b.origin.table) return a.origin.table < b.origin.table;
      return a.origin.id != b.origin.id ? a.origin.id < b.origin.id : a.origin.via_domain < b.origin.via_domain;
    });
  for (std::size_t i = 1; i < m.entries.size(); ++i)
    if (m.entries[i].key == m.entries[i - 1].key)
      c.findings.error(m.name, "key " + q(m.entries[i].key) + " is defined twice: " + describe(m.entries[i - 1].origin) +
                                   " and " + describe(m.entries[i].origin));
}

// The accepted addresses (the first entry of each key, if it has a recipient) as map
// entries; value: the virtual value, or fixed (relay_recipients' "OK"). A key defined
// twice was reported when the index was built; one is kept so that the map stays a map.
// When p.consume_index, no map after this one needs the index, so its memory becomes
// this map's (a million addresses: no second vector of the same size).
void entries_from_index(RenderParts& p, MapEntries& m, std::string_view fixed) {
  std::vector<IndexEntry>& index = p.index->entries();
  // Every value first, while the index is whole: resolving a group member or a forward
  // looks its target up in the index, which compacting below overwrites.
  std::string_view prev;
  for (std::size_t i = 0; i < index.size(); ++i) {
    IndexEntry& e = index[i];
    const bool first = i == 0 || e.key != prev;
    prev = e.key;
    e.value = first ? p.resolver.value_of(node_of(p.c.s, e.origin)) : std::string_view();
  }
  std::vector<IndexEntry> copy;
  if (!p.consume_index) copy.reserve(index.size());
  std::size_t n = 0;
  for (std::size_t i = 0; i < index.size(); ++i) {
    const IndexEntry e = index[i];
    if (e.value.empty()) continue;
    const IndexEntry out{e.key, fixed.empty() ? e.value : fixed, e.origin};
    if (p.consume_index) index[n++] = out;  // n <= i: only entries already read are overwritten
    else copy.push_back(out);
  }
  if (p.consume_index) {
    index.resize(n);
    m.entries = std::move(index);
  } else {
    m.entries = std::move(copy);
  }
}

void render_virtual(RenderParts& p, MapEntries& m) { entries_from_index(p, m, {}); }

void render_relay_recipients(RenderParts& p, MapEntries& m) {
  entries_from_index(p, m, "OK");
  for (const auto& e : relay_wildcards(p.c, p.domains)) m.entries.push_back(e);
  sort_and_check(p.c, m);
}

void render_relay_domains(RenderParts& p, MapEntries& m) {
  std::vector<std::string_view> keys;
  for (const Domain& d : p.c.s.domains) {
    if (!d.enabled) continue;
    const Origin o{Table::domains, d.id, 0};
    p.domains.keys_of(d.name, "relay_domains", o, keys);
    for (std::string_view k : keys)
      m.add(k, to_sql(d.kind), o);
  }
  sort_and_check(p.c, m);
}

bool has_partition(const Backend& b, std::string_view part) {
  std::string_view list = b.partitions;
  while (!list.empty()) {
    const auto comma = list.find(',');
    std::string_view x = list.substr(0, comma);
    while (!x.empty() && x.front() == ' ') x.remove_prefix(1);
    while (!x.empty() && x.back() == ' ') x.remove_suffix(1);
    if (x == part) return true;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return false;
}

// The route of an account delivered by SMTP: its final recipient -> smtp_nexthop or its
// delivery target's transport. A routing address in the target's routing domain needs
// no entry of its own: the domain's entry (target_routes) routes it.
void smtp_route(RenderParts& p, const Account& a, MapEntries& m) {
  RenderContext& c = p.c;
  const Origin o{Table::accounts, a.id, 0};
  const std::string_view fin = p.finals.smtp(a);
  if (fin.empty()) return;  // reported
  std::string v;
  if (a.delivery_target_id) {
    const DeliveryTarget* t = find_by_id(c.s.targets, a.delivery_target_id);
    if (!t || !t->enabled || !a.smtp_nexthop.empty()) return;  // reported by check_routes()
    std::string rd;
    if (!t->routing_domain.empty() && casefold(t->routing_domain, rd) && domain_of(fin) == rd) return;
    if (t->transport.empty()) {
      c.findings.error("transport", describe(o) + ": account " + q(a.uid) + ": routing address " + q(fin) +
                                        " is outside the routing domain of delivery target " + q(t->name) + ", which has no transport of its own");
      return;
    }
    v = t->transport;  // checked by check_targets()
  } else {
    if (a.smtp_nexthop.empty()) return;  // reported by check_routes()
    v = "smtp:" + std::string(a.smtp_nexthop);
    if (auto why = check_transport(v); !why.empty()) {
      c.findings.error("transport", describe(o) + ": smtp_nexthop " + q(a.smtp_nexthop) + ": " + why);
      return;
    }
  }
  const std::string_view key = c.fold(fin, "transport", o);
  if (!key.empty()) m.add(key, c.pool.add(v), o);
}

// Each enabled delivery target's routing domain -> its transport.
void target_routes(RenderParts& p, MapEntries& m) {
  std::vector<std::string_view> keys;
  for (const DeliveryTarget& t : p.c.s.targets) {
    if (!t.enabled || t.routing_domain.empty() || t.transport.empty()) continue;
    if (!check_transport(t.transport).empty() || !check_domain(t.routing_domain).empty()) continue;  // reported by check_targets()
    const Origin o{Table::delivery_targets, t.id, 0};
    p.domains.keys_of(t.routing_domain, "transport", o, keys);
    for (std::string_view k : keys) m.add(k, t.transport, o);
  }
}

// The computed routes: each final recipient of an account or a list manager, and each
// relay domain with a transport of its own.
void computed_routes(RenderParts& p, MapEntries& m) {
  RenderContext& c = p.c;
  std::unordered_map<std::uint32_t, std::string_view> lmtp;  // backend id -> transport
  std::string_view moving;  // render.moving_transport, added and checked at its first use
  for (const Account& a : c.s.accounts) {
    if (!deliverable(a)) continue;
    const Origin o{Table::accounts, a.id, 0};
    if (has_mailbox(a)) {
      const Backend* b = find_by_id(c.s.backends, a.backend_id);
      if (!b || !b->enabled) continue;  // reported once by check_routes()
      auto it = lmtp.find(b->id);
      if (it == lmtp.end()) {
        const std::string v = "lmtp:[" + std::string(b->lmtp_host) + "]:" + std::to_string(b->lmtp_port);
        if (auto why = check_transport(v); !why.empty())
          c.findings.error("transport", "backends id=" + std::to_string(b->id) + ": " + q(v) + ": " + why);
        it = lmtp.emplace(b->id, c.pool.add(v)).first;
      }
      if (!a.partition.empty() && !has_partition(*b, a.partition))
        c.findings.warning("transport", describe(o) + ": partition " + q(a.partition) + " is not listed for back end " + q(b->name));
      if (a.mailbox_moving && moving.empty()) {
        if (auto why = check_transport(c.cfg.moving_transport); !why.empty())
          c.findings.error("transport", "render.moving_transport " + q(c.cfg.moving_transport) + ": " + why);
        moving = c.pool.add(c.cfg.moving_transport);
      }
      if (auto f = p.finals.cyrus(a); !f.empty()) m.add(f, a.mailbox_moving ? moving : it->second, o);
    } else if (a.delivery == Delivery::smtp) {
      smtp_route(p, a, m);
    }
  }
  target_routes(p, m);
  for (const MailingList& l : c.s.lists) {
    if (!l.enabled || l.manager != ListManager::transport) continue;
    const Origin o{Table::mailing_lists, l.id, 0};
    if (auto why = check_transport(l.transport); !why.empty()) {
      c.findings.error("transport", describe(o) + ": transport " + q(l.transport) + ": " + why);
      continue;
    }
    const std::string_view key = c.fold(l.address, "transport", o);
    if (!key.empty()) m.add(key, l.transport, o);
  }
  std::vector<std::string_view> keys;
  for (const Domain& d : c.s.domains) {
    if (!d.enabled || (d.kind != DomainKind::relay && d.kind != DomainKind::list) || d.transport.empty()) continue;
    const Origin o{Table::domains, d.id, 0};
    if (auto why = check_transport(d.transport); !why.empty()) {
      c.findings.error("transport", describe(o) + ": transport " + q(d.transport) + ": " + why);
      continue;
    }
    p.domains.keys_of(d.name, "transport", o, keys);
    for (std::string_view k : keys) m.add(k, d.transport, o);
  }
}

// Overrides replace what was computed, by design: that is what the table is for.
void transport_overrides(RenderParts& p, MapEntries& m) {
  RenderContext& c = p.c;
  std::vector<MapEntries::Entry> extra;
  std::vector<std::string_view> keys;
  for (const TransportOverride& t : c.s.transports) {
    if (!t.enabled) continue;
    const Origin o{Table::transport_overrides, t.id, 0};
    const bool is_addr = t.pattern.find('@') != std::string_view::npos;
    const std::string why_pattern = is_addr ? check_address(t.pattern) : check_domain(t.pattern);
    if (!why_pattern.empty()) {
      c.findings.error("transport", describe(o) + ": pattern " + q(t.pattern) + ": " + why_pattern);
      continue;
    }
    if (auto why = check_transport(t.transport); !why.empty()) {
      c.findings.error("transport", describe(o) + ": transport " + q(t.transport) + ": " + why);
      continue;
    }
    p.domains.keys_of(t.pattern, "transport", o, keys);
    for (std::string_view key : keys) {
      auto it = std::lower_bound(m.entries.begin(), m.entries.end(), key,
                                 [](const MapEntries::Entry& e, std::string_view k) { return e.key < k; });
      if (it != m.entries.end() && it->key == key) {
        log::info("transport: " + describe(o) + " replaces the route of " + q(key) + " (" + escape(it->value) +
                  " from " + describe(it->origin) + ") with " + escape(t.transport));
        it->value = t.transport;
        it->origin = o;
      } else {
        extra.push_back({key, t.transport, o});
      }
    }
  }
  m.entries.insert(m.entries.end(), extra.begin(), extra.end());
}

void render_transport(RenderParts& p, MapEntries& m) {
  computed_routes(p, m);
  sort_and_check(p.c, m);
  transport_overrides(p, m);
  sort_and_check(p.c, m);
}

void render_canonical(RenderParts& p, MapEntries& m) {
  RenderContext& c = p.c;
  for (const CanonicalRewrite& r : c.s.canonical) {
    if (!r.enabled) continue;
    const Origin o{Table::canonical_rewrites, r.id, 0};
    bool ok = true;
    for (std::string_view a : {r.source, r.target}) {
      // canonical(5) accepts user@domain and @domain on both sides.
      const std::string why = a.size() > 1 && a.front() == '@' ? check_domain(a.substr(1)) : check_address(a);
      if (!why.empty()) {
        c.findings.error("canonical", describe(o) + ": " + q(a) + ": " + why);
        ok = false;
      }
    }
    if (!ok) continue;
    const std::string_view key = c.fold(r.source, "canonical", o);
    if (!key.empty()) m.add(key, r.target, o);
  }
  if (c.cfg.canonical_generate) {
    std::string k, v, kf, vf;
    for (const Account& a : c.s.accounts) {
      if (a.status != AccountStatus::active) continue;
      const Origin o{Table::accounts, a.id, 0};
      if (!expand_template(c.cfg.canonical_key, a, {}, k) || !expand_template(c.cfg.canonical_value, a, {}, v)) continue;
      if (!check_address(k).empty() || !check_address(v).empty()) {
        c.findings.warning("canonical", describe(o) + ": generated rewrite " + q(k) + " -> " + q(v) +
                                            " is not a valid address pair; left out");
        continue;
      }
      if (!casefold(k, kf) || !casefold(v, vf)) continue;
      if (kf == vf) continue;  // identity: nothing to rewrite
      m.add(c.pool.add(kf), c.pool.add(lowercase_domain(v)), o);
    }
  }
  sort_and_check(c, m);
}

std::string alias_name_problem(std::string_view name) {
  if (name.find_first_of(":@") != std::string_view::npos) return "an alias name may not contain ':' or '@'";
  return check_local_part(name);
}

// System aliases; returns whether "postmaster" is among them.
bool system_aliases(RenderContext& c, MapEntries& m) {
  bool have_postmaster = false;
  for (const SystemAlias& sa : c.s.system_aliases) {
    const Origin o{Table::system_aliases, sa.id, 0};
    if (auto why = alias_name_problem(sa.name); !why.empty()) {
      c.findings.error("aliases", describe(o) + ": name " + q(sa.name) + ": " + why);
      continue;
    }
    std::string value;
    bool ok = true;
    for (const std::string& t : split_alias_targets(sa.targets)) {
      if (auto why = check_alias_target(t); !why.empty()) {
        c.findings.error("aliases", describe(o) + ": target " + q(t) + ": " + why);
        ok = false;
        continue;
      }
      if (!value.empty()) value += ", ";
      value += quote_alias_target(t);
    }
    if (!ok) continue;
    const std::string_view key = c.fold(sa.name, "aliases", o);
    if (key.empty()) continue;
    if (key == "postmaster") have_postmaster = true;
    m.add(key, c.pool.add(value), o);
  }
  return have_postmaster;
}

void render_aliases(RenderParts& p, MapEntries& m) {
  RenderContext& c = p.c;
  const bool have_postmaster = system_aliases(c, m);
  for (const MailingList& l : c.s.lists) {
    if (!l.enabled || l.manager != ListManager::pipe) continue;
    const Origin o{Table::mailing_lists, l.id, 0};
    if (auto why = alias_name_problem(l.local_name); !why.empty()) {
      c.findings.error("aliases", describe(o) + ": local_name " + q(l.local_name) + ": " + why);
      continue;
    }
    std::string cmd(l.pipe_command);
    if (!cmd.empty() && cmd.front() != '|') cmd.insert(cmd.begin(), '|');
    if (std::string why = check_alias_target(cmd); !why.empty()) {
      c.findings.error("aliases", describe(o) + ": pipe_command " + q(l.pipe_command) + ": " + why);
      continue;
    }
    const std::string_view key = c.fold(l.local_name, "aliases", o);
    if (!key.empty()) m.add(key, c.pool.add(quote_alias_target(cmd)), o);
  }
  if (!have_postmaster)
    c.findings.warning("aliases", "no system alias \"postmaster\": RFC 5321 requires one and local(8) expects it");
  sort_and_check(c, m);
}

using MapFunction = void (*)(RenderParts&, MapEntries&);

// By MapKind, in the order of map_kinds.
constexpr MapFunction map_functions[] = {
    render_transport, render_canonical, render_relay_domains, render_aliases, render_virtual, render_relay_recipients,
};
static_assert(std::size(map_functions) == std::size(map_kinds), "one function per map kind");

}  // namespace

std::vector<MapEntries::Entry> relay_wildcards(RenderContext& c, Domains& domains) {
  std::vector<MapEntries::Entry> out;
  std::vector<std::string_view> keys;
  for (const Domain& d : c.s.domains)
    if (d.enabled && d.kind == DomainKind::relay) {
      const Origin o{Table::domains, d.id, 0};
      domains.keys_of(c.pool.add("@" + std::string(d.name)), "relay_recipients", o, keys);
      for (std::string_view k : keys) out.push_back({k, "OK", o});
    }
  list_companions(c, domains, out);
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.key < b.key; });
  return out;
}

void render_map_kind(MapKind kind, RenderParts& p, MapEntries& m) {
  const auto i = static_cast<std::size_t>(kind);
  if (i >= std::size(map_functions)) fail(Exit::software, "render: unknown map kind " + std::to_string(i));
  if (map_kind_info(kind).address_index && !p.index) fail(Exit::software, "render: " + m.name + " without the address index");
  map_functions[i](p, m);
}

}  // namespace mapsync::render_detail
