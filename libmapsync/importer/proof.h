// proof.h - after an import, does Postfix answer every original key the same through
// mapsync's maps? Both sides are asked through the stock `postmap -q -`, never through
// our readers; what "the same" means depends on the map (docs/import.md):
//   final_set  virtual: the final recipients after Postfix's recursive expansion (a
//              result that maps to itself stops; a miss falls back to @domain), compared
//              as sets: mapsync's virtual is flattened, the original usually is not;
//   value      transport, canonical: the value;
//   targets    aliases: the list of targets, order and quoting aside;
//   presence   relay_recipients, relay_domains: found or not.
#pragma once

#include <cstddef>
#include <set>
#include <string>
#include <vector>

#include "libmapsync/importer/postmap_query.h"

namespace mapsync {

enum class Compare { final_set, value, targets, presence };

struct ProofMap {
  std::string name;
  Compare how = Compare::value;
  std::vector<std::string> keys;        // original keys to ask (representable ones)
  std::vector<std::string> old_tables;  // tried in order, first answer wins ("hash:/x/virtual")
  std::vector<std::string> new_tables;
  std::size_t not_representable = 0;
  std::vector<std::string> new_only;    // mapsync's keys the original does not have (notes)
  // final_set: final recipients left out of both sides (targets the import dropped and
  // reported, such as PostfixAdmin's vacation autoreply addresses), by ident.
  std::set<std::string> ignored_finals;
};

struct MapProof {
  std::string name;
  std::size_t equal = 0, different = 0, not_representable = 0;
  struct Difference {
    std::string key, old_answer, new_answer;
  };
  std::vector<Difference> differences;
  std::vector<std::string> new_only;
};

std::vector<MapProof> run_proof(const PostfixTools& tools, const std::vector<ProofMap>& maps, const std::string& scratch);

}  // namespace mapsync
