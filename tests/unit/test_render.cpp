// The renderer: what each map holds, and the findings that stop a publish.
#include <doctest/doctest.h>

#include <functional>
#include <map>
#include <string>

#include "libmapsync/core/error.h"
#include "libmapsync/config/config.h"
#include "libmapsync/maps/render.h"
#include "tests/unit/render_campus.h"

using namespace mapsync;

using namespace render_test;

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

TEST_CASE("a key defined twice names both rows") {
  Campus c;
  c.s.addresses.push_back({7, 2, c.str("jdoe@example.edu")});  // the login address of accounts id=1
  Findings f;
  c.render("virtual", f);
  CHECK_MESSAGE(has(f, Finding::error, "address \"jdoe@example.edu\" is defined twice: accounts id=1 and addresses id=7"), all(f));
  // and its alias-domain copy is reported too, naming the alias domain
  CHECK(has(f, Finding::error, "address \"jdoe@alias.edu\" is defined twice: accounts id=1 (copied into alias domain, domains id=2) and addresses id=7"));
  CHECK(f.errors() == 2);
}

TEST_CASE("keys that differ only in case: the message shows both spellings and the folded key") {
  Campus c;
  c.s.addresses.push_back({7, 2, c.str("JOHN.DOE@example.edu")});
  Findings f;
  c.render("virtual", f);
  CHECK_MESSAGE(has(f, Finding::error, "\"John.Doe@example.edu\" (accounts id=1) and \"JOHN.DOE@example.edu\" (addresses id=7) are the same "
                                       "key \"john.doe@example.edu\" after case folding"), all(f));
  CHECK(has(f, Finding::error, "\"John.Doe@alias.edu\" (accounts id=1, copied into alias domain, domains id=2) and \"JOHN.DOE@alias.edu\" "
                               "(addresses id=7, copied into alias domain, domains id=2) are the same key \"john.doe@alias.edu\""));
  CHECK(f.errors() == 2);
}

TEST_CASE("UTF-8 keys fold like postmap: Straße and STRASSE collide") {
  Campus c;
  c.s.addresses.push_back({8, 1, c.str("Straße@example.edu")});
  c.s.addresses.push_back({9, 2, c.str("STRASSE@example.edu")});
  c.s.addresses.push_back({10, 1, c.str("ÄRGER@example.edu")});
  c.s.addresses.push_back({11, 2, c.str("ärger@Example.EDU")});
  Findings f;
  c.render("virtual", f);
  CHECK_MESSAGE(has(f, Finding::error, "\"Straße@example.edu\" (addresses id=8) and \"STRASSE@example.edu\" (addresses id=9) are the same "
                                       "key \"strasse@example.edu\" after case folding"), all(f));
  CHECK_MESSAGE(has(f, Finding::error, "\"ÄRGER@example.edu\" (addresses id=10) and \"ärger@Example.EDU\" (addresses id=11) are the same "
                                       "key \"ärger@example.edu\" after case folding"), all(f));
  CHECK(f.errors() == 4);  // and the alias-domain copies of both
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

// ---- validation of the whole graph ------------------------------------------------

TEST_CASE("recursion: a chain of groups and forwards deeper than recursion_limit is an error, named once") {
  Campus c;
  c.cfg.recursion_limit = 3;
  // g10 -> g11 -> g12 -> g13 -> jdoe: g13 has depth 1, g10 depth 4
  for (std::uint32_t g = 10; g <= 13; ++g) c.add_group(g, "g" + std::to_string(g) + "@example.edu");
  for (std::uint32_t g = 10; g < 13; ++g) c.add_member(100 + g, g, "group:" + std::to_string(g + 1));
  c.add_member(113, 13, "account:1");
  Findings f;
  auto v = c.render("virtual", f);
  CHECK(v["g10@example.edu"] == "jdoe@example.edu");  // still resolved, for the diagnostics
  CHECK_MESSAGE(count(f, Finding::error, "virtual_alias_recursion_limit") == 1, all(f));
  CHECK(has(f, Finding::error,
            "group g10@example.edu (group_aliases id=10) leads through 4 nested groups and forwards, more than Postfix's "
            "virtual_alias_recursion_limit (3), and so does every address that leads to it: group g10@example.edu "
            "(group_aliases id=10) -> group g11@example.edu (group_aliases id=11) -> group g12@example.edu (group_aliases id=12) "
            "-> group g13@example.edu (group_aliases id=13)"));

  // At the limit: fine.
  c.cfg.recursion_limit = 4;
  Findings f2;
  c.render("virtual", f2);
  CHECK_MESSAGE(f2.errors() == 0, all(f2));
}

TEST_CASE("recursion: forwards count as levels too") {
  Campus c;
  c.cfg.recursion_limit = 2;
  // fwa forwards to group mix, which holds fwb, which forwards off campus: fwb 1, mix 2, fwa 3
  c.add_account(20, "fwa", "fwa@example.edu", Delivery::forward);
  c.add_account(21, "fwb", "fwb@example.edu", Delivery::forward);
  c.s.forwards = {{1, 20, c.str("mix@example.edu")}, {2, 21, c.str("fwb@elsewhere.org")}};
  c.add_group(30, "mix@example.edu");
  c.add_member(300, 30, "account:21");
  Findings f;
  auto v = c.render("virtual", f);
  CHECK(v["fwa@example.edu"] == "fwb@elsewhere.org");
  CHECK_MESSAGE(count(f, Finding::error, "virtual_alias_recursion_limit") == 1, all(f));
  CHECK(has(f, Finding::error, "account fwa (accounts id=20) leads through 3 nested groups and forwards, more than Postfix's "
                               "virtual_alias_recursion_limit (2), and so does every address that leads to it: account fwa "
                               "(accounts id=20) -> group mix@example.edu (group_aliases id=30) -> account fwb (accounts id=21)"));
}

TEST_CASE("recursion: a chain of 100000 groups neither overflows the stack nor floods the findings") {
  Campus c;
  constexpr std::uint32_t first = 10, n = 100000, last = first + n - 1;
  for (std::uint32_t g = first; g <= last; ++g) {
    c.add_group(g, "deep" + std::to_string(g) + "@example.edu");
    c.add_member(1000 + g, g, g == last ? std::string("account:1") : "group:" + std::to_string(g + 1));
  }
  Findings f;
  auto v = c.render("virtual", f);
  CHECK(v["deep10@example.edu"] == "jdoe@example.edu");
  CHECK_MESSAGE(f.errors() == 1, f.errors());
  // The one group where the chain first exceeds 1000 levels is named, with the ends of its chain.
  const std::string at = std::to_string(last - 1000);
  CHECK(has(f, Finding::error, "group deep" + at + "@example.edu (group_aliases id=" + at + ") leads through 1001 nested groups"));
  CHECK(has(f, Finding::error, "virtual_alias_recursion_limit (1000)"));
  CHECK(has(f, Finding::error, "... (993 more) -> "));

  SUBCASE("and a loop through all of them is found") {
    c.s.group_members.back() = {1000 + last, last, 0, first, {}};  // the last group contains the first
    Findings fl;
    c.render("virtual", fl);
    CHECK_MESSAGE(count(fl, Finding::error, "alias loop: ") == 1, all(fl).substr(0, 2000));
    CHECK(has(fl, Finding::error, "(99993 more)"));
  }
}

TEST_CASE("expansion: more recipients than expansion_limit is an error naming the group") {
  Campus c;
  c.cfg.expansion_limit = 2;
  Findings f;
  c.render("virtual", f);
  CHECK_MESSAGE(has(f, Finding::error, "group team@example.edu (group_aliases id=1) expands to 3 recipients, more than Postfix's "
                                       "virtual_alias_expansion_limit (2)"), all(f));
  CHECK(f.errors() == 1);
}

TEST_CASE("render.recursion_limit and render.expansion_limit are read from the config") {
  const std::string base = "database:\n  host: 127.0.0.1\n  user: mapsync\n  database: mailusers\nmaps:\n  directory: /var/lib/mapsync/maps\n";
  const Config d = parse_config(base, "t.yaml");
  CHECK(d.render.recursion_limit == 1000);
  CHECK(d.render.expansion_limit == 1000);
  const Config c = parse_config(base + "render:\n  recursion_limit: 50\n  expansion_limit: 20000\n", "t.yaml");
  CHECK(c.render.recursion_limit == 50);
  CHECK(c.render.expansion_limit == 20000);
  try {
    parse_config(base + "render:\n  recursion_limit: 0\n", "t.yaml");
    FAIL("recursion_limit 0 was accepted");
  } catch (const Error& e) {
    CHECK(e.status() == Exit::config);
    CHECK(std::string(e.what()).find("t.yaml:8: render.recursion_limit: must be a whole number from 1") != std::string::npos);
  }
}

TEST_CASE("targets in our domains that no row receives are errors; rows that receive no mail are warnings") {
  Campus c;
  c.add_account(20, "kim", "kim@example.edu", Delivery::forward);
  c.s.forwards = {{5, 20, c.str("John.Doe@example.edu")},  // fine
                  {6, 20, c.str("jdeo@example.edu")},      // a typo: would bounce
                  {7, 20, c.str("olaf@alias.edu")},        // a disabled account, via the alias domain
                  {8, 20, c.str("kim@dept.example.edu")}};  // relay domain: not ours to know
  c.add_member(5, 1, "nobody@alias.edu");
  c.add_member(6, 1, "olaf@example.edu");
  Findings f;
  auto v = c.render("virtual", f);
  CHECK(v["kim@example.edu"] == "jdoe@example.edu, kim@dept.example.edu");
  CHECK_MESSAGE(has(f, Finding::error, "account_forwards id=6: target \"jdeo@example.edu\" is in our domain \"example.edu\" but is no valid "
                                       "recipient (no row that receives mail has this address): mail to it would bounce"), all(f));
  CHECK(has(f, Finding::error, "group_members id=5: target \"nobody@alias.edu\" is in our domain \"alias.edu\" but is no valid recipient"));
  CHECK(has(f, Finding::warning, "account_forwards id=7: target \"olaf@alias.edu\" is the address of account \"olaf\" (accounts id=3), "
                                 "disabled: it receives no mail; left out"));
  CHECK(has(f, Finding::warning, "group_members id=6: target \"olaf@example.edu\" is the address of account \"olaf\" (accounts id=3), disabled"));
  CHECK(has(f, Finding::warning, "group_members id=4: member account id=3 of group \"team@example.edu\" receives no mail"));
  CHECK(f.errors() == 2);
  CHECK(f.warnings() == 3);
}

TEST_CASE("a group whose members all receive no mail is a warning, and targets that lead to it are no error") {
  Campus c;
  c.add_group(8, "aaa-empty@example.edu");  // groups are sorted by id, as the source reads them
  c.add_member(80, 8, "account:3");
  c.add_group(9, "aab-also-empty@example.edu");
  c.add_member(90, 9, "account:3");
  c.add_account(20, "zz", "zz@example.edu", Delivery::forward);
  c.s.forwards = {{5, 20, c.str("aaa-empty@example.edu")}};
  Findings f;
  // Only virtual: the index is consumed while the map is made, and the forward (after
  // the empty groups in key order) must still find them.
  Renderer r(c.s, c.cfg, f, {MapKind::virtual_alias});
  const MapEntries m = r.render(MapKind::virtual_alias);
  CHECK_MESSAGE(f.errors() == 0, all(f));
  CHECK(has(f, Finding::warning, "group aaa-empty@example.edu (group_aliases id=8) has no member that receives mail; its address is not accepted"));
  CHECK(has(f, Finding::warning, "account zz (accounts id=20) resolves to no recipient; its addresses are not accepted"));
  for (const auto& e : m.entries) CHECK(e.key.find("empty") == std::string_view::npos);
}

TEST_CASE("routes: unknown and disabled back ends, foreign domains, reported once whatever the maps") {
  Campus c;
  c.add_account(20, "lost", "lost@example.edu", Delivery::cyrus);
  c.s.accounts.back().backend_id = 99;
  c.s.backends.push_back({2, c.str("be2"), c.str("10.0.0.3"), 24, c.str("10.0.0.3"), 143, c.str("default"), false});
  c.add_account(21, "old", "old@example.edu", Delivery::cyrus);
  c.s.accounts.back().backend_id = 2;
  c.s.addresses.push_back({21, 1, c.str("jd@elsewhere.org")});
  Findings f;
  auto maps = c.render_all(f);
  CHECK_MESSAGE(count(f, Finding::error, "accounts id=20: account \"lost\" is on back end id=99, which does not exist") == 1, all(f));
  CHECK(count(f, Finding::error, "accounts id=21: account \"old\" is on back end \"be2\" (backends id=2), which is disabled") == 1);
  CHECK(count(f, Finding::error, "addresses id=21: address \"jd@elsewhere.org\" is not in one of our local domains") == 1);
  CHECK(f.errors() == 3);
  CHECK(maps["transport"].count("lost@example.edu") == 0);
}

TEST_CASE("active accounts without a route: delivery 'none' warns, 'forward' without rows is an error; each once") {
  Campus c;
  c.add_account(20, "noreply", "noreply@example.edu", Delivery::none);
  c.add_account(21, "emeritus", "ed@example.edu", Delivery::forward);
  c.add_account(22, "gone", "gone@example.edu", Delivery::none, AccountStatus::disabled);  // not active: silent
  Findings f;
  auto maps = c.render_all(f);
  CHECK_MESSAGE(count(f, Finding::warning, "accounts id=20: account \"noreply\" is active but has delivery 'none': it receives no mail, "
                                           "and its addresses are not accepted") == 1, all(f));
  CHECK(count(f, Finding::error, "account emeritus (accounts id=21) has delivery 'forward' but no account_forwards rows") == 1);
  CHECK(count(f, Finding::warning, "gone") == 0);
  CHECK(count(f, Finding::warning, "emeritus") == 0);  // the error says it all
  CHECK(maps["virtual"].count("noreply@example.edu") == 0);
  CHECK(f.errors() == 1);
}

TEST_CASE("warnings are counted") {
  Campus c;
  Findings f;
  c.render_all(f);
  CHECK(f.errors() == 0);
  // the disabled group member, and (aliases) no system alias is missing: one warning
  CHECK_MESSAGE(f.warnings() == 1, all(f));
  c.add_account(20, "noreply", "noreply@example.edu", Delivery::none);
  Findings f2;
  c.render_all(f2);
  CHECK(f2.warnings() == 2);
  std::size_t listed = 0;
  for (const auto& x : f2.all()) listed += x.severity == Finding::warning;
  CHECK(listed == f2.warnings());
}

// ---- internationalized domains -----------------------------------------------------

TEST_CASE("IDN: an address in a Unicode domain is published in its U-label and A-label forms") {
  Campus c;
  c.s.domains.push_back({4, c.str("bücher.example.edu"), DomainKind::local, 0, {}, true});
  c.s.domains.push_back({5, c.str("xn--mnchen-3ya.example.org"), DomainKind::relay, 0, c.str("smtp:[mx.muenchen.example.org]"), true});
  c.s.domains.push_back({6, c.str("Büro.example"), DomainKind::alias, 4, {}, true});
  c.add_account(20, "joerg", "Jörg@Bücher.example.edu", Delivery::cyrus);
  c.s.addresses.push_back({20, 20, c.str("j.m@xn--bcher-kva.example.edu")});  // written in A-label form
  c.add_group(20, "leser@bücher.example.edu");
  c.add_member(200, 20, "jörg@xn--bcher-kva.example.edu");
  Findings f;
  auto maps = c.render_all(f);
  CHECK_MESSAGE(f.errors() == 0, all(f));
  auto& v = maps["virtual"];
  // the local part stays as written (folded like every key); the domain in both forms
  CHECK(v["jörg@bücher.example.edu"] == "joerg@bücher.example.edu");
  CHECK(v["jörg@xn--bcher-kva.example.edu"] == "joerg@bücher.example.edu");
  CHECK(v["joerg@bücher.example.edu"] == "joerg@bücher.example.edu");  // the login address
  CHECK(v["joerg@xn--bcher-kva.example.edu"] == "joerg@bücher.example.edu");
  CHECK(v["j.m@bücher.example.edu"] == "joerg@bücher.example.edu");
  CHECK(v["j.m@xn--bcher-kva.example.edu"] == "joerg@bücher.example.edu");
  CHECK(v["leser@xn--bcher-kva.example.edu"] == "joerg@bücher.example.edu");  // the member found in its other form
  CHECK(v["jörg@büro.example"] == "joerg@bücher.example.edu");  // alias domain, both forms
  CHECK(v["jörg@xn--bro-hoa.example"] == "joerg@bücher.example.edu");
  CHECK(v["postmaster@xn--bcher-kva.example.edu"] == "postmaster@localhost");
  CHECK(v["postmaster@xn--bro-hoa.example"] == "postmaster@localhost");
  // relay_recipients: virtual's keys, and "@domain" in both forms for a relay domain
  auto& r = maps["relay_recipients"];
  CHECK(r["jörg@bücher.example.edu"] == "OK");
  CHECK(r["jörg@xn--bcher-kva.example.edu"] == "OK");
  CHECK(r["@münchen.example.org"] == "OK");
  CHECK(r["@xn--mnchen-3ya.example.org"] == "OK");
  auto& d = maps["relay_domains"];
  CHECK(d["bücher.example.edu"] == "local");
  CHECK(d["xn--bcher-kva.example.edu"] == "local");
  CHECK(d["büro.example"] == "alias");
  CHECK(d["xn--bro-hoa.example"] == "alias");
  CHECK(d["münchen.example.org"] == "relay");
  CHECK(d["xn--mnchen-3ya.example.org"] == "relay");
  CHECK(d["example.edu"] == "local");
  CHECK(d.size() == 9);
  auto& t = maps["transport"];
  CHECK(t["münchen.example.org"] == "smtp:[mx.muenchen.example.org]");
  CHECK(t["xn--mnchen-3ya.example.org"] == "smtp:[mx.muenchen.example.org]");
  CHECK(t["joerg@bücher.example.edu"] == "lmtp:[10.0.0.2]:24");
  // ASCII domains have one form, as before
  CHECK(v.count("john.doe@example.edu") == 1);
  CHECK(d.count("alias.edu") == 1);
}

TEST_CASE("IDN: a domain stored as A-label accepts addresses written with U-labels, in any normalisation") {
  Campus c;
  c.s.domains.push_back({4, c.str("XN--BCHER-KVA.example.edu"), DomainKind::local, 0, {}, true});
  c.add_account(20, "joerg", "joerg@bücher.example.edu", Delivery::smtp);
  c.s.accounts.back().smtp_nexthop = c.str("[mx.example.edu]");
  c.s.addresses.push_back({20, 20, c.str("nfd@bu\xcc\x88" "cher.example.edu")});  // u + combining diaeresis
  Findings f;
  auto maps = c.render_all(f);
  CHECK_MESSAGE(f.errors() == 0, all(f));
  auto& v = maps["virtual"];
  CHECK(v["joerg@bücher.example.edu"] == "joerg@bücher.example.edu");
  CHECK(v["joerg@xn--bcher-kva.example.edu"] == "joerg@bücher.example.edu");
  CHECK(v["nfd@bücher.example.edu"] == "joerg@bücher.example.edu");  // published in NFC
  CHECK(v["nfd@xn--bcher-kva.example.edu"] == "joerg@bücher.example.edu");
  CHECK(maps["relay_domains"]["bücher.example.edu"] == "local");
  CHECK(maps["relay_domains"]["xn--bcher-kva.example.edu"] == "local");
}

TEST_CASE("IDN: two rows that are one address in different forms collide, named once") {
  Campus c;
  c.s.domains.push_back({4, c.str("bücher.example.edu"), DomainKind::local, 0, {}, true});
  c.s.addresses.push_back({30, 1, c.str("jörg@bücher.example.edu")});
  c.s.addresses.push_back({31, 2, c.str("JÖRG@xn--bcher-kva.example.edu")});
  Findings f;
  c.render("virtual", f);
  CHECK_MESSAGE(f.errors() == 1, all(f));
  CHECK(has(f, Finding::error, "\"jörg@bücher.example.edu\" (addresses id=30) and \"JÖRG@xn--bcher-kva.example.edu\" (addresses id=31) "
                               "are the same key \"jörg@bücher.example.edu\" after case folding and IDNA conversion"));
}

TEST_CASE("IDN: a domain row in both forms is one domain twice") {
  Campus c;
  c.s.domains.push_back({4, c.str("bücher.example.edu"), DomainKind::local, 0, {}, true});
  c.s.domains.push_back({5, c.str("xn--bcher-kva.example.edu"), DomainKind::local, 0, {}, true});
  Findings f;
  c.render("relay_domains", f);
  CHECK_MESSAGE(has(f, Finding::error, "domains id=5: domain \"xn--bcher-kva.example.edu\" and domain \"bücher.example.edu\" (domains id=4) are "
                                       "the same domain \"xn--bcher-kva.example.edu\" after case folding and IDNA conversion"), all(f));
}

TEST_CASE("IDN: transport overrides for an internationalized domain cover both forms") {
  Campus c;
  c.s.transports.push_back({1, c.str("bücher.example.org"), c.str("error:5.1.2 gone"), true});
  Findings f;
  auto t = c.render("transport", f);
  CHECK_MESSAGE(f.errors() == 0, all(f));
  CHECK(t["bücher.example.org"] == "error:5.1.2 gone");
  CHECK(t["xn--bcher-kva.example.org"] == "error:5.1.2 gone");
}

TEST_CASE("an unknown map kind is an error, never an empty map") {
  Campus c;
  Findings f;
  Renderer r(c.s, c.cfg, f);
  auto status = [](const std::function<void()>& fn) {
    try {
      fn();
    } catch (const Error& e) {
      return e.status();
    }
    return Exit::ok;
  };
  CHECK(status([&] { r.render(static_cast<MapKind>(std::size(map_kinds))); }) == Exit::software);
  CHECK(status([&] { map_kind_named("virtual_alias"); }) == Exit::software);
  CHECK(map_kind_named("virtual") == MapKind::virtual_alias);
}
