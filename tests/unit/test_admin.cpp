// mapadm's pure parts: the change words (command line and bulk file), field checks, CSV.
#include <doctest/doctest.h>

#include <sstream>

#include "libmapsync/admin/admin.h"
#include "libmapsync/core/error.h"

using namespace mapsync;
using namespace mapsync::admin;

namespace {

std::string error_of(const std::vector<std::string>& words, const std::string& origin = "") {
  try {
    parse_change(words, origin);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("a change: entity, verb, keys, fields") {
  const Change c = parse_change({"account", "set", "jdoe", "delivery=smtp", "delivery_target=exchange"});
  CHECK(c.entity->name == "account");
  CHECK(c.verb == Verb::set);
  REQUIRE(c.keys.size() == 1);
  CHECK(c.keys[0] == "jdoe");
  REQUIRE(c.fields.size() == 2);
  CHECK(c.fields[1].first == "delivery_target");
  CHECK(c.command() == "account set jdoe delivery=smtp delivery_target=exchange");
  const Change m = parse_change({"member", "add", "it-team@example.edu", "account:jdoe"});
  CHECK(m.keys.size() == 2);
  const Change l = parse_change({"account", "list", "status=disabled", "backend=be1"});
  CHECK(l.keys.empty());
  CHECK(l.fields.size() == 2);
}

TEST_CASE("a change is checked before any database is asked") {
  CHECK(error_of({"acount", "add", "x"}) == "unknown object \"acount\"");
  CHECK(error_of({"account", "frob", "x"}) == "account: unknown verb \"frob\"");
  CHECK(error_of({"account", "set"}) == "account set: give uid");
  CHECK(error_of({"account", "set", "jdoe", "colour=red"}).find("no field \"colour\"") != std::string::npos);
  CHECK(error_of({"account", "set", "jdoe", "delivery=pigeon"}) ==
        "account jdoe: delivery \"pigeon\": is not one of cyrus, smtp, forward, none");
  CHECK(error_of({"account", "add", "kim", "primary_address=kim@example.edu"}) == "account kim: add needs delivery=...");
  CHECK(error_of({"account", "set", "jdoe", "source=manual"}) == "account jdoe: field source is not changed by mapadm");
  CHECK(error_of({"address", "add", "not an address", "account=jdoe"}).find("address \"not an address\"") !=
        std::string::npos);
  CHECK(error_of({"account", "set", "jdoe", "quota_mb=lots"}) == "account jdoe: quota_mb \"lots\": is not a number");
  CHECK(error_of({"account", "remove", "jdoe", "quota_mb=1"}) == "account jdoe: remove takes no fields");
  CHECK(error_of({"alias", "enable", "root"}) == "alias: cannot be enabled or disabled");
  CHECK(error_of({"account", "set", "jdoe", "quota_mb=1", "quota_mb=2"}) == "account jdoe: field quota_mb given twice");
  // Bulk errors name the file and line, and are data errors (65), not usage.
  try {
    parse_change({"account", "set", "jdoe", "status=gone"}, "f.csv:7");
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).rfind("f.csv:7: account jdoe: status", 0) == 0);
    CHECK(e.status() == Exit::data);
  }
}

TEST_CASE("field values") {
  const Entity& acc = *find_entity("account");
  CHECK(check_value(*acc.field("keep_copy"), "yes").empty());
  CHECK(!check_value(*acc.field("keep_copy"), "maybe").empty());
  CHECK(check_value(*acc.field("routing_address"), "").empty());  // clears it
  CHECK(check_value(*acc.field("primary_address"), "") == "may not be empty");
  CHECK(check_value(*acc.field("primary_address"), "Jörg.Müller@bücher.example").empty());
  CHECK(!check_value(*acc.field("given_name"), "two\nlines").empty());
  const Entity& can = *find_entity("canonical");
  CHECK(check_value(*can.field("source"), "@oldname.example.edu").empty());
  CHECK(check_value(*can.field("source"), "webmaster@example.edu").empty());
  CHECK(!check_value(*can.field("source"), "@").empty());
  const Entity& mem = *find_entity("member");
  CHECK(check_value(*mem.field("member"), "account:jdoe").empty());
  CHECK(check_value(*mem.field("member"), "group:it-team@example.edu").empty());
  CHECK(check_value(*mem.field("member"), "oncall@pager.example.net").empty());
  CHECK(!check_value(*mem.field("member"), "account:").empty());
  const Entity& al = *find_entity("alias");
  CHECK(check_value(*al.field("targets"), "root, \"|/usr/bin/logger -t maillog\"").empty());
  // AD ownership as adsync writes it
  CHECK(acc.field("surname")->ad_managed);
  CHECK(acc.field("status")->ad_managed);
  CHECK(!acc.field("delivery")->ad_managed);
}

TEST_CASE("CSV records") {
  std::vector<std::string> f;
  REQUIRE(split_csv_line("a,b,,c", f));
  CHECK(f == std::vector<std::string>{"a", "b", "", "c"});
  REQUIRE(split_csv_line("alias,add,logs,\"targets=root, \"\"|/usr/bin/logger\"\"\"", f));
  CHECK(f.size() == 4);
  CHECK(f[3] == "targets=root, \"|/usr/bin/logger\"");
  CHECK(!split_csv_line("a,\"open", f));
}

TEST_CASE("a bulk file: comments, blank lines, and errors by line") {
  std::istringstream good("# header\n\naccount,set,jdoe,quota_mb=4096\r\nmember,remove,it-team@example.edu,account:jdoe,\n");
  const auto changes = parse_bulk(good, "ok.csv");
  REQUIRE(changes.size() == 2);
  CHECK(changes[0].origin == "ok.csv:3");
  CHECK(changes[1].keys[1] == "account:jdoe");
  std::istringstream bad("account,set,jdoe,quota_mb=1\naccount,set,jdoe,delivery=pigeon\n");
  try {
    parse_bulk(bad, "bad.csv");
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).rfind("bad.csv:2: ", 0) == 0);
  }
  std::istringstream show("account,show,jdoe\n");
  CHECK_THROWS_AS(parse_bulk(show, "s.csv"), Error);
}
