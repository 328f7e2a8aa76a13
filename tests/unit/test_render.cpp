// The renderer: what each map holds, and the findings that stop a publish.
#include <doctest/doctest.h>

#include <map>
#include <string>

#include "libmapsync/render.h"

using namespace mapsync;

namespace {

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
    for (const auto& e : r.render(map).entries) out[std::string(e.key)] = std::string(e.value);
    return out;
  }
};

bool has(const Findings& f, Finding::Severity sev, const std::string& text) {
  for (const auto& x : f.all())
    if (x.severity == sev && x.message.find(text) != std::string::npos) return true;
  return false;
}

std::string all(const Findings& f) {
  std::string s;
  for (const auto& x : f.all()) s += x.message + "\n";
  return s;
}

}  // namespace

TEST_CASE("virtual: every accepted address to its final recipients") {
  Campus c;
  Findings f;
  auto v = c.render("virtual", f);
  CHECK_MESSAGE(f.errors() == 0, all(f));
  CHECK(v["john.doe@example.edu"] == "jdoe@example.edu");
  CHECK(v["jdoe@example.edu"] == "jdoe@example.edu");  // the login address, final of a Cyrus account
  CHECK(v["johnny@example.edu"] == "jdoe@example.edu");
  CHECK(v["johnny@alias.edu"] == "jdoe@example.edu");  // alias domain copy
  CHECK(v["pat.prof@example.edu"] == "pat.prof@example.edu");
  CHECK(v["team@example.edu"] == "jdoe@example.edu, oncall@pager.example.net, pat.prof@example.edu");
  CHECK(v["chess@example.edu"] == "chess@localhost");
  CHECK(v["postmaster@example.edu"] == "postmaster@localhost");
  CHECK(v["postmaster@alias.edu"] == "postmaster@localhost");
  CHECK(v.count("olaf@example.edu") == 0);  // disabled
  CHECK(has(f, Finding::warning, "group_members id=4: member account id=3 of group \"team@example.edu\" receives no mail"));
}

TEST_CASE("transport, relay_recipients, relay_domains, canonical, aliases") {
  Campus c;
  Findings f;
  auto t = c.render("transport", f);
  CHECK(t["jdoe@example.edu"] == "lmtp:[10.0.0.2]:24");
  CHECK(t["pat.prof@example.edu"] == "smtp:[exchange.example.edu]");
  CHECK(t["dept.example.edu"] == "smtp:[mx.dept.example.edu]");
  auto r = c.render("relay_recipients", f);
  CHECK(r["johnny@alias.edu"] == "OK");
  CHECK(r["@dept.example.edu"] == "OK");
  CHECK(r.count("olaf@example.edu") == 0);
  auto d = c.render("relay_domains", f);
  CHECK(d.size() == 3);
  CHECK(d["alias.edu"] == "alias");
  auto k = c.render("canonical", f);
  CHECK(k["jdoe@example.edu"] == "John.Doe@example.edu");
  CHECK(k["pprof@example.edu"] == "pat.prof@example.edu");
  auto a = c.render("aliases", f);
  CHECK(a["postmaster"] == "root");
  CHECK(a["chess"] == "\"|/usr/bin/list post chess\"");
  CHECK_MESSAGE(f.errors() == 0, all(f));
}

TEST_CASE("a key defined twice names both rows, also when it differs only in case") {
  Campus c;
  c.s.addresses.push_back({7, 2, c.str("JOHN.DOE@example.edu")});
  Findings f;
  c.render("virtual", f);
  CHECK_MESSAGE(has(f, Finding::error, "address \"john.doe@example.edu\" is defined twice: accounts id=1 and addresses id=7"), all(f));
  // and its alias-domain copy is reported too, naming the alias domain
  CHECK(has(f, Finding::error, "copied into alias domain, domains id=2"));
}

TEST_CASE("UTF-8 keys fold like postmap: Straße and STRASSE collide") {
  Campus c;
  c.s.addresses.push_back({8, 1, c.str("Straße@example.edu")});
  c.s.addresses.push_back({9, 2, c.str("STRASSE@example.edu")});
  Findings f;
  c.render("virtual", f);
  CHECK_MESSAGE(has(f, Finding::error, "\"strasse@example.edu\" is defined twice: addresses id=8 and addresses id=9"), all(f));
}

TEST_CASE("alias loops are found and named") {
  Campus c;
  c.s.groups.push_back({2, c.str("a@example.edu"), true});
  c.s.groups.push_back({3, c.str("b@example.edu"), true});
  c.s.group_members.push_back({10, 2, 0, 3, {}});
  c.s.group_members.push_back({11, 3, 0, 2, {}});
  Findings f;
  c.render("virtual", f);
  CHECK_MESSAGE(has(f, Finding::error, "alias loop: group a@example.edu (group_aliases id=2) -> group b@example.edu (group_aliases id=3) -> group a@example.edu"), all(f));
}

TEST_CASE("addresses outside our local domains are refused") {
  Campus c;
  c.s.addresses.push_back({20, 1, c.str("jd@alias.edu")});
  c.s.addresses.push_back({21, 1, c.str("jd@elsewhere.org")});
  c.s.addresses.push_back({22, 1, c.str("jd@dept.example.edu")});
  Findings f;
  c.render("virtual", f);
  CHECK(has(f, Finding::error, "addresses id=20: address \"jd@alias.edu\" is in alias domain"));
  CHECK(has(f, Finding::error, "addresses id=21: address \"jd@elsewhere.org\" is not in one of our local domains"));
  CHECK(has(f, Finding::error, "addresses id=22: address \"jd@dept.example.edu\" is in relay domain"));
}

TEST_CASE("routes to a disabled back end and broken next hops are errors") {
  Campus c;
  c.s.backends[0].enabled = false;
  c.s.accounts[1].smtp_nexthop = c.str("[exchange");
  Findings f;
  c.render("transport", f);
  CHECK(has(f, Finding::error, "accounts id=1: account \"jdoe\" is on back end \"be1\" (backends id=1), which is disabled"));
  CHECK(has(f, Finding::error, "accounts id=2: smtp_nexthop \"[exchange\": next hop has '[' without ']'"));
}

TEST_CASE("canonical: an explicit rewrite colliding with a generated one names both") {
  Campus c;
  c.s.canonical.push_back({5, c.str("jdoe@example.edu"), c.str("someone@example.edu"), true});
  Findings f;
  c.render("canonical", f);
  CHECK_MESSAGE(has(f, Finding::error, "key \"jdoe@example.edu\" is defined twice: canonical_rewrites id=5 and accounts id=1"), all(f));
}

TEST_CASE("transport overrides replace the computed route") {
  Campus c;
  c.s.transports.push_back({1, c.str("pat.prof@example.edu"), c.str("smtp:[exchange2.example.edu]:25"), true});
  Findings f;
  auto t = c.render("transport", f);
  CHECK(t["pat.prof@example.edu"] == "smtp:[exchange2.example.edu]:25");
  CHECK(f.errors() == 0);
}
