// Bad database rows: values no map file can hold are findings naming their rows, all of
// them in one run, before anything is written; no value reaches a message raw.
#include <doctest/doctest.h>

#include <functional>
#include <string>
#include <vector>

#include "libmapsync/core/address.h"
#include "libmapsync/core/escape.h"
#include "libmapsync/maps/map_backend.h"
#include "libmapsync/maps/mapdiff.h"
#include "libmapsync/maps/render.h"
#include "tests/unit/render_campus.h"

using namespace mapsync;
using namespace render_test;

namespace {

using namespace std::string_literals;

// One bad row: how to put it into the campus, and the row the error must name.
struct BadRow {
  const char* what;
  std::function<void(Campus&)> apply;
  const char* row;
};

std::vector<BadRow> bad_rows() {
  return {
      {"LF in a list address", [](Campus& c) { c.s.lists[0].address = c.str("chess\n@example.edu"); }, "mailing_lists id=1"},
      {"NUL in a list address", [](Campus& c) { c.s.lists[0].address = c.str("chess\0x@example.edu"s); }, "mailing_lists id=1"},
      {"LF in a primary-address domain",
       [](Campus& c) { c.s.accounts[1].primary_address = c.str("pat.prof@ex\nchange.example.org"); }, "accounts id=2"},
      {"NUL in a primary-address domain",
       [](Campus& c) { c.s.accounts[1].primary_address = c.str("pat.prof@ex\0change.example.org"s); }, "accounts id=2"},
      {"LF in a pipe command", [](Campus& c) { c.s.lists[0].pipe_command = c.str("/usr/bin/list\npost"); }, "mailing_lists id=1"},
      {"NUL in a pipe command", [](Campus& c) { c.s.lists[0].pipe_command = c.str("/usr/bin/list\0post"s); }, "mailing_lists id=1"},
      {"LF in a system-alias target", [](Campus& c) { c.s.system_aliases[1].targets = c.str("|/bin/log\nx"); }, "system_aliases id=2"},
      {"NUL in a system-alias target", [](Campus& c) { c.s.system_aliases[1].targets = c.str("/var/log/x\0y"s); }, "system_aliases id=2"},
      {"invalid UTF-8 in a transport", [](Campus& c) { c.s.domains[2].transport = c.str("smtp:[mx.d\xff.example.edu]"); }, "domains id=3"},
      {"invalid UTF-8 in an error: text",
       [](Campus& c) { c.s.transports = {{7, c.str("jdoe@example.edu"), c.str("error:5.1.1 gone \xc3("), true}}; },
       "transport_overrides id=7"},
      {"invalid UTF-8 in a next hop", [](Campus& c) { c.s.accounts[1].smtp_nexthop = c.str("[exch\xe0\x80\xafnge]"); }, "accounts id=2"},
      {"invalid UTF-8 in an alias target", [](Campus& c) { c.s.system_aliases[1].targets = c.str("|/bin/log \xff"); }, "system_aliases id=2"},
  };
}

// Every entry of every map either passes the writers' rule, or the run has an error
// naming the entry's row: nothing the writer would refuse gets through silently.
void check_nothing_unwritable(Campus& c, Findings& f) {
  Renderer r(c.s, c.cfg, f);
  std::vector<std::pair<std::string, std::string>> bad;
  for (const auto& name : known_map_names()) {
    const MapEntries m = r.render(map_kind_named(name));
    for (const auto& e : m.entries)
      if (entry_problem(e.key, e.value, m.alias_syntax)) bad.emplace_back(name, describe(e.origin));
  }
  for (const auto& [map, row] : bad) {
    CAPTURE(map);
    CHECK_MESSAGE(has(f, Finding::error, row), all(f));
  }
}

}  // namespace

TEST_CASE("bad rows: each kind is an error naming its row, never a value handed to the writer") {
  for (const BadRow& b : bad_rows()) {
    const std::string what = b.what;
    CAPTURE(what);
    Campus c;
    b.apply(c);
    Findings f;
    check_nothing_unwritable(c, f);
    CHECK_MESSAGE(f.errors() > 0, all(f));
    CHECK_MESSAGE(has(f, Finding::error, b.row), all(f));
    for (const auto& x : f.all()) {
      // A value in a message is escaped: no finding can forge a line or carry a NUL.
      CHECK_MESSAGE(x.message.find_first_of("\n\r"s + '\0') == std::string::npos, x.message);
      CHECK(valid_utf8(x.message));
    }
  }
}

TEST_CASE("bad rows: all of them are reported in one run") {
  Campus c;
  // One of each table's faults at once (a row can only hold one fault at a time).
  c.s.lists[0].pipe_command = c.str("/usr/bin/list\0post"s);
  c.s.accounts[1].smtp_nexthop = c.str("[exch\xe0\x80\xafnge]");
  c.s.domains[2].transport = c.str("smtp:[mx.d\xff.example.edu]");
  c.s.transports = {{7, c.str("jdoe@example.edu"), c.str("error:5.1.1 gone \xc3("), true}};
  c.s.system_aliases[1].targets = c.str("|/bin/log \xff");
  Findings f;
  c.render_all(f);
  for (const char* row : {"mailing_lists id=1", "accounts id=2", "domains id=3", "transport_overrides id=7", "system_aliases id=2"}) {
    CAPTURE(row);
    CHECK_MESSAGE(has(f, Finding::error, row), all(f));
  }
}

TEST_CASE("bad rows: an address copied into alias domains is one message, not one per copy") {
  Campus c;
  c.s.addresses = {{1, 1, c.str("Johnny\xff@example.edu")}};
  Findings f;
  c.render_all(f);
  CHECK(f.errors() > 0);
  CHECK_MESSAGE(count(f, Finding::error, "addresses id=1") <= 2, all(f));  // the address check and, at most, one map's
}

TEST_CASE("log injection: a line feed in a value is printed as \\n") {
  Campus c;
  c.s.addresses = {{1, 1, c.str("x\nmapsync: error: forged@example.org")}};
  Findings f;
  c.render_all(f);
  REQUIRE(f.errors() > 0);
  CHECK_MESSAGE(has(f, Finding::error, "x\\nmapsync: error: forged"), all(f));
  for (const auto& x : f.all()) CHECK(x.message.find('\n') == std::string::npos);
}

TEST_CASE("smtp_nexthop '' is refused, naming the account") {
  Campus c;
  c.s.accounts[1].smtp_nexthop = c.str("");
  Findings f;
  auto t = c.render("transport", f);
  CHECK(t.count("pat.prof@example.edu") == 0);
  CHECK_MESSAGE(has(f, Finding::error, "accounts id=2"), all(f));
  CHECK_MESSAGE(has(f, Finding::error, "empty smtp_nexthop"), all(f));
}

TEST_CASE("aliases: commands that postalias would re-tokenize are quoted, as postalias keeps them") {
  Campus c;
  Findings f;
  const std::pair<const char*, const char*> cases[] = {
      {"/bin/echo<x>", "\"|/bin/echo<x>\""},   {"/bin/echo (c) x", "\"|/bin/echo (c) x\""},
      {"/bin/a\\b", "\"|/bin/a\\\\b\""},        {"/bin/x [y]", "\"|/bin/x [y]\""},
      {"/bin/x \"q\"", "\"|/bin/x \\\"q\\\"\""}, {"/usr/bin/list", "|/usr/bin/list"},
      {"/bin/x;y:z@w", "|/bin/x;y:z@w"},
  };
  for (const auto& [cmd, want] : cases) {
    CAPTURE(cmd);
    c.s.lists[0].pipe_command = c.str(cmd);
    Findings g;
    auto a = c.render("aliases", g);
    CHECK_MESSAGE(g.errors() == 0, all(g));
    CHECK(a["chess"] == want);
  }
  // A tab postalias turns into a blank even inside quotes; a vertical tab local(8) would run.
  for (const char* cmd : {"/bin/x\ty", "/bin/x\vy"}) {
    CAPTURE(cmd);
    c.s.lists[0].pipe_command = c.str(cmd);
    Findings g;
    auto a = c.render("aliases", g);
    CHECK(a.count("chess") == 0);
    CHECK_MESSAGE(has(g, Finding::error, "mailing_lists id=1"), all(g));
  }
}

TEST_CASE("escape: C-style, one line, valid UTF-8 kept, long values cut") {
  CHECK(escape("plain ü") == "plain ü");
  CHECK(escape("a\nb\rc\td\\e"s + '\0' + "f") == "a\\nb\\rc\\td\\\\e\\0f");
  CHECK(escape("\x01\x1b[2J\x7f") == "\\x01\\x1b[2J\\x7f");
  CHECK(escape("bad \xff \xc3( \xed\xa0\x80") == "bad \\xff \\xc3( \\xed\\xa0\\x80");
  const std::string big(10240, 'x');
  const std::string cut = escape(big, 100);
  CHECK(cut.size() < 150);
  CHECK(cut.find("(10240 bytes)") != std::string::npos);
  CHECK(escape("\xc3\xbc\xc3\xbc", 3) == "\xc3\xbc\xc3\xbc");  // never cuts a character in two
  CHECK(valid_utf8("ü"));
  CHECK_FALSE(valid_utf8("\xc0\xaf"));
  // A whole message: escaped parts stay as they are, a line feed starts an indented line.
  CHECK(escape_message("a \\n b") == "a \\n b");
  CHECK(escape_message("gates:\n  one") == "gates:\n  one");
  CHECK(escape_message("x\nmapsync: forged") == "x\n  mapsync: forged");
  CHECK(escape_message("bell\a") == "bell\\x07");
}

TEST_CASE("mapsync diff and plan: a key or value with a line break or tab stays on its line") {
  MapDiff d;
  d.map = "virtual";
  d.added = {{"a\nb@example.edu", "x\ty"}};
  d.removed = {{"c@example.edu", "old\r\n+ forged\tline"}};
  d.changed = {{"e@example.edu", "v\0w"s, "bad \xff"}};
  const std::string text = format_diff({d});
  CHECK(text == "--- virtual\n"
                "+ a\\nb@example.edu\tx\\ty\n"
                "- c@example.edu\told\\r\\n+ forged\\tline\n"
                "~ e@example.edu\tv\\0w -> bad \\xff\n"
                "virtual: +1 -1 ~1 (0 -> 0 entries)\n");
  // JSON: nlohmann escapes control characters and replaces invalid UTF-8; one document.
  const std::string json = format_diff_json({d}, json_format::mapsync_plan);
  CHECK(json.find("a\\nb@example.edu") != std::string::npos);
  CHECK(json.find("x\\ty") != std::string::npos);
  CHECK(json.find('\t') == std::string::npos);
  CHECK(valid_utf8(json));
}
