// test_map_backends.cpp - the map writers and readers, checked against the stock
// Postfix tools (postmap, postalias) and db5.3_verify, as Postfix's own dict_test does.
//
// Postfix runs with MAIL_CONFIG pointing at a private main.cf in a temporary directory,
// so /etc/postfix is never read or written. Needs the postfix and db5.3-util packages.
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

#include "libmapsync/casefold.h"
#include "libmapsync/error.h"
#include "libmapsync/map_backend.h"

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

const char* const all_types[] = {"hash", "btree", "text"};

}  // namespace

TEST_CASE("the registry knows hash, btree and text") {
  auto names = mapsync::map_type_names();
  for (std::string_view name : {"hash", "btree", "text"}) {
    CAPTURE(name);
    CHECK(std::count(names.begin(), names.end(), name) == 1);
    CHECK(mapsync::find_map_type(name)->name == name);
  }
  CHECK(type_named("hash").suffix == ".db");
  CHECK(type_named("btree").suffix == ".db");
  CHECK(type_named("text").suffix == "");
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
    if (std::string(name) == "text") CHECK(seen == entries);           // file order
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
  for (const char* name : {"hash", "btree"}) {
    CAPTURE(name);
    const MapType& type = type_named(name);
    std::string path = dir / (std::string("aliases-") + name + ".db");
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
  for (const char* name : {"hash", "text"}) {
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
