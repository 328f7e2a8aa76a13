// test_postmap_compat.cpp - the map writers and readers checked against the stock
// Postfix tools (postmap, postalias), db5.3_verify, db5.3_dump and mdb_dump, as Postfix's
// own dict_test does.
//
// Postfix runs with MAIL_CONFIG pointing at a private main.cf in a temporary directory,
// so /etc/postfix is never read or written. Needs the postfix, postfix-lmdb, postfix-cdb,
// db5.3-util and lmdb-utils packages.
#include <doctest/doctest.h>

#include "tests/support/map_test_support.h"

using namespace maptest;

TEST_CASE("lmdb maps hold key+NUL -> value+NUL in one file, cdb maps key -> value") {
  TempDir dir;
  write_map(type_named("lmdb"), dir / "m.lmdb", {{"key1", "value1"}, {"ärger", "x"}});
  write_map(type_named("cdb"), dir / "m.cdb", {{"key1", "value1"}});
  // No lock file (MDB_NOLOCK) or anything else beside the maps.
  CHECK(files_in(dir / "") == 2);

  Run dump = run(std::string(mdb_dump_bin) + " -n -p " + shell_quote(dir / "m.lmdb"), dir / "");
  REQUIRE(dump.status == 0);
  CHECK(dump.out.find("type=btree") != std::string::npos);
  CHECK(dump.out.find(" key1\\00\n value1\\00\n") != std::string::npos);
  CHECK(dump.out.find(" \\c3\\a4rger\\00\n x\\00\n") != std::string::npos);

  // cdb: a 2048-byte table of contents, then the records: key length and value length
  // (32-bit little-endian), key, value.
  const std::string cdb = read_text(dir / "m.cdb");
  REQUIRE(cdb.size() > 2048 + 8 + 10);
  auto u32 = [&](std::size_t at) {
    return static_cast<unsigned>(static_cast<unsigned char>(cdb[at])) |
           static_cast<unsigned>(static_cast<unsigned char>(cdb[at + 1])) << 8 |
           static_cast<unsigned>(static_cast<unsigned char>(cdb[at + 2])) << 16 |
           static_cast<unsigned>(static_cast<unsigned char>(cdb[at + 3])) << 24;
  };
  CHECK(u32(2048) == 4);
  CHECK(u32(2052) == 6);
  CHECK(cdb.substr(2056, 10) == "key1value1");
}

TEST_CASE("the lmdb writer grows its map when the caller's numbers are wrong") {
  // The estimate from expected_entries is far too small here: the writer must grow the
  // map (committing what it has) instead of failing with MDB_MAP_FULL.
  TempDir dir;
  Postfix postfix(dir);
  for (bool sorted_input : {true, false}) {
    CAPTURE(sorted_input);
    Entries entries;
    char key[64], value[128];
    for (int i = 0; i < 40000; ++i) {
      std::snprintf(key, sizeof key, "user%06d@example.com", sorted_input ? i : (i * 7919) % 40000);
      std::snprintf(value, sizeof value, "a rather long value that fills pages quickly %06d@mailbox.example.com", i);
      entries.emplace_back(key, value);
    }
    // One value bigger than a page: LMDB puts it on overflow pages.
    entries.emplace_back(sorted_input ? "zz-big" : "big", std::string(20000, 'v'));
    WriterOptions options;
    options.expected_entries = 10;
    options.payload_bytes = 100;
    options.sorted_input = sorted_input;
    std::string base = dir / (std::string("grown-") + (sorted_input ? "sorted" : "random"));
    auto writer = type_named("lmdb").create(base + ".lmdb", options);
    for (const auto& [k, v] : entries) writer->add(k, v);
    writer->finish();
    CHECK(read_map(type_named("lmdb"), base + ".lmdb") == sorted(entries));
    Run seq = postfix(postmap_bin, "-s " + shell_quote("lmdb:" + base));
    CHECK(seq.status == 0);
    CHECK(parse_listing(seq.out, false) == sorted(entries));
  }
}

TEST_CASE("Berkeley DB maps hold key+NUL -> value+NUL and verify cleanly") {
  TempDir dir;
  write_map(type_named("hash"), dir / "m.db", {{"key1", "value1"}});
  Run dump = run(std::string("/usr/bin/db5.3_dump -p ") + shell_quote(dir / "m.db"), dir / "");
  REQUIRE(dump.status == 0);
  CHECK(dump.out.find("type=hash") != std::string::npos);
  CHECK(dump.out.find("db_pagesize=4096") != std::string::npos);
  CHECK(dump.out.find(" key1\\00\n value1\\00\n") != std::string::npos);
  // No environment or region files next to the map.
  int files = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir / "")) ++files;
  CHECK(files == 2);  // m.db and stderr.txt
}

TEST_CASE("stock postmap and postalias read our Berkeley DB maps") {
  TempDir dir;
  Postfix postfix(dir);
  const Entries entries = sample_entries();
  for (const char* name : {"hash", "btree"}) {
    CAPTURE(name);
    std::string base = dir / (std::string("map-") + name);
    write_map(type_named(name), base + ".db", entries);
    std::string map = std::string(name) + ":" + base;

    Run verify = run(std::string(verify_bin) + " -q " + shell_quote(base + ".db"), dir / "");
    CHECK(verify.status == 0);

    // One key at a time, folded by Postfix from what a client would send.
    Run one = postfix(postmap_bin, "-q " + shell_quote("ÄRGER@Example.EDU") + " " + shell_quote(map));
    CHECK(one.status == 0);
    CHECK(one.out == "aerger@example.edu\n");
    Run none = postfix(postmap_bin, "-q nobody@example.com " + shell_quote(map));
    CHECK(none.status == 1);
    CHECK(none.out == "");

    // Every key in one process.
    std::string keys;
    for (const auto& [k, v] : entries) keys += k + "\n";
    write_text(dir / "keys", keys);
    Run all = postfix(postmap_bin, "-q - " + shell_quote(map), dir / "keys");
    CHECK(all.status == 0);
    CHECK(sorted(parse_listing(all.out, false)) == sorted(entries));

    Run seq = postfix(postmap_bin, "-s " + shell_quote(map));
    CHECK(seq.status == 0);
    CHECK(sorted(parse_listing(seq.out, false)) == sorted(entries));

    // Alias maps through postalias.
    std::string alias_base = dir / (std::string("aliases-") + name);
    write_map(type_named(name), alias_base + ".db", alias_entries(), true);
    std::string alias_map = std::string(name) + ":" + alias_base;
    CHECK(run(std::string(verify_bin) + " -q " + shell_quote(alias_base + ".db"), dir / "").status == 0);
    Run root = postfix(postalias_bin, "-q Root " + shell_quote(alias_map));
    CHECK(root.status == 0);
    CHECK(root.out == "admin, other@example.com\n");
    Run at = postfix(postalias_bin, "-q @ " + shell_quote(alias_map));
    CHECK(at.out == "@\n");
    Entries expected = alias_entries();
    expected.emplace_back("@", "@");
    Run aliases = postfix(postalias_bin, "-s " + shell_quote(alias_map));
    CHECK(aliases.status == 0);
    CHECK(sorted(parse_listing(aliases.out, true)) == sorted(expected));
  }
}

TEST_CASE("stock postmap builds the same map from our text file") {
  TempDir dir;
  Postfix postfix(dir);
  const Entries entries = sample_entries();
  write_map(mapsync::text_map_type(), dir / "source", entries);
  for (const char* name : {"hash", "btree"}) {
    CAPTURE(name);
    std::string ours = dir / (std::string("ours-") + name);
    write_map(type_named(name), ours + ".db", entries);
    std::string stock = dir / (std::string("stock-") + name);
    fs::copy_file(dir / "source", stock);
    Run build = postfix(postmap_bin, shell_quote(std::string(name) + ":" + stock));
    REQUIRE(build.status == 0);
    CHECK(build.err == "");  // no warnings: every line parsed as we meant it

    Run a = postfix(postmap_bin, "-s " + shell_quote(std::string(name) + ":" + ours));
    Run b = postfix(postmap_bin, "-s " + shell_quote(std::string(name) + ":" + stock));
    REQUIRE(a.status == 0);
    REQUIRE(b.status == 0);
    if (std::string(name) == "btree") {
      CHECK(a.out == b.out);  // same keys, same order
    } else {
      // Hash order depends on the table's size, which we choose differently.
      CHECK(sorted(parse_listing(a.out, false)) == sorted(parse_listing(b.out, false)));
    }
    CHECK(parse_listing(a.out, false).size() == entries.size());
  }

  // The same for aliases, with postalias. Debian's postalias adds YP_LAST_MODIFIED and
  // YP_MASTER_NAME records for NIS; we do not (see map_bdb.cpp).
  write_map(mapsync::text_map_type(), dir / "aliases", alias_entries(), true);
  for (const char* name : {"hash", "btree"}) {
    CAPTURE(name);
    std::string ours = dir / (std::string("ours-aliases-") + name);
    write_map(type_named(name), ours + ".db", alias_entries(), true);
    std::string stock = dir / (std::string("stock-aliases-") + name);
    fs::copy_file(dir / "aliases", stock);
    Run build = postfix(postalias_bin, shell_quote(std::string(name) + ":" + stock));
    REQUIRE(build.status == 0);
    CHECK(build.err == "");
    Run a = postfix(postalias_bin, "-s " + shell_quote(std::string(name) + ":" + ours));
    Run b = postfix(postalias_bin, "-s " + shell_quote(std::string(name) + ":" + stock));
    Entries stock_entries = parse_listing(b.out, true);
    CHECK(stock_entries.size() == alias_entries().size() + 3);  // "@" and two YP_ records
    CHECK(sorted(parse_listing(a.out, true)) == sorted(without_yp_records(stock_entries)));
  }
}

TEST_CASE("stock postmap and postalias read our lmdb and cdb maps") {
  TempDir dir;
  Postfix postfix(dir);
  // In key order, as a build writes them: lmdb appends (MDB_APPEND), which must agree
  // with LMDB's byte order for the UTF-8 keys too ("ab" < "aä": bytes are unsigned).
  Entries entries = sample_entries();
  entries.emplace_back("ab", "ascii");
  entries.emplace_back("aä", "utf-8");
  entries.emplace_back("a", "prefix");
  entries = sorted(entries);
  for (const char* name : {"lmdb", "cdb"}) {
    CAPTURE(name);
    const MapType& type = type_named(name);
    std::string base = dir / (std::string("map-") + name);
    {
      WriterOptions options;
      options.expected_entries = entries.size();
      options.sorted_input = true;
      for (const auto& [k, v] : entries) options.payload_bytes += k.size() + v.size();
      auto writer = type.create(base + std::string(type.suffix), options);
      for (const auto& [k, v] : entries) writer->add(k, v);
      writer->finish();
    }
    std::string map = std::string(name) + ":" + base;

    // One key at a time, folded by Postfix from what a client would send.
    Run one = postfix(postmap_bin, "-q " + shell_quote("ÄRGER@Example.EDU") + " " + shell_quote(map));
    CHECK(one.status == 0);
    CHECK(one.out == "aerger@example.edu\n");
    Run none = postfix(postmap_bin, "-q nobody@example.com " + shell_quote(map));
    CHECK(none.status == 1);
    CHECK(none.out == "");

    // Every key in one process, UTF-8 keys among them.
    Run all = query_all(postfix, postmap_bin, map, entries, dir / "keys");
    CHECK(all.status == 0);
    CHECK(all.err == "");
    CHECK(sorted(parse_listing(all.out, false)) == sorted(entries));

    // postmap -s lists lmdb in key order; Postfix 3.7 cannot list cdb.
    Run seq = postfix(postmap_bin, "-s " + shell_quote(map));
    if (std::string(name) == "lmdb") {
      CHECK(seq.status == 0);
      CHECK(parse_listing(seq.out, false) == sorted(entries));
    } else {
      CHECK(seq.status != 0);
      CHECK(seq.err.find("not supported") != std::string::npos);
    }

    // Alias maps through postalias.
    std::string alias_base = dir / (std::string("aliases-") + name);
    write_map(type, alias_base + std::string(type.suffix), alias_entries(), true);
    std::string alias_map = std::string(name) + ":" + alias_base;
    Run root = postfix(postalias_bin, "-q Root " + shell_quote(alias_map));
    CHECK(root.status == 0);
    CHECK(root.out == "admin, other@example.com\n");
    Run at = postfix(postalias_bin, "-q @ " + shell_quote(alias_map));
    CHECK(at.out == "@\n");
    Entries expected = alias_entries();
    expected.emplace_back("@", "@");
    Run aliases = query_all(postfix, postalias_bin, alias_map, expected, dir / "alias-keys");
    CHECK(aliases.status == 0);
    CHECK(sorted(parse_listing(aliases.out, true)) == sorted(expected));
    if (std::string(name) == "lmdb") {
      Run alias_seq = postfix(postalias_bin, "-s " + shell_quote(alias_map));
      CHECK(alias_seq.status == 0);
      CHECK(parse_listing(alias_seq.out, true) == sorted(expected));
    }
  }
}

TEST_CASE("stock postmap builds lmdb and cdb maps that answer as ours do") {
  TempDir dir;
  Postfix postfix(dir);
  const Entries entries = sample_entries();
  write_map(mapsync::text_map_type(), dir / "source", entries);
  Entries probes = entries;
  probes.emplace_back("nobody@example.com", "");
  probes.emplace_back("user0001", "");
  for (const char* name : {"lmdb", "cdb"}) {
    CAPTURE(name);
    const MapType& type = type_named(name);
    std::string ours = dir / (std::string("ours-") + name);
    write_map(type, ours + std::string(type.suffix), entries);
    std::string stock = dir / (std::string("stock-") + name);
    fs::copy_file(dir / "source", stock);
    Run build = postfix(postmap_bin, shell_quote(std::string(name) + ":" + stock));
    REQUIRE(build.status == 0);
    CHECK(build.err == "");

    // Every key, and a few that are not there, through both maps.
    Run a = query_all(postfix, postmap_bin, std::string(name) + ":" + ours, probes, dir / "probes");
    Run b = query_all(postfix, postmap_bin, std::string(name) + ":" + stock, probes, dir / "probes");
    CHECK(a.status == 0);
    CHECK(a.out == b.out);
    CHECK(parse_listing(a.out, false).size() == entries.size());
    if (std::string(name) == "lmdb") {
      Run sa = postfix(postmap_bin, "-s " + shell_quote("lmdb:" + ours));
      Run sb = postfix(postmap_bin, "-s " + shell_quote("lmdb:" + stock));
      CHECK(sa.out == sb.out);  // same keys, same order
    }
    // Our reader reads postmap's file too (cdb without NUL, lmdb with).
    CHECK(sorted(read_map(type, stock + std::string(type.suffix))) == sorted(entries));
  }

  // Aliases through postalias. Debian's postalias adds YP_LAST_MODIFIED and
  // YP_MASTER_NAME records for NIS; we do not (see map_bdb.cpp).
  write_map(mapsync::text_map_type(), dir / "aliases", alias_entries(), true);
  Entries alias_probes = alias_entries();
  alias_probes.emplace_back("@", "@");
  for (const char* name : {"lmdb", "cdb"}) {
    CAPTURE(name);
    const MapType& type = type_named(name);
    std::string ours = dir / (std::string("ours-aliases-") + name);
    write_map(type, ours + std::string(type.suffix), alias_entries(), true);
    std::string stock = dir / (std::string("stock-aliases-") + name);
    fs::copy_file(dir / "aliases", stock);
    Run build = postfix(postalias_bin, shell_quote(std::string(name) + ":" + stock));
    REQUIRE(build.status == 0);
    CHECK(build.err == "");
    Run a = query_all(postfix, postalias_bin, std::string(name) + ":" + ours, alias_probes, dir / "alias-probes");
    Run b = query_all(postfix, postalias_bin, std::string(name) + ":" + stock, alias_probes, dir / "alias-probes");
    CHECK(a.status == 0);
    CHECK(a.out == b.out);
    CHECK(sorted(without_yp_records(read_map(type, stock + std::string(type.suffix), true))) == sorted(alias_probes));
  }
}

TEST_CASE("casefold() stores what postmap stores for unfolded keys") {
  TempDir dir;
  Postfix postfix(dir);
  const std::vector<std::string> raw_keys = {
      "Alice@Example.COM", "ÄRGER@Example.EDU", "Straße", "STRASSE.two", "ΣΊΣΥΦΟΣ", "σίσυφος.final",
      "İstanbul",          "IŞIK",              "ﬃ",      "ǅ",           "ΐ",       "ÆØÅ@Eksempel.NO",
      "ЖУК@Пример.РФ",     "Ǆ.title",           "ẞ",      "ＡＢＣ",       "Ωmega",   "日本語@例え.テスト",
  };
  std::string source;
  Entries expected;
  for (size_t i = 0; i < raw_keys.size(); ++i) {
    std::string value = "value" + std::to_string(i);
    source += raw_keys[i] + "\t" + value + "\n";
    expected.emplace_back(fold(raw_keys[i]), value);
  }
  write_text(dir / "raw", source);
  Run build = postfix(postmap_bin, shell_quote("btree:" + (dir / "raw")));
  REQUIRE(build.status == 0);
  CHECK(build.err == "");
  Run seq = postfix(postmap_bin, "-s " + shell_quote("btree:" + (dir / "raw")));
  CHECK(parse_listing(seq.out, false) == sorted(expected));
}

TEST_CASE("the text reader parses the way postmap does") {
  TempDir dir;
  Postfix postfix(dir);
  // Comments, blank lines, continuation lines, CRLF, duplicates (first wins), quoted
  // keys, unbalanced quotes and non-UTF-8 lines (both skipped), a key without value.
  const std::string source =
      "# a comment\n"
      "first\tvalue one\n"
      "\n"
      "   \t  \n"
      "Second   value   two   \n"
      "  continued on the next line\n"
      "    # an indented comment does not end the entry\n"
      "\tand once more\n"
      "crlf\tends with cr\r\n"
      "first\tduplicate, ignored\n"
      "\"quoted key\"@example.com\tquoted\n"
      "escaped\\ space\tbackslash\n"
      "unbalanced\"quote\tskipped\n"
      "novalue\n"
      "bad\xC3\tutf8\n"
      "ÄRGER\tfolded\n"
      "last\twithout newline";
  write_text(dir / "source", source);
  Run build = postfix(postmap_bin, shell_quote("btree:" + (dir / "source")));
  REQUIRE(build.status == 0);
  Run seq = postfix(postmap_bin, "-s " + shell_quote("btree:" + (dir / "source")));
  Entries stock = parse_listing(seq.out, false);
  CHECK(stock.size() == 7);

  Entries ours = read_map(mapsync::text_map_type(), dir / "source");
  CHECK(sorted(ours) == stock);
  auto reader = mapsync::text_map_type().open(dir / "source", false);
  CHECK(reader->lookup("first").value == "value one");
  CHECK(reader->lookup("ärger").value == "folded");
  CHECK(reader->lookup("second").value == "value   two     continued on the next line\tand once more");
  CHECK(reader->lookup("ÄRGER").status == LookupStatus::not_found);  // callers fold first

  const std::string aliases =
      "# aliases\n"
      "postmaster: root\n"
      "Root:\tadmin,\n"
      "  other@example.com\n"
      "ärger :  x\n";
  write_text(dir / "aliases", aliases);
  REQUIRE(postfix(postalias_bin, shell_quote("hash:" + (dir / "aliases"))).status == 0);
  Run alias_seq = postfix(postalias_bin, "-s " + shell_quote("hash:" + (dir / "aliases")));
  Entries stock_aliases = without_yp_records(parse_listing(alias_seq.out, true));
  const std::pair<std::string, std::string> at_record("@", "@");
  stock_aliases.erase(std::remove(stock_aliases.begin(), stock_aliases.end(), at_record), stock_aliases.end());
  Entries ours_aliases = read_map(mapsync::text_map_type(), dir / "aliases", true);
  CHECK(ours_aliases == Entries{{"postmaster", "root"}, {"root", "admin,  other@example.com"}, {"ärger", "x"}});
  // postalias rewrites "admin,  other" as "admin, other"; this reader keeps the text.
  CHECK(sorted(stock_aliases) ==
        sorted(Entries{{"postmaster", "root"}, {"root", "admin, other@example.com"}, {"ärger", "x"}}));
}
