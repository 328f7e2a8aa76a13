// render_campus.h - a small campus built in memory for the renderer's unit tests.
#pragma once

#include <doctest/doctest.h>

#include <map>
#include <string>

#include "libmapsync/maps/render.h"

namespace render_test {

using namespace mapsync;

// A small campus built in memory; tests change it before rendering.
struct Campus {
  Snapshot s;
  RenderConfig cfg;
  std::string_view str(const std::string& x) { return s.pool.add(x); }

  Campus() {
    s.domains = {{1, str("example.edu"), DomainKind::local, 0, {}, true},
                 {2, str("alias.edu"), DomainKind::alias, 1, {}, true},
                 {3, str("dept.example.edu"), DomainKind::relay, 0, str("smtp:[mx.dept.example.edu]"), true}};
    s.backends = {{1, str("be1"), str("10.0.0.2"), 24, str("10.0.0.2"), 143, str("default"), true}};
    add_account(1, "jdoe", "John.Doe@example.edu", Delivery::cyrus);
    add_account(2, "pprof", "pat.prof@example.edu", Delivery::smtp);
    add_account(3, "olaf", "olaf@example.edu", Delivery::cyrus, AccountStatus::disabled);
    s.addresses = {{1, 1, str("Johnny@Example.edu")}};
    s.groups = {{1, str("team@example.edu"), true}};
    s.group_members = {{1, 1, 1, 0, {}}, {2, 1, 2, 0, {}}, {3, 1, 0, 0, str("oncall@pager.example.net")}, {4, 1, 3, 0, {}}};
    s.lists = {{1, str("chess@example.edu"), ListManager::pipe, {}, str("chess"), str("/usr/bin/list post chess"), true}};
    s.system_aliases = {{1, str("postmaster"), str("root"), true}, {2, str("root"), str("team@example.edu"), false}};
  }

  void add_account(std::uint32_t id, const std::string& uid, const std::string& primary, Delivery d,
                   AccountStatus st = AccountStatus::active) {
    Account a;
    a.id = id;
    a.uid = str(uid);
    a.primary_address = str(primary);
    a.status = st;
    a.delivery = d;
    if (d == Delivery::cyrus) a.backend_id = 1;
    if (d == Delivery::smtp) a.smtp_nexthop = str("[exchange.example.edu]");
    s.accounts.push_back(a);
  }

  std::map<std::string, std::string> render(const std::string& map, Findings& f) {
    Renderer r(s, cfg, f);
    std::map<std::string, std::string> out;
    for (const auto& e : r.render(map_kind_named(map)).entries) out[std::string(e.key)] = std::string(e.value);
    return out;
  }

  // Every map through one Renderer, as a build does: map name -> key -> value.
  std::map<std::string, std::map<std::string, std::string>> render_all(Findings& f) {
    Renderer r(s, cfg, f);
    std::map<std::string, std::map<std::string, std::string>> out;
    for (const auto& name : known_map_names())
      for (const auto& e : r.render(map_kind_named(name)).entries) out[name][std::string(e.key)] = std::string(e.value);
    return out;
  }

  void add_group(std::uint32_t id, const std::string& address, bool enabled = true) {
    s.groups.push_back({id, str(address), enabled});
  }
  // member: "account:N", "group:N" or an address
  void add_member(std::uint32_t id, std::uint32_t group, const std::string& member) {
    GroupMember m{id, group, 0, 0, {}};
    if (member.rfind("account:", 0) == 0) m.account_id = static_cast<std::uint32_t>(std::stoul(member.substr(8)));
    else if (member.rfind("group:", 0) == 0) m.member_group_id = static_cast<std::uint32_t>(std::stoul(member.substr(6)));
    else m.address = str(member);
    s.group_members.push_back(m);
  }
};

inline bool has(const Findings& f, Finding::Severity sev, const std::string& text) {
  for (const auto& x : f.all())
    if (x.severity == sev && x.message.find(text) != std::string::npos) return true;
  return false;
}

inline std::string all(const Findings& f) {
  std::string s;
  for (const auto& x : f.all()) s += x.message + "\n";
  return s;
}

// How many findings of a severity hold text.
inline std::size_t count(const Findings& f, Finding::Severity sev, const std::string& text) {
  std::size_t n = 0;
  for (const auto& x : f.all()) n += x.severity == sev && x.message.find(text) != std::string::npos;
  return n;
}

}  // namespace render_test
