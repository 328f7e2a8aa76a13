// test_maps_hostile.cpp - the maps job in a directory others can write to: it never
// writes or deletes through a name it did not make (a symlink or hard link planted at
// its lock, temp, state, metrics or history names), and reads nothing of its own
// through one. tests/integration/hostile_fs.sh runs the same through whole builds.
#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <limits>

#include "libmapsync/config/config.h"
#include "libmapsync/maps/build.h"
#include "libmapsync/maps/generations.h"
#include "libmapsync/maps/metrics.h"
#include "libmapsync/maps/publish.h"
#include "libmapsync/maps/state.h"
#include "tests/support/map_test_support.h"

using namespace maptest;
using mapsync::Publisher;

namespace {

const char kPrecious[] = "precious, not mapsync's\n";

std::string plant_victim(const TempDir& dir, const std::string& name) {
  const std::string victim = dir / name;
  write_text(victim, kPrecious);
  return victim;
}

mode_t mode_of(const std::string& path) {
  struct stat st {};
  REQUIRE(::lstat(path.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

}  // namespace

TEST_CASE("the metrics file is written through no symlink planted at a temp name") {
  TempDir dir;
  const std::string victim = plant_victim(dir, "victim");
  fs::create_directory(dir / "textfiles");
  const std::string textfile = dir / "textfiles/mapsync.prom";
  // The old temp name was <textfile>.tmp.<pid>: another user can guess it.
  for (pid_t p = ::getpid(); p < ::getpid() + 4; ++p)
    REQUIRE(::symlink(victim.c_str(), (textfile + ".tmp." + std::to_string(p)).c_str()) == 0);
  mapsync::MetricsConfig mc;
  mc.textfile = textfile;
  mapsync::BuildReport rep;
  mapsync::write_metrics(mc, rep, nullptr, 0);
  CHECK(read_text(victim) == kPrecious);
  CHECK(fs::is_regular_file(fs::symlink_status(textfile)));
  CHECK(read_text(textfile).find("mapsync_last_exit_status 0") != std::string::npos);
  CHECK(mode_of(textfile) == 0644);

  // A symlink at the textfile itself is replaced by the rename, never written through.
  fs::remove(textfile);
  REQUIRE(::symlink(victim.c_str(), textfile.c_str()) == 0);
  mapsync::write_metrics(mc, rep, nullptr, 75);
  CHECK(read_text(victim) == kPrecious);
  CHECK(fs::is_regular_file(fs::symlink_status(textfile)));
}

TEST_CASE("a hard link or symlink at the lock file is refused, its target untouched") {
  TempDir dir;
  const std::string victim = plant_victim(dir, "victim");
  fs::create_directory(dir / "maps");
  REQUIRE(::link(victim.c_str(), (dir / "maps/.mapsync.lock").c_str()) == 0);
  try {
    Publisher pub(dir / "maps");
    FAIL("a hard-linked lock file was taken");
  } catch (const Error& e) {
    CHECK(e.status() == Exit::config);
    CHECK(std::string(e.what()).find(dir / "maps/.mapsync.lock") != std::string::npos);
  }
  CHECK(read_text(victim) == kPrecious);

  fs::remove(dir / "maps/.mapsync.lock");
  REQUIRE(::symlink(victim.c_str(), (dir / "maps/.mapsync.lock").c_str()) == 0);
  CHECK(status_of([&] { Publisher pub(dir / "maps"); }) == Exit::config);
  CHECK(read_text(victim) == kPrecious);

  // A lock file of our own is kept and taken again.
  fs::remove(dir / "maps/.mapsync.lock");
  { Publisher pub(dir / "maps"); }
  CHECK(status_of([&] { Publisher pub(dir / "maps"); }) == Exit::ok);
}

TEST_CASE("a symlinked .generations is refused: nothing stored or pruned outside") {
  TempDir dir;
  fs::create_directories(dir / "elsewhere/1");
  fs::create_directories(dir / "elsewhere/2");
  write_text(dir / "elsewhere/1/keep", kPrecious);
  fs::create_directory(dir / "maps");
  REQUIRE(::symlink((dir / "elsewhere").c_str(), (dir / "maps/.generations").c_str()) == 0);
  mapsync::MapsConfig maps;
  maps.directory = dir / "maps";
  mapsync::PublishState st;
  st.generation = 3;
  CHECK(status_of([&] { mapsync::store_generation(dir / "maps", maps, st, 1); }) == Exit::config);
  CHECK(status_of([&] { mapsync::stored_generations(dir / "maps"); }) == Exit::config);
  mapsync::prune_generations(dir / "maps", 1);  // refuses too, and only says so
  CHECK(read_text(dir / "elsewhere/1/keep") == kPrecious);
  CHECK(fs::exists(dir / "elsewhere/2"));
  CHECK_FALSE(fs::exists(dir / "elsewhere/3"));

  // A symlink among the generations is not one: not listed, not followed by pruning.
  fs::remove(dir / "maps/.generations");
  fs::create_directory(dir / "maps/.generations");
  REQUIRE(::symlink((dir / "elsewhere/1").c_str(), (dir / "maps/.generations/1").c_str()) == 0);
  CHECK(mapsync::stored_generations(dir / "maps").empty());
  mapsync::write_state(dir / "maps", st);  // as record_publish does before it stores
  mapsync::store_generation(dir / "maps", maps, st, 1);
  mapsync::prune_generations(dir / "maps", 1);
  CHECK(mapsync::stored_generations(dir / "maps") == std::vector<std::uint64_t>{3});
  CHECK(mapsync::read_state(dir / "maps/.generations/3")->generation == 3);
  CHECK(read_text(dir / "elsewhere/1/keep") == kPrecious);
}

TEST_CASE("the state file is not read through a symlink") {
  TempDir dir;
  mapsync::PublishState st;
  st.generation = 7;
  fs::create_directory(dir / "other");
  mapsync::write_state(dir / "other", st);
  fs::create_directory(dir / "maps");
  REQUIRE(::symlink((dir / "other/.mapsync-state.json").c_str(), (dir / "maps/.mapsync-state.json").c_str()) == 0);
  CHECK(std::string(mapsync::kStateFile) == ".mapsync-state.json");
  CHECK(status_of([&] { mapsync::read_state(dir / "maps"); }) == Exit::data);
  // write_state replaces the link, and leaves the file it pointed to alone.
  st.generation = 8;
  mapsync::write_state(dir / "maps", st);
  CHECK(fs::is_regular_file(fs::symlink_status(dir / "maps/.mapsync-state.json")));
  CHECK(mapsync::read_state(dir / "other")->generation == 7);
  CHECK(mapsync::read_state(dir / "maps")->generation == 8);
}

TEST_CASE("generation numbers: strict parsing, and no wrap at 2^64") {
  for (const char* bad : {"", "0", "-1", "+1", " 1", "1 ", "1e3", "0x10", "18446744073709551616", "99999999999999999999",
                          "000000000000000000001"}) {
    CAPTURE(bad);
    CHECK(status_of([&] { mapsync::parse_generation(bad); }) == Exit::usage);
  }
  CHECK(mapsync::parse_generation("7") == 7);
  CHECK(mapsync::parse_generation("18446744073709551615") == std::numeric_limits<std::uint64_t>::max());
  CHECK(mapsync::next_generation(41, "/maps") == 42);
  CHECK(status_of([&] { mapsync::next_generation(std::numeric_limits<std::uint64_t>::max(), "/maps"); }) == Exit::data);
}

TEST_CASE("a chmod of a published file is undone; a symlink at its name is left alone") {
  TempDir dir;
  const std::string victim = plant_victim(dir, "victim");
  REQUIRE(::chmod(victim.c_str(), 0600) == 0);
  fs::create_directory(dir / "maps");
  write_text(dir / "maps/virtual", "a\tb\n");
  REQUIRE(::chmod((dir / "maps/virtual").c_str(), 0666) == 0);
  REQUIRE(::symlink(victim.c_str(), (dir / "maps/virtual.db").c_str()) == 0);
  Publisher pub(dir / "maps");
  CHECK(pub.reassert("virtual", ::getuid(), ::getgid(), 0644));
  CHECK(mode_of(dir / "maps/virtual") == 0644);
  CHECK_FALSE(pub.reassert("virtual", ::getuid(), ::getgid(), 0644));  // nothing to do the second time
  CHECK_FALSE(pub.reassert("virtual.db", ::getuid(), ::getgid(), 0644));
  CHECK(mode_of(victim) == 0600);
  CHECK_FALSE(pub.reassert("missing", ::getuid(), ::getgid(), 0644));
}

TEST_CASE("an unknown maps.owner is named as maps.owner, with file and line") {
  const std::string text = R"(database:
  host: 127.0.0.1
  user: mapsync
  database: mailusers
maps:
  directory: /var/lib/mapsync/maps
  owner: no-such-user-here
)";
  std::string msg;
  try {
    mapsync::parse_config(text, "test.yaml");
  } catch (const Error& e) {
    CHECK(e.status() == Exit::config);
    msg = e.what();
  }
  CHECK(msg.find("test.yaml:7: maps.owner: no such user \"no-such-user-here\"") == 0);
  CHECK(msg.find("maps.transport") == std::string::npos);
}

TEST_CASE("a commit replaces by rename and leaves no second name of what it replaced") {
  TempDir dir;
  const std::string victim = plant_victim(dir, "victim");
  fs::create_directory(dir / "maps");
  write_text(dir / "maps/virtual", "old\n");
  REQUIRE(::symlink(victim.c_str(), (dir / "maps/virtual.db").c_str()) == 0);
  {
    Publisher pub(dir / "maps");
    for (const char* name : {"virtual", "virtual.db", "transport"}) {
      const std::string temp = pub.temp_path(name);
      write_text(temp, std::string("new ") + name + "\n");
      pub.stage(temp, name, ::getuid(), ::getgid(), 0644);
    }
    pub.commit();
  }
  CHECK(read_text(dir / "maps/virtual") == "new virtual\n");
  CHECK(read_text(dir / "maps/virtual.db") == "new virtual.db\n");
  CHECK(read_text(dir / "maps/transport") == "new transport\n");
  CHECK(read_text(victim) == kPrecious);  // the symlink was replaced, never followed
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir / "maps")) names.push_back(e.path().filename());
  std::sort(names.begin(), names.end());
  CHECK(names == std::vector<std::string>{".mapsync.lock", "transport", "virtual", "virtual.db"});
}
