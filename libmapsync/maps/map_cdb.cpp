// map_cdb.cpp - "cdb" maps, in the format postmap writes them.
//
// The file layout follows Postfix's util/dict_cdb.c: one file <name>.cdb made by
// tinycdb's cdb_make_*, keys and values WITHOUT a trailing NUL (postmap's default for
// cdb, unlike every other type). Postfix reads cdb files without locks ("CDB is
// constant") and postmap replaces them by rename, so readers here take none either.
// postmap -s cannot list cdb maps (Postfix 3.7 has no sequence method for them); our
// for_each walks the records in file order with cdb_seqnext.
// This is the only file that includes <cdb.h>.
#include <cdb.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "libmapsync/core/error.h"
#include "libmapsync/maps/map_backend.h"
#include "libmapsync/maps/map_types_internal.h"

namespace mapsync {

namespace {

// cdb addresses its file with 32-bit offsets: the 2048-byte table of contents, 8
// bytes of lengths plus key and value a record, and 16 bytes a record in the hash
// tables (tinycdb makes each table twice as long as its records) must fit.
constexpr std::uint64_t cdb_max_size = 0xffffffffu;
constexpr std::uint64_t cdb_toc_size = 2048;

std::string_view strip_one_nul(std::string_view s) {
  if (!s.empty() && s.back() == '\0') s.remove_suffix(1);
  return s;
}

// The 64-bit hashes of the keys written so far, to catch duplicates in unsorted input
// without keeping the keys: 8 bytes a key, open addressing, 0 marks a free slot. Only
// a hash seen before costs a look into the file. tinycdb's own check (cdb_make_put
// with CDB_PUT_INSERT) walks all earlier records of the key's hash table, 1/256 of
// the map, for every key: quadratic for a million keys.
class KeyHashes {
 public:
  explicit KeyHashes(std::size_t expected) {
    std::size_t capacity = 1024;
    while (capacity < expected * 2) capacity *= 2;
    slots_.resize(capacity);
  }

  // False when the hash was inserted before.
  bool insert(std::uint64_t hash) {
    if (hash == 0) hash = 1;
    std::size_t mask = slots_.size() - 1;
    for (std::size_t i = hash & mask;; i = (i + 1) & mask) {
      if (slots_[i] == hash) return false;
      if (slots_[i] == 0) {
        slots_[i] = hash;
        if (++count_ * 2 > slots_.size()) grow();
        return true;
      }
    }
  }

 private:
  void grow() {
    std::vector<std::uint64_t> old(slots_.size() * 2);
    old.swap(slots_);
    std::size_t mask = slots_.size() - 1;
    for (std::uint64_t h : old) {
      if (h == 0) continue;
      std::size_t i = h & mask;
      while (slots_[i] != 0) i = (i + 1) & mask;
      slots_[i] = h;
    }
  }

  std::vector<std::uint64_t> slots_;
  std::size_t count_ = 0;
};

class CdbWriter final : public MapWriter {
 public:
  CdbWriter(const std::string& path, const WriterOptions& options)
      : path_(path),
        alias_(options.alias_syntax),
        sorted_(options.sorted_input),
        checked_(options.entries_checked),
        hashes_(options.sorted_input ? 0 : options.expected_entries),
        fd_(detail::create_new_file(path)) {
    if (cdb_make_start(&cdbm_, fd_) < 0) {
      int err = errno;
      ::close(fd_);
      fail(detail::write_failure_status(err), errno_text("write " + path_, err));
    }
    started_ = true;
  }
  CdbWriter(const CdbWriter&) = delete;
  CdbWriter& operator=(const CdbWriter&) = delete;

  ~CdbWriter() override {
    // tinycdb frees its record lists only in cdb_make_finish(). Without a descriptor
    // its writes fail at once, and the abandoned file is left as it is.
    if (started_) {
      cdbm_.cdb_fd = -1;
      cdb_make_finish(&cdbm_);
    }
    if (fd_ >= 0) ::close(fd_);
  }

  void add(std::string_view key, std::string_view value) override {
    if (!started_ || failed_) fail(Exit::software, "write " + path_ + ": add() after finish() or after a write error");
    if (!checked_) detail::check_entry(path_, key, value, alias_);
    if (sorted_) {
      // Sorted input needs no hash set: a duplicate sits next to its twin.
      if (count_ > 0 && key <= std::string_view(last_)) {
        if (key < std::string_view(last_))
          fail(Exit::software,
               "write " + path_ + ": key \"" + detail::printable(key) + "\" out of order (sorted input promised)");
        fail(Exit::software, "write " + path_ + ": duplicate key \"" + detail::printable(key) + "\"");
      }
    } else if (!hashes_.insert(std::hash<std::string_view>{}(key))) {
      int found = cdb_make_exists(&cdbm_, key.data(), static_cast<unsigned>(key.size()));
      if (found < 0) failed("write", errno);
      if (found > 0) fail(Exit::software, "write " + path_ + ": duplicate key \"" + detail::printable(key) + "\"");
    }
    put(key, value);
    if (sorted_) last_.assign(key);
  }

  void finish() override {
    if (!started_ || failed_)
      fail(Exit::software, "write " + path_ + ": finish() after finish() or after a write error");
    // postalias adds this record after the aliases, for every map type (see map_bdb.cpp).
    if (alias_) put("@", "@");
    started_ = false;  // cdb_make_finish() frees tinycdb's memory whatever it returns
    if (cdb_make_finish(&cdbm_) < 0) failed("write", errno);
    int rc;
    do {
      rc = ::fsync(fd_);
    } while (rc < 0 && errno == EINTR);
    if (rc < 0) failed("fsync", errno);
    int fd = fd_;
    fd_ = -1;
    if (::close(fd) < 0) failed("close", errno);
  }

 private:
  [[noreturn]] void failed(const char* what, int err) {
    failed_ = true;
    fail(detail::write_failure_status(err), errno_text(std::string(what) + " " + path_, err));
  }

  void put(std::string_view key, std::string_view value) {
    const std::uint64_t record = 8 + key.size() + value.size();
    if (data_end_ + record + 16 * (count_ + 1) > cdb_max_size)
      fail(Exit::data, "write " + path_ + ": map too large for cdb (4 GB at most)");
    // tinycdb buffers 4 KB and writes sequentially: no NUL, as postmap writes cdb.
    if (cdb_make_add(&cdbm_, key.data(), static_cast<unsigned>(key.size()), value.data(),
                     static_cast<unsigned>(value.size())) < 0)
      failed("write", errno);
    data_end_ += record;
    ++count_;
  }

  std::string path_;
  bool alias_;
  bool sorted_;
  bool checked_;  // WriterOptions::entries_checked
  KeyHashes hashes_;
  int fd_;
  struct cdb_make cdbm_ {};
  bool started_ = false;  // cdbm_ holds memory that cdb_make_finish() frees
  bool failed_ = false;
  std::uint64_t data_end_ = cdb_toc_size;
  std::size_t count_ = 0;
  std::string last_;
};

class CdbReader final : public MapReader {
 public:
  explicit CdbReader(const std::string& path) : path_(path) {
    fd_ = detail::open_published_file(path_);
    if (fd_ < 0) {
      int err = errno;
      fail(detail::read_failure_status(err), errno_text("open " + path_, err));
    }
    try {
      detail::require_regular(fd_, path_);
    } catch (...) {
      ::close(fd_);
      throw;
    }
    // cdb_init() maps the whole file. A file shorter than the table of contents fails
    // with EPROTO; cdb has no magic number, so a longer file of another kind fails
    // only in the lookups, as it does for Postfix.
    if (cdb_init(&cdb_, fd_) < 0) {
      int err = errno;
      ::close(fd_);
      if (err == EPROTO) fail(Exit::data, "open " + path_ + ": not a cdb file (shorter than its header)");
      fail(detail::read_failure_status(err), errno_text("open " + path_, err));
    }
  }
  CdbReader(const CdbReader&) = delete;
  CdbReader& operator=(const CdbReader&) = delete;

  ~CdbReader() override {
    cdb_free(&cdb_);
    ::close(fd_);
  }

  LookupResult lookup(std::string_view key) override {
    LookupResult result;
    // Postfix tries key+NUL, then the bare key, and sticks with whichever form hit
    // first (dict_cdb.c, DICT_FLAG_TRY1NULL / TRY0NULL); so do we, which also reads
    // cdb files written with NULs.
    key_buf_.assign(key);
    key_buf_.push_back('\0');
    result.status = LookupStatus::not_found;
    for (int with_nul = 1; with_nul >= 0; --with_nul) {
      if (with_nul ? !try_with_nul_ : !try_without_nul_) continue;
      const unsigned size = static_cast<unsigned>(key_buf_.size() - (with_nul ? 0 : 1));
      int rc = cdb_find(&cdb_, key_buf_.data(), size);
      if (rc > 0) {
        const void* data = cdb_getdata(&cdb_);
        if (data == nullptr) {
          rc = -1;
        } else {
          (with_nul ? try_without_nul_ : try_with_nul_) = false;
          result.status = LookupStatus::found;
          result.value.assign(strip_one_nul(std::string_view(static_cast<const char*>(data), cdb_datalen(&cdb_))));
          return result;
        }
      }
      if (rc < 0) {
        result.status = LookupStatus::retry;
        result.error = errno_text("read " + path_, errno);
        return result;
      }
    }
    return result;
  }

  void for_each(const std::function<void(std::string_view key, std::string_view value)>& fn) override {
    unsigned pos;
    cdb_seqinit(&pos, &cdb_);
    int rc;
    while ((rc = cdb_seqnext(&pos, &cdb_)) > 0) {
      const void* k = cdb_getkey(&cdb_);
      const void* v = cdb_getdata(&cdb_);
      if (k == nullptr || v == nullptr) {
        rc = -1;
        break;
      }
      fn(strip_one_nul(std::string_view(static_cast<const char*>(k), cdb_keylen(&cdb_))),
         strip_one_nul(std::string_view(static_cast<const char*>(v), cdb_datalen(&cdb_))));
    }
    if (rc < 0) fail(detail::read_failure_status(errno), errno_text("read " + path_, errno));
  }

 private:
  std::string path_;
  int fd_ = -1;
  struct cdb cdb_ {};
  std::string key_buf_;
  bool try_with_nul_ = true;
  bool try_without_nul_ = true;
};

std::unique_ptr<MapWriter> create_cdb(const std::string& path, const WriterOptions& options) {
  return std::make_unique<CdbWriter>(path, options);
}
std::unique_ptr<MapReader> open_cdb(const std::string& path, bool /*alias_syntax*/) {
  return std::make_unique<CdbReader>(path);
}

// cdb builds as fast in any order: no insert_rank.
constexpr MapType cdb_type{"cdb", ".cdb", &create_cdb, &open_cdb};

}  // namespace

const MapType& cdb_map_type() { return cdb_type; }

}  // namespace mapsync
