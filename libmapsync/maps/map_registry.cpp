// map_registry.cpp - map types by the name main.cf uses for them, as Postfix's
// util/dict_open.c and global/mkmap_open.c do.
//
// Backends register here by name only; their libraries (libdb, liblmdb and tinycdb)
// stay inside their own .cpp files. A new type is one line in the table.
#include <string_view>
#include <vector>

#include "libmapsync/maps/map_backend.h"
#include "libmapsync/maps/map_types_internal.h"

namespace mapsync {

namespace {

using MapTypeGetter = const MapType& (*)();

constexpr MapTypeGetter map_types[] = {
    &bdb_hash_map_type,
    &bdb_btree_map_type,
    &lmdb_map_type,
    &cdb_map_type,
    &text_map_type,
};

}  // namespace

const MapType* find_map_type(std::string_view name) {
  for (MapTypeGetter get : map_types) {
    const MapType& type = get();
    if (type.name == name) return &type;
  }
  return nullptr;
}

std::vector<std::string_view> map_type_names() {
  std::vector<std::string_view> names;
  names.reserve(std::size(map_types));
  for (MapTypeGetter get : map_types) names.push_back(get().name);
  return names;
}

}  // namespace mapsync
