// import_postfix_run.cpp - `mapadm import postfix`: plan, then run_import with a proof
// against the original text maps, indexed by stock postmap/postalias in the scratch dir.
#include <filesystem>
#include <set>

#include "libmapsync/core/casefold.h"
#include "libmapsync/importer/import_run.h"

namespace mapsync {
namespace {

Compare compare_for(const std::string& name) {
  if (name == "virtual") return Compare::final_set;
  if (name == "aliases") return Compare::targets;
  if (name == "relay_recipients" || name == "relay_domains") return Compare::presence;
  return Compare::value;
}

std::vector<ProofMap> postfix_proof(const PostfixMaps& maps, const ImportPlan& plan, const ImportOptions& o,
                                    const std::string& scratch, const std::map<std::string, std::string>& new_tables,
                                    const RenderedMaps& rendered) {
  std::vector<ProofMap> out;
  std::filesystem::create_directories(scratch + "/old");
  for (const auto& m : maps.maps) {
    if (!m.readable) continue;
    ProofMap p;
    p.name = m.name;
    p.how = compare_for(m.name);
    // A skipped entry is known by file:line (a duplicate's first line stays representable).
    std::set<std::string> skipped, original;
    for (const Skipped& s : plan.skipped)
      if (s.map == m.name) {
        ++p.not_representable;
        skipped.insert(s.where);
      }
    for (const TextEntry& e : m.map.entries) {
      original.insert(e.folded);
      if (!skipped.count(m.path + ":" + std::to_string(e.line))) p.keys.push_back(e.key);
    }
    const std::string copy = scratch + "/old/" + m.name;
    std::filesystem::copy_file(m.path, copy, std::filesystem::copy_options::overwrite_existing);
    build_indexed(o.tools, "hash:" + copy, m.name == "aliases");
    p.old_tables = {"hash:" + copy};
    if (auto it = new_tables.find(m.name); it != new_tables.end()) p.new_tables = {it->second};
    if (const MapContent* c = rendered_map(rendered, m.name)) p.new_only = keys_only_in(*c, original);
    out.push_back(std::move(p));
  }
  return out;
}

}  // namespace

ImportReport import_postfix(const MapsSettings& settings, const PostfixSources& sources, const ImportOptions& options) {
  ImportReport r;
  r.source = "postfix";
  const PostfixMaps maps = read_postfix_sources(sources);
  r.plan = plan_postfix_import(maps, options.backend_prefix);
  run_import(settings, options, r,
             [&](const std::string& scratch, const std::map<std::string, std::string>& tables, const RenderedMaps& rm) {
               return postfix_proof(maps, r.plan, options, scratch, tables, rm);
             });
  return r;
}

}  // namespace mapsync
