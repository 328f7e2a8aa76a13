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

std::string content_digest(const MapView& v) {
  Digest d;
  v.for_each_sorted([&](std::pair<std::string_view, std::string_view> e) {
    d.update(e.first);
    d.update("\t");
    d.update(e.second);
    d.update("\n");
  });
  return d.hex();
}

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
  for (std::size_t i = 0; i < view.size(); ++i) {
    const auto [k, v] = view.at(i);
    wo.payload_bytes += k.size() + v.size();
  }
  // A type that builds faster in another order than key order gets a permutation:
  // rank << 32 | position, one 8-byte word an entry, rather than a reordered copy.
  std::vector<std::uint64_t> order;
  if (type.insert_rank) {
    wo.cache_bytes = 4u << 20;  // pages are filled one after another: 4 MB builds as fast as 64
    order.resize(view.size());
    for (std::uint32_t i = 0; i < order.size(); ++i)
      order[i] = (std::min<std::uint64_t>(type.insert_rank(view.at(i).first, wo), 0xffffffffu) << 32) | i;
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
  if (order.empty()) view.for_each_sorted(add);
  else
    for (std::uint64_t o : order) add(view.at(static_cast<std::uint32_t>(o)));
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

void record_publish(const std::string& dir, const MapsConfig& maps, const PublishState& next, bool store) {
  testhook::crash_point("before state");
  write_state(dir, next);
  if (store) store_generation(dir, maps, next, maps.generations);
}

}  // namespace mapsync
