// test_map_backends.cpp - the map writers and readers, in process: read back what was
// written, refuse what must be refused, fail the way cron expects. The checks through
// the stock Postfix tools are in tests/postmap_compat.
#include <doctest/doctest.h>

#include "libmapsync/maps/options.h"
#include "tests/support/map_test_support.h"

using namespace maptest;

TEST_CASE("the registry knows hash, btree, lmdb, cdb and text") {
  auto names = mapsync::map_type_names();
  for (std::string_view name : {"hash", "btree", "lmdb", "cdb", "text"}) {
    CAPTURE(name);
    CHECK(std::count(names.begin(), names.end(), name) == 1);
    CHECK(mapsync::find_map_type(name)->name == name);
  }
  CHECK(type_named("hash").suffix == ".db");
  CHECK(type_named("btree").suffix == ".db");
  CHECK(type_named("lmdb").suffix == ".lmdb");
  CHECK(type_named("cdb").suffix == ".cdb");
  CHECK(type_named("text").suffix == "");
  // Built in key order (MDB_APPEND for lmdb; any order does for cdb).
  const bool lmdb_ranked = type_named("lmdb").insert_rank != nullptr;
  const bool cdb_ranked = type_named("cdb").insert_rank != nullptr;
  CHECK_FALSE(lmdb_ranked);
  CHECK_FALSE(cdb_ranked);
  CHECK(&mapsync::text_map_type() == &type_named("text"));
  CHECK(mapsync::find_map_type("no-such-type") == nullptr);
  CHECK(mapsync::find_map_type("") == nullptr);
}

TEST_CASE("every map type reads back what it wrote") {
  TempDir dir;
  const Entries entries = sample_entries();
  for (const char* name : all_types) {
    CAPTURE(name);
    const MapType& type = type_named(name);
    std::string path = dir / (std::string("map-") + name + std::string(type.suffix));
    write_map(type, path, entries);

    struct stat st;
    REQUIRE(stat(path.c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 0600);

    auto reader = type.open(path, false);
    for (const auto& [k, v] : entries) {
      auto r = reader->lookup(k);
      CAPTURE(k);
      CHECK(r.status == LookupStatus::found);
      CHECK(r.value == v);
    }
    CHECK(reader->lookup("nobody@example.com").status == LookupStatus::not_found);
    CHECK(reader->lookup("").status == LookupStatus::not_found);

    Entries seen = read_map(type, path);
    CHECK(sorted(seen) == sorted(entries));
    if (std::string(name) == "btree") CHECK(seen == sorted(entries));  // key order
    if (std::string(name) == "lmdb") CHECK(seen == sorted(entries));   // key order
    if (std::string(name) == "text") CHECK(seen == entries);           // file order
    if (std::string(name) == "cdb") CHECK(seen == entries);            // file order
  }
}

TEST_CASE("a duplicate key is a caller bug") {
  TempDir dir;
  for (const char* name : all_types) {
    CAPTURE(name);
    const MapType& type = type_named(name);
    auto writer = type.create(dir / (std::string("dup-") + name), WriterOptions{});
    writer->add("same@example.com", "first");
    writer->add("other@example.com", "x");
    CHECK(status_of([&] { writer->add("same@example.com", "second"); }) == Exit::software);
  }
}

TEST_CASE("writers never touch an existing file or follow a symlink") {
  TempDir dir;
  for (const char* name : all_types) {
    CAPTURE(name);
    const MapType& type = type_named(name);
    std::string existing = dir / (std::string("existing-") + name);
    write_text(existing, "keep me\n");
    CHECK(status_of([&] { type.create(existing, WriterOptions{}); }) == Exit::cantcreat);
    CHECK(read_text(existing) == "keep me\n");

    std::string link = dir / (std::string("link-") + name);
    std::string target = dir / (std::string("target-") + name);
    REQUIRE(symlink(target.c_str(), link.c_str()) == 0);
    CHECK(status_of([&] { type.create(link, WriterOptions{}); }) == Exit::cantcreat);
    CHECK_FALSE(fs::exists(target));

    CHECK(status_of([&] { type.create(dir / "no-such-dir/map", WriterOptions{}); }) == Exit::cantcreat);
  }
}

TEST_CASE("a writer dropped without finish() closes everything") {
  TempDir dir;
  for (const char* name : all_types) {
    CAPTURE(name);
    const MapType& type = type_named(name);
    int before = open_fd_count();
    {
      WriterOptions options;
      options.expected_entries = 100;
      auto writer = type.create(dir / (std::string("abandoned-") + name), options);
      writer->add("a@example.com", "b");
    }
    CHECK(open_fd_count() == before);
    // The file is the publisher's to delete.
    CHECK(fs::exists(dir / (std::string("abandoned-") + name)));
  }
}

TEST_CASE("finish() twice, or add() after finish(), is refused") {
  TempDir dir;
  for (const char* name : all_types) {
    CAPTURE(name);
    auto writer = type_named(name).create(dir / (std::string("twice-") + name), WriterOptions{});
    writer->add("a", "b");
    writer->finish();
    CHECK(status_of([&] { writer->finish(); }) == Exit::software);
    CHECK(status_of([&] { writer->add("c", "d"); }) == Exit::software);
  }
}

// A wrong file will not become right by waiting: data (65), which a build answers by
// rebuilding the map, not tempfail (75), which cron would retry for ever.
TEST_CASE("readers: a missing file is noinput, a wrong, damaged or symlinked file is data") {
  TempDir dir;
  for (const char* name : all_types) {
    CAPTURE(name);
    CHECK(status_of([&] { type_named(name).open(dir / "missing", false); }) == Exit::noinput);
  }
  write_text(dir / "not-a-db", "this is a text file\n");
  CHECK(status_of([&] { type_named("hash").open(dir / "not-a-db", false); }) == Exit::data);
  write_map(type_named("btree"), dir / "btree.db", {{"a", "b"}});
  CHECK(status_of([&] { type_named("hash").open(dir / "btree.db", false); }) == Exit::data);
  write_text(dir / "empty", "");
  CHECK(status_of([&] { type_named("hash").open(dir / "empty", false); }) == Exit::data);
  for (const char* name : {"lmdb", "cdb"}) {
    CAPTURE(name);
    CHECK(status_of([&] { type_named(name).open(dir / "not-a-db", false); }) == Exit::data);
    CHECK(status_of([&] { type_named(name).open(dir / "empty", false); }) == Exit::data);
  }
  CHECK(status_of([&] { type_named("lmdb").open(dir / "btree.db", false); }) == Exit::data);
  // Truncated: the first page of a real file only.
  write_map(type_named("hash"), dir / "full.db", sample_entries());
  write_text(dir / "truncated.db", read_text(dir / "full.db").substr(0, 512));
  CHECK(status_of([&] { type_named("hash").open(dir / "truncated.db", false); }) == Exit::data);
  // A symlink at a map's name is never followed, even to a good map of the same type;
  // nor is a directory or a fifo read (a fifo would hang the reader).
  ::mkfifo((dir / "fifo").c_str(), 0600);
  fs::create_directory(dir / "directory");
  for (const char* name : all_types) {
    CAPTURE(name);
    const MapType& type = type_named(name);
    const std::string good = dir / (std::string("good-") + name);
    write_map(type, good, {{"a", "b"}});
    REQUIRE(type.open(good, false)->lookup("a").status == LookupStatus::found);
    const std::string link = dir / (std::string("link-") + name);
    REQUIRE(::symlink(good.c_str(), link.c_str()) == 0);
    CHECK(status_of([&] { type.open(link, false); }) == Exit::data);
    CHECK(status_of([&] { type.open(dir / "fifo", false); }) == Exit::data);
    CHECK(status_of([&] { type.open(dir / "directory", false); }) == Exit::data);
  }
}

TEST_CASE("sorted input: a duplicate or a key out of order is a caller bug") {
  TempDir dir;
  for (const char* name : {"lmdb", "cdb", "text"}) {
    CAPTURE(name);
    WriterOptions options;
    options.sorted_input = true;
    auto writer = type_named(name).create(dir / (std::string("sorted-") + name), options);
    writer->add("a", "1");
    writer->add("ab", "2");
    CHECK(status_of([&] { writer->add("ab", "3"); }) == Exit::software);
    CHECK(status_of([&] { writer->add("aa", "3"); }) == Exit::software);
    writer->add("b", "4");
    writer->finish();
  }
}

TEST_CASE("a refused duplicate leaves the map intact") {
  // tinycdb reads earlier records back from the file to confirm a duplicate: the
  // records written after that must still land in the right place.
  TempDir dir;
  for (const char* name : {"lmdb", "cdb"}) {
    CAPTURE(name);
    const MapType& type = type_named(name);
    std::string path = dir / (std::string("dup-") + name + std::string(type.suffix));
    auto writer = type.create(path, WriterOptions{});
    Entries written;
    char key[64];
    for (int i = 0; i < 3000; ++i) {
      std::snprintf(key, sizeof key, "k%05d@example.com", (i * 7919) % 3000);
      writer->add(key, std::to_string(i));
      written.emplace_back(key, std::to_string(i));
      if (i % 1000 == 999) CHECK(status_of([&] { writer->add(written[i / 2].first, "again"); }) == Exit::software);
    }
    writer->finish();
    CHECK(sorted(read_map(type, path)) == sorted(written));
  }
}

TEST_CASE("lmdb refuses a key longer than LMDB allows, as data") {
  TempDir dir;
  auto writer = type_named("lmdb").create(dir / "long.lmdb", WriterOptions{});
  writer->add(std::string(510, 'x'), "fits with its NUL");
  CHECK(status_of([&] { writer->add(std::string(511, 'y'), "too long"); }) == Exit::data);
  writer->finish();
  auto reader = type_named("lmdb").open(dir / "long.lmdb", false);
  CHECK(reader->lookup(std::string(510, 'x')).value == "fits with its NUL");
  CHECK(reader->lookup(std::string(600, 'x')).status == LookupStatus::not_found);
}

TEST_CASE("the lmdb reader waits for Postfix's fcntl lock") {
  // postmap holds an fcntl (not flock) lock on an lmdb file while it changes it in place.
  TempDir dir;
  write_map(type_named("lmdb"), dir / "locked.lmdb", {{"a", "b"}});
  auto reader = type_named("lmdb").open(dir / "locked.lmdb", false);
  int pipe_fd[2];
  REQUIRE(pipe(pipe_fd) == 0);
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    close(pipe_fd[0]);
    int fd = open((dir / "locked.lmdb").c_str(), O_RDWR);
    struct flock fl = {};
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    if (fd < 0 || fcntl(fd, F_SETLKW, &fl) < 0) _exit(1);
    ssize_t ignored = write(pipe_fd[1], "x", 1);
    (void)ignored;
    usleep(400 * 1000);
    _exit(0);
  }
  close(pipe_fd[1]);
  char c;
  REQUIRE(read(pipe_fd[0], &c, 1) == 1);
  close(pipe_fd[0]);
  auto start = std::chrono::steady_clock::now();
  auto r = reader->lookup("a");
  auto waited = std::chrono::steady_clock::now() - start;
  CHECK(r.value == "b");
  CHECK(waited >= std::chrono::milliseconds(250));
  int status = 0;
  waitpid(pid, &status, 0);
  CHECK((WIFEXITED(status) && WEXITSTATUS(status) == 0));
}

TEST_CASE("alias maps get postalias' \"@\" record") {
  TempDir dir;
  const Entries entries = alias_entries();
  for (const char* name : {"hash", "btree", "lmdb", "cdb"}) {
    CAPTURE(name);
    const MapType& type = type_named(name);
    std::string path = dir / (std::string("aliases-") + name + std::string(type.suffix));
    write_map(type, path, entries, true);
    auto reader = type.open(path, true);
    auto r = reader->lookup("@");
    CHECK(r.status == LookupStatus::found);
    CHECK(r.value == "@");
    Entries expected = entries;
    expected.emplace_back("@", "@");
    CHECK(sorted(read_map(type, path, true)) == sorted(expected));

    auto writer = type.create(dir / (std::string("at-") + name), WriterOptions{.alias_syntax = true});
    CHECK(status_of([&] { writer->add("@", "@"); }) == Exit::software);
  }
  write_map(type_named("text"), dir / "aliases", {{"postmaster", "root"}, {"root", "a, b"}}, true);
  CHECK(read_text(dir / "aliases") == "postmaster: root\nroot: a, b\n");
}

TEST_CASE("the text writer refuses what postmap would read differently") {
  TempDir dir;
  const MapType& text = mapsync::text_map_type();
  auto writer = text.create(dir / "checked", WriterOptions{});
  const std::string bad_keys[] = {
      "", "a b", "a\tb", "#comment", "a\nb", "a\rb", std::string("a\0b", 3), "a\"b", "trailing\\", "\xC3",
      "a\vb",
  };
  for (const auto& key : bad_keys) {
    CAPTURE(key);
    CHECK(status_of([&] { writer->add(key, "value"); }) == Exit::data);
  }
  const std::string bad_values[] = {
      "", " leading", "trailing ", "tab\t", "line\nbreak", "carriage\rreturn", std::string("nul\0byte", 8), "\xFF",
  };
  for (const auto& value : bad_values) {
    CAPTURE(value);
    CHECK(status_of([&] { writer->add("key", value); }) == Exit::data);
  }
  // These survive postmap's key scan unchanged.
  writer->add("\"balanced\"x", "v1");
  writer->add("back\\slash", "v2");
  writer->add("in#side", "v3 # not a comment");
  writer->add("colon:", "v4");
  writer->finish();
  CHECK(read_text(dir / "checked") ==
        "\"balanced\"x\tv1\nback\\slash\tv2\nin#side\tv3 # not a comment\ncolon:\tv4\n");

  auto aliases = text.create(dir / "aliases", WriterOptions{.alias_syntax = true});
  for (const std::string key : {"a:b", "a@b", "a%b", "a,b", "(a)", "<a>", "[a]", "\"a\"", "a\\b", "a b", "@"}) {
    CAPTURE(key);
    CHECK(status_of([&] { aliases->add(key, "value"); }) == Exit::data);
  }
  aliases->add("first.last", "x");
  aliases->finish();
  CHECK(read_text(dir / "aliases") == "first.last: x\n");
}

TEST_CASE("a full disk is a temporary failure that names the file") {
  // RLIMIT_FSIZE makes writes fail (EFBIG) like a full disk; in a child process,
  // so that the limit does not reach the other tests. Not btree: it shares the code
  // with hash, and libdb sleeps a second between its retries of a failed write.
  TempDir dir;
  for (const char* name : {"hash", "text", "lmdb", "cdb"}) {
    CAPTURE(name);
    int pipe_fd[2];
    REQUIRE(pipe(pipe_fd) == 0);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      close(pipe_fd[0]);
      signal(SIGXFSZ, SIG_IGN);
      struct rlimit limit = {64 * 1024, 64 * 1024};
      setrlimit(RLIMIT_FSIZE, &limit);
      std::string message = "no error";
      int code = 0;
      try {
        WriterOptions options;
        options.cache_bytes = 1u << 20;
        auto writer = type_named(name).create(dir / (std::string("full-") + name), options);
        char key[64];
        for (int i = 0; i < 20000; ++i) {
          std::snprintf(key, sizeof key, "user%06d@example.com", i);
          writer->add(key, "some value that takes room");
        }
        writer->finish();
      } catch (const Error& e) {
        message = e.what();
        code = static_cast<int>(e.status());
      }
      ssize_t ignored = write(pipe_fd[1], message.data(), message.size());
      (void)ignored;
      _exit(code);
    }
    close(pipe_fd[1]);
    std::string message;
    char buf[4096];
    ssize_t n;
    while ((n = read(pipe_fd[0], buf, sizeof buf)) > 0) message.append(buf, static_cast<size_t>(n));
    close(pipe_fd[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    CAPTURE(message);
    REQUIRE(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == static_cast<int>(Exit::tempfail));
    CHECK(message.find(dir / (std::string("full-") + name)) != std::string::npos);
  }
}

TEST_CASE("map_formats (what config/ checks) agrees with the registry") {
  // config/ checks types against map_formats without linking the backends; a type in
  // one list and not the other would pass the config and fail the build, or the reverse.
  for (const mapsync::MapFormat& f : mapsync::map_formats) {
    CAPTURE(f.name);
    const MapType* t = mapsync::find_map_type(f.name);
    REQUIRE(t != nullptr);
    CHECK(t->suffix == f.suffix);
    CHECK(mapsync::find_map_format(f.name) == &f);
  }
  for (std::string_view name : mapsync::map_type_names()) {
    CAPTURE(name);
    if (name == "text") continue;  // the source beside every map, not a type to publish in
    CHECK(mapsync::find_map_format(name) != nullptr);
  }
  CHECK(mapsync::find_map_format("text") == nullptr);
}

TEST_CASE("the map-kind table: names, syntax and build order") {
  using mapsync::MapKind;
  REQUIRE(std::size(mapsync::map_kinds) == mapsync::known_map_names().size());
  for (std::size_t i = 0; i < std::size(mapsync::map_kinds); ++i) {
    const mapsync::MapKindInfo& k = mapsync::map_kinds[i];
    CAPTURE(k.name);
    CHECK(k.name == mapsync::known_map_names()[i]);
    CHECK(mapsync::find_map_kind(k.name) == k.kind);
    CHECK(&mapsync::map_kind_info(k.kind) == &k);
    CHECK(k.alias_syntax == (k.kind == MapKind::aliases));
    CHECK(k.address_index == (k.kind == MapKind::virtual_alias || k.kind == MapKind::relay_recipients));
  }
  CHECK_FALSE(mapsync::find_map_kind("no-such-map").has_value());
  // The maps that share the address index are built last, back to back.
  CHECK(mapsync::known_map_names() == std::vector<std::string>{"transport", "canonical", "relay_domains", "aliases",
                                                               "virtual", "relay_recipients"});
}
