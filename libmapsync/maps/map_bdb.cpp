// map_bdb.cpp - Berkeley DB "hash" and "btree" maps, in the format postmap writes them.
//
// The file layout follows Postfix's util/dict_db.c and postmap/postalias: every key and
// value carries one trailing NUL, 4096-byte pages, native byte order. The handle has no
// DB_ENV of its own, so libdb keeps its cache in private memory and leaves nothing but
// the .db file on disk. Readers take flock(LOCK_SH) around every access as Postfix's
// readers do, so that a postmap rewriting the file in place is never read half-done.
// This is the only file that includes <db.h>.
#include <db.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>

#include "libmapsync/core/error.h"
#include "libmapsync/maps/map_backend.h"
#include "libmapsync/maps/map_types_internal.h"

namespace mapsync {

namespace {

// Postfix's mkmap_db.c leaves pages to libdb's default; on Linux that is the file
// system's block size, 4096. Fixing it keeps our files alike on every file system.
constexpr std::uint32_t page_size = 4096;

// A hash table sized up front, from the number and size of the entries to come.
// libdb (hash/hash_meta.c __ham_init_meta) starts with 2^ceil(log2(nelem / ffactor))
// buckets of one page each, and splits one when the table holds more than ffactor
// entries a bucket. We aim at ~85% full pages: emptier pages make a bigger file and more
// I/O, fuller ones spill into overflow pages. Postfix's own mkmap_db.c leaves all this
// to libdb, which then grows the table by splitting as it goes (slower, same lookups).
struct HashGeometry {
  u_int32_t ffactor = 0;  // 0: let libdb grow the table
  u_int32_t buckets = 0;
};

HashGeometry hash_geometry(const WriterOptions& o) {
  HashGeometry g;
  if (o.expected_entries == 0) return g;
  const double n = static_cast<double>(o.expected_entries);
  // Key and value each get a NUL; on the page each pair costs two 2-byte index slots
  // and two 1-byte item headers.
  const double pair = (o.payload_bytes ? static_cast<double>(o.payload_bytes) / n : 60.0) + 2.0 + 6.0;
  const double per_page = (page_size - 26.0) / pair;  // 26: the page header
  g.ffactor = static_cast<u_int32_t>(std::clamp(per_page * 0.85, 1.0, 65535.0));
  const std::size_t wanted = (o.expected_entries - 1) / g.ffactor + 1;
  std::size_t b = 1;
  while (b < std::max<std::size_t>(wanted, 2)) b <<= 1;
  g.buckets = static_cast<u_int32_t>(std::min<std::size_t>(b, std::size_t{1} << 30));
  return g;
}

// libdb's default hash function (hash/hash_func.c __ham_func5, Fowler/Noll/Vo): the
// bucket of a key is its hash masked to the table size. If this ever differed from
// libdb's, files would stay correct; only the build would be slower.
std::uint64_t hash_insert_rank(std::string_view key, const WriterOptions& options) {
  // The geometry depends on the two counts only: worked out once a map, not once a key.
  thread_local std::size_t memo_entries = 0, memo_payload = 0;
  thread_local HashGeometry memo;
  if (options.expected_entries != memo_entries || options.payload_bytes != memo_payload || !memo.buckets) {
    memo = hash_geometry(options);
    memo_entries = options.expected_entries;
    memo_payload = options.payload_bytes;
  }
  const HashGeometry& g = memo;
  std::uint32_t h = 0;
  for (unsigned char c : key) {
    h *= 16777619u;
    h ^= c;
  }
  h *= 16777619u;  // the trailing NUL that every key is stored with
  return g.buckets ? (h & (g.buckets - 1)) : 0;
}

// libdb writes its own diagnostics (which say more than the error number, e.g. "unexpected
// file type or format") through this callback; they end up in our exception text instead
// of on stderr. The DB_ENV's app_private points to the owner's string.
void keep_db_message(const DB_ENV* env, const char* /*prefix*/, const char* message) {
  if (env == nullptr || env->app_private == nullptr || message == nullptr) return;
  auto& kept = *static_cast<std::string*>(env->app_private);
  // The first messages name the cause ("write: ...: No space left on device", "write
  // failed for page 167"), the many after them only repeat it.
  if (kept.find("; ") != kept.npos) return;
  if (!kept.empty()) kept += "; ";
  kept += message;
}

std::string db_failure(const std::string& what, const std::string& path, int rc, const std::string& detail) {
  std::string text = what + " " + path + ": " + db_strerror(rc);
  if (!detail.empty()) text += " (" + detail + ")";
  return text;
}

struct FdCloser {
  int fd = -1;
  FdCloser() = default;
  explicit FdCloser(int f) : fd(f) {}
  FdCloser(const FdCloser&) = delete;
  FdCloser& operator=(const FdCloser&) = delete;
  ~FdCloser() {
    if (fd >= 0) ::close(fd);
  }
};

// An abandoned handle is closed without flushing: the file is about to be deleted.
struct DbAbandon {
  void operator()(DB* db) const { db->close(db, DB_NOSYNC); }
};
using DbPtr = std::unique_ptr<DB, DbAbandon>;

// Creates a handle whose libdb messages land in *detail (which must outlive it).
int new_db_handle(DbPtr& out, std::string* detail) {
  DB* db = nullptr;
  int rc = db_create(&db, nullptr, 0);
  if (rc != 0) return rc;
  out.reset(db);
  db->set_errcall(db, keep_db_message);
  if (DB_ENV* env = db->get_env(db)) env->app_private = detail;
  return 0;
}

// Points a DBT at bytes libdb only reads (put/get keys and values).
DBT dbt_of(const std::string& s) {
  DBT d;
  std::memset(&d, 0, sizeof d);
  d.data = const_cast<char*>(s.data());
  d.size = static_cast<u_int32_t>(s.size());
  return d;
}

std::string_view strip_one_nul(const DBT& d) {
  std::string_view s(static_cast<const char*>(d.data), d.size);
  if (!s.empty() && s.back() == '\0') s.remove_suffix(1);
  return s;
}

bool same_file(int fd_a, int fd_b) {
  struct stat a, b;
  return ::fstat(fd_a, &a) == 0 && ::fstat(fd_b, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

int flock_retry(int fd, int op) {
  int rc;
  do {
    rc = ::flock(fd, op);
  } while (rc < 0 && errno == EINTR);
  return rc;
}

// Shared lock held for one lookup or one pass over the file; released on every exit.
class SharedLock {
 public:
  explicit SharedLock(int fd) : fd_(fd), ok_(flock_retry(fd, LOCK_SH) == 0), err_(ok_ ? 0 : errno) {}
  SharedLock(const SharedLock&) = delete;
  SharedLock& operator=(const SharedLock&) = delete;
  ~SharedLock() {
    if (ok_) flock_retry(fd_, LOCK_UN);
  }
  bool ok() const { return ok_; }
  int error() const { return err_; }

 private:
  int fd_;
  bool ok_;
  int err_;
};

class BdbWriter final : public MapWriter {
 public:
  BdbWriter(const std::string& path, DBTYPE type, const WriterOptions& options)
      : path_(path), alias_(options.alias_syntax), checked_(options.entries_checked) {
    fd_.fd = detail::create_new_file(path_);
    int rc = new_db_handle(db_, &detail_);
    if (rc != 0) fail(detail::write_failure_status(rc), db_failure("create handle for", path_, rc, detail_));
    DB* db = db_.get();
    if ((rc = db->set_pagesize(db, page_size)) != 0) fail_db("set page size for", rc);
    if (options.cache_bytes > 0) {
      auto gbytes = static_cast<u_int32_t>(options.cache_bytes >> 30);
      auto bytes = static_cast<u_int32_t>(options.cache_bytes & ((std::size_t{1} << 30) - 1));
      if ((rc = db->set_cachesize(db, gbytes, bytes, 1)) != 0) fail_db("set cache size for", rc);
    }
    // libdb ignores the element count unless the fill factor is set too.
    if (const HashGeometry g = hash_geometry(options); type == DB_HASH && g.ffactor) {
      auto nelem = static_cast<u_int32_t>(std::min<std::size_t>(options.expected_entries, UINT32_MAX));
      if ((rc = db->set_h_ffactor(db, g.ffactor)) != 0) fail_db("set fill factor for", rc);
      if ((rc = db->set_h_nelem(db, nelem)) != 0) fail_db("set element count for", rc);
    }
    // DB_TRUNCATE makes libdb take our empty file as new (plain DB_CREATE works too but
    // prints "unexpected file type or format" first).
    rc = db->open(db, nullptr, path_.c_str(), nullptr, type, DB_CREATE | DB_TRUNCATE, 0600);
    if (rc != 0) fail(detail::create_failure_status(rc), db_failure("create", path_, rc, detail_));
    // libdb opens the file again by name; make sure it is the one we created.
    int db_fd = -1;
    if ((rc = db->fd(db, &db_fd)) != 0) fail_db("get descriptor of", rc);
    if (!same_file(fd_.fd, db_fd)) fail(Exit::cantcreat, "create " + path_ + ": file was replaced while opening it");
  }

  void add(std::string_view key, std::string_view value) override {
    if (!db_) fail(Exit::software, "write " + path_ + ": add() after finish() or after a write error");
    if (!checked_) detail::check_entry(path_, key, value, alias_);
    put(key, value);
  }

  void finish() override {
    if (!db_) fail(Exit::software, "write " + path_ + ": finish() after finish() or after a write error");
    // postalias adds this record after the aliases; sendmail's NIS clients take it to
    // mean that the map is complete. Debian's postalias also adds YP_LAST_MODIFIED and
    // YP_MASTER_NAME (no NUL, uppercase): Postfix itself never finds them (it looks
    // up folded keys) and they would make the file change at every run, so not here.
    if (alias_) put("@", "@");
    DB* db = db_.get();
    int rc = db->sync(db, 0);
    if (rc != 0) fail_db("write", rc);
    // close() invalidates the handle whatever it returns.
    db = db_.release();
    rc = db->close(db, 0);
    if (rc != 0) fail(detail::write_failure_status(rc), db_failure("close", path_, rc, detail_));
    // libdb wrote through its own descriptors; fsync is per file, so ours will do.
    int r;
    do {
      r = ::fsync(fd_.fd);
    } while (r < 0 && errno == EINTR);
    if (r < 0) {
      int err = errno;
      fail(detail::write_failure_status(err), errno_text("fsync " + path_, err));
    }
    int fd = fd_.fd;
    fd_.fd = -1;
    if (::close(fd) < 0) {
      int err = errno;
      fail(detail::write_failure_status(err), errno_text("close " + path_, err));
    }
  }

 private:
  [[noreturn]] void fail_db(const char* what, int rc) {
    db_.reset();
    fail(detail::write_failure_status(rc), db_failure(what, path_, rc, detail_));
  }

  void put(std::string_view key, std::string_view value) {
    // Reused buffers: the NUL that postmap appends costs no allocation per entry.
    key_buf_.assign(key);
    key_buf_.push_back('\0');
    value_buf_.assign(value);
    value_buf_.push_back('\0');
    DBT k = dbt_of(key_buf_);
    DBT v = dbt_of(value_buf_);
    DB* db = db_.get();
    int rc = db->put(db, nullptr, &k, &v, DB_NOOVERWRITE);
    if (rc == 0) return;
    if (rc == DB_KEYEXIST)
      fail(Exit::software, "write " + path_ + ": duplicate key \"" + detail::printable(key) + "\"");
    fail_db("write", rc);
  }

  std::string path_;
  bool alias_;
  bool checked_;        // WriterOptions::entries_checked
  std::string detail_;  // before db_: libdb may report into it until db_ is closed
  FdCloser fd_;         // before db_: closed after it
  DbPtr db_;
  std::string key_buf_;
  std::string value_buf_;
};

// Patches a copy of a published file: opened as it is (no truncation), one put or del
// per changed key, then made durable like a new file.
class BdbPatcher final : public MapPatcher {
 public:
  BdbPatcher(const std::string& path, DBTYPE type) : path_(path) {
    fd_.fd = ::open(path_.c_str(), O_RDWR | O_NOFOLLOW | O_CLOEXEC);
    if (fd_.fd < 0) fail(Exit::cantcreat, errno_text("open " + path_, errno));
    int rc = new_db_handle(db_, &detail_);
    if (rc != 0) fail(detail::write_failure_status(rc), db_failure("create handle for", path_, rc, detail_));
    DB* db = db_.get();
    if ((rc = db->set_cachesize(db, 0, 4u << 20, 1)) != 0) fail_db("set cache size for", rc);
    rc = db->open(db, nullptr, path_.c_str(), nullptr, type, 0, 0600);
    if (rc != 0) fail(detail::create_failure_status(rc), db_failure("open", path_, rc, detail_));
  }

  void put(std::string_view key, std::string_view value) override {
    DBT k = nul_terminated(key, key_buf_), v = nul_terminated(value, value_buf_);
    DB* db = db_.get();
    if (int rc = db->put(db, nullptr, &k, &v, 0); rc != 0) fail_db("write", rc);
  }

  void remove(std::string_view key) override {
    DBT k = nul_terminated(key, key_buf_);
    DB* db = db_.get();
    if (int rc = db->del(db, nullptr, &k, 0); rc != 0)
      rc == DB_NOTFOUND ? fail(Exit::software, "patch " + path_ + ": key \"" + detail::printable(key) + "\" to remove is not there")
                        : fail_db("write", rc);
  }

  void finish() override {
    DB* db = db_.release();
    int rc = db->close(db, 0);
    if (rc != 0) fail(detail::write_failure_status(rc), db_failure("close", path_, rc, detail_));
    int r;
    do {
      r = ::fsync(fd_.fd);
    } while (r < 0 && errno == EINTR);
    if (r < 0) fail(detail::write_failure_status(errno), errno_text("fsync " + path_, errno));
  }

 private:
  [[noreturn]] void fail_db(const char* what, int rc) {
    db_.reset();
    fail(detail::write_failure_status(rc), db_failure(what, path_, rc, detail_));
  }
  static DBT nul_terminated(std::string_view s, std::string& buf) {
    buf.assign(s);
    buf.push_back('\0');
    return dbt_of(buf);
  }

  std::string path_;
  std::string detail_;
  FdCloser fd_;
  DbPtr db_;
  std::string key_buf_, value_buf_;
};

class BdbReader final : public MapReader {
 public:
  BdbReader(const std::string& path, DBTYPE type) : path_(path) {
    // Like dict_db.c: hold a shared lock while libdb reads the meta data, so that an
    // in-place postmap cannot be caught half-way.
    FdCloser lock_fd(detail::open_published_file(path_));
    if (lock_fd.fd < 0) {
      int err = errno;
      fail(detail::read_failure_status(err), errno_text("open " + path_, err));
    }
    detail::require_regular(lock_fd.fd, path_);
    SharedLock lock(lock_fd.fd);
    if (!lock.ok()) fail(Exit::tempfail, errno_text("lock " + path_, lock.error()));
    int rc = new_db_handle(db_, &detail_);
    if (rc != 0) fail(Exit::tempfail, db_failure("open", path_, rc, detail_));
    DB* db = db_.get();
    rc = db->open(db, nullptr, path_.c_str(), nullptr, type, DB_RDONLY, 0);
    if (rc != 0) {
      db_.reset();
      // The file is there (we opened it): whatever libdb says, it is not a map it can read.
      fail(rc == ENOENT ? Exit::data : detail::read_failure_status(rc), db_failure("open", path_, rc, detail_));
    }
    if ((rc = db->fd(db, &fd_)) != 0) fail(Exit::tempfail, db_failure("open", path_, rc, detail_));
    // libdb opened the path again: it must be the file we checked, not a symlink since.
    if (!same_file(lock_fd.fd, fd_)) fail(Exit::tempfail, "open " + path_ + ": file was replaced while opening it");
  }

  LookupResult lookup(std::string_view key) override {
    LookupResult result;
    detail_.clear();
    SharedLock lock(fd_);
    if (!lock.ok()) {
      result.status = LookupStatus::retry;
      result.error = errno_text("lock " + path_, lock.error());
      return result;
    }
    // Postfix tries key+NUL, then the bare key, and sticks with whichever form hit
    // first (DICT_FLAG_TRY1NULL / TRY0NULL); so do we.
    key_buf_.assign(key);
    key_buf_.push_back('\0');
    for (int with_nul = 1; with_nul >= 0; --with_nul) {
      if (with_nul ? !try_with_nul_ : !try_without_nul_) continue;
      DBT k = dbt_of(key_buf_);
      if (!with_nul) --k.size;
      DBT v;
      std::memset(&v, 0, sizeof v);
      DB* db = db_.get();
      int rc = db->get(db, nullptr, &k, &v, 0);
      if (rc == 0) {
        (with_nul ? try_without_nul_ : try_with_nul_) = false;
        result.status = LookupStatus::found;
        result.value.assign(strip_one_nul(v));
        return result;
      }
      if (rc != DB_NOTFOUND) {
        result.status = LookupStatus::retry;
        result.error = db_failure("read", path_, rc, detail_);
        return result;
      }
    }
    result.status = LookupStatus::not_found;
    return result;
  }

  void for_each(const std::function<void(std::string_view key, std::string_view value)>& fn) override {
    detail_.clear();
    SharedLock lock(fd_);
    if (!lock.ok()) fail(Exit::tempfail, errno_text("lock " + path_, lock.error()));
    DB* db = db_.get();
    DBC* cursor = nullptr;
    int rc = db->cursor(db, nullptr, &cursor, 0);
    if (rc != 0) fail(detail::read_failure_status(rc), db_failure("read", path_, rc, detail_));
    struct CursorCloser {
      DBC* c;
      ~CursorCloser() { c->close(c); }
    } closer{cursor};
    DBT k, v;
    std::memset(&k, 0, sizeof k);
    std::memset(&v, 0, sizeof v);
    while ((rc = cursor->get(cursor, &k, &v, DB_NEXT)) == 0) fn(strip_one_nul(k), strip_one_nul(v));
    if (rc != DB_NOTFOUND) fail(detail::read_failure_status(rc), db_failure("read", path_, rc, detail_));
  }

 private:
  std::string path_;
  std::string detail_;  // before db_: libdb may report into it until db_ is closed
  DbPtr db_;
  int fd_ = -1;  // libdb's own descriptor, for flock; closed by libdb
  std::string key_buf_;
  bool try_with_nul_ = true;
  bool try_without_nul_ = true;
};

std::unique_ptr<MapWriter> create_hash(const std::string& path, const WriterOptions& options) {
  return std::make_unique<BdbWriter>(path, DB_HASH, options);
}
std::unique_ptr<MapWriter> create_btree(const std::string& path, const WriterOptions& options) {
  return std::make_unique<BdbWriter>(path, DB_BTREE, options);
}
std::unique_ptr<MapReader> open_hash(const std::string& path, bool /*alias_syntax*/) {
  return std::make_unique<BdbReader>(path, DB_HASH);
}
std::unique_ptr<MapReader> open_btree(const std::string& path, bool /*alias_syntax*/) {
  return std::make_unique<BdbReader>(path, DB_BTREE);
}

std::unique_ptr<MapPatcher> patch_hash(const std::string& path) { return std::make_unique<BdbPatcher>(path, DB_HASH); }
std::unique_ptr<MapPatcher> patch_btree(const std::string& path) { return std::make_unique<BdbPatcher>(path, DB_BTREE); }

constexpr MapType hash_type{"hash", ".db", &create_hash, &open_hash, &hash_insert_rank, &patch_hash};
constexpr MapType btree_type{"btree", ".db", &create_btree, &open_btree, nullptr, &patch_btree};

}  // namespace

const MapType& bdb_hash_map_type() { return hash_type; }
const MapType& bdb_btree_map_type() { return btree_type; }

}  // namespace mapsync
