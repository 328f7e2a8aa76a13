// bare_writer - the format's own limit for bench_build.sh: writes Postfix maps from text
// sources with nothing but the storage library, the way mapsync's writers call it.
//
//   bare_writer --type hash|btree|lmdb|cdb --from DIR --to DIR [--threads N] [--alias NAME]... MAP...
//
// Reads DIR/MAP (text sources as mapsync writes them: sorted "key<TAB>value" lines, or
// "key: value" for the maps named by --alias) into memory, and works out the order in
// which mapsync adds the entries (hash: by bucket, ties in key order; the other types: key
// order) and the sizes it derives from them; none of that is timed. Then, timed, it writes
// for every map what a full `mapsync build` writes: the text source (the same bytes, in
// 256 KB writes, fsynced) and the indexed file with the settings of libmapsync/maps/map_*.cpp:
//   hash   libdb DB_HASH, 4096-byte pages, 4 MB cache, fill factor and element count from
//          the entry count and payload (map_bdb.cpp hash_geometry), entries in bucket order
//   btree  libdb DB_BTREE, 4096-byte pages, 4 MB cache, key order
//   lmdb   MDB_NOSUBDIR|MDB_NOLOCK|MDB_NOSYNC|MDB_NOMETASYNC, map size as initial_map_size()
//          for sorted input, mdb_cursor_put(MDB_APPEND), a commit every 65536 entries and at
//          the end, mdb_env_sync(force)
//   cdb    tinycdb cdb_make_start/cdb_make_add/cdb_make_finish, key order
// every key and value with postmap's trailing NUL (none for cdb), the "@" -> "@" record of
// postalias for alias maps, each file created O_EXCL, fsynced and closed; at the end the
// directory is fsynced. What mapsync does beyond that (checking every entry, the duplicate
// and order checks, lmdb's room check per entry, renames, state) is not done here.
//
// Parallelism: the files are jobs (one job: one map's text source, then its indexed file,
// as one output of a build is written), largest map first, taken by N threads (default 2:
// a build writes at most two outputs at a time, virtual and relay_recipients). Prints
// "write_seconds S" (the timed part, wall clock), "write_cpu_seconds S" (user + system time
// of the process in it) and per-map figures on stdout.
#include <cdb.h>
#include <db.h>
#include <fcntl.h>
#include <lmdb.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "bare_writer: %s\n", what.c_str());
  std::exit(1);
}

void check(bool ok, const std::string& what) {
  if (!ok) die(what + ": " + std::strerror(errno));
}

struct Map {
  std::string name;
  bool alias = false;
  std::string text;  // the text source as read
  std::vector<std::pair<std::string_view, std::string_view>> entries;  // in key order
  std::vector<std::uint32_t> order;  // positions in entries, in the order mapsync adds them
  std::size_t payload = 0;           // sum of key and value sizes
  double seconds = 0;
};

std::string read_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  check(fd >= 0, "open " + path);
  struct stat st {};
  check(::fstat(fd, &st) == 0, "stat " + path);
  std::string s(static_cast<std::size_t>(st.st_size), '\0');
  std::size_t got = 0;
  while (got < s.size()) {
    ssize_t n = ::read(fd, s.data() + got, s.size() - got);
    check(n > 0, "read " + path);
    got += static_cast<std::size_t>(n);
  }
  ::close(fd);
  return s;
}

void parse(Map& m) {
  std::string_view t = m.text;
  const std::string_view sep = m.alias ? ": " : "\t";
  while (!t.empty()) {
    const auto nl = t.find('\n');
    if (nl == t.npos) die(m.name + ": last line has no newline");
    std::string_view line = t.substr(0, nl);
    t.remove_prefix(nl + 1);
    const auto s = line.find(sep);
    if (s == line.npos || s == 0) die(m.name + ": not a mapsync text source line: " + std::string(line));
    m.entries.emplace_back(line.substr(0, s), line.substr(s + sep.size()));
    m.payload += s + line.size() - s - sep.size();
  }
}

// ---------------------------------------------------------------- hash geometry (map_bdb.cpp)

constexpr std::uint32_t page_size = 4096;

struct HashGeometry {
  std::uint32_t ffactor = 0, buckets = 0;
};

HashGeometry hash_geometry(std::size_t entries, std::size_t payload) {
  HashGeometry g;
  if (entries == 0) return g;
  const double n = static_cast<double>(entries);
  const double pair = (payload ? static_cast<double>(payload) / n : 60.0) + 2.0 + 6.0;
  const double per_page = (page_size - 26.0) / pair;
  g.ffactor = static_cast<std::uint32_t>(std::clamp(per_page * 0.85, 1.0, 65535.0));
  const std::size_t wanted = (entries - 1) / g.ffactor + 1;
  std::size_t b = 1;
  while (b < std::max<std::size_t>(wanted, 2)) b <<= 1;
  g.buckets = static_cast<std::uint32_t>(std::min<std::size_t>(b, std::size_t{1} << 30));
  return g;
}

std::uint32_t bucket_of(std::string_view key, const HashGeometry& g) {
  std::uint32_t h = 0;
  for (unsigned char c : key) {
    h *= 16777619u;
    h ^= c;
  }
  h *= 16777619u;
  return g.buckets ? (h & (g.buckets - 1)) : 0;
}

void plan_order(Map& m, const std::string& type) {
  if (type != "hash") return;  // key order: entries as they are
  const HashGeometry g = hash_geometry(m.entries.size(), m.payload);
  std::vector<std::uint64_t> rank(m.entries.size());
  for (std::uint32_t i = 0; i < rank.size(); ++i) rank[i] = std::uint64_t{bucket_of(m.entries[i].first, g)} << 32 | i;
  std::sort(rank.begin(), rank.end());
  m.order.resize(rank.size());
  for (std::size_t i = 0; i < rank.size(); ++i) m.order[i] = static_cast<std::uint32_t>(rank[i]);
}

// ---------------------------------------------------------------- writers

int create_new(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  check(fd >= 0, "create " + path);
  return fd;
}

void fsync_close(int fd, const std::string& path) {
  check(::fsync(fd) == 0, "fsync " + path);
  check(::close(fd) == 0, "close " + path);
}

void write_text(const Map& m, const std::string& path) {
  int fd = create_new(path);
  constexpr std::size_t chunk = 256 * 1024;
  for (std::size_t off = 0; off < m.text.size();) {
    ssize_t n = ::write(fd, m.text.data() + off, std::min(chunk, m.text.size() - off));
    check(n > 0, "write " + path);
    off += static_cast<std::size_t>(n);
  }
  fsync_close(fd, path);
}

template <class Fn>
void each_entry(const Map& m, Fn fn) {
  if (m.order.empty())
    for (const auto& e : m.entries) fn(e.first, e.second);
  else
    for (std::size_t n = 0; n < m.order.size(); ++n) {
      // Prefetched as publish_steps.cpp write_map_file() does: the same random order.
      if (n + 16 < m.order.size()) __builtin_prefetch(&m.entries[m.order[n + 16]]);
      if (n + 8 < m.order.size()) {
        __builtin_prefetch(m.entries[m.order[n + 8]].first.data());
        __builtin_prefetch(m.entries[m.order[n + 8]].second.data());
      }
      const auto& e = m.entries[m.order[n]];
      fn(e.first, e.second);
    }
}

// mapsync's cache for both libdb types (publish_steps.cpp write_map_file); BARE_CACHE_MB
// overrides it, to try another size.
unsigned cache_mb() {
  const char* s = std::getenv("BARE_CACHE_MB");
  return s && *s ? static_cast<unsigned>(std::strtoul(s, nullptr, 10)) : 4;
}

void write_bdb(const Map& m, const std::string& path, DBTYPE type) {
  int fd = create_new(path);
  DB* db = nullptr;
  int rc = db_create(&db, nullptr, 0);
  if (rc != 0) die("db_create: " + std::string(db_strerror(rc)));
  auto ok = [&](int r, const char* what) {
    if (r != 0) die(std::string(what) + " " + path + ": " + db_strerror(r));
  };
  ok(db->set_pagesize(db, page_size), "set_pagesize");
  ok(db->set_cachesize(db, 0, cache_mb() << 20, 1), "set_cachesize");
  if (type == DB_HASH) {
    const HashGeometry g = hash_geometry(m.entries.size(), m.payload);
    ok(db->set_h_ffactor(db, g.ffactor), "set_h_ffactor");
    ok(db->set_h_nelem(db, static_cast<std::uint32_t>(m.entries.size())), "set_h_nelem");
  }
  ok(db->open(db, nullptr, path.c_str(), nullptr, type, DB_CREATE | DB_TRUNCATE, 0600), "open");
  std::string kb, vb;
  auto put = [&](std::string_view k, std::string_view v) {
    kb.assign(k);
    kb.push_back('\0');
    vb.assign(v);
    vb.push_back('\0');
    DBT key, val;
    std::memset(&key, 0, sizeof key);
    std::memset(&val, 0, sizeof val);
    key.data = kb.data();
    key.size = static_cast<std::uint32_t>(kb.size());
    val.data = vb.data();
    val.size = static_cast<std::uint32_t>(vb.size());
    ok(db->put(db, nullptr, &key, &val, DB_NOOVERWRITE), "put");
  };
  each_entry(m, put);
  if (m.alias) put("@", "@");
  ok(db->sync(db, 0), "sync");
  ok(db->close(db, 0), "close");
  fsync_close(fd, path);
}

constexpr std::size_t lmdb_commit_every = 65536;

// map_lmdb.cpp initial_map_size() for sorted input.
std::size_t lmdb_map_size(const Map& m) {
  constexpr std::size_t mib = std::size_t{1} << 20;
  if (m.entries.empty()) return 16 * mib;
  const double n = static_cast<double>(m.entries.size());
  const double entry = (m.payload ? static_cast<double>(m.payload) / n : 60.0) + 2.0 + 8.0 + 1.0 + 2.0;
  const double bytes = (n * entry / 4080.0 * 1.1 + 64.0) * 4096.0 * 2.0;
  const auto size = static_cast<std::size_t>(bytes);
  return std::max<std::size_t>((size + mib - 1) / mib * mib, mib);
}

void write_lmdb(const Map& m, const std::string& path) {
  int fd = create_new(path);
  auto ok = [&](int r, const char* what) {
    if (r != 0) die(std::string(what) + " " + path + ": " + mdb_strerror(r));
  };
  MDB_env* env = nullptr;
  ok(mdb_env_create(&env), "mdb_env_create");
  ok(mdb_env_set_mapsize(env, lmdb_map_size(m)), "mdb_env_set_mapsize");
  ok(mdb_env_open(env, path.c_str(), MDB_NOSUBDIR | MDB_NOLOCK | MDB_NOSYNC | MDB_NOMETASYNC, 0600), "mdb_env_open");
  MDB_txn* txn = nullptr;
  MDB_dbi dbi = 0;
  MDB_cursor* cur = nullptr;
  ok(mdb_txn_begin(env, nullptr, 0, &txn), "mdb_txn_begin");
  ok(mdb_dbi_open(txn, nullptr, 0, &dbi), "mdb_dbi_open");
  ok(mdb_cursor_open(txn, dbi, &cur), "mdb_cursor_open");
  std::size_t count = 0;
  std::string kb, vb;
  auto put = [&](std::string_view k, std::string_view v, unsigned flags) {
    kb.assign(k);
    kb.push_back('\0');
    vb.assign(v);
    vb.push_back('\0');
    MDB_val key{kb.size(), kb.data()}, val{vb.size(), vb.data()};
    ok(mdb_cursor_put(cur, &key, &val, flags), "mdb_cursor_put");
  };
  each_entry(m, [&](std::string_view k, std::string_view v) {
    put(k, v, MDB_APPEND);
    if (++count % lmdb_commit_every == 0) {  // map_lmdb.cpp: bounded dirty pages
      ok(mdb_txn_commit(txn), "mdb_txn_commit");
      ok(mdb_txn_begin(env, nullptr, 0, &txn), "mdb_txn_begin");
      ok(mdb_cursor_open(txn, dbi, &cur), "mdb_cursor_open");
    }
  });
  if (m.alias) put("@", "@", MDB_NOOVERWRITE);
  ok(mdb_txn_commit(txn), "mdb_txn_commit");
  ok(mdb_env_sync(env, 1), "mdb_env_sync");
  mdb_env_close(env);
  fsync_close(fd, path);
}

void write_cdb(const Map& m, const std::string& path) {
  int fd = create_new(path);
  struct cdb_make cm {};
  check(cdb_make_start(&cm, fd) == 0, "cdb_make_start " + path);
  auto put = [&](std::string_view k, std::string_view v) {
    check(cdb_make_add(&cm, k.data(), static_cast<unsigned>(k.size()), v.data(), static_cast<unsigned>(v.size())) == 0,
          "cdb_make_add " + path);
  };
  each_entry(m, put);
  if (m.alias) put("@", "@");
  check(cdb_make_finish(&cm) == 0, "cdb_make_finish " + path);
  fsync_close(fd, path);
}

const char* suffix_of(const std::string& type) {
  if (type == "hash" || type == "btree") return ".db";
  if (type == "lmdb") return ".lmdb";
  if (type == "cdb") return ".cdb";
  die("unknown type " + type);
}

void write_map(Map& m, const std::string& type, const std::string& to) {
  const auto t0 = std::chrono::steady_clock::now();
  const std::string base = to + "/" + m.name;
  write_text(m, base);
  const std::string path = base + suffix_of(type);
  if (type == "hash") write_bdb(m, path, DB_HASH);
  else if (type == "btree") write_bdb(m, path, DB_BTREE);
  else if (type == "lmdb") write_lmdb(m, path);
  else write_cdb(m, path);
  m.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

double cpu_seconds() {
  struct rusage ru {};
  ::getrusage(RUSAGE_SELF, &ru);
  auto s = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6; };
  return s(ru.ru_utime) + s(ru.ru_stime);
}

double since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
  std::string type, from, to;
  unsigned threads = 2;
  std::vector<std::string> names, aliases;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) die(a + " needs a value");
      return argv[++i];
    };
    if (a == "--type") type = value();
    else if (a == "--from") from = value();
    else if (a == "--to") to = value();
    else if (a == "--threads") threads = static_cast<unsigned>(std::stoul(value()));
    else if (a == "--alias") aliases.push_back(value());
    else if (!a.empty() && a[0] == '-') die("unknown option " + a);
    else names.push_back(a);
  }
  if (type.empty() || from.empty() || to.empty() || names.empty() || threads == 0)
    die("usage: bare_writer --type hash|btree|lmdb|cdb --from DIR --to DIR [--threads N] [--alias NAME]... MAP...");
  suffix_of(type);

  // Untimed: the input in memory, the order of insertion, the sizes.
  const auto t_load = std::chrono::steady_clock::now();
  std::vector<Map> maps(names.size());
  for (std::size_t i = 0; i < names.size(); ++i) {
    Map& m = maps[i];
    m.name = names[i];
    m.alias = std::find(aliases.begin(), aliases.end(), m.name) != aliases.end();
    m.text = read_file(from + "/" + m.name);
    parse(m);
    plan_order(m, type);
  }
  std::vector<Map*> queue;
  for (Map& m : maps) queue.push_back(&m);
  std::stable_sort(queue.begin(), queue.end(), [](const Map* a, const Map* b) { return a->text.size() > b->text.size(); });
  const double load_seconds = since(t_load);

  // Timed: every file written, made durable, the directory synced.
  const auto t0 = std::chrono::steady_clock::now();
  const double cpu0 = cpu_seconds();
  std::atomic<std::size_t> next{0};
  std::vector<std::thread> pool;
  for (unsigned t = 0; t < std::min<std::size_t>(threads, queue.size()); ++t)
    pool.emplace_back([&] {
      for (std::size_t i; (i = next++) < queue.size();) write_map(*queue[i], type, to);
    });
  for (auto& t : pool) t.join();
  int dfd = ::open(to.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  check(dfd >= 0, "open " + to);
  fsync_close(dfd, to);
  const double write_seconds = since(t0);
  const double write_cpu = cpu_seconds() - cpu0;

  std::printf("load_seconds %.3f\n", load_seconds);
  for (const Map& m : maps) std::printf("map %s %zu %.3f\n", m.name.c_str(), m.entries.size(), m.seconds);
  std::printf("write_seconds %.3f\n", write_seconds);
  std::printf("write_cpu_seconds %.3f\n", write_cpu);
  return 0;
}
