// The routes of schema 004: delivery targets with a routing domain, forwards that keep a
// copy, list domains; and the findings that guard each.
#include <doctest/doctest.h>

#include <string>

#include "libmapsync/maps/render.h"
#include "tests/unit/render_campus.h"

using namespace render_test;

namespace {

// pprof (account 2, smtp) moves to an Exchange target with a routing domain.
void exchange_target(Campus& c, const std::string& transport = "smtp:[exchange.example.edu]",
                     const std::string& domain = "exchange.example.edu") {
  c.s.targets = {{1, c.str("exchange"), c.str(transport), c.str(domain), c.str("{uid}@{domain}"), true}};
  Account& a = c.s.accounts[1];
  a.smtp_nexthop = {};
  a.delivery_target_id = 1;
}

}  // namespace

TEST_CASE("delivery target with a routing domain: every address to the routing address, the domain to the hop") {
  Campus c;
  exchange_target(c);
  c.s.addresses.push_back({2, 2, c.str("prof@example.edu")});
  Findings f;
  auto maps = c.render_all(f);
  CHECK_MESSAGE(f.errors() == 0, all(f));
  CHECK(maps["virtual"]["pat.prof@example.edu"] == "pprof@exchange.example.edu");
  CHECK(maps["virtual"]["prof@example.edu"] == "pprof@exchange.example.edu");
  CHECK(maps["virtual"]["team@example.edu"].find("pprof@exchange.example.edu") != std::string::npos);
  CHECK(maps["transport"]["exchange.example.edu"] == "smtp:[exchange.example.edu]");
  CHECK(maps["transport"].count("pprof@exchange.example.edu") == 0);
  CHECK(maps["transport"].count("pat.prof@example.edu") == 0);

  SUBCASE("an explicit routing address replaces the template's") {
    c.s.accounts[1].routing_address = c.str("Pat.Professor@exchange.example.edu");
    Findings g;
    auto m2 = c.render_all(g);
    CHECK_MESSAGE(g.errors() == 0, all(g));
    CHECK(m2["virtual"]["prof@example.edu"] == "Pat.Professor@exchange.example.edu");
  }
  SUBCASE("a template the account cannot fill is an error") {
    c.s.targets[0].address_template = c.str("{given}.{surname}@{domain}");
    Findings g;
    c.render_all(g);
    CHECK(has(g, Finding::error, "needs a field this account has empty"));
  }
}

TEST_CASE("delivery target without a routing domain keeps today's behaviour: the primary address to the hop") {
  Campus c;
  exchange_target(c, "smtp:[exchange.example.edu]:25", "");
  Findings f;
  auto maps = c.render_all(f);
  CHECK_MESSAGE(f.errors() == 0, all(f));
  CHECK(maps["virtual"]["pat.prof@example.edu"] == "pat.prof@example.edu");
  CHECK(maps["transport"]["pat.prof@example.edu"] == "smtp:[exchange.example.edu]:25");
}

TEST_CASE("delivery targets: a routing domain must route somewhere, and not to us") {
  Campus c;
  SUBCASE("no transport and nothing else routes the domain") {
    exchange_target(c, "");
    Findings f;
    c.render_all(f);
    CHECK(has(f, Finding::error, "routing domain \"exchange.example.edu\" routes nowhere"));
  }
  SUBCASE("a transport override routes it") {
    exchange_target(c, "");
    c.s.transports = {{1, c.str("exchange.example.edu"), c.str("smtp:[10.1.1.1]"), true}};
    Findings f;
    auto maps = c.render_all(f);
    CHECK_MESSAGE(f.errors() == 0, all(f));
    CHECK(maps["transport"]["exchange.example.edu"] == "smtp:[10.1.1.1]");
  }
  SUBCASE("one of our local domains") {
    exchange_target(c, "smtp:[x]", "Example.EDU");
    Findings f;
    c.render_all(f);
    CHECK(has(f, Finding::error, "is our own domain (domains id=1)"));
  }
  SUBCASE("a disabled target") {
    exchange_target(c);
    c.s.targets[0].enabled = false;
    Findings f;
    c.render_all(f);
    CHECK(has(f, Finding::error, "has delivery target \"exchange\" (delivery_targets id=1), which is disabled"));
  }
  SUBCASE("both smtp_nexthop and a target") {
    exchange_target(c);
    c.s.accounts[1].smtp_nexthop = c.str("[old.example.edu]");
    Findings f;
    c.render_all(f);
    CHECK(has(f, Finding::error, "has both smtp_nexthop and a delivery target"));
  }
}

TEST_CASE("forward with a kept copy: the forwards and the own mailbox") {
  Campus c;
  c.add_account(4, "kstud", "Kim.Student@example.edu", Delivery::forward);
  Account& k = c.s.accounts.back();
  k.keep_copy = true;
  k.backend_id = 1;
  c.s.forwards = {{1, 4, c.str("kim@mail.example.net")}};
  Findings f;
  auto maps = c.render_all(f);
  CHECK_MESSAGE(f.errors() == 0, all(f));
  CHECK(maps["virtual"]["kim.student@example.edu"] == "kim@mail.example.net, kstud@example.edu");
  CHECK(maps["virtual"]["kstud@example.edu"] == "kim@mail.example.net, kstud@example.edu");
  CHECK(maps["transport"]["kstud@example.edu"] == "lmtp:[10.0.0.2]:24");
  CHECK(maps["relay_recipients"].count("kstud@example.edu") == 1);

  SUBCASE("a kept copy needs a mailbox") {
    c.s.accounts.back().backend_id = 0;
    Findings g;
    c.render_all(g);
    CHECK(has(g, Finding::error, "a kept copy needs a mailbox"));
  }
  SUBCASE("without keep_copy the forward stays as it was") {
    c.s.accounts.back().keep_copy = false;
    Findings g;
    auto m2 = c.render_all(g);
    CHECK(m2["virtual"]["kim.student@example.edu"] == "kim@mail.example.net");
    CHECK(m2["transport"].count("kstud@example.edu") == 0);
  }
}

TEST_CASE("list domain: only its lists and their companions are accepted, all routed to the list server") {
  Campus c;
  c.cfg.list_companions = {"-request", "-owner", "-bounces"};
  c.s.domains.push_back({4, c.str("lists.example.edu"), DomainKind::list, 0, c.str("smtp:[lists.example.edu]"), true});
  c.s.lists.push_back({2, c.str("Physics@lists.example.edu"), ListManager::transport, c.str("smtp:[lists.example.edu]"), {}, {}, true});
  Findings f;
  auto maps = c.render_all(f);
  CHECK_MESSAGE(f.errors() == 0, all(f));
  auto& rr = maps["relay_recipients"];
  for (const char* k : {"physics@lists.example.edu", "physics-request@lists.example.edu", "physics-owner@lists.example.edu",
                        "physics-bounces@lists.example.edu"})
    CHECK_MESSAGE(rr.count(k) == 1, k);
  CHECK(rr.count("postmaster@lists.example.edu") == 0);
  CHECK(rr.count("@lists.example.edu") == 0);
  CHECK(maps["transport"]["lists.example.edu"] == "smtp:[lists.example.edu]");
  CHECK(maps["relay_domains"]["lists.example.edu"] == "list");
  CHECK(maps["virtual"].count("postmaster@lists.example.edu") == 0);

  SUBCASE("a list domain holds no accounts") {
    c.s.addresses.push_back({2, 1, c.str("jdoe@lists.example.edu")});
    Findings g;
    c.render_all(g);
    CHECK(has(g, Finding::error, "is in list domain \"lists.example.edu\", which holds only mailing lists"));
  }
  SUBCASE("a companion that is another list") {
    c.s.lists.push_back({3, c.str("physics-request@lists.example.edu"), ListManager::transport, c.str("smtp:[lists.example.edu]"), {}, {}, true});
    Findings g;
    c.render_all(g);
    CHECK(has(g, Finding::error, "is both a companion address of mailing_lists id=2"));
  }
  SUBCASE("a list domain without a transport") {
    c.s.domains.back().transport = {};
    Findings g;
    c.render_all(g);
    CHECK(has(g, Finding::error, "list domain \"lists.example.edu\" has no transport"));
  }
}
