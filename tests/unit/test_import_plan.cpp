// test_import_plan.cpp - the rules of `mapadm import postfix` (docs/import.md) on parsed maps,
// without a database: which keys become accounts, addresses, groups, forwards, and which
// are reported as not representable.
#include <doctest/doctest.h>

#include <algorithm>
#include <string>

#include "libmapsync/importer/import_postfix.h"

using namespace mapsync;

namespace {

PostfixMaps maps_of(const std::string& virtual_text, const std::string& transport_text,
                    const std::string& relay_domains_text = "") {
  PostfixMaps m;
  auto add = [&](const char* name, const std::string& text) {
    if (text.empty()) return;
    PostfixMaps::One one;
    one.name = name;
    one.path = name;
    one.readable = true;
    one.map = parse_text_map(text, name, false);
    m.maps.push_back(std::move(one));
  };
  add("virtual", virtual_text);
  add("transport", transport_text);
  add("relay_domains", relay_domains_text);
  return m;
}

const PlanAccount* account(const ImportPlan& p, const std::string& uid) {
  for (const auto& a : p.accounts)
    if (a.uid == uid) return &a;
  return nullptr;
}

bool skipped(const ImportPlan& p, const std::string& key) {
  return std::any_of(p.skipped.begin(), p.skipped.end(), [&](const Skipped& s) { return s.key == key; });
}

}  // namespace

TEST_CASE("import plan: accounts by route, addresses, groups, forwards") {
  const auto p = plan_postfix_import(
      maps_of("a@ex.org a@ex.org\n"
              "Alias@ex.org a@ex.org\n"
              "c@ex.org c@ex.org, c@home.test\n"
              "g@ex.org a@ex.org, b@ex.org\n"
              "e@ex.org e@ex.org\n"
              "ext@ex.org someone@else.test\n"
              "@ex.org a@ex.org\n",
              "ex.org lmtp:[10.0.0.1]:24\nb@ex.org lmtp:[10.0.0.2]\ne@ex.org smtp:[mx.ex.org]\n"),
      "cy");
  REQUIRE(p.backends.size() == 2);
  CHECK(p.backends[0].name == "cy1");
  CHECK(p.backends[0].host == "10.0.0.1");
  CHECK(p.backends[1].port == 24);
  const PlanAccount* a = account(p, "a");
  REQUIRE(a);
  CHECK(a->delivery == "cyrus");
  CHECK(a->backend == "cy1");
  const PlanAccount* b = account(p, "b");  // a group target that is no key, routed on its own
  REQUIRE(b);
  CHECK(b->backend == "cy2");
  const PlanAccount* c = account(p, "c");
  REQUIRE(c);
  CHECK(c->delivery == "forward");
  CHECK(c->keep_copy);
  CHECK(c->forwards == std::vector<std::string>{"c@home.test"});
  const PlanAccount* e = account(p, "e");
  REQUIRE(e);
  CHECK(e->delivery == "smtp");
  CHECK(e->nexthop == "[mx.ex.org]");
  REQUIRE(p.addresses.size() == 1);
  CHECK(p.addresses[0].address == "Alias@ex.org");
  CHECK(p.addresses[0].account == "a@ex.org");
  REQUIRE(p.groups.size() == 2);
  CHECK(p.groups[0].address == "g@ex.org");
  CHECK(p.groups[0].members.size() == 2);
  CHECK(p.groups[1].members[0].kind == PlanMember::address);
  CHECK(skipped(p, "@ex.org"));
  // the domain's own route stays answered: a transport override
  REQUIRE(p.transport_overrides.size() == 1);
  CHECK(p.transport_overrides[0].key == "ex.org");
}

TEST_CASE("import plan: targets that bounce, foreign domains and uid collisions are reported") {
  const auto p = plan_postfix_import(maps_of("x@ex.org nobody@ex.com\n"
                                             "a@ex.org a@ex.org\n"
                                             "a@ex.net a@ex.net\n"
                                             "y@other.test a@ex.org\n",
                                             "ex.org lmtp:[h]:24\nex.net lmtp:[h]:24\n", "ex.org OK\nex.net OK\nex.com OK\n"),
                                     "cyrus");
  CHECK(skipped(p, "x@ex.org"));      // nobody@ex.com: ours, but no route (no account): it would bounce
  CHECK(skipped(p, "y@other.test"));  // not one of our domains
  CHECK(skipped(p, "a@ex.net"));      // uid a is taken: its own key is left out, not made a group
  CHECK(p.groups.empty());
  CHECK(account(p, "a"));
  CHECK(p.accounts.size() == 1);
}

TEST_CASE("import plan: relay domains from relay_recipients' @domain and a non-lmtp domain route") {
  PostfixMaps m = maps_of("", "dept.ex.org smtp:[mx.dept]\n", "dept.ex.org OK\n");
  const auto p = plan_postfix_import(m, "cyrus");
  REQUIRE(p.domains.size() == 1);
  CHECK(p.domains[0].kind == "relay");
  CHECK(p.domains[0].transport == "smtp:[mx.dept]");
  CHECK(p.transport_overrides.empty());
}
