// generations.cpp - see generations.h.
#include "libmapsync/maps/generations.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <chrono>
#include <filesystem>
#include <system_error>

#include "libmapsync/core/error.h"
#include "libmapsync/core/log.h"
#include "libmapsync/maps/build.h"
#include "libmapsync/maps/delta.h"
#include "libmapsync/maps/publish.h"
#include "libmapsync/maps/publish_steps.h"

namespace mapsync {

namespace fs = std::filesystem;

namespace {

std::string base_of(const std::string& dir) { return dir + "/" + kGenerationsDir; }

void fsync_dir(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

bool all_digits(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// The history directory must be a real directory of its own: pruning removes whole
// trees under it, and through a symlink that would be somebody else's tree. (A symlink
// inside it is removed as a link, never followed: fs::remove_all does not follow them.)
// Returns false when it does not exist yet.
bool check_base(const std::string& base) {
  struct stat st {};
  if (::lstat(base.c_str(), &st) != 0) {
    if (errno == ENOENT) return false;
    fail(Exit::tempfail, errno_text("cannot stat " + base, errno));
  }
  if (S_ISLNK(st.st_mode))
    fail(Exit::config, base + " is a symbolic link; refusing to keep or prune generations through it (remove it)");
  if (!S_ISDIR(st.st_mode)) fail(Exit::config, base + " is not a directory; refusing to keep generations there (remove it)");
  return true;
}

// A stored generation is a real directory named by its number (not a symlink to one).
bool is_generation_dir(const fs::directory_entry& e) {
  std::error_code ec;
  return all_digits(e.path().filename().string()) && e.symlink_status(ec).type() == fs::file_type::directory;
}

// How many of n stored generations (ascending) are older than the newest keep; keep 0
// (no generations stored) prunes nothing.
std::size_t beyond_keep(std::size_t n, unsigned keep) { return keep && n > keep ? n - keep : 0; }

}  // namespace

std::vector<std::uint64_t> kept_generations(const std::string& dir, unsigned keep) {
  std::vector<std::uint64_t> gens = stored_generations(dir);
  gens.erase(gens.begin(), gens.begin() + static_cast<std::ptrdiff_t>(beyond_keep(gens.size(), keep)));
  return gens;
}

std::vector<std::uint64_t> stored_generations(const std::string& dir) {
  std::vector<std::uint64_t> out;
  std::error_code ec;
  if (!check_base(base_of(dir))) return out;
  for (const auto& e : fs::directory_iterator(base_of(dir), ec)) {
    const std::string name = e.path().filename().string();
    // A number beyond 2^64-1 (ERANGE) is not a name we gave.
    if (!is_generation_dir(e) || name.size() > 20) continue;
    errno = 0;
    const unsigned long long n = std::strtoull(name.c_str(), nullptr, 10);
    if (errno != ERANGE) out.push_back(n);
  }
  std::sort(out.begin(), out.end());
  return out;
}

void store_generation(const std::string& dir, const MapsConfig& maps, const PublishState& state, unsigned keep) {
  if (keep == 0) return;
  const std::string base = base_of(dir);
  const std::string final_dir = base + "/" + std::to_string(state.generation);
  const std::string tmp = base + "/.tmp." + std::to_string(::getpid());
  std::error_code ec;
  if (!check_base(base) && ::mkdir(base.c_str(), 0755) != 0 && errno != EEXIST)
    fail(Exit::cantcreat, errno_text("cannot create " + base, errno));
  check_base(base);
  fs::remove_all(tmp, ec);
  if (!fs::create_directory(tmp, ec))
    fail(Exit::cantcreat, "cannot create " + tmp + ": " + ec.message());
  std::vector<std::string> files;
  for (const MapState& m : state.maps)
    if (const MapConfig* mc = maps.find(m.name)) files.push_back(mc->spec.text_file);
  files.push_back(kStateFile);  // state's own file: record_publish has just written it
  for (const std::string& f : files) {
    const std::string from = dir + "/" + f, to = tmp + "/" + f;
    // A link costs no copy, and the text sources and the state file are only ever
    // replaced by rename, never rewritten in place.
    if (::link(from.c_str(), to.c_str()) != 0) {
      const int err = errno;
      fs::remove_all(tmp, ec);
      fail(Exit::cantcreat, errno_text("cannot link " + from + " into " + tmp, err));
    }
  }
  fsync_dir(tmp);
  fs::remove_all(final_dir, ec);  // a number reused after a crash between publish and state
  fs::rename(tmp, final_dir, ec);
  if (ec) fail(Exit::cantcreat, "cannot rename " + tmp + " to " + final_dir + ": " + ec.message());
  fsync_dir(base);
}

void prune_generations(const std::string& dir, unsigned keep) noexcept {
  try {
    if (keep == 0) return;
    const std::string base = base_of(dir);
    std::error_code ec;
    // Keep the newest ones; anything half-made by a killed run goes too.
    const std::vector<std::uint64_t> gens = stored_generations(dir);
    for (std::size_t i = 0; i < beyond_keep(gens.size(), keep); ++i) fs::remove_all(base + "/" + std::to_string(gens[i]), ec);
    for (const auto& e : fs::directory_iterator(base, ec)) {
      const std::string name = e.path().filename().string();
      if (name.rfind(".tmp.", 0) == 0) fs::remove_all(e.path(), ec);  // a link is removed, not followed
    }
  } catch (const std::exception& e) {
    log::warning(std::string("cannot prune the stored generations: ") + e.what());
  }
}

std::jthread prune_generations_beside(const std::string& dir, unsigned keep) {
  try {
    return std::jthread(prune_generations, dir, keep);
  } catch (const std::system_error&) {
    prune_generations(dir, keep);
    return {};
  }
}

std::uint64_t parse_generation(const std::string& text) {
  const std::string why = "generation \"" + text + "\": must be a positive whole number (see mapsync status)";
  if (!all_digits(text) || text.size() > 20) fail(Exit::usage, why);
  errno = 0;
  const unsigned long long n = std::strtoull(text.c_str(), nullptr, 10);
  if (errno == ERANGE || n == 0) fail(Exit::usage, why);
  return n;
}

RollbackReport rollback(const MapsSettings& cfg, std::optional<std::uint64_t> gen, bool fleet) {
  const std::string& dir = cfg.maps.directory;
  Publisher pub(dir);
  const auto cur = read_state(dir);
  if (!cur) fail(Exit::noinput, "nothing published in " + dir + " yet: nothing to roll back");
  const auto gens = stored_generations(dir);
  std::string stored;
  for (auto g : gens) stored += (stored.empty() ? "" : ", ") + std::to_string(g);
  RollbackReport rep;
  if (gen) {
    rep.restored = *gen;
  } else {
    for (auto g : gens)
      if (g < cur->generation) rep.restored = g;
    if (!rep.restored) fail(Exit::noinput, "no stored generation older than " + std::to_string(cur->generation) + " (stored: " + (stored.empty() ? "none" : stored) + ")");
  }
  if (std::find(gens.begin(), gens.end(), rep.restored) == gens.end())
    fail(Exit::usage, "generation " + std::to_string(rep.restored) + " is not stored (stored: " + (stored.empty() ? "none" : stored) + ")");
  const std::string from = base_of(dir) + "/" + std::to_string(rep.restored);
  const auto old = read_state(from);
  if (!old) fail(Exit::data, from + ": no state file");

  PublishState next;
  next.generation = next_generation(cur->generation, dir);
  next.serial = old->serial;
  next.config_digest = config_digest(cfg);
  next.held = true;
  next.held_generation = rep.restored;
  next.held_by_fleet = fleet;
  for (const MapState& was : old->maps) {
    const MapConfig* mc = cfg.maps.find(was.name);
    if (!mc || !mc->enabled) continue;
    // The stored text source holds the entries exactly as published; rebuild both files
    // from it with today's type, owner and mode, through the build's own steps.
    StringPool pool;
    MapEntries m;
    m.name = mc->name;
    m.alias_syntax = mc->spec.alias_syntax;
    read_text_source(from + "/" + mc->spec.text_file, m.alias_syntax, [&](std::string_view k, std::string_view v) {
      m.entries.push_back({pool.add(k), pool.add(v), {}});
    });
    const MapView view{&m, {}, {}, m.alias_syntax};
    stage_map(pub, *mc, view);
    next.maps.push_back(map_state(*mc, view, next.generation, true));
    rep.maps.push_back(mc->name);
  }
  commit_staged(pub, cfg.maps, next, next.generation);
  next.published_at = next.checked_at =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  record_publish(dir, cfg.maps, next, true);  // the pruning it returns ends with this statement
  rep.new_generation = next.generation;
  log::audit("rolled back to generation " + std::to_string(rep.restored) + " as generation " +
               std::to_string(rep.new_generation) +
               (fleet ? "; builds are held until `mapsync release --fleet`" : "; builds are held until `mapsync build --release`"));
  return rep;
}

}  // namespace mapsync
