// test_import_textmap.cpp - the importers' text-map parser reads what postmap/postalias read.
#include <doctest/doctest.h>

#include <string>

#include "libmapsync/importer/ident.h"
#include "libmapsync/importer/textmap.h"

using mapsync::parse_text_map;

TEST_CASE("textmap: comments, blank lines, tabs and spaces") {
  auto m = parse_text_map("# comment\n\n  # indented comment\nA@Example.COM\t  b@example.com  \nc@x y@x\n", "v", false);
  REQUIRE(m.entries.size() == 2);
  CHECK(m.entries[0].key == "A@Example.COM");
  CHECK(m.entries[0].folded == "a@example.com");
  CHECK(m.entries[0].value == "b@example.com");
  CHECK(m.entries[0].line == 4);
  CHECK(m.entries[1].value == "y@x");
  CHECK(m.problems.empty());
}

TEST_CASE("textmap: continuation lines join the previous logical line") {
  auto m = parse_text_map("g@x a@x,\n\tb@x,\n# between\n    c@x\nh@x d@x\n", "v", false);
  REQUIRE(m.entries.size() == 2);
  CHECK(m.entries[0].value == "a@x, b@x, c@x");
  CHECK(m.entries[0].line == 1);
  CHECK(m.entries[1].line == 5);
}

TEST_CASE("textmap: the first of duplicate keys wins, case-insensitively; later ones are reported") {
  auto m = parse_text_map("k@x first\nK@X second\nk@x third\n", "v", false);
  REQUIRE(m.entries.size() == 1);
  CHECK(m.entries[0].value == "first");
  REQUIRE(m.problems.size() == 2);
  CHECK(m.problems[0].line == 2);
  CHECK(m.problems[0].why.find("duplicate of line 1") == 0);
}

TEST_CASE("textmap: UTF-8 keys are folded as postmap folds them") {
  auto m = parse_text_map("JÖRG@Bücher.Example x\nStraße@x y\n", "v", false);
  REQUIRE(m.entries.size() == 2);
  CHECK(m.entries[0].folded == "jörg@bücher.example");
  CHECK(m.entries[1].folded == "strasse@x");
}

TEST_CASE("textmap: a key without value and a line that continues nothing are reported") {
  auto m = parse_text_map("  orphan continuation\nlonely\n", "v", false);
  CHECK(m.entries.empty());
  REQUIRE(m.problems.size() == 2);
  CHECK(m.problems[0].line == 1);
  CHECK(m.problems[1].why == "key without a value");
}

TEST_CASE("textmap: aliases(5) syntax") {
  auto m = parse_text_map("postmaster: root\nRoot:\tadmin@x,\n  ops@x\n\"mailer-daemon\": postmaster\nbad line\n", "a", true);
  REQUIRE(m.entries.size() == 3);
  CHECK(m.entries[0].key == "postmaster");
  CHECK(m.entries[1].folded == "root");
  CHECK(m.entries[1].value == "admin@x, ops@x");
  CHECK(m.entries[2].key == "mailer-daemon");
  REQUIRE(m.problems.size() == 1);
  CHECK(m.problems[0].why == "no ':' after the alias name");
}

TEST_CASE("ident: both IDN forms of a domain are one identity; targets split at commas and blanks") {
  CHECK(mapsync::ident("Jörg@Bücher.example") == mapsync::ident("jörg@xn--bcher-kva.example"));
  CHECK(mapsync::split_targets("a@x, b@x\tc@x,,d@x") == std::vector<std::string>{"a@x", "b@x", "c@x", "d@x"});
}
