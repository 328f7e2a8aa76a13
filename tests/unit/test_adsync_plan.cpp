// Unit tests for adsync's diff (plan_adsync): the lifecycle, matching and gate rules,
// driven without a directory or a database. The integration test (tests/integration/
// adsync.sh) runs the same rules against Samba AD and MariaDB.
#include <doctest/doctest.h>

#include "libmapsync/core/error.h"
#include "libmapsync/directory/adsync.h"

using namespace mapsync;

namespace {

std::string guid(char c) { return std::string(16, c); }

DirEntry user(char g, const std::string& uid, const std::string& ou = "OU=Students,DC=example,DC=test") {
  DirEntry e;
  e.anchor = guid(g);
  e.uid = uid;
  e.dn = "CN=" + uid + "," + ou;
  e.mail = uid + "@example.test";
  e.user_account_control = 512;
  e.usn_changed = 100;
  return e;
}

AdConfig config() {
  AdConfig ad;
  ad.present = true;
  ad.bases = {"DC=example,DC=test"};
  AdPlacementRule staff;
  staff.name = "staff";
  staff.ou = "OU=Staff,DC=example,DC=test";
  staff.delivery = Delivery::smtp;
  staff.smtp_nexthop = "[exchange.example.test]";
  AdPlacementRule students;
  students.name = "students";
  students.delivery = Delivery::cyrus;
  students.backends = {"be1", "be2"};
  ad.placement = {staff, students};
  ad.disable_after_misses = 3;
  ad.pending_delete_after_days = 30;
  ad.gates.max_disables = 100;
  ad.gates.max_disables_percent = 50;
  return ad;
}

AdDbState empty_db() {
  AdDbState db;
  db.domains = {"example.test"};
  db.backends = {{1, "be1", true, 10, "", 143, {}}, {2, "be2", true, 3, "", 143, {}}};
  return db;
}

DbAccount account(std::uint32_t id, char g, const std::string& uid, const std::string& source = "ad") {
  DbAccount a;
  a.id = id;
  a.anchor = guid(g);
  a.uid = uid;
  a.primary_address = uid + "@example.test";
  a.status = AccountStatus::active;
  a.source = parse_sql<AccountSource>(source);
  a.delivery = Delivery::cyrus;
  a.has_state = true;
  a.dn = "CN=" + uid + ",OU=Students,DC=example,DC=test";
  a.usn_changed = 100;
  return a;
}

void index_addresses(AdDbState& db) {
  for (const auto& a : db.accounts) db.addresses[a.primary_address] = {a.id, "account " + a.uid};
}

Plan plan(const AdDbState& db, std::vector<DirEntry> entries, SyncMode mode = SyncMode::full, std::time_t now = 100000000) {
  static AdConfig ad = config();
  PlanInput in;
  in.ad = &ad;
  in.mode = mode;
  in.now = now;
  static std::unordered_set<std::string> none;
  return plan_adsync(in, db, entries, [](const std::string&) -> const std::unordered_set<std::string>& { return none; });
}

}  // namespace

TEST_CASE("new users are created with the placement policy; disabled and mail-less ones are not") {
  AdDbState db = empty_db();
  DirEntry staff = user('a', "alice", "OU=Staff,DC=example,DC=test");
  staff.proxy_addresses = {"SMTP:alice.smith@example.test", "smtp:alice@example.test", "X500:/o=x", "smtp:a@elsewhere.org"};
  DirEntry student = user('b', "bob");
  DirEntry disabled = user('c', "carol");
  disabled.user_account_control = 66050;  // ACCOUNTDISABLE among other bits
  DirEntry nomail = user('f', "frank");
  nomail.mail.clear();
  const Plan p = plan(db, {staff, student, disabled, nomail});
  REQUIRE(p.creates.size() == 2);
  CHECK(p.creates[0].w.primary_address == "alice.smith@example.test");  // the SMTP: proxyAddress wins over mail
  CHECK(p.creates[0].w.aliases == std::vector<std::string>{"alice@example.test"});  // mail equals an smtp: one; others dropped
  CHECK(p.creates[0].delivery == Delivery::smtp);
  CHECK(p.creates[0].smtp_nexthop == "[exchange.example.test]");
  CHECK(p.creates[1].delivery == Delivery::cyrus);
  CHECK(p.creates[1].backend == "be2");  // the back end with the fewest accounts
  CHECK(p.gates_tripped.empty());        // the first import: no percentage to exceed
}

TEST_CASE("uac 66050 is disabled and 66048 is not: the bit, not the value") {
  DirEntry e = user('a', "x");
  e.user_account_control = 66050;
  CHECK(e.disabled());
  e.user_account_control = 66048;
  CHECK_FALSE(e.disabled());
  e.user_account_control = 514;
  CHECK(e.disabled());
}

TEST_CASE("a rename and an OU move keep the account: matched by objectGUID") {
  AdDbState db = empty_db();
  db.accounts = {account(1, 'd', "dave"), account(2, 'e', "erin")};
  index_addresses(db);
  DirEntry renamed = user('d', "david");
  renamed.mail = "dave@example.test";
  DirEntry moved = user('e', "erin", "OU=Staff,DC=example,DC=test");
  const Plan p = plan(db, {renamed, moved});
  CHECK(p.creates.empty());
  CHECK(p.misses.empty());
  REQUIRE(p.updates.size() == 1);
  CHECK(p.updates[0].rename);
  CHECK(p.updates[0].changes[0].field == "uid");
  CHECK(p.updates[0].changes[0].after == "david");
  REQUIRE(p.state_updates.size() == 2);  // a move changes only where AD keeps it (and the rename the CN)
  CHECK(p.state_updates[1].account_id == 2);
  CHECK(p.state_updates[1].dn == "CN=erin,OU=Staff,DC=example,DC=test");
}

TEST_CASE("an account missing from AD is disabled only after N consecutive runs, then pending-delete after the grace") {
  AdDbState db = empty_db();
  db.accounts = {account(1, 'a', "alice"), account(2, 'b', "bob"), account(3, 'c', "carol")};
  index_addresses(db);
  std::vector<DirEntry> present = {user('a', "alice"), user('b', "bob")};
  Plan p = plan(db, present);
  REQUIRE(p.misses.size() == 1);
  CHECK(p.misses[0].uid == "carol");
  CHECK(p.misses[0].action == MissAction::count);
  CHECK(p.misses[0].missed_runs == 1);
  CHECK(p.misses[0].new_miss);

  db.accounts[2].missed_runs = 2;
  db.accounts[2].missing_reason = "gone";
  p = plan(db, present);
  REQUIRE(p.misses.size() == 1);
  CHECK(p.misses[0].action == MissAction::disable);

  // An incremental run does not see unchanged entries, but one already missing stays missing.
  p = plan(db, {}, SyncMode::incremental);
  REQUIRE(p.misses.size() == 1);
  CHECK(p.misses[0].action == MissAction::disable);

  db.accounts[2].status = AccountStatus::disabled;
  db.accounts[2].missed_runs = 3;
  db.accounts[2].status_changed_at = 100000000 - 29 * 86400;
  p = plan(db, present);
  CHECK(p.misses.empty());  // counter at its cap, grace not over: nothing to write
  db.accounts[2].status_changed_at = 100000000 - 31 * 86400;
  p = plan(db, present);
  REQUIRE(p.misses.size() == 1);
  CHECK(p.misses[0].action == MissAction::pending_delete);

  // Back in AD, enabled: active again and the counter starts over.
  p = plan(db, {user('a', "alice"), user('b', "bob"), user('c', "carol")});
  REQUIRE(p.updates.size() == 1);
  CHECK(p.updates[0].enable);
  REQUIRE(p.state_updates.size() == 1);
  CHECK(p.state_updates[0].reset_misses);
}

TEST_CASE("manual accounts are never touched; their names and addresses are conflicts for AD entries") {
  AdDbState db = empty_db();
  db.accounts = {account(1, 'm', "manual", "manual")};
  db.accounts[0].anchor.clear();
  index_addresses(db);
  DirEntry same_uid = user('x', "manual");
  DirEntry same_address = user('y', "other");
  same_address.mail = "manual@example.test";
  const Plan p = plan(db, {same_uid, same_address});
  CHECK(p.creates.empty());
  CHECK(p.updates.empty());
  CHECK(p.misses.empty());
  CHECK(p.conflicts.size() == 2);
}

TEST_CASE("an AD account without a GUID (imported earlier) is adopted by user name") {
  AdDbState db = empty_db();
  db.accounts = {account(1, 'a', "alice")};
  db.accounts[0].anchor.clear();
  index_addresses(db);
  const Plan p = plan(db, {user('a', "alice")});
  CHECK(p.creates.empty());
  REQUIRE(p.updates.size() == 1);
  CHECK(p.updates[0].changes[0].field == "object_guid");
}

TEST_CASE("aliases follow proxyAddresses; an alias owned elsewhere is left out") {
  AdDbState db = empty_db();
  db.accounts = {account(1, 'a', "alice"), account(2, 'b', "bob")};
  db.accounts[0].proxy_addresses = {"old@example.test"};
  index_addresses(db);
  db.addresses["old@example.test"] = {1, "account alice"};
  DirEntry a = user('a', "alice");
  a.proxy_addresses = {"SMTP:alice@example.test", "smtp:new@example.test", "smtp:bob@example.test"};
  const Plan p = plan(db, {a, user('b', "bob")});
  REQUIRE(p.updates.size() == 1);
  CHECK(p.updates[0].add_aliases == std::vector<std::string>{"new@example.test"});
  CHECK(p.updates[0].remove_aliases == std::vector<std::string>{"old@example.test"});
  REQUIRE(p.conflicts.size() == 1);
  CHECK(p.conflicts[0].what.find("bob@example.test belongs to account bob") != std::string::npos);
}

TEST_CASE("a partial read trips the disable gate on the first run, long before anything is disabled") {
  AdDbState db = empty_db();
  std::vector<DirEntry> present;
  for (std::uint32_t i = 0; i < 10; ++i) {
    const std::string uid = "u" + std::to_string(i);
    db.accounts.push_back(account(i + 1, static_cast<char>('a' + i), uid));
    if (i < 4) present.push_back(user(static_cast<char>('a' + i), uid));
  }
  index_addresses(db);
  const Plan p = plan(db, present);
  CHECK(p.count(MissAction::disable) == 0);
  CHECK(p.count_new_misses() == 6);
  REQUIRE(p.gates_tripped.size() == 1);
  CHECK(p.gates_tripped[0].rfind("disables: 6 of 10", 0) == 0);
}

TEST_CASE("the attribute mapping: configured names in any case, every proxy value, a GUID required") {
  AdConfig ad = config();
  ad.attr_uid = "uid";
  const std::vector<DirAttribute> attrs = {
      {"objectguid", {guid('g')}},
      {"UID", {"jdoe", "second value ignored"}},
      {"mail", {"jane.doe@example.test"}},
      {"proxyAddresses", {"SMTP:jane.doe@example.test", "smtp:jdoe@example.test"}},
      {"sAMAccountName", {"not the configured uid"}},
      {"userAccountControl", {"514"}},
      {"uSNChanged", {"4711"}},
  };
  const DirEntry e = dir_entry_from(ad, "CN=Jane,DC=example,DC=test", attrs, "AD test");
  CHECK(e.dn == "CN=Jane,DC=example,DC=test");
  CHECK(e.anchor == guid('g'));
  CHECK(e.uid == "jdoe");
  CHECK(e.proxy_addresses.size() == 2);
  CHECK(e.disabled());
  CHECK(e.usn_changed == 4711);

  try {
    dir_entry_from(ad, "CN=x", {{"objectGUID", {"short"}}}, "AD test");
    FAIL("a 5-byte objectGUID was accepted");
  } catch (const Error& err) {
    CHECK(err.status() == Exit::data);
  }
  try {
    dir_entry_from(ad, "CN=x", {{"objectGUID", {guid('g')}}, {"proxyAddresses;range=0-1499", {"smtp:a@b"}}}, "AD test");
    FAIL("a ranged attribute was accepted");
  } catch (const Error& err) {
    CHECK(err.status() == Exit::tempfail);
  }
}
