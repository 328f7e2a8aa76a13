// map_backend.h - one interface for every Postfix lookup-table format, and a registry.
//
// Modelled on Postfix's util/dict.h + dict_open.c (lookups) and mkmap_open.c (bulk
// creation): a map type is looked up by the name used in main.cf ("hash", "btree",
// "lmdb", "cdb"); building and reading are separate objects. Each backend
// library (libdb, liblmdb, tinycdb) is included by exactly one .cpp file.
//
// Writers know nothing of publishing: they create one new file at the path they are
// given (which must not exist), fill it, and make it durable in finish(). The publisher
// (publish.h) chooses temp names, sets owner and mode and renames.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace mapsync {

struct WriterOptions {
  // Number of entries the caller will add (0 = unknown): lets hash tables be pre-sized.
  std::size_t expected_entries = 0;
  // Keys arrive in ascending byte order: btree builds much faster from sorted input.
  bool sorted_input = false;
  // aliases(5) map: text is written as "name: value", and Berkeley DB files get the
  // "@" -> "@" record that postalias adds for sendmail compatibility.
  bool alias_syntax = false;
  // Sum of the sizes of all keys and values to come (0 = unknown): with the entry count
  // it tells a hash table how many entries fit a page.
  std::size_t payload_bytes = 0;
  // Cache for libraries that have one (libdb). Entries added in insert_rank order touch
  // pages one after another, so a small cache does; in any other order a hash table
  // bigger than its cache is rewritten page by page many times over.
  std::size_t cache_bytes = 64u << 20;
  // Every entry passed entry_problem() before it reached the writer (a build's renderer
  // checks them all, and a map with a failure is never written): the writers skip that
  // check per entry, which would cost as much as libdb's own work. Their duplicate and
  // order checks stay.
  bool entries_checked = false;
};

class MapWriter {
 public:
  virtual ~MapWriter() = default;
  // Adds one entry. Keys arrive already case-folded and without a trailing NUL; each
  // backend applies its own on-disk convention (NUL or not). A duplicate key is a
  // caller bug (the renderer rejects duplicates before writing) and throws.
  virtual void add(std::string_view key, std::string_view value) = 0;
  // Writes everything out, fsyncs and closes the file. Only after finish() returns is
  // the file complete; a writer destroyed without finish() leaves a file to delete.
  virtual void finish() = 0;
};

// Changes a copy of a published file in place: a few hundred changed keys in a
// million-key map cost a file copy and a few page writes instead of a rebuild.
class MapPatcher {
 public:
  virtual ~MapPatcher() = default;
  virtual void put(std::string_view key, std::string_view value) = 0;  // adds or replaces
  virtual void remove(std::string_view key) = 0;                       // the key must exist
  // Writes everything out, fsyncs and closes, like MapWriter::finish().
  virtual void finish() = 0;
};

// Three outcomes, never two: a map that cannot be read is not a map without the key.
enum class LookupStatus { found, not_found, retry };

struct LookupResult {
  LookupStatus status = LookupStatus::not_found;
  std::string value;  // found: the value without trailing NUL
  std::string error;  // retry: why
};

class MapReader {
 public:
  virtual ~MapReader() = default;
  // key must be folded already (casefold.h), like Postfix folds before it asks.
  virtual LookupResult lookup(std::string_view key) = 0;
  // Visits every entry in the file's own order (what postmap -s prints), with NULs
  // stripped. Throws mapsync::Error (tempfail) when the file cannot be read.
  virtual void for_each(const std::function<void(std::string_view key, std::string_view value)>& fn) = 0;
};

struct MapType {
  std::string_view name;    // as in main.cf: "hash"
  std::string_view suffix;  // appended to the map's file name: ".db"; "" for text
  // Creates a new file at path (O_EXCL: an existing file is an error), mode 0600.
  std::unique_ptr<MapWriter> (*create)(const std::string& path, const WriterOptions& options);
  // Opens a published file for reading. Throws mapsync::Error: noinput when it does not
  // exist, tempfail when it cannot be read now.
  std::unique_ptr<MapReader> (*open)(const std::string& path, bool alias_syntax);
  // The order in which this type builds fastest, or nullptr for ascending key order:
  // callers that can should add entries by ascending rank (ties in key order). For
  // hash tables the rank is the bucket, so that libdb fills one page after another.
  // Only speed depends on it, never the content of the file.
  std::uint64_t (*insert_rank)(std::string_view key, const WriterOptions& options) = nullptr;
  // Opens a private copy of a published file for patching, or nullptr when the type
  // cannot be changed in place (cdb is built once; text is simply rewritten).
  std::unique_ptr<MapPatcher> (*patch)(const std::string& path) = nullptr;
};

// nullptr when the name is unknown.
const MapType* find_map_type(std::string_view name);
std::vector<std::string_view> map_type_names();

// The Postfix text source format, always written beside the indexed file so that a
// postmaster can read it and rebuild with stock postmap. Registered as "text".
const MapType& text_map_type();

// Why no writer can store key -> value (the text source's rule, which is written beside
// every map and is the strictest; the indexed writers' own check is a subset), or
// nullptr. Pure: the renderer applies it to every entry before anything is written.
const char* entry_problem(std::string_view key, std::string_view value, bool alias_syntax);

}  // namespace mapsync
