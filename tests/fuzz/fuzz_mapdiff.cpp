// fuzz_mapdiff.cpp - the map diff (maps/mapdiff.h) over text maps read by the "text" map
// reader: the input is two map files, old and new, separated by a line "====". The first
// byte's low bit chooses aliases syntax. The diff must account for every entry and the
// reports must be printable for any map the reader accepts.
#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <exception>
#include <string>

#include "libmapsync/core/error.h"
#include "libmapsync/maps/mapdiff.h"
#include "tests/fuzz/fuzz_entry.h"

namespace {

// One private scratch directory per process for the two files, removed at exit.
std::string scratch_dir;

void remove_scratch() {
  for (const char* f : {"/old", "/new"}) ::unlink((scratch_dir + f).c_str());
  ::rmdir(scratch_dir.c_str());
}

const std::string& scratch() {
  if (scratch_dir.empty()) {
    const char* tmp = std::getenv("TMPDIR");
    std::string t = std::string(tmp && *tmp ? tmp : "/tmp") + "/mapsync-fuzz-XXXXXX";
    if (!::mkdtemp(t.data())) std::abort();
    scratch_dir = t;
    std::atexit(remove_scratch);
  }
  return scratch_dir;
}

std::string write_file(const std::string& name, std::string_view text) {
  const std::string path = scratch() + "/" + name;
  // A new file each time: ext4 flushes a file truncated and rewritten when it is closed
  // (auto_da_alloc), which made every run wait for the disk.
  ::unlink(path.c_str());
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) std::abort();
  if (::write(fd, text.data(), text.size()) != static_cast<ssize_t>(text.size())) std::abort();
  ::close(fd);
  return path;
}

void check_sorted(const mapsync::MapContent& m) {
  for (std::size_t i = 1; i < m.entries.size(); ++i)
    FUZZ_CHECK(m.entries[i - 1].first < m.entries[i].first, m.entries[i].first);  // sorted, keys unique
  for (const auto& [k, v] : m.entries) FUZZ_CHECK(!k.empty() && !v.empty(), k);
}

}  // namespace

MAPSYNC_FUZZ_TARGET(mapdiff) {
  if (size == 0) return 0;
  const bool alias = data[0] & 1;
  const std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  const auto [old_text, new_text] = mapsync::fuzz::cut(in, "\n====\n");
  try {
    const mapsync::MapContent a = mapsync::read_map_content("text", write_file("old", old_text), alias);
    const mapsync::MapContent b = mapsync::read_map_content("text", write_file("new", new_text), alias);
    check_sorted(a);
    check_sorted(b);
    const mapsync::MapDiff d = mapsync::diff_contents("fuzz", a, b);
    // Every old entry is removed, changed or kept; every new one added, changed or kept.
    FUZZ_CHECK(d.removed.size() + d.changed.size() <= a.entries.size(), "old entries");
    FUZZ_CHECK(a.entries.size() - d.removed.size() == b.entries.size() - d.added.size(), "kept entries");
    FUZZ_CHECK(mapsync::diff_contents("fuzz", a, a).empty(), "a map differs from itself");
    const std::vector<mapsync::MapDiff> diffs = {d};
    (void)mapsync::format_diff(diffs);
    (void)mapsync::format_diff(diffs, 3);
    (void)mapsync::format_diff_json(diffs, mapsync::json_format::mapsync_diff);
  } catch (const mapsync::Error& e) {
    FUZZ_CHECK(!"the text reader refused a file", e.what());
  } catch (const std::exception& e) {
    FUZZ_CHECK(!"an exception other than mapsync::Error", e.what());
  }
  return 0;
}
