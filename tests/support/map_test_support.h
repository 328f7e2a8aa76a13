// map_test_support.h - what the map backend tests share: scratch directories, the
// stock Postfix tools run against a private main.cf, sample entries. Used by the unit
// binary (in-process backend tests) and by postmap_compat (tests through postmap,
// postalias, db5.3 and lmdb tools).
#pragma once

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

namespace maptest {

using Entries = std::vector<std::pair<std::string, std::string>>;

inline constexpr const char* postmap_bin = "/usr/sbin/postmap";
inline constexpr const char* postalias_bin = "/usr/sbin/postalias";
inline constexpr const char* verify_bin = "/usr/bin/db5.3_verify";
inline constexpr const char* mdb_dump_bin = "/usr/bin/mdb_dump";

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
  std::string path() const { return path_.string(); }

 private:
  fs::path path_;
};

inline std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

inline std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

inline void write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  REQUIRE(out.good());
}

struct Run {
  int status = -1;
  std::string out;
  std::string err;
};

inline Run run(const std::string& command, const std::string& scratch) {
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
inline Entries parse_listing(const std::string& text, bool alias) {
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

inline Entries sorted(Entries e) {
  std::sort(e.begin(), e.end());
  return e;
}

inline Entries without_yp_records(Entries e) {
  e.erase(std::remove_if(e.begin(), e.end(), [](const auto& kv) { return kv.first.rfind("YP_", 0) == 0; }),
          e.end());
  return e;
}

inline const MapType& type_named(const std::string& name) {
  const MapType* type = mapsync::find_map_type(name);
  REQUIRE(type != nullptr);
  return *type;
}

inline void write_map(const MapType& type, const std::string& path, const Entries& entries, bool alias = false) {
  WriterOptions options;
  options.expected_entries = entries.size();
  options.alias_syntax = alias;
  options.cache_bytes = 4u << 20;
  auto writer = type.create(path, options);
  for (const auto& [k, v] : entries) writer->add(k, v);
  writer->finish();
}

inline Entries read_map(const MapType& type, const std::string& path, bool alias = false) {
  Entries entries;
  auto reader = type.open(path, alias);
  reader->for_each([&](std::string_view k, std::string_view v) { entries.emplace_back(k, v); });
  return entries;
}

inline std::string fold(const std::string& s) {
  std::string out;
  REQUIRE(mapsync::casefold(s, out));
  return out;
}

// What a renderer hands to a writer: folded keys, values as they are.
inline Entries sample_entries() {
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
inline Entries alias_entries() {
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

inline Exit status_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.status();
  }
  return Exit::ok;
}

inline int open_fd_count() {
  int n = 0;
  for ([[maybe_unused]] const auto& entry : fs::directory_iterator("/proc/self/fd")) ++n;
  return n;
}

inline const char* const all_types[] = {"hash", "btree", "lmdb", "cdb", "text"};

inline int files_in(const std::string& dir) {
  int n = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir)) ++n;
  return n;
}

// Every key through one `postmap -q -` (or postalias) process: "key<TAB>value" lines.
inline Run query_all(const Postfix& postfix, const char* tool, const std::string& map, const Entries& entries,
                     const std::string& keys_file) {
  std::string keys;
  for (const auto& [k, v] : entries) keys += k + "\n";
  write_text(keys_file, keys);
  return postfix(tool, "-q - " + shell_quote(map), keys_file);
}

}  // namespace maptest
