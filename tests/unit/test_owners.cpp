// test_owners.cpp - what incremental builds keep beside the maps (maps/owners.h): the
// owner of each entry, the alias graph the renderer records, and the sidecar files, which
// are refused unless they describe exactly the published map.
#include <doctest/doctest.h>

#include <algorithm>

#include "libmapsync/maps/delta.h"
#include "libmapsync/maps/incremental.h"
#include "libmapsync/maps/owners.h"
#include "libmapsync/maps/publish.h"
#include "tests/support/map_test_support.h"
#include "tests/unit/render_campus.h"

using namespace mapsync;

namespace {

bool has_edge(const AliasGraph& g, Table pt, std::uint32_t p, Table ct, std::uint32_t c) {
  return std::find(g.edges.begin(), g.edges.end(), std::make_pair(owner_code(pt, p), owner_code(ct, c))) != g.edges.end();
}

}  // namespace

namespace {

std::vector<OwnerCode> owners_in(const OwnerIndex& index) {
  std::vector<OwnerCode> out;
  OwnerIndex::Cursor c(index);
  for (OwnerIndex::Entry e; c.next(e);) out.push_back(e.owner);
  return out;
}

std::vector<std::uint64_t> offsets_in(const OwnerIndex& index) {
  std::vector<std::uint64_t> out;
  OwnerIndex::Cursor c(index);
  for (OwnerIndex::Entry e; c.next(e);) out.push_back(e.offset);
  return out;
}

}  // namespace

TEST_CASE("an address row is owned by its account, every other row by itself") {
  render_test::Campus c;
  CHECK(owner_of(c.s, {Table::addresses, 1}) == owner_code(Table::accounts, 1));
  CHECK(owner_of(c.s, {Table::accounts, 3, 2}) == owner_code(Table::accounts, 3));  // an alias-domain copy
  CHECK(owner_of(c.s, {Table::group_aliases, 1}) == owner_code(Table::group_aliases, 1));
  CHECK(owner_of(c.s, {Table::addresses, 99}) == 0);  // not in the snapshot
}

TEST_CASE("the renderer records every edge it follows, members that receive nothing included") {
  render_test::Campus c;
  c.add_account(4, "fwd", "fwd@example.edu", Delivery::forward);
  c.s.forwards = {{1, 4, c.str("team@example.edu")}, {2, 4, c.str("nobody@example.edu")}, {3, 4, c.str("x@elsewhere.example")}};
  Findings f;
  AliasGraph g;
  Renderer r(c.s, c.cfg, f, all_map_kinds(), &g);
  r.render(MapKind::virtual_alias);
  g.normalize();
  CHECK(has_edge(g, Table::group_aliases, 1, Table::accounts, 1));
  CHECK(has_edge(g, Table::group_aliases, 1, Table::accounts, 2));
  // olaf is disabled and left out of the value, but enabling him changes the group.
  CHECK(has_edge(g, Table::group_aliases, 1, Table::accounts, 3));
  CHECK(has_edge(g, Table::accounts, 4, Table::group_aliases, 1));
  // A target of ours that nobody receives: whoever gets it later changes the forward.
  CHECK(std::find(g.unresolved.begin(), g.unresolved.end(),
                  std::make_pair(owner_code(Table::accounts, 4), std::string("nobody@example.edu"))) != g.unresolved.end());
  // Outside addresses lead nowhere in the graph.
  for (const auto& [p, key] : g.unresolved) CHECK(key.find("elsewhere") == std::string::npos);
}

TEST_CASE("a full build's sidecar holds the owners in the order of the files, extra entries merged in") {
  render_test::Campus c;
  maptest::TempDir dir;
  MapEntries m;
  m.entries = {{"a@example.edu", "v", {Table::addresses, 1}}, {"c@example.edu", "v", {Table::group_aliases, 1}}};
  const MapView view{&m, "OK", {{"@dept.example.edu", "OK", {Table::domains, 3}}}, false};
  {
    Publisher pub(dir.path());
    stage_owners_of(pub, "relay_recipients", "d1", c.s, view);
    pub.commit();
  }
  OwnerIndex back;
  std::string why;
  REQUIRE(read_owners(dir.path(), "relay_recipients", "d1", 3, back, why));
  CHECK(owners_in(back) ==
        std::vector<OwnerCode>{owner_code(Table::domains, 3), owner_code(Table::accounts, 1), owner_code(Table::group_aliases, 1)});
  // Where each line of the text source ("@dept.example.edu\tOK\n", "a@example.edu\tOK\n", ...) starts.
  CHECK(offsets_in(back) == std::vector<std::uint64_t>{0, 21, 38});
}

TEST_CASE("a sidecar is read back only for the map it describes") {
  maptest::TempDir dir;
  // The largest id and table too: the sidecar packs both in a variable-length number.
  const std::vector<OwnerCode> owners{owner_code(Table::accounts, 7), owner_code(Table::group_aliases, 2),
                                      owner_code(Table::delivery_targets, 0xffffffffu)};
  {
    Publisher pub(dir.path());
    std::size_t i = 0;
    stage_owners(pub, "virtual", "abc123", owners.size(), [&] { return OwnedLine{owners[i++], 10}; });
    pub.commit();
  }
  OwnerIndex back;
  std::string why;
  CHECK(read_owners(dir.path(), "virtual", "abc123", 3, back, why));
  CHECK(owners_in(back) == owners);
  CHECK(offsets_in(back) == std::vector<std::uint64_t>{0, 10, 20});
  CHECK_FALSE(read_owners(dir.path(), "virtual", "abc124", 3, back, why));  // another content
  CHECK(why.find("does not describe") != std::string::npos);
  CHECK_FALSE(read_owners(dir.path(), "virtual", "abc123", 2, back, why));  // another size
  CHECK_FALSE(read_owners(dir.path(), "transport", "abc123", 3, back, why));
  CHECK(why.find("no owner index") != std::string::npos);
  maptest::write_text(dir / owners_file("canonical"), "mapsync-owners 3\nabc\n1\n\x97");
  CHECK_FALSE(read_owners(dir.path(), "canonical", "abc", 1, back, why));  // truncated in an entry
  maptest::write_text(dir / owners_file("canonical"), "mapsync-owners 3\nabc\n1\n\x13\x05\x05");
  CHECK_FALSE(read_owners(dir.path(), "canonical", "abc", 1, back, why));  // a byte beyond the last entry
  // One entry: account 1 (id 1 above table 3 in four bits), a line of 5 bytes.
  maptest::write_text(dir / owners_file("canonical"), "mapsync-owners 3\nabc\n1\n\x13\x05");
  CHECK(read_owners(dir.path(), "canonical", "abc", 1, back, why));
  CHECK(owners_in(back) == std::vector<OwnerCode>{owner_code(Table::accounts, 1)});
  maptest::write_text(dir / owners_file("canonical"), "mapsync-owners 2\nabc\n1\n0123456789abcdef");
  CHECK_FALSE(read_owners(dir.path(), "canonical", "abc", 1, back, why));  // the fixed-width format before
}

TEST_CASE("the alias graph is read back only for the serial it was written at") {
  maptest::TempDir dir;
  AliasGraph g;
  g.edges = {{owner_code(Table::group_aliases, 1), owner_code(Table::accounts, 2)}};
  g.unresolved = {{owner_code(Table::accounts, 4), "nobody@example.edu"}};
  {
    Publisher pub(dir.path());
    stage_graph(pub, 42, g);
    pub.commit();
  }
  AliasGraph back;
  std::string why;
  REQUIRE(read_graph(dir.path(), 42, back, why));
  CHECK(back.edges == g.edges);
  CHECK(back.unresolved == g.unresolved);
  CHECK_FALSE(read_graph(dir.path(), 43, back, why));
}

TEST_CASE("the owner filter answers as the sorted search does") {
  std::vector<OwnerCode> few{owner_code(Table::accounts, 5), owner_code(Table::accounts, 70000), owner_code(Table::group_aliases, 5)};
  std::vector<OwnerCode> many;  // more owners than the filter has bits: every bit set
  for (std::uint32_t id = 0; id < 100000; id += 1) many.push_back(owner_code(Table::accounts, id * 3));
  for (const auto* sorted : {&few, &many}) {
    const OwnerFilter has(*sorted);
    std::size_t hits = 0;
    for (Table t : {Table::accounts, Table::group_aliases, Table::mailing_lists})
      for (std::uint32_t id = 0; id < 300000; id += 7) {
        const OwnerCode c = owner_code(t, id);
        CHECK(has(c) == sorted_has(*sorted, c));
        hits += has(c);
      }
    CHECK(hits > 0);
  }
}

TEST_CASE("an owner index made in memory is staged and read back as the same entries") {
  maptest::TempDir dir;
  OwnerIndex made;
  for (std::uint32_t id = 0; id < 1000; ++id) made.add(owner_code(id % 2 ? Table::accounts : Table::mailing_lists, id * 977), id % 300 + 2);
  {
    Publisher pub(dir.path());
    stage_owners(pub, "virtual", "d", made);
    pub.commit();
  }
  OwnerIndex back;
  std::string why;
  REQUIRE(read_owners(dir.path(), "virtual", "d", 1000, back, why));
  CHECK(back.encoded() == made.encoded());
  CHECK(owners_in(back) == owners_in(made));
  CHECK(offsets_in(back)[999] == offsets_in(made)[998] + 998 % 300 + 2);
}
