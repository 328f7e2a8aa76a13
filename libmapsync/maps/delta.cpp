// delta.cpp - see delta.h.
#include "libmapsync/maps/delta.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

#include "libmapsync/core/error.h"
#include "libmapsync/core/fileio.h"
#include "libmapsync/maps/mapdiff.h"

namespace mapsync {
namespace {

// Merges two sorted streams of (key, value) into a delta.
class Merger {
 public:
  Merger(const MapView& view, std::size_t keep) : cur_(view), keep_(keep) { d_.new_entries = view.size(); }

  void old_entry(std::string_view k, std::string_view v) {
    ++d_.old_entries;
    for (; !cur_.done() && cur_.get().first < k; cur_.next()) add(cur_.get());
    if (!cur_.done() && cur_.get().first == k) {
      if (cur_.get().second != v) {
        ++d_.changed;
        note(k, cur_.get().second);
      }
      cur_.next();
    } else {
      ++d_.removed;
      note(k, {});
    }
  }

  MapDelta finish() {
    for (; !cur_.done(); cur_.next()) add(cur_.get());
    return std::move(d_);
  }

 private:
  void add(std::pair<std::string_view, std::string_view> e) {
    ++d_.added;
    note(e.first, e.second);
  }
  void note(std::string_view k, std::string_view v) {
    if (d_.changes.size() < keep_) d_.changes.emplace_back(k, v);
    else d_.complete = false;
  }

  MapView::Cursor cur_;  // the new side, walked once in key order
  std::size_t keep_;
  MapDelta d_;
};

}  // namespace

bool split_text_line(std::string_view line, bool alias_syntax, std::string_view& key, std::string_view& value) {
  const std::size_t sep = alias_syntax ? line.find(": ") : line.find('\t');
  if (sep == std::string_view::npos) return false;
  key = line.substr(0, sep);
  value = line.substr(sep + (alias_syntax ? 2 : 1));
  return true;
}

void read_text_source(const std::string& path, bool alias_syntax,
                      const std::function<void(std::string_view, std::string_view)>& fn, bool drop_behind) {
  // Never through a symlink: the text sources we publish are files of our own.
  const int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    fail(err == ELOOP ? Exit::data : err == ENOENT ? Exit::noinput : Exit::tempfail, errno_text("cannot read " + path, err));
  }
  std::string buf, prev;
  char chunk[1 << 16];
  std::size_t line_no = 0;
  off_t read_bytes = 0;
  DropBehind dropper(fd);
  auto line = [&](std::string_view l) {
    ++line_no;
    std::string_view k, v;
    if (!split_text_line(l, alias_syntax, k, v)) fail(Exit::data, path + ":" + std::to_string(line_no) + ": not a line mapsync writes");
    if (line_no > 1 && !(std::string_view(prev) < k))
      fail(Exit::data, path + ":" + std::to_string(line_no) + ": keys out of order (edited by hand?)");
    prev.assign(k);
    fn(k, v);
  };
  for (;;) {
    const ssize_t n = ::read(fd, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      fail(Exit::tempfail, errno_text("cannot read " + path, err));
    }
    if (n == 0) break;
    read_bytes += n;
    if (drop_behind) dropper.read_to(read_bytes);
    buf.append(chunk, static_cast<std::size_t>(n));
    std::size_t start = 0;
    for (std::size_t nl; (nl = buf.find('\n', start)) != std::string::npos; start = nl + 1)
      line(std::string_view(buf).substr(start, nl - start));
    buf.erase(0, start);
  }
  if (drop_behind) dropper.done();
  ::close(fd);
  if (!buf.empty()) line(buf);
}

MapDelta delta_from_text(const std::string& path, const MapView& view, std::size_t keep) {
  Merger m(view, keep);
  read_text_source(path, view.alias_syntax, [&](std::string_view k, std::string_view v) { m.old_entry(k, v); });
  return m.finish();
}

MapDelta delta_from_map(const std::string& type, const std::string& path, const MapView& view, std::size_t keep) {
  const MapContent old = read_map_content(type, path, view.alias_syntax);
  Merger m(view, keep);
  for (const auto& [k, v] : old.entries) m.old_entry(k, v);
  return m.finish();
}

std::vector<std::string> gate_trips(const MapConfig& mc, const MapDelta& d) {
  std::vector<std::string> trips;
  auto pct = [&](std::uint64_t n) { return d.old_entries ? 100.0 * static_cast<double>(n) / static_cast<double>(d.old_entries) : 0.0; };
  auto fmt = [](double x) {
    char b[32];
    std::snprintf(b, sizeof b, "%.1f%%", x);
    return std::string(b);
  };
  const std::string where = "maps." + mc.name + ".gates.";
  if (d.new_entries == 0 && d.old_entries > 0)
    trips.push_back(mc.name + ": would be empty where " + std::to_string(d.old_entries) +
                    " entries are published (a failed or empty read is not an empty map)");
  if (d.new_entries < mc.gates.min_entries)
    trips.push_back(mc.name + ": " + std::to_string(d.new_entries) + " entries, fewer than " + where + "min_entries (" +
                    std::to_string(mc.gates.min_entries) + ")");
  for (const auto& [what, n, max, max_pct] :
       {std::tuple{"removed", d.removed, mc.gates.max_removed, mc.gates.max_removed_percent},
        std::tuple{"changed", d.changed, mc.gates.max_changed, mc.gates.max_changed_percent}}) {
    const std::string noun = std::string(what) == "removed" ? " keys removed (" : " values changed (";
    if (n > max)
      trips.push_back(mc.name + ": " + std::to_string(n) + noun + fmt(pct(n)) + " of " + std::to_string(d.old_entries) +
                      "), more than " + where + "max_" + what + " (" + std::to_string(max) + ")");
    else if (d.old_entries && pct(n) > max_pct)
      trips.push_back(mc.name + ": " + std::to_string(n) + noun + fmt(pct(n)) + " of " + std::to_string(d.old_entries) +
                      "), more than " + where + "max_" + what + "_percent (" + fmt(max_pct) + ")");
  }
  return trips;
}

}  // namespace mapsync
