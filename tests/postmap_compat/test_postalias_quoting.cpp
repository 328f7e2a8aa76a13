// The aliases map as rendered from the database, against stock postalias: the file we
// write and the map postalias builds from our text source hold the same entries, for
// commands and file names with the characters RFC 822 tokenizing would rewrite.
#include <doctest/doctest.h>

#include "tests/support/map_test_support.h"
#include "tests/unit/render_campus.h"

using namespace maptest;

TEST_CASE("aliases with RFC 822 specials in commands and file names: postalias stores what we store") {
  render_test::Campus c;
  const char* commands[] = {
      "/bin/echo<x>", "/bin/echo (c) x", "/bin/a\\b", "/bin/x [y]", "/bin/x \"q\" ", "/bin/x;y:z@w%v", "/bin/x.y",
      "/usr/bin/list post chess", "/bin/x,y", "/bin/ü",
  };
  c.s.lists.clear();
  std::uint32_t id = 1;
  for (const char* cmd : commands) {
    c.s.lists.push_back({id, c.str("l" + std::to_string(id) + "@example.edu"), mapsync::ListManager::pipe, {},
                         c.str("l" + std::to_string(id)), c.str(cmd), true});
    ++id;
  }
  c.s.system_aliases.push_back({10, c.str("files"), c.str("\"/var/x<y>\", \"|/bin/echo(c)\", \":include:/etc/x[y]\", root"), false});
  mapsync::Findings f;
  Entries entries;
  for (const auto& [k, v] : c.render("aliases", f)) entries.emplace_back(k, v);
  REQUIRE_MESSAGE(f.errors() == 0, render_test::all(f));
  REQUIRE(entries.size() == std::size(commands) + 3);

  TempDir dir;
  Postfix postfix(dir);
  write_map(mapsync::text_map_type(), dir / "aliases", entries, true);
  for (const char* name : {"hash", "btree"}) {
    CAPTURE(name);
    const std::string ours = dir / (std::string("ours-") + name);
    write_map(type_named(name), ours + ".db", entries, true);
    const std::string stock = dir / (std::string("stock-") + name);
    fs::copy_file(dir / "aliases", stock);
    Run build = postfix(postalias_bin, shell_quote(std::string(name) + ":" + stock));
    REQUIRE(build.status == 0);
    CHECK(build.err == "");
    Run a = postfix(postalias_bin, "-s " + shell_quote(std::string(name) + ":" + ours));
    Run b = postfix(postalias_bin, "-s " + shell_quote(std::string(name) + ":" + stock));
    REQUIRE(a.status == 0);
    REQUIRE(b.status == 0);
    CHECK(sorted(parse_listing(a.out, true)) == sorted(without_yp_records(parse_listing(b.out, true))));
  }
}
