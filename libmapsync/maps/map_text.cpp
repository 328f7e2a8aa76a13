// map_text.cpp - the Postfix source format ("key<TAB>value" lines, or "name: value" for
// aliases), registered as map type "text".
//
// We write it beside every indexed map so that a postmaster can read the map and rebuild
// it with stock postmap/postalias; the writer therefore refuses any entry that postmap
// would parse differently from what we meant (util/readlline.c and postmap.c's key
// scan). The reader parses the way postmap does and folds keys as postmap would, so that
// lookups in a text map answer what the indexed map built from it would answer.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "libmapsync/core/casefold.h"
#include "libmapsync/core/fileio.h"
#include "libmapsync/core/error.h"
#include "libmapsync/maps/map_backend.h"
#include "libmapsync/maps/map_types_internal.h"

namespace mapsync {

namespace {

// Postfix's ISSPACE: ASCII isspace() in the C locale.
bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'; }

// postmap ends the key at the first whitespace outside double quotes, and a backslash
// hides the character after it. A key with an odd quote (line ignored) or a final
// backslash (the separator would be swallowed) does not come back as written.
bool survives_postmap_key_scan(std::string_view key) {
  bool in_quotes = false;
  for (std::size_t i = 0; i < key.size(); ++i) {
    if (key[i] == '\\') {
      if (++i == key.size()) return false;
    } else if (key[i] == '"') {
      in_quotes = !in_quotes;
    }
  }
  return !in_quotes;
}

// postalias tokenizes names as RFC 822 text: it refuses "@" and "%" ("name must be
// local") and "," and rewrites comments, quotes, angle and square brackets.
constexpr std::string_view alias_key_specials = "@%,:()<>[]\"\\";

// Why key cannot be written so that postmap/postalias reads it back unchanged; empty if it can.
const char* key_problem(std::string_view key, bool alias) {
  if (key.empty()) return "empty key";
  if (key.front() == '#') return "key starts with '#' (a comment line)";
  for (char c : key) {
    if (c == '\0') return "NUL byte in key";
    if (is_space(c)) return "whitespace or line break in key";
  }
  if (alias) {
    if (key.find_first_of(alias_key_specials) != key.npos) return "alias name contains one of @%,:()<>[]\"\\";
  } else if (!survives_postmap_key_scan(key)) {
    return "unbalanced '\"' or final backslash in key";
  }
  // With smtputf8 postmap skips lines that are not UTF-8.
  if (!is_ascii(key) && !is_valid_utf8(key)) return "malformed UTF-8 in key";
  return nullptr;
}

const char* value_problem(std::string_view value) {
  if (value.empty()) return "empty value";
  if (is_space(value.front()) || is_space(value.back())) return "value starts or ends with whitespace";
  for (char c : value)
    if (c == '\0' || c == '\n' || c == '\r') return "NUL byte or line break in value";
  if (!is_ascii(value) && !is_valid_utf8(value)) return "malformed UTF-8 in value";
  return nullptr;
}

// Remembers the keys written so far, to refuse duplicates as the other writers do: the
// keys live back to back in one arena (they hold no NUL), an open-addressing table
// points into it. No allocation per key beyond the arena's and table's growth.
class KeySet {
 public:
  explicit KeySet(std::size_t expected) {
    std::size_t capacity = 1024;
    while (capacity < expected * 2) capacity *= 2;
    slots_.resize(capacity);
  }

  // False when key was inserted before.
  bool insert(std::string_view key) {
    std::size_t hash = std::hash<std::string_view>{}(key);
    std::size_t mask = slots_.size() - 1;
    for (std::size_t i = hash & mask;; i = (i + 1) & mask) {
      Slot& slot = slots_[i];
      if (slot.offset == 0) {
        slot = Slot{hash, arena_.size() + 1};
        arena_.append(key);
        arena_.push_back('\0');
        if (++count_ * 2 > slots_.size()) grow();
        return true;
      }
      if (slot.hash == hash && arena_.compare(slot.offset - 1, key.size(), key) == 0 &&
          arena_[slot.offset - 1 + key.size()] == '\0')
        return false;
    }
  }

 private:
  struct Slot {
    std::size_t hash = 0;
    std::size_t offset = 0;  // into arena_, plus one; 0 marks an empty slot
  };

  void grow() {
    std::vector<Slot> old(slots_.size() * 2);
    old.swap(slots_);
    std::size_t mask = slots_.size() - 1;
    for (const Slot& slot : old) {
      if (slot.offset == 0) continue;
      std::size_t i = slot.hash & mask;
      while (slots_[i].offset != 0) i = (i + 1) & mask;
      slots_[i] = slot;
    }
  }

  std::vector<Slot> slots_;
  std::string arena_;
  std::size_t count_ = 0;
};

class TextWriter final : public MapWriter {
 public:
  TextWriter(const std::string& path, const WriterOptions& options)
      : path_(path),
        alias_(options.alias_syntax),
        sorted_(options.sorted_input),
        checked_(options.entries_checked),
        keys_(options.sorted_input ? 0 : options.expected_entries),
        fd_(detail::create_new_file(path)) {
    buf_.reserve(flush_at + 4096);
  }
  TextWriter(const TextWriter&) = delete;
  TextWriter& operator=(const TextWriter&) = delete;

  ~TextWriter() override {
    if (fd_ >= 0) ::close(fd_);
  }

  void add(std::string_view key, std::string_view value) override {
    if (fd_ < 0) fail(Exit::software, "write " + path_ + ": add() after finish() or after a write error");
    // Such a key or value comes from the database: a data error to fix there, not a bug.
    if (const char* why = checked_ ? nullptr : key_problem(key, alias_))
      fail(Exit::data, "write " + path_ + ": key \"" + detail::printable(key) + "\": " + why);
    if (const char* why = checked_ ? nullptr : value_problem(value))
      fail(Exit::data, "write " + path_ + ": key \"" + detail::printable(key) + "\": " + why);
    // Sorted input needs no key set (a million keys would cost ~100 MB): a duplicate
    // sits next to its twin.
    if (sorted_ ? (count_ > 0 && key <= std::string_view(last_)) : !keys_.insert(key)) {
      if (sorted_ && key < std::string_view(last_))
        fail(Exit::software, "write " + path_ + ": key \"" + detail::printable(key) + "\" out of order (sorted input promised)");
      fail(Exit::software, "write " + path_ + ": duplicate key \"" + detail::printable(key) + "\"");
    }
    if (sorted_) last_.assign(key);
    ++count_;
    buf_.append(key);
    buf_.append(alias_ ? ": " : "\t");
    buf_.append(value);
    buf_.push_back('\n');
    if (buf_.size() >= flush_at) flush();
  }

  void finish() override {
    if (fd_ < 0) fail(Exit::software, "write " + path_ + ": finish() after finish() or after a write error");
    flush();
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
  static constexpr std::size_t flush_at = 256 * 1024;

  [[noreturn]] void failed(const char* what, int err) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    fail(detail::write_failure_status(err), errno_text(std::string(what) + " " + path_, err));
  }

  void flush() {
    if (const int err = write_all(fd_, buf_)) failed("write", err);
    written_ += static_cast<off_t>(buf_.size());
    write_behind_.written_to(written_);
    buf_.clear();
  }

  std::string path_;
  bool alias_;
  bool sorted_;
  bool checked_;  // WriterOptions::entries_checked
  KeySet keys_;
  int fd_;
  std::string last_;
  std::size_t count_ = 0;
  std::string buf_;
  off_t written_ = 0;
  WriteBehind write_behind_{fd_};
};

class TextReader final : public MapReader {
 public:
  TextReader(const std::string& path, bool alias) : path_(path), alias_(alias) {
    std::string text = read_file();
    parse(text);
    // Built after parsing, when entries_ no longer moves. Like postmap, the first of
    // several entries with one key wins; later ones are hidden from for_each too.
    index_.reserve(entries_.size());
    for (std::size_t i = 0; i < entries_.size(); ++i)
      if (!index_.emplace(entries_[i].key, i).second) entries_[i].duplicate = true;
  }
  // index_ points into entries_.
  TextReader(const TextReader&) = delete;
  TextReader& operator=(const TextReader&) = delete;

  LookupResult lookup(std::string_view key) override {
    LookupResult result;
    auto it = index_.find(key);
    if (it == index_.end()) {
      result.status = LookupStatus::not_found;
    } else {
      result.status = LookupStatus::found;
      result.value = entries_[it->second].value;
    }
    return result;
  }

  void for_each(const std::function<void(std::string_view key, std::string_view value)>& fn) override {
    for (const Entry& e : entries_)
      if (!e.duplicate) fn(e.key, e.value);
  }

 private:
  struct Entry {
    std::string key;  // folded, as postmap would store it
    std::string value;
    bool duplicate = false;
  };

  std::string read_file() {
    int fd = detail::open_published_file(path_);
    if (fd < 0) {
      int err = errno;
      fail(detail::read_failure_status(err), errno_text("open " + path_, err));
    }
    try {
      detail::require_regular(fd, path_);
    } catch (...) {
      ::close(fd);
      throw;
    }
    std::string text;
    struct stat st;
    if (::fstat(fd, &st) == 0 && st.st_size > 0) text.reserve(static_cast<std::size_t>(st.st_size));
    char chunk[65536];
    for (;;) {
      ssize_t n = ::read(fd, chunk, sizeof chunk);
      if (n < 0) {
        if (errno == EINTR) continue;
        int err = errno;
        ::close(fd);
        fail(detail::read_failure_status(err), errno_text("read " + path_, err));
      }
      if (n == 0) break;
      text.append(chunk, static_cast<std::size_t>(n));
    }
    ::close(fd);
    return text;
  }

  // Logical lines as util/readlline.c makes them: blank lines and lines whose first
  // non-blank is '#' vanish (without ending the logical line), a line starting with
  // whitespace is appended to the one before, and a logical line that itself starts
  // with whitespace is dropped.
  void parse(std::string_view text) {
    std::string logical;
    std::size_t pos = 0;
    while (pos < text.size()) {
      std::size_t nl = text.find('\n', pos);
      std::size_t end = nl == text.npos ? text.size() : nl;
      std::string_view line = text.substr(pos, end - pos);
      pos = end + 1;
      std::size_t first = 0;
      while (first < line.size() && is_space(line[first])) ++first;
      if (first == line.size() || line[first] == '#') continue;
      if (!is_space(line.front()) && !logical.empty()) {
        add_logical_line(logical);
        logical.clear();
      }
      logical.append(line);
    }
    if (!logical.empty()) add_logical_line(logical);
  }

  // Lines postmap would skip with a warning are skipped here too: this reader answers
  // what the indexed map built from this file would answer.
  void add_logical_line(std::string_view line) {
    if (is_space(line.front())) return;
    if (!is_ascii(line) && !is_valid_utf8(line)) return;
    std::string_view key, value;
    if (alias_) {
      // Simpler than postalias's RFC 822 tokenizer; agrees with it on the names our
      // writer lets through.
      std::size_t colon = line.find(':');
      if (colon == line.npos) return;
      key = line.substr(0, colon);
      value = line.substr(colon + 1);
      while (!key.empty() && is_space(key.back())) key.remove_suffix(1);
    } else {
      bool in_quotes = false;
      std::size_t i = 0;
      for (; i < line.size(); ++i) {
        char c = line[i];
        if (c == '\\') {
          if (++i == line.size()) break;
        } else if (is_space(c)) {
          if (!in_quotes) break;
        } else if (c == '"') {
          in_quotes = !in_quotes;
        }
      }
      if (in_quotes) return;
      key = line.substr(0, i);
      value = line.substr(i);
    }
    while (!value.empty() && is_space(value.front())) value.remove_prefix(1);
    while (!value.empty() && is_space(value.back())) value.remove_suffix(1);
    if (key.empty() || value.empty()) return;
    Entry e;
    if (!casefold(key, e.key)) return;
    e.value.assign(value);
    entries_.push_back(std::move(e));
  }

  std::string path_;
  bool alias_;
  std::vector<Entry> entries_;
  std::unordered_map<std::string_view, std::size_t> index_;
};

std::unique_ptr<MapWriter> create_text(const std::string& path, const WriterOptions& options) {
  return std::make_unique<TextWriter>(path, options);
}
std::unique_ptr<MapReader> open_text(const std::string& path, bool alias_syntax) {
  return std::make_unique<TextReader>(path, alias_syntax);
}

constexpr MapType text_type{"text", "", &create_text, &open_text};

}  // namespace

const MapType& text_map_type() { return text_type; }

const char* entry_problem(std::string_view key, std::string_view value, bool alias_syntax) {
  if (const char* why = key_problem(key, alias_syntax)) return why;
  return value_problem(value);
}

}  // namespace mapsync
