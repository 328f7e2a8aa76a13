// map_lmdb.cpp - "lmdb" maps, in the format postmap writes them.
//
// The file layout follows Postfix's util/dict_lmdb.c and util/slmdb.c: one file
// <name>.lmdb (MDB_NOSUBDIR), no lock file (MDB_NOLOCK: Postfix locks with fcntl
// itself), the unnamed main database, and every key and value with one trailing NUL
// (Postfix's default unless built with LMDB_NO_TRAILING_NULL, which Debian is not).
// The writer loads everything in one write transaction into a file nobody else knows
// of yet. Readers take a shared fcntl lock around every access, as dict_lmdb.c does.
// This is the only file that includes <lmdb.h>.
#include <fcntl.h>
#include <lmdb.h>
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

// Every map is opened as Postfix opens it (dict_lmdb.c "impedance adapters").
constexpr unsigned int base_flags = MDB_NOSUBDIR | MDB_NOLOCK;

// LMDB's codes are negative, errno values positive; mdb_strerror() knows both.
std::string lmdb_failure(const std::string& what, const std::string& path, int rc) {
  return what + " " + path + ": " + mdb_strerror(rc);
}

// What a failed LMDB call means for cron: a full disk may be gone at the next run; a
// misused handle or a refused size is our bug.
Exit lmdb_write_status(int rc) {
  switch (rc) {
    case MDB_MAP_FULL:
    case MDB_BAD_TXN:
    case MDB_BAD_VALSIZE:
    case MDB_BAD_DBI:
    case MDB_INCOMPATIBLE:
      return Exit::software;
    default:
      return rc > 0 ? detail::write_failure_status(rc) : Exit::tempfail;
  }
}

// Exit status for a published file LMDB cannot open or read: a shortage of readers or
// of memory may pass; a file LMDB does not recognise, or finds damaged, will not (even
// ENOENT, which LMDB says of an empty file).
Exit lmdb_read_status(int rc) {
  switch (rc) {
    case MDB_READERS_FULL:
    case MDB_TLS_FULL:
    case MDB_MAP_RESIZED:
      return Exit::tempfail;
    default:
      return rc > 0 && rc != ENOENT ? detail::read_failure_status(rc) : Exit::data;
  }
}

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }
  int release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }

 private:
  int fd_;
};

bool same_file(int fd_a, int fd_b) {
  struct stat a, b;
  return ::fstat(fd_a, &a) == 0 && ::fstat(fd_b, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

// LMDB opens its file by name and has no call that takes a descriptor. Naming the one
// we hold through /proc makes it open that very file, even if the path has been
// replaced since; without /proc it gets the path, and the caller checks the result.
std::string name_for_lmdb(int fd, const std::string& path) {
  std::string proc = "/proc/self/fd/" + std::to_string(fd);
  return ::access(proc.c_str(), F_OK) == 0 ? proc : path;
}

// Postfix locks LMDB files with fcntl (dict_lmdb.c: MYFLOCK_STYLE_FCNTL), not flock
// as for Berkeley DB; on Linux the two never conflict, so only fcntl keeps a postmap
// that updates the file in place out while we read. Open-file-description locks
// conflict with Postfix's classic fcntl locks, but belong to our descriptor: they do
// not vanish when LMDB closes another descriptor of the file, and threads do not
// share them.
int fcntl_lock(int fd, short type) {
  struct flock fl;
  std::memset(&fl, 0, sizeof fl);
  fl.l_type = type;
  fl.l_whence = SEEK_SET;  // l_start = l_len = 0: the whole file
  int rc;
  do {
    rc = ::fcntl(fd, F_OFD_SETLKW, &fl);
  } while (rc < 0 && errno == EINTR);
  return rc < 0 ? errno : 0;
}

class SharedLock {
 public:
  explicit SharedLock(int fd) : fd_(fd), err_(fcntl_lock(fd, F_RDLCK)) {}
  SharedLock(const SharedLock&) = delete;
  SharedLock& operator=(const SharedLock&) = delete;
  ~SharedLock() {
    if (err_ == 0) fcntl_lock(fd_, F_UNLCK);
  }
  bool ok() const { return err_ == 0; }
  int error() const { return err_; }

 private:
  int fd_;
  int err_;
};

MDB_val mdb_val_of(const std::string& s) {
  MDB_val v;
  v.mv_size = s.size();
  v.mv_data = const_cast<char*>(s.data());
  return v;
}

std::string_view strip_one_nul(const MDB_val& v) {
  std::string_view s(static_cast<const char*>(v.mv_data), v.mv_size);
  if (!s.empty() && s.back() == '\0') s.remove_suffix(1);
  return s;
}

// The map size an LMDB file may grow to: address space only (without MDB_WRITEMAP the
// file holds just the pages written), but recorded in the file, and a write
// transaction cannot outgrow it. On a leaf page an entry costs an 8-byte node header,
// key and value with their NULs (rounded up to even) and a 2-byte slot, out of 4080
// usable bytes a page. Appending fills pages completely; random inserts leave them
// about half full. Twice that estimate, plus room for branch pages, is the start; the
// writer grows the map if a caller's numbers were wrong (see ensure_room).
std::size_t initial_map_size(const WriterOptions& o) {
  constexpr std::size_t mib = std::size_t{1} << 20;
  if (o.expected_entries == 0) return 16 * mib;  // Postfix's default lmdb_map_size
  const double n = static_cast<double>(o.expected_entries);
  const double payload = o.payload_bytes ? static_cast<double>(o.payload_bytes) / n : 60.0;
  const double entry = payload + 2.0 + 8.0 + 1.0 + 2.0;
  const double fill = o.sorted_input ? 1.0 : 0.5;
  const double leaf_pages = n * entry / (4080.0 * fill);
  const double bytes = (leaf_pages * 1.1 + 64.0) * 4096.0 * 2.0;
  const std::size_t size = static_cast<std::size_t>(bytes);
  return std::max<std::size_t>((size + mib - 1) / mib * mib, mib);
}

class LmdbWriter final : public MapWriter {
 public:
  static constexpr std::size_t commit_every = 65536;

  LmdbWriter(const std::string& path, const WriterOptions& options)
      : path_(path),
        alias_(options.alias_syntax),
        sorted_(options.sorted_input),
        checked_(options.entries_checked),
        fd_(detail::create_new_file(path)) {
    int rc = mdb_env_create(&env_);
    if (rc != 0) fail(lmdb_write_status(rc), lmdb_failure("create handle for", path_, rc));
    map_size_ = initial_map_size(options);
    if ((rc = mdb_env_set_mapsize(env_, map_size_)) != 0) fail_lmdb("set map size for", rc);
    // No syncs while loading: the file is a temp file until finish() has synced it.
    rc = mdb_env_open(env_, name_for_lmdb(fd_.get(), path_).c_str(), base_flags | MDB_NOSYNC | MDB_NOMETASYNC, 0600);
    if (rc != 0) {
      abandon();
      fail(rc > 0 ? detail::create_failure_status(rc) : Exit::cantcreat, lmdb_failure("create", path_, rc));
    }
    mdb_filehandle_t lmdb_fd = -1;
    if ((rc = mdb_env_get_fd(env_, &lmdb_fd)) != 0) fail_lmdb("get descriptor of", rc);
    if (!same_file(fd_.get(), lmdb_fd)) {
      abandon();
      fail(Exit::cantcreat, "create " + path_ + ": file was replaced while opening it");
    }
    max_key_ = static_cast<std::size_t>(mdb_env_get_maxkeysize(env_));
    MDB_stat env_stat;
    if ((rc = mdb_env_stat(env_, &env_stat)) != 0) fail_lmdb("read", rc);
    page_size_ = env_stat.ms_psize;
    begin();
  }
  LmdbWriter(const LmdbWriter&) = delete;
  LmdbWriter& operator=(const LmdbWriter&) = delete;

  ~LmdbWriter() override { abandon(); }

  void add(std::string_view key, std::string_view value) override {
    if (!txn_) fail(Exit::software, "write " + path_ + ": add() after finish() or after a write error");
    if (!checked_) detail::check_entry(path_, key, value, alias_);
    // LMDB's limit, which postmap hits too ("MDB_BAD_VALSIZE"); data, not a bug.
    if (key.size() + 1 > max_key_)
      fail(Exit::data, "write " + path_ + ": key \"" + detail::printable(key) + "\" is longer than lmdb allows (" +
                           std::to_string(max_key_ - 1) + " bytes)");
    // Keys hold no NUL, so appending one keeps their order: if a is a proper prefix of
    // b, a+NUL < b+NUL because b's next byte is not NUL. LMDB compares keys as memcmp
    // then length, the order std::string_view has; so a caller's sorted input may be
    // appended (MDB_APPEND: no search, full pages). We check the order ourselves to
    // tell a duplicate from a broken promise.
    if (sorted_ && count_ > 0 && key <= std::string_view(last_)) {
      if (key < std::string_view(last_))
        fail(Exit::software,
             "write " + path_ + ": key \"" + detail::printable(key) + "\" out of order (sorted input promised)");
      fail(Exit::software, "write " + path_ + ": duplicate key \"" + detail::printable(key) + "\"");
    }
    put(key, value, sorted_ ? MDB_APPEND : MDB_NOOVERWRITE);
    if (sorted_) last_.assign(key);
    // A write transaction keeps every page it dirtied in memory until it commits: a
    // million entries in one cost the size of the file in RSS. Committing every
    // commit_every entries keeps that to a few MB; the file is a temp file until finish()
    // syncs it, so these commits sync nothing.
    if (++count_ % commit_every == 0) {
      MDB_txn* txn = txn_;
      txn_ = nullptr;
      cursor_ = nullptr;
      if (int rc = mdb_txn_commit(txn); rc != 0) fail_lmdb("write", rc);
      begin();
    }
  }

  void finish() override {
    if (!txn_) fail(Exit::software, "write " + path_ + ": finish() after finish() or after a write error");
    // postalias adds this record after the aliases, for every map type (see map_bdb.cpp).
    if (alias_) put("@", "@", MDB_NOOVERWRITE);
    // Commit ends the transaction (and frees its cursor) whatever it returns.
    MDB_txn* txn = txn_;
    txn_ = nullptr;
    cursor_ = nullptr;
    int rc = mdb_txn_commit(txn);
    if (rc != 0) fail_lmdb("write", rc);
    if ((rc = mdb_env_sync(env_, 1)) != 0) fail_lmdb("sync", rc);
    mdb_env_close(env_);
    env_ = nullptr;
    // LMDB synced its own descriptor with fdatasync; fsync ours for the metadata too.
    int r;
    do {
      r = ::fsync(fd_.get());
    } while (r < 0 && errno == EINTR);
    if (r < 0) {
      int err = errno;
      fail(detail::write_failure_status(err), errno_text("fsync " + path_, err));
    }
    if (::close(fd_.release()) < 0) {
      int err = errno;
      fail(detail::write_failure_status(err), errno_text("close " + path_, err));
    }
  }

 private:
  void begin() {
    int rc = mdb_txn_begin(env_, nullptr, 0, &txn_);
    if (rc != 0) {
      txn_ = nullptr;
      fail_lmdb("begin write to", rc);
    }
    if ((rc = mdb_dbi_open(txn_, nullptr, 0, &dbi_)) != 0) fail_lmdb("open main database of", rc);
    if ((rc = mdb_cursor_open(txn_, dbi_, &cursor_)) != 0) fail_lmdb("open cursor on", rc);
    MDB_envinfo info;
    if ((rc = mdb_env_info(env_, &info)) != 0) fail_lmdb("read", rc);
    committed_pages_ = info.me_last_pgno + 1;
  }

  // Leaves nothing open; the file stays for the publisher to delete.
  void abandon() {
    if (txn_) mdb_txn_abort(txn_);  // frees the cursor too
    txn_ = nullptr;
    cursor_ = nullptr;
    if (env_) mdb_env_close(env_);
    env_ = nullptr;
  }

  [[noreturn]] void fail_lmdb(const char* what, int rc) {
    abandon();
    fail(lmdb_write_status(rc), lmdb_failure(what, path_, rc));
  }

  // A write transaction that hits MDB_MAP_FULL is dead: LMDB marks it failed, and the
  // map cannot grow while it is open. Postfix (slmdb.c) then longjmps back and has
  // postmap read its whole input again in a new transaction; a MapWriter cannot ask
  // its caller for the entries again. So we grow before the map is full: the pages in
  // use are bounded by what was committed before this transaction plus every page the
  // tree holds now (each either old or new in this one). Normally the first estimate
  // holds and the whole load is one transaction; if not, what we have is committed,
  // the map doubled and the load goes on in a new transaction (a few pages more in the
  // file, and the same content).
  void ensure_room(std::size_t key_size, std::size_t value_size) {
    MDB_stat st;
    int rc = mdb_stat(txn_, dbi_, &st);
    if (rc != 0) fail_lmdb("read", rc);
    // A value too big for a leaf page (more than about half a page) goes to overflow pages.
    const std::size_t overflow = key_size + value_size > page_size_ / 2 ? value_size / page_size_ + 2 : 0;
    const std::size_t need = committed_pages_ + st.ms_branch_pages + st.ms_leaf_pages + st.ms_overflow_pages +
                             st.ms_depth + 2 + overflow + committed_pages_ / 256 + 16;
    if (need < map_size_ / page_size_) return;
    MDB_txn* txn = txn_;
    txn_ = nullptr;
    cursor_ = nullptr;
    if ((rc = mdb_txn_commit(txn)) != 0) fail_lmdb("write", rc);
    map_size_ = std::max(map_size_ * 2, need * 2 * page_size_);
    if ((rc = mdb_env_set_mapsize(env_, map_size_)) != 0) fail_lmdb("grow map size of", rc);
    begin();
  }

  void put(std::string_view key, std::string_view value, unsigned int flags) {
    // Reused buffers: the NUL that postmap appends costs no allocation per entry.
    key_buf_.assign(key);
    key_buf_.push_back('\0');
    value_buf_.assign(value);
    value_buf_.push_back('\0');
    ensure_room(key_buf_.size(), value_buf_.size());
    MDB_val k = mdb_val_of(key_buf_);
    MDB_val v = mdb_val_of(value_buf_);
    int rc = mdb_cursor_put(cursor_, &k, &v, flags);
    if (rc == 0) return;
    // The transaction survives a refused duplicate.
    if (rc == MDB_KEYEXIST)
      fail(Exit::software, "write " + path_ + ": duplicate key \"" + detail::printable(key) + "\"");
    fail_lmdb("write", rc);
  }

  std::string path_;
  bool alias_;
  bool sorted_;
  bool checked_;  // WriterOptions::entries_checked
  Fd fd_;  // ours, for the final fsync; LMDB has descriptors of its own
  MDB_env* env_ = nullptr;
  MDB_txn* txn_ = nullptr;
  MDB_cursor* cursor_ = nullptr;  // belongs to txn_
  MDB_dbi dbi_ = 0;
  std::size_t map_size_ = 0;
  std::size_t page_size_ = 4096;
  std::size_t committed_pages_ = 0;
  std::size_t max_key_ = 0;
  std::size_t count_ = 0;
  std::string last_;
  std::string key_buf_;
  std::string value_buf_;
};

class LmdbReader final : public MapReader {
 public:
  explicit LmdbReader(const std::string& path) : path_(path), fd_(detail::open_published_file(path)) {
    if (fd_.get() < 0) {
      int err = errno;
      fail(detail::read_failure_status(err), errno_text("open " + path_, err));
    }
    detail::require_regular(fd_.get(), path_);
    // Like the lookups: no postmap may be half-way through an in-place update while
    // LMDB reads the meta pages.
    SharedLock lock(fd_.get());
    if (!lock.ok()) fail(Exit::tempfail, errno_text("lock " + path_, lock.error()));
    int rc = mdb_env_create(&env_);
    if (rc != 0) fail(Exit::tempfail, lmdb_failure("open", path_, rc));
    rc = mdb_env_open(env_, name_for_lmdb(fd_.get(), path_).c_str(), base_flags | MDB_RDONLY, 0);
    if (rc != 0) fail_open(rc);
    mdb_filehandle_t lmdb_fd = -1;
    if ((rc = mdb_env_get_fd(env_, &lmdb_fd)) != 0) fail_open(rc);
    if (!same_file(fd_.get(), lmdb_fd)) {
      close_env();
      fail(Exit::tempfail, "open " + path_ + ": file was replaced while opening it");
    }
    max_key_ = static_cast<std::size_t>(mdb_env_get_maxkeysize(env_));
    // One read transaction, reset between accesses and renewed for the next, as
    // slmdb.c does with a new one each time; the handle saves a malloc per lookup.
    if ((rc = mdb_txn_begin(env_, nullptr, MDB_RDONLY, &txn_)) != 0) fail_open(rc);
    if ((rc = mdb_dbi_open(txn_, nullptr, 0, &dbi_)) != 0) fail_open(rc);
    mdb_txn_reset(txn_);
  }
  LmdbReader(const LmdbReader&) = delete;
  LmdbReader& operator=(const LmdbReader&) = delete;

  ~LmdbReader() override { close_env(); }

  LookupResult lookup(std::string_view key) override {
    LookupResult result;
    SharedLock lock(fd_.get());
    if (!lock.ok()) {
      result.status = LookupStatus::retry;
      result.error = errno_text("lock " + path_, lock.error());
      return result;
    }
    if (int rc = renew(); rc != 0) {
      result.status = LookupStatus::retry;
      result.error = lmdb_failure("read", path_, rc);
      return result;
    }
    // Postfix tries key+NUL, then the bare key, and sticks with whichever form hit
    // first (DICT_FLAG_TRY1NULL / TRY0NULL); so do we.
    key_buf_.assign(key);
    key_buf_.push_back('\0');
    result.status = LookupStatus::not_found;
    for (int with_nul = 1; with_nul >= 0; --with_nul) {
      if (with_nul ? !try_with_nul_ : !try_without_nul_) continue;
      MDB_val k = mdb_val_of(key_buf_);
      if (!with_nul) --k.mv_size;
      // LMDB refuses empty and overlong keys (MDB_BAD_VALSIZE); no file holds them.
      if (k.mv_size == 0 || k.mv_size > max_key_) continue;
      MDB_val v;
      int rc = mdb_get(txn_, dbi_, &k, &v);
      if (rc == 0) {
        (with_nul ? try_without_nul_ : try_with_nul_) = false;
        result.status = LookupStatus::found;
        result.value.assign(strip_one_nul(v));
        break;
      }
      if (rc != MDB_NOTFOUND) {
        result.status = LookupStatus::retry;
        result.error = lmdb_failure("read", path_, rc);
        break;
      }
    }
    mdb_txn_reset(txn_);
    return result;
  }

  void for_each(const std::function<void(std::string_view key, std::string_view value)>& fn) override {
    SharedLock lock(fd_.get());
    if (!lock.ok()) fail(Exit::tempfail, errno_text("lock " + path_, lock.error()));
    if (int rc = renew(); rc != 0) fail(Exit::tempfail, lmdb_failure("read", path_, rc));
    struct Reset {
      MDB_txn* txn;
      ~Reset() { mdb_txn_reset(txn); }
    } reset{txn_};
    MDB_cursor* cursor = nullptr;
    int rc = mdb_cursor_open(txn_, dbi_, &cursor);
    if (rc != 0) fail(lmdb_read_status(rc), lmdb_failure("read", path_, rc));
    // Read-only cursors outlive nothing: closed before the transaction is reset.
    struct CursorCloser {
      MDB_cursor* c;
      ~CursorCloser() { mdb_cursor_close(c); }
    } closer{cursor};
    MDB_val k, v;
    while ((rc = mdb_cursor_get(cursor, &k, &v, MDB_NEXT)) == 0) fn(strip_one_nul(k), strip_one_nul(v));
    if (rc != MDB_NOTFOUND) fail(lmdb_read_status(rc), lmdb_failure("read", path_, rc));
  }

 private:
  [[noreturn]] void fail_open(int rc) {
    close_env();
    // The file is there (we opened it): whatever LMDB says, even ENOENT for an empty
    // file, it is not a map we can read, unless it names a shortage that may pass.
    fail(lmdb_read_status(rc), lmdb_failure("open", path_, rc));
  }

  void close_env() {
    if (txn_) mdb_txn_abort(txn_);
    txn_ = nullptr;
    if (env_) mdb_env_close(env_);
    env_ = nullptr;
  }

  // A postmap that rebuilt the file in place may have grown it beyond our map;
  // slmdb.c then picks up the new size (mdb_env_set_mapsize 0) and tries again.
  int renew() {
    int rc = mdb_txn_renew(txn_);
    if (rc == MDB_MAP_RESIZED && (rc = mdb_env_set_mapsize(env_, 0)) == 0) rc = mdb_txn_renew(txn_);
    return rc;
  }

  std::string path_;
  Fd fd_;  // ours, for the lock; LMDB reads through its own
  MDB_env* env_ = nullptr;
  MDB_txn* txn_ = nullptr;
  MDB_dbi dbi_ = 0;
  std::size_t max_key_ = 0;
  std::string key_buf_;
  bool try_with_nul_ = true;
  bool try_without_nul_ = true;
};

std::unique_ptr<MapWriter> create_lmdb(const std::string& path, const WriterOptions& options) {
  return std::make_unique<LmdbWriter>(path, options);
}
std::unique_ptr<MapReader> open_lmdb(const std::string& path, bool /*alias_syntax*/) {
  return std::make_unique<LmdbReader>(path);
}

// Key order is the order LMDB builds fastest in (MDB_APPEND): no insert_rank.
constexpr MapType lmdb_type{"lmdb", ".lmdb", &create_lmdb, &open_lmdb};

}  // namespace

const MapType& lmdb_map_type() { return lmdb_type; }

}  // namespace mapsync
