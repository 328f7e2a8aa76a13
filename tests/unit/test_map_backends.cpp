// test_map_backends.cpp - the map writers and readers, checked against the stock
// Postfix tools (postmap, postalias), db5.3_verify and mdb_dump, as Postfix's own
// dict_test does.
//
// Postfix runs with MAIL_CONFIG pointing at a private main.cf in a temporary directory,
// so /etc/postfix is never read or written. Needs the postfix, postfix-lmdb, postfix-cdb,
// db5.3-util and lmdb-utils packages.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "libmapsync/core/casefold.h"
#include "libmapsync/core/error.h"
#include "libmapsync/maps/map_backend.h"

namespace fs = std::filesystem;
using mapsync::Error;
using mapsync::Exit;
using mapsync::LookupStatus;
using mapsync::MapType;
using mapsync::WriterOptions;

namespace {

using Entries = std::vector<std::pair<std::string, std::string>>;

constexpr const char* postmap_bin = "/usr/sbin/postmap";
constexpr const char* postalias_bin = "/usr/sbin/postalias";
constexpr const char* verify_bin = "/usr/bin/db5.3_verify";
constexpr const char* mdb_dump_bin = "/usr/bin/mdb_dump";

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "mapsync-test-XXXXXX").string();
    REQUIRE(mkdtemp(tmpl.data()) != nullptr);
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string operator/(const std::string& name) const { return (path_ / name).string(); }

 private:
  fs::path path_;
};

std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  REQUIRE(out.good());
}

struct Run {
  int status = -1;
  std::string out;
  std::string err;
};

Run run(const std::string& command, const std::string& scratch) {
  Run r;
  std::string err_file = scratch + "/stderr.txt";
  FILE* p = popen((command + " 2>" + shell_quote(err_file)).c_str(), "r");
  REQUIRE(p != nullptr);
  char buf[65536];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  int st = pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  r.err = read_text(err_file);
  return r;
}

// A private Postfix configuration: postmap and postalias read only this main.cf.
class Postfix {
 public:
  explicit Postfix(const TempDir& dir) : dir_(dir), config_(dir / "postfix-config") {
    REQUIRE(access(postmap_bin, X_OK) == 0);
    fs::create_directory(config_);
    write_text(config_ + "/main.cf", "compatibility_level = 3.7\nmaillog_file = /dev/stdout\n");
    // Postfix waits until a configuration file written in this very second is older.
    fs::last_write_time(config_ + "/main.cf", fs::file_time_type::clock::now() - std::chrono::minutes(1));
  }
  Run operator()(const std::string& tool, const std::string& args, const std::string& stdin_file = "") const {
    std::string cmd = "MAIL_CONFIG=" + shell_quote(config_) + " " + tool + " " + args;
    if (!stdin_file.empty()) cmd += " <" + shell_quote(stdin_file);
    return run(cmd, dir_ / "");
  }

 private:
  const TempDir& dir_;
  std::string config_;
};

// "key<TAB>value" (postmap) or "key:<TAB>value" (postalias) lines; other lines, such as
// log lines that maillog_file sends to stdout, are not entries.
Entries parse_listing(const std::string& text, bool alias) {
  Entries entries;
  std::istringstream in(text);
  std::string line;
  const std::string sep = alias ? ":\t" : "\t";
  while (std::getline(in, line)) {
    auto at = line.find(sep);
    if (at == std::string::npos) continue;
    entries.emplace_back(line.substr(0, at), line.substr(at + sep.size()));
  }
  return entries;
}

Entries sorted(Entries e) {
  std::sort(e.begin(), e.end());
  return e;
}

Entries without_yp_records(Entries e) {
  e.erase(std::remove_if(e.begin(), e.end(), [](const auto& kv) { return kv.first.rfind("YP_", 0) == 0; }),
          e.end());
  return e;
}

const MapType& type_named(const std::string& name) {
  const MapType* type = mapsync::find_map_type(name);
  REQUIRE(type != nullptr);
  return *type;
}

void write_map(const MapType& type, const std::string& path, const Entries& entries, bool alias = false) {
  WriterOptions options;
  options.expected_entries = entries.size();
  options.alias_syntax = alias;
  options.cache_bytes = 4u << 20;
  auto writer = type.create(path, options);
  for (const auto& [k, v] : entries) writer->add(k, v);
  writer->finish();
}

Entries read_map(const MapType& type, const std::string& path, bool alias = false) {
  Entries entries;
  auto reader = type.open(path, alias);
  reader->for_each([&](std::string_view k, std::string_view v) { entries.emplace_back(k, v); });
  return entries;
}

std::string fold(const std::string& s) {
  std::string out;
  REQUIRE(mapsync::casefold(s, out));
  return out;
}

// What a renderer hands to a writer: folded keys, values as they are.
Entries sample_entries() {
  Entries e = {
      {fold("Alice@Example.COM"), "alice@mail.example.com"},
      {"bob", "Bob.Builder@Example.ORG"},
      {fold("ÄRGER@Example.EDU"), "aerger@example.edu"},
      {fold("Straße@example.de"), "strasse@example.de"},
      {fold("ΣΊΣΥΦΟΣ@example.gr"), "sisyphos@example.gr"},
      {fold("İstanbul@example.tr"), "istanbul@example.tr"},
      {"@example.net", "catchall@example.net"},
      {"spaces@example.com", "a b  c, with #hash and \"quotes\""},
      {"\"quoted.local\"@example.com", "quoted@example.com"},
      {"back\\slash@example.com", "backslash@example.com"},
      {"日本語@例え.テスト", "unicode@example.jp"},
  };
  char key[64], value[64];
  for (int i = 0; i < 1500; ++i) {
    std::snprintf(key, sizeof key, "user%04d@example.com", i);
    std::snprintf(value, sizeof value, "user%04d@mailbox.example.com", i);
    e.emplace_back(key, value);
  }
  return e;
}

// Names and values that postalias keeps as they are (it normalizes "a,b" to "a, b").
Entries alias_entries() {
  return {
      {"postmaster", "root"},
      {"root", "admin, other@example.com"},
      {"ärger", "aerger@example.de"},
      {"first.last", "/var/mail/first.last"},
      {"pipe", "\"|/usr/bin/filter --flag\""},
      {"list", ":include:/etc/mail/list"},
      {"mixed-case", "Someone@Example.COM"},
  };
}

Exit status_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.status();
  }
  return Exit::ok;
}

int open_fd_count() {
  int n = 0;
  for ([[maybe_unused]] const auto& entry : fs::directory_iterator("/proc/self/fd")) ++n;
  return n;
}

const char* const all_types[] = {"hash", "btree", "lmdb", "cdb", "text"};

int files_in(const std::string& dir) {
  int n = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir)) ++n;
  return n;
}

// Every key through one `postmap -q -` (or postalias) process: "key<TAB>value" lines.
Run query_all(const Postfix& postfix, const char* tool, const std::string& map, const Entries& entries,
              const std::string& keys_file) {
  std::string keys;
  for (const auto& [k, v] : entries) keys += k + "\n";
  write_text(keys_file, keys);
  return postfix(tool, "-q - " + shell_quote(map), keys_file);
}

}  // namespace

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

TEST_CASE("readers: a missing file is noinput, a wrong file is tempfail") {
  TempDir dir;
  for (const char* name : all_types) {
    CAPTURE(name);
    CHECK(status_of([&] { type_named(name).open(dir / "missing", false); }) == Exit::noinput);
  }
  write_text(dir / "not-a-db", "this is a text file\n");
  CHECK(status_of([&] { type_named("hash").open(dir / "not-a-db", false); }) == Exit::tempfail);
  write_map(type_named("btree"), dir / "btree.db", {{"a", "b"}});
  CHECK(status_of([&] { type_named("hash").open(dir / "btree.db", false); }) == Exit::tempfail);
  write_text(dir / "empty", "");
  for (const char* name : {"lmdb", "cdb"}) {
    CAPTURE(name);
    CHECK(status_of([&] { type_named(name).open(dir / "not-a-db", false); }) == Exit::tempfail);
    CHECK(status_of([&] { type_named(name).open(dir / "empty", false); }) == Exit::tempfail);
  }
  CHECK(status_of([&] { type_named("lmdb").open(dir / "btree.db", false); }) == Exit::tempfail);
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
    CHECK(status_of([&] { writer->add(key, "value"); }) == Exit::software);
  }
  const std::string bad_values[] = {
      "", " leading", "trailing ", "tab\t", "line\nbreak", "carriage\rreturn", std::string("nul\0byte", 8), "\xFF",
  };
  for (const auto& value : bad_values) {
    CAPTURE(value);
    CHECK(status_of([&] { writer->add("key", value); }) == Exit::software);
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
    CHECK(status_of([&] { aliases->add(key, "value"); }) == Exit::software);
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
