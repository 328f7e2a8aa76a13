// import_postfix.h - turns existing Postfix text maps into an ImportPlan (docs/import.md
// states every rule), and the importers' shared entry points.
#pragma once

#include <string>
#include <vector>

#include "libmapsync/importer/plan.h"
#include "libmapsync/importer/textmap.h"

namespace mapsync {

// The source maps, each optional (an empty path: not given). A path may carry a type
// ("regexp:/etc/postfix/virtual_regexp"): only text sources (no type, or "hash:", "btree:",
// "lmdb:", "cdb:" naming the text source beside the indexed file) can be read.
struct PostfixSources {
  std::string virtual_map, transport, canonical, relay_recipients, relay_domains, aliases;
};

// The parsed sources, kept for the proof.
struct PostfixMaps {
  struct One {
    std::string name;       // virtual, transport, canonical, relay_recipients, relay_domains, aliases
    std::string path;       // the text file
    std::string type;       // as given ("" = text)
    bool readable = false;  // a text source we parsed
    TextMap map;
  };
  std::vector<One> maps;
  const One* find(const std::string& name) const {
    for (const auto& m : maps)
      if (m.name == name && m.readable) return &m;
    return nullptr;
  }
};

// Reads every given source (Exit::usage when none is given, noinput for a missing file).
PostfixMaps read_postfix_sources(const PostfixSources& src);

// The plan for the parsed maps; backend_prefix names the back ends found ("cyrus1", ...).
ImportPlan plan_postfix_import(const PostfixMaps& maps, const std::string& backend_prefix);

}  // namespace mapsync
