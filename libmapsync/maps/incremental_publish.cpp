// incremental_publish.cpp - the publishing half of incremental.h: the changed maps
// written from the published ones with the affected owners' entries replaced.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <exception>
#include <optional>
#include <thread>

#include "libmapsync/core/digest.h"
#include "libmapsync/core/error.h"
#include "libmapsync/core/log.h"
#include "libmapsync/core/signals.h"
#include "libmapsync/core/testhooks.h"
#include "libmapsync/maps/incremental.h"
#include "libmapsync/maps/map_backend.h"
#include "libmapsync/maps/publish.h"
#include "libmapsync/maps/publish_steps.h"

namespace mapsync {

namespace {

// Lines of a text source we wrote, in a buffer of its own: views stay valid.
struct TextLines {
  std::string data;
  std::vector<std::pair<std::string_view, std::string_view>> lines;
};

void slurp_lines(const std::string& path, bool alias_syntax, TextLines& out) {
  out.lines.clear();
  out.data.clear();
  read_text_source(path, alias_syntax, [&](std::string_view, std::string_view) { out.lines.emplace_back(); });
  const std::size_t n = out.lines.size();
  out.lines.clear();
  out.lines.reserve(n);
  // read_text_source checked format and order; a second pass keeps the bytes.
  if (!read_whole_file(path, out.data)) fail(Exit::tempfail, errno_text("cannot read " + path, errno));
  const std::string_view all(out.data);
  for (std::size_t pos = 0; pos < all.size();) {
    std::size_t nl = all.find('\n', pos);
    if (nl == std::string_view::npos) nl = all.size();
    const std::string_view l = all.substr(pos, nl - pos);
    std::string_view k, v;
    if (!split_text_line(l, alias_syntax, k, v)) fail(Exit::data, path + ": changed while it was read");
    out.lines.emplace_back(k, v);
    pos = nl + 1;
  }
}

}  // namespace

bool IncrementalBuild::patched(const IncrementalMap& m) {
  // Beyond this many changes a rebuild in bucket order is as fast as patching a copy.
  return map_type_of(*m.config).patch && m.delta.changes.size() <= std::max<std::uint64_t>(1000, m.delta.new_entries / 20);
}

namespace {

// One pass over the published text source with the fresh entries merged in: every entry
// of the new map, in key order, with its owner.
template <class Emit>
void merge_published(const std::string& path, const IncrementalMap& m, const OwnerIndex& owners,
                     const std::vector<OwnerCode>& affected, Emit emit) {
  std::size_t j = 0;
  const OwnerFilter is_affected(affected);
  OwnerIndex::Cursor cursor(owners);
  OwnerIndex::Entry e;
  // The text source replaced is read by no one after this pass (Postfix reads the indexed
  // file): its pages leave the cache as the pass goes, and the new text source takes them.
  read_text_source(
      path, m.alias_syntax,
      [&](std::string_view k, std::string_view v) {
        if (!cursor.next(e)) fail(Exit::tempfail, path + ": changed while it was read");
        if (is_affected(e.owner)) return;
        for (; j < m.fresh.size() && m.fresh[j].key < k; ++j) emit(m.fresh[j].key, m.fresh[j].value, m.fresh_owners[j]);
        emit(k, v, e.owner);
      },
      /*drop_behind=*/true);
  if (cursor.next(e)) fail(Exit::tempfail, path + ": changed while it was read");
  for (; j < m.fresh.size(); ++j) emit(m.fresh[j].key, m.fresh[j].value, m.fresh_owners[j]);
}

// A writer of one file of map mc under a temp name, staged by done().
struct StreamFile {
  Publisher& pub;
  const MapConfig& mc;
  std::string final_name, temp;
  std::unique_ptr<MapWriter> w;
  StreamFile(Publisher& p, const MapConfig& c, const MapType& type, const WriterOptions& wo)
      : pub(p), mc(c), final_name(c.file + std::string(type.suffix)), temp(p.temp_path(final_name)), w(type.create(temp, wo)) {
    testhook::crash_point(("created " + final_name).c_str());
  }
  void done() {
    w->finish();
    testhook::crash_point(("fsynced " + final_name).c_str());
    pub.stage(temp, final_name, mc.owner, mc.group, mc.mode);
  }
};

}  // namespace

void IncrementalBuild::stage(Publisher& pub, const IncrementalMap& m, std::string& digest, std::uint64_t& entries) const {
  const MapConfig& mc = *m.config;
  OwnerIndex merged_owners;
  const OwnerIndex& owners = published_owners(mc);
  const std::string text_path = dir_ + "/" + mc.spec.text_file;
  const MapType& type = map_type_of(mc);
  const bool patch = patched(m);
  if (!patch && type.insert_rank) {
    // A rewrite of a type that builds in its own order (hash): every entry in memory.
    stage_whole(pub, m, owners, digest, entries);
    return;
  }
  // Otherwise one pass feeds the text source, the indexed file (unless it is patched),
  // the digest and the owner sidecar: no copy of the map in memory.
  WriterOptions wo;
  wo.expected_entries = m.delta.new_entries;
  wo.alias_syntax = m.alias_syntax;
  wo.sorted_input = true;
  // The published entries were checked when they were first written, the fresh ones by
  // the renderer (any finding: no incremental build): the writers need not look again.
  wo.entries_checked = true;
  struct stat st {};
  wo.payload_bytes = ::stat(text_path.c_str(), &st) == 0 ? static_cast<std::size_t>(st.st_size) : 0;
  for (const auto& e : m.fresh) wo.payload_bytes += e.key.size() + e.value.size();
  StreamFile text(pub, mc, text_map_type(), wo);
  std::optional<StreamFile> indexed;
  if (!patch) indexed.emplace(pub, mc, type, wo);
  // content_digest()'s definition, its lines gathered into 64 KB blocks as it does.
  Digest d;
  std::string block;
  merged_owners.reserve(m.delta.new_entries);
  merge_published(text_path, m, owners, affected_, [&](std::string_view k, std::string_view v, OwnerCode o) {
    text.w->add(k, v);
    if (indexed) indexed->w->add(k, v);
    block.append(k);
    block.push_back('\t');
    block.append(v);
    block.push_back('\n');
    if (block.size() >= 64 * 1024) {
      d.update(block);
      block.clear();
    }
    merged_owners.add(o, text_line_bytes(k.size(), v.size(), m.alias_syntax));
    if (merged_owners.size() % 65536 == 0) check_interrupted();
    if (merged_owners.size() == m.delta.new_entries / 2) testhook::crash_point(("half written " + text.final_name).c_str());
  });
  testhook::crash_point(("written " + text.final_name).c_str());
  d.update(block);
  text.done();
  if (indexed) indexed->done();
  else patch_map_file(pub, type, mc, m.delta);
  digest = d.hex();
  entries = merged_owners.size();
  stage_owners(pub, mc.name, digest, merged_owners);
}

void IncrementalBuild::stage_whole(Publisher& pub, const IncrementalMap& m, const OwnerIndex& owners, std::string& digest,
                                   std::uint64_t& entries) const {
  TextLines text;
  slurp_lines(dir_ + "/" + m.config->spec.text_file, m.alias_syntax, text);
  if (text.lines.size() != owners.size()) fail(Exit::tempfail, m.config->name + ": the published text source changed while it was read");
  MapEntries merged;
  OwnerIndex merged_owners;  // in the order of merged
  merged.entries.reserve(m.delta.new_entries);
  merged_owners.reserve(m.delta.new_entries);
  const auto take = [&](const MapEntries::Entry& e, OwnerCode o) {
    merged.entries.push_back(e);
    merged_owners.add(o, text_line_bytes(e.key.size(), e.value.size(), m.alias_syntax));
  };
  std::size_t j = 0;
  const OwnerFilter is_affected(affected_);
  OwnerIndex::Cursor cursor(owners);
  OwnerIndex::Entry owner;
  for (std::size_t i = 0; i < text.lines.size() && cursor.next(owner); ++i) {
    if (is_affected(owner.owner)) continue;
    for (; j < m.fresh.size() && m.fresh[j].key < text.lines[i].first; ++j) take(m.fresh[j], m.fresh_owners[j]);
    take({text.lines[i].first, text.lines[i].second, {}}, owner.owner);
  }
  for (; j < m.fresh.size(); ++j) take(m.fresh[j], m.fresh_owners[j]);
  const MapView view{&merged, {}, {}, m.alias_syntax};
  stage_map(pub, *m.config, view, nullptr);
  digest = content_digest(view);
  entries = view.size();
  stage_owners(pub, m.config->name, digest, merged_owners);
}

void IncrementalBuild::stage_changed(Publisher& pub, std::vector<MapState>& states) const {
  std::vector<std::pair<const IncrementalMap*, MapState*>> jobs;
  for (const IncrementalMap& m : maps_)
    for (MapState& ms : states)
      if (m.changed() && ms.name == m.config->name) jobs.emplace_back(&m, &ms);
  std::vector<std::exception_ptr> errors(jobs.size());
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < jobs.size(); ++i)
    threads.emplace_back([&, i] {
      try {
        const auto t0 = std::chrono::steady_clock::now();
        stage(pub, *jobs[i].first, jobs[i].second->digest, jobs[i].second->entries);
        const IncrementalMap& m = *jobs[i].first;
        // The format of a full build's write line (bench/ reads both).
        log::debug("write " + m.config->name + " (text and " + m.config->type + ", " +
                   (patched(m) ? "patched with " : "rewritten for ") + std::to_string(m.delta.changes.size()) + " changes): " +
                   std::to_string(jobs[i].second->entries) + " entries, " +
                   std::to_string(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count()) + " s, incremental");
      } catch (...) {
        errors[i] = std::current_exception();
      }
    });
  for (auto& t : threads) t.join();
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
}

void stage_owners_of(Publisher& pub, const std::string& map_name, const std::string& digest, const Snapshot& s, const MapView& v) {
  const auto& base = v.base->entries;
  std::size_t i = 0, j = 0;
  stage_owners(pub, map_name, digest, v.size(), [&] {
    const bool from_base = j == v.extra.size() || (i < base.size() && base[i].key < v.extra[j].key);
    const MapEntries::Entry& e = from_base ? base[i++] : v.extra[j++];
    // The value of the line: the entry's, or the one value of all.
    const std::size_t value = from_base && !v.value.empty() ? v.value.size() : e.value.size();
    return OwnedLine{owner_of(s, e.origin), text_line_bytes(e.key.size(), value, v.alias_syntax)};
  });
}

}  // namespace mapsync
