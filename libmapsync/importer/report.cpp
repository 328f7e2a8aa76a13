// report.cpp - an import's report as text (a table per map) and as JSON.
#include <nlohmann/json.hpp>

#include "libmapsync/core/json_format.h"
#include "libmapsync/importer/importer.h"

namespace mapsync {
namespace {

constexpr std::size_t kListed = 50;  // per map in the text report; --json lists everything

}  // namespace

std::string format_import_report(const ImportReport& r) {
  std::string s;
  const auto& c = r.counts;
  s += "import " + r.source + ": " +
       (r.applied ? "applied" : r.dry_run ? "dry run, nothing written" : "not applied: the proof found differences") + "\n";
  s += "rows: domains " + std::to_string(c.domains) + ", backends " + std::to_string(c.backends) + ", accounts " +
       std::to_string(c.accounts) + ", addresses " + std::to_string(c.addresses) + ", forwards " +
       std::to_string(c.forwards) + ", groups " + std::to_string(c.groups) + " (" + std::to_string(c.members) +
       " members), canonical " + std::to_string(c.canonical) + ", system aliases " + std::to_string(c.system_aliases) +
       ", transport overrides " + std::to_string(c.transport_overrides) + "\n";
  if (!r.plan.skipped.empty()) s += "not representable:\n";
  for (const Skipped& k : r.plan.skipped) s += "  " + k.where + ": " + k.key + ": " + k.why + "\n";
  s += "proof (every original key through postmap -q, original vs mapsync):\n";
  char line[256];
  std::snprintf(line, sizeof line, "  %-18s %10s %10s %18s %10s\n", "map", "equal", "different", "not representable",
                "new only");
  s += line;
  for (const MapProof& p : r.proof) {
    std::snprintf(line, sizeof line, "  %-18s %10zu %10zu %18zu %10zu\n", p.name.c_str(), p.equal, p.different,
                  p.not_representable, p.new_only.size());
    s += line;
  }
  for (const MapProof& p : r.proof) {
    std::size_t n = 0;
    for (const auto& d : p.differences) {
      if (n++ == kListed) {
        s += "  " + p.name + ": ... " + std::to_string(p.differences.size() - kListed) + " more differences\n";
        break;
      }
      s += "  different " + p.name + ": " + d.key + ": original " + d.old_answer + ", mapsync " + d.new_answer + "\n";
    }
    n = 0;
    for (const auto& k : p.new_only) {
      if (n++ == kListed) {
        s += "  note " + p.name + ": ... " + std::to_string(p.new_only.size() - kListed) + " more keys only in mapsync's map\n";
        break;
      }
      s += "  note " + p.name + ": only in mapsync's map: " + k + "\n";
    }
  }
  return s;
}

std::string format_import_report_json(const ImportReport& r) {
  nlohmann::json j = json_document<nlohmann::json>(json_format::mapadm_import);
  j["source"] = r.source;
  j["applied"] = r.applied;
  j["dry_run"] = r.dry_run;
  const auto& c = r.counts;
  j["rows"] = {{"domains", c.domains}, {"backends", c.backends}, {"accounts", c.accounts},
               {"addresses", c.addresses}, {"forwards", c.forwards}, {"groups", c.groups},
               {"group_members", c.members}, {"canonical_rewrites", c.canonical},
               {"system_aliases", c.system_aliases}, {"transport_overrides", c.transport_overrides}};
  j["not_representable"] = nlohmann::json::array();
  for (const Skipped& k : r.plan.skipped)
    j["not_representable"].push_back({{"map", k.map}, {"where", k.where}, {"key", k.key}, {"why", k.why}});
  j["findings"] = nlohmann::json::array();
  for (const Finding& f : r.findings)
    j["findings"].push_back({{"severity", f.severity == Finding::error ? "error" : "warning"}, {"map", f.map},
                             {"message", f.message}});
  j["proof"] = nlohmann::json::object();
  for (const MapProof& p : r.proof) {
    nlohmann::json m = {{"equal", p.equal}, {"different", p.different},
                        {"not_representable", p.not_representable}, {"new_only", p.new_only}};
    m["differences"] = nlohmann::json::array();
    for (const auto& d : p.differences)
      m["differences"].push_back({{"key", d.key}, {"original", d.old_answer}, {"mapsync", d.new_answer}});
    j["proof"][p.name] = m;
  }
  j["differences"] = r.differences();
  return j.dump(2);
}

}  // namespace mapsync
