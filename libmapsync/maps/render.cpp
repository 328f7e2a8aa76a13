// render.cpp - snapshot -> maps. See render.h for what each map holds.
//
// The Renderer builds its parts (render_parts.h) in its constructor: the domains, the
// final recipient of each account, the alias resolver, and the check of every
// account's route, which runs once whichever maps are rendered. Each map then comes
// from its own function (render_maps.cpp), chosen by MapKind. The one part not built up
// front is the index of accepted addresses: see Renderer::render().
//
// Validation of the whole graph happens on the way: alias loops, chains deeper than
// Postfix's virtual_alias_recursion_limit, expansions beyond virtual_alias_expansion_limit,
// targets in our domains that no row receives, keys that collide after case folding or
// IDNA conversion, addresses outside our domains, routes to unknown or disabled back
// ends, active accounts without a route. An address in an internationalized domain is
// published under both the U-label and the A-label form of its domain.
#include "libmapsync/maps/render.h"

#include <algorithm>
#include <cstdint>
#include <memory>
#include <set>

#include "libmapsync/core/error.h"
#include "libmapsync/core/log.h"
#include "libmapsync/maps/map_backend.h"
#include "libmapsync/maps/render_parts.h"

namespace mapsync {

void Findings::error(const std::string& map, const std::string& message) {
  all_.push_back({Finding::error, map, message});
  ++errors_;
}

void Findings::warning(const std::string& map, const std::string& message) {
  all_.push_back({Finding::warning, map, message});
  ++warnings_;
}

std::size_t report_findings(const Findings& f) {
  constexpr std::size_t kShow = 200;  // a broken import can produce 100,000 findings
  std::size_t shown = 0;
  for (auto sev : {Finding::error, Finding::warning}) {
    for (const Finding& x : f.all()) {
      if (x.severity != sev) continue;
      if (++shown > kShow) break;
      const std::string text = (x.map.empty() ? "" : x.map + ": ") + x.message;
      if (sev == Finding::error) log::error(text);
      else log::warning(text);
    }
  }
  if (shown > kShow) {
    const std::string more = "... and " + std::to_string(f.all().size() - kShow) + " more findings (" +
                             std::to_string(f.errors()) + " errors, " + std::to_string(f.warnings()) + " warnings in all)";
    if (f.errors()) log::error(more);
    else log::warning(more);
  }
  return f.errors();
}

RenderPlan render_plan(const MapsConfig& maps) {
  RenderPlan p;
  p.relay = maps.find(MapKind::relay_recipients);
  p.virt = maps.find(MapKind::virtual_alias);
  p.derive_relay = p.relay && p.relay->enabled && p.virt && p.virt->enabled;
  for (const MapConfig& mc : maps.maps)
    if (mc.enabled && !(p.derive_relay && &mc == p.relay)) p.kinds.push_back(mc.kind);
  return p;
}

MapKind map_kind_named(std::string_view name) {
  const auto kind = find_map_kind(name);
  if (!kind) fail(Exit::software, "no map kind named \"" + std::string(name) + "\"");
  return *kind;
}

namespace render_detail {

namespace {

void check_backend(RenderContext& c, const Account& a, const Origin& o) {
  const Backend* b = find_by_id(c.s.backends, a.backend_id);
  if (!a.backend_id && a.delivery == Delivery::forward)
    c.findings.error("transport", describe(o) + ": account " + q(a.uid) + " forwards and keeps a copy (keep_copy), but a kept copy needs a mailbox: it has no back end");
  else if (!b)
    c.findings.error("transport", describe(o) + ": account " + q(a.uid) + " is on back end id=" + std::to_string(a.backend_id) +
                                      ", which does not exist");
  else if (!b->enabled)
    c.findings.error("transport", describe(o) + ": account " + q(a.uid) + " is on back end " + q(b->name) +
                                      " (backends id=" + std::to_string(b->id) + "), which is disabled");
}

void check_smtp_route(RenderContext& c, const Account& a, const Origin& o) {
  if (!a.delivery_target_id) {
    // The schema's CHECK only keeps out NULL; "smtp:" would hand the mail to Postfix's
    // default route, which for our own domains loops back here.
    if (a.smtp_nexthop.empty())
      c.findings.error("transport", describe(o) + ": account " + q(a.uid) + " has delivery 'smtp' but an empty smtp_nexthop and no delivery target");
    return;
  }
  const DeliveryTarget* t = find_by_id(c.s.targets, a.delivery_target_id);
  if (!a.smtp_nexthop.empty())
    c.findings.error("transport", describe(o) + ": account " + q(a.uid) + " has both smtp_nexthop and a delivery target: set one");
  else if (!t)
    c.findings.error("transport", describe(o) + ": account " + q(a.uid) + " has delivery target id=" +
                                      std::to_string(a.delivery_target_id) + ", which does not exist");
  else if (!t->enabled)
    c.findings.error("transport", describe(o) + ": account " + q(a.uid) + " has delivery target " + q(t->name) + " (" +
                                      describe({Table::delivery_targets, t->id, 0}) + "), which is disabled");
}

}  // namespace

void sort_by_key(std::vector<MapEntries::Entry>& v, bool (*tie_less)(const MapEntries::Entry&, const MapEntries::Entry&)) {
  struct Slot {
    std::uint64_t prefix;  // the key's first 8 bytes, big-endian, zero-padded
    std::uint32_t pos;     // in v
  };
  if (v.size() < 2) return;
  if (v.size() > UINT32_MAX) fail(Exit::software, "sort_by_key: more than 2^32 entries");
  std::vector<Slot> slots(v.size());
  for (std::uint32_t i = 0; i < slots.size(); ++i) {
    std::uint64_t p = 0;
    const std::string_view k = v[i].key;
    for (std::size_t j = 0; j < 8; ++j) p = p << 8 | (j < k.size() ? static_cast<unsigned char>(k[j]) : 0u);
    slots[i] = {p, i};
  }
  // Zero padding keeps the order: a smaller prefix means a smaller key (a key that ends
  // inside the prefix is a proper prefix of the other, or smaller at a byte before).
  std::sort(slots.begin(), slots.end(), [&](const Slot& a, const Slot& b) {
    if (a.prefix != b.prefix) return a.prefix < b.prefix;
    const MapEntries::Entry& x = v[a.pos];
    const MapEntries::Entry& y = v[b.pos];
    if (x.key != y.key) return x.key < y.key;
    return tie_less(x, y);
  });
  // Entry i goes where its slot is: follow each cycle of the permutation once, marking
  // a moved slot by pointing it at itself.
  for (std::uint32_t i = 0; i < slots.size(); ++i) {
    if (slots[i].pos == i) continue;
    const MapEntries::Entry first = v[i];
    std::uint32_t j = i;
    while (slots[j].pos != i) {
      const std::uint32_t from = slots[j].pos;
      v[j] = v[from];
      slots[j].pos = j;
      j = from;
    }
    v[j] = first;
    slots[j].pos = j;
  }
}

void check_entries(RenderContext& c, const std::string& map, bool alias_syntax, const std::vector<MapEntries::Entry>& entries) {
  // One message per row and map: an address copied into ten alias domains is one fault.
  std::set<std::pair<Table, std::uint32_t>> reported;
  for (const MapEntries::Entry& e : entries) {
    const char* why = entry_problem(e.key, e.value, alias_syntax);
    if (!why || !reported.insert({e.origin.table, e.origin.id}).second) continue;
    c.findings.error(map, describe(e.origin) + ": entry " + q(e.key) + " -> " + q(e.value) + ": " + why +
                              " (no map file can hold it as written)");
  }
}

void check_routes(RenderContext& c, AliasResolver& resolver) {
  for (const Account& a : c.s.accounts) {
    if (a.status != AccountStatus::active) continue;
    const Origin o{Table::accounts, a.id, 0};
    if (a.keep_copy && a.delivery != Delivery::forward)
      c.findings.warning("virtual", describe(o) + ": account " + q(a.uid) + " has keep_copy set but delivery '" +
                                        std::string(to_sql(a.delivery)) + "': keep_copy only applies to 'forward'");
    if (!a.routing_address.empty() && a.delivery != Delivery::smtp)
      c.findings.warning("virtual", describe(o) + ": account " + q(a.uid) + " has a routing_address but delivery '" +
                                        std::string(to_sql(a.delivery)) + "': it only applies to 'smtp'");
    switch (a.delivery) {
      case Delivery::none:
        c.findings.warning("virtual", describe(o) + ": account " + q(a.uid) +
                                          " is active but has delivery 'none': it receives no mail, and its addresses are not accepted");
        break;
      case Delivery::forward:
        if (const auto r = resolver.edges_of_account(a.id); r.first == r.second) {
          const Node n{NodeKind::account, pos(c.s.accounts, a)};
          resolver.mark_reported(n);
          c.findings.error("virtual", resolver.node_name(n) + " has delivery 'forward' but no account_forwards rows");
        }
        if (a.keep_copy) check_backend(c, a, o);
        break;
      case Delivery::cyrus: check_backend(c, a, o); break;
      case Delivery::smtp: check_smtp_route(c, a, o); break;
    }
  }
}

}  // namespace render_detail

using namespace render_detail;

struct Renderer::Impl {
  RenderContext c;
  Domains domains;
  AccountFinals finals;
  AliasResolver resolver;
  std::unique_ptr<AddressIndex> index;  // see render()
  std::vector<MapKind> index_users;     // maps still to render from the index

  Impl(const Snapshot& s, const RenderConfig& cfg, Findings& f, AliasGraph* graph)
      : c{s, cfg, f, {}, {}, graph}, domains(c), finals(c), resolver(c, domains, finals) {
    check_routes(c, resolver);
    check_targets(c, domains);
  }

  void release_index() {
    resolver.use_index(nullptr);
    index.reset();
  }
};

Renderer::Renderer(const Snapshot& snapshot, const RenderConfig& config, Findings& findings, std::vector<MapKind> maps,
                   AliasGraph* graph)
    : impl_(new Impl(snapshot, config, findings, graph)) {
  for (MapKind k : maps)
    if (static_cast<std::size_t>(k) < std::size(map_kinds) && map_kind_info(k).address_index) impl_->index_users.push_back(k);
}

Renderer::~Renderer() { delete impl_; }

std::vector<MapEntries::Entry> Renderer::relay_wildcards() {
  auto out = render_detail::relay_wildcards(impl_->c, impl_->domains);
  check_entries(impl_->c, "relay_recipients", false, out);
  return out;
}

MapEntries Renderer::render(MapKind kind) {
  if (static_cast<std::size_t>(kind) >= std::size(map_kinds))
    fail(Exit::software, "render: unknown map kind " + std::to_string(static_cast<unsigned>(kind)));
  const MapKindInfo& info = map_kind_info(kind);
  auto& users = impl_->index_users;
  const auto user = std::find(users.begin(), users.end(), kind);
  const bool last_index_user = user != users.end() && users.size() == 1;
  if (user != users.end()) users.erase(user);
  // The index of accepted addresses is the biggest structure after the snapshot. It is
  // made for the first map that reads it and freed after the last one named to the
  // constructor, so that the maps before and after it (build order, options.h) never
  // pay for it.
  if (info.address_index && !impl_->index) {
    impl_->index = std::make_unique<AddressIndex>(impl_->c, impl_->domains, impl_->finals);
    impl_->resolver.use_index(impl_->index.get());
  }
  MapEntries m;
  m.name = std::string(info.name);
  m.alias_syntax = info.alias_syntax;
  RenderParts parts{impl_->c, impl_->domains, impl_->finals, impl_->resolver,
                    info.address_index ? impl_->index.get() : nullptr, last_index_user};
  render_map_kind(kind, parts, m);
  check_entries(impl_->c, m.name, m.alias_syntax, m.entries);
  m.checked = true;
  if (last_index_user) impl_->release_index();
  return m;
}

}  // namespace mapsync
