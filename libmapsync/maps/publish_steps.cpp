// publish_steps.cpp - see publish_steps.h.
#include "libmapsync/maps/publish_steps.h"

#include <algorithm>
#include <cstdio>
#include <vector>

#include "libmapsync/core/digest.h"
#include "libmapsync/core/error.h"
#include "libmapsync/core/signals.h"
#include "libmapsync/core/testhooks.h"
#include "libmapsync/maps/generations.h"
#include "libmapsync/maps/publish.h"

namespace mapsync {

const MapType& map_type_of(const MapConfig& m) {
  const MapType* t = find_map_type(m.spec.type);
  if (!t) fail(Exit::config, "map " + m.name + ": unknown type " + m.type);
  return *t;
}

std::string map_settings(const MapConfig& mc) {
  char mode[8];
  std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(mc.mode));
  return mc.type + " " + mc.file + " " + std::to_string(mc.owner) + ":" + std::to_string(mc.group) + " " + mode;
}

namespace {

// The strings of a rendered map lie all over the heap: a walk over a million entries
// that waits for each key and value spends more time waiting than working. These ask
// for entry i (of the base map; the few extra entries are left alone) kAhead steps early.
// Always inlined: GCC takes a function that only prefetches for one without effects and
// drops every call to it (found in the 12.2 -O2 build: no prefetch instruction left).
constexpr std::size_t kAhead = 8;

[[gnu::always_inline]] inline void prefetch_entry(const MapView& view, std::size_t i) {
  if (i < view.base->entries.size()) __builtin_prefetch(&view.base->entries[i]);
}

[[gnu::always_inline]] inline void prefetch_strings(const MapView& view, std::size_t i) {
  if (i >= view.base->entries.size()) return;
  const MapEntries::Entry& e = view.base->entries[i];
  __builtin_prefetch(e.key.data());
  if (view.value.empty()) __builtin_prefetch(e.value.data());
}

// view.for_each_sorted(fn), prefetching; the n-th entry in key order is the n-th of the
// base map give or take the extra entries, which is close enough to ask early.
template <class Fn>
void walk_sorted(const MapView& view, Fn fn) {
  std::size_t n = 0;
  view.for_each_sorted([&](std::pair<std::string_view, std::string_view> e) {
    prefetch_strings(view, n++ + kAhead);
    fn(e);
  });
}

}  // namespace

std::string content_digest(const MapView& v) {
  // Lines gathered into 64 KB blocks: four small updates an entry cost more than hashing.
  constexpr std::size_t block = 64 * 1024;
  Digest d;
  std::string buf;
  buf.reserve(2 * block);
  walk_sorted(v, [&](std::pair<std::string_view, std::string_view> e) {
    buf.append(e.first);
    buf.push_back('\t');
    buf.append(e.second);
    buf.push_back('\n');
    if (buf.size() >= block) {
      d.update(buf);
      buf.clear();
    }
  });
  d.update(buf);
  return d.hex();
}

namespace {

// Whether every entry of view passed entry_problem(): the rendered map says so for its
// own entries; a shared value and the few extra entries are checked here.
bool entries_checked(const MapView& view) {
  if (!view.base->checked) return false;
  if (!view.value.empty() && !view.base->entries.empty() &&
      entry_problem(view.base->entries.front().key, view.value, view.alias_syntax))
    return false;
  for (const MapEntries::Entry& e : view.extra)
    if (entry_problem(e.key, e.value, view.alias_syntax)) return false;
  return true;
}

}  // namespace

MapState map_state(const MapConfig& mc, const MapView& view, std::uint64_t generation, bool digest) {
  MapState ms;
  ms.name = mc.name;
  ms.settings = map_settings(mc);
  ms.entries = view.size();
  ms.digest = digest ? content_digest(view) : std::string();
  ms.generation = generation;
  return ms;
}

void write_map_file(Publisher& pub, const MapType& type, const MapConfig& mc, const MapView& view) {
  const std::string final_name = mc.file + std::string(type.suffix);
  const std::string temp = pub.temp_path(final_name);
  WriterOptions wo;
  wo.expected_entries = view.size();
  wo.alias_syntax = view.alias_syntax;
  wo.entries_checked = entries_checked(view);
  for (std::size_t i = 0; i < view.size(); ++i) {
    const auto [k, v] = view.at(i);
    wo.payload_bytes += k.size() + v.size();
  }
  // Entries come in the order each type fills its pages one after another (bucket order,
  // key order): 4 MB of libdb cache builds as fast as 64, and two writers at a time need
  // 120 MB less.
  wo.cache_bytes = 4u << 20;
  // A type that builds faster in another order than key order gets a permutation:
  // rank << 32 | position, one 8-byte word an entry, rather than a reordered copy.
  std::vector<std::uint64_t> order;
  if (type.insert_rank) {
    order.resize(view.size());
    for (std::uint32_t i = 0; i < order.size(); ++i) {
      prefetch_strings(view, i + kAhead);
      order[i] = (std::min<std::uint64_t>(type.insert_rank(view.at(i).first, wo), 0xffffffffu) << 32) | i;
    }
    std::sort(order.begin(), order.end());
  } else {
    wo.sorted_input = true;
  }
  auto w = type.create(temp, wo);
  testhook::crash_point(("created " + final_name).c_str());
  const std::size_t total = view.size();
  std::size_t n = 0;
  auto add = [&](std::pair<std::string_view, std::string_view> e) {
    w->add(e.first, e.second);
    if (++n % 65536 == 0) check_interrupted();
    if (n == total / 2) testhook::crash_point(("half written " + final_name).c_str());
  };
  if (order.empty()) {
    walk_sorted(view, add);
  } else {
    for (std::size_t i = 0; i < order.size(); ++i) {
      if (i + 2 * kAhead < order.size()) prefetch_entry(view, static_cast<std::uint32_t>(order[i + 2 * kAhead]));
      if (i + kAhead < order.size()) prefetch_strings(view, static_cast<std::uint32_t>(order[i + kAhead]));
      add(view.at(static_cast<std::uint32_t>(order[i])));
    }
  }
  testhook::crash_point(("written " + final_name).c_str());
  w->finish();
  testhook::crash_point(("fsynced " + final_name).c_str());
  check_interrupted();
  pub.stage(temp, final_name, mc.owner, mc.group, mc.mode);
}

// Publishes a map by patching a copy of its published indexed file with a delta.
void patch_map_file(Publisher& pub, const MapType& type, const MapConfig& mc, const MapDelta& delta) {
  const std::string final_name = mc.file + std::string(type.suffix);
  const std::string temp = pub.copy_to_temp(final_name);
  testhook::crash_point(("copied " + final_name).c_str());
  auto p = type.patch(temp);
  std::size_t n = 0;
  for (const auto& [k, v] : delta.changes) {
    if (v.empty()) p->remove(k);
    else p->put(k, v);
    if (++n == delta.changes.size() / 2) testhook::crash_point(("half patched " + final_name).c_str());
  }
  p->finish();
  testhook::crash_point(("fsynced " + final_name).c_str());
  check_interrupted();
  pub.stage(temp, final_name, mc.owner, mc.group, mc.mode);
}

void stage_map(Publisher& pub, const MapConfig& mc, const MapView& view, const MapDelta* patch) {
  write_map_file(pub, text_map_type(), mc, view);
  if (patch) patch_map_file(pub, map_type_of(mc), mc, *patch);
  else write_map_file(pub, map_type_of(mc), mc, view);
}

void commit_staged(Publisher& pub, const MapsConfig& maps, PublishState& next, std::uint64_t written) {
  pub.commit();
  for (MapState& ms : next.maps) {
    if (ms.generation != written) continue;
    const MapConfig* mc = maps.find(ms.name);
    for (const std::string* f : {&mc->spec.text_file, &mc->spec.indexed_file})
      if (auto st = stamp_file(pub.directory(), *f)) ms.files.push_back(*st);
  }
}

std::jthread record_publish(const std::string& dir, const MapsConfig& maps, const PublishState& next, bool store) {
  testhook::crash_point("before state");
  write_state(dir, next);
  if (!store) return {};
  store_generation(dir, maps, next, maps.generations);
  return prune_generations_beside(dir, maps.generations);
}

}  // namespace mapsync
