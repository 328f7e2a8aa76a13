// import_run.cpp - the shared shape of an import: write the plan in one transaction,
// validate it with the build's renderer, prove it through postmap, commit or roll back.
#include "libmapsync/importer/import_run.h"

#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <set>

#include "libmapsync/core/casefold.h"
#include "libmapsync/core/error.h"
#include "libmapsync/db/endpoints.h"
#include "libmapsync/core/log.h"
#include "libmapsync/db/database.h"
#include "libmapsync/maps/build.h"
#include "libmapsync/maps/map_backend.h"
#include "libmapsync/maps/preview.h"

namespace mapsync {
namespace {

std::string make_scratch(const ImportOptions& o) {
  if (!o.scratch_dir.empty()) {
    std::filesystem::create_directories(o.scratch_dir);
    return o.scratch_dir;
  }
  const char* tmp = getenv("TMPDIR");
  std::string tmpl = std::string(tmp && *tmp ? tmp : "/tmp") + "/mapadm-import.XXXXXX";
  if (!mkdtemp(tmpl.data())) fail(Exit::cantcreat, errno_text("mkdtemp " + tmpl, errno));
  return tmpl;
}

// Writes one rendered map as a hash file for postmap -q.
void write_hash(const std::string& path, const MapContent& c, bool alias) {
  const MapType* hash = find_map_type("hash");
  std::filesystem::remove(path + ".db");
  WriterOptions wo;
  wo.alias_syntax = alias;
  wo.expected_entries = c.entries.size();
  auto w = hash->create(path + ".db", wo);
  for (const auto& [k, v] : c.entries) w->add(k, v);
  w->finish();
}

// Seconds since start, for the phase lines of a long import.
std::string since(std::chrono::steady_clock::time_point start) {
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f s", s);
  return buf;
}

}  // namespace

void run_import(const MapsSettings& settings, const ImportOptions& options, ImportReport& report,
                const ProofSetup& proof_setup) {
  report.dry_run = !options.apply;
  const auto session = connect_writer(settings.database);
  Database& db = *session;
  Transaction tx(db, "starting the import transaction");
  const auto t0 = std::chrono::steady_clock::now();
  report.counts = write_plan(db, report.plan);
  {  // the rows are in the database now; the report and the proof need only what was skipped
    ImportPlan rest;
    rest.skipped = std::move(report.plan.skipped);
    report.plan = std::move(rest);
  }
  log::info("import: rows written in " + since(t0));
  Findings findings;
  RenderedMaps rendered;
  render_in_transaction(db, settings, findings, &rendered);
  log::info("import: maps rendered in " + since(t0));
  report.findings = findings.all();
  if (findings.errors() > 0) {
    report_findings(findings);
    fail(Exit::data, std::to_string(findings.errors()) +
                         " error(s) in the imported rows: `mapsync build` would refuse them; nothing imported");
  }
  const std::string scratch = make_scratch(options);
  // A scratch directory of our own goes also when the proof fails.
  struct RemoveScratch {
    std::string dir;
    ~RemoveScratch() {
      std::error_code ec;
      if (!dir.empty()) std::filesystem::remove_all(dir, ec);
    }
  } remove_scratch{!options.keep_scratch && options.scratch_dir.empty() ? scratch : std::string()};
  std::map<std::string, std::string> new_tables;
  std::filesystem::create_directories(scratch + "/new");
  for (const auto& [name, content] : rendered.maps) {
    const bool alias = map_kind_info(map_kind_named(name)).alias_syntax;
    write_hash(scratch + "/new/" + name, content, alias);
    new_tables[name] = "hash:" + scratch + "/new/" + name;
  }
  std::vector<ProofMap> maps = proof_setup(scratch, new_tables, rendered);
  rendered = RenderedMaps();  // written out and compared by key: the proof needs no copy in memory
  log::info("import: proof tables ready in " + since(t0));
  report.proof = run_proof(options.tools, maps, scratch);
  log::info("import: proof done in " + since(t0));
  if (options.apply && (report.differences() == 0 || options.accept_differences)) {
    tx.commit("committing the import");
    report.applied = true;
  } else {
    tx.rollback("rolling the import back");
  }
}

std::vector<std::string> keys_only_in(const MapContent& rendered, const std::set<std::string>& original_folded) {
  std::vector<std::string> out;
  for (const auto& [k, v] : rendered.entries)
    if (!original_folded.count(std::string(k))) out.emplace_back(k);
  return out;
}

const MapContent* rendered_map(const RenderedMaps& r, const std::string& name) {
  for (const auto& [n, c] : r.maps)
    if (n == name) return &c;
  return nullptr;
}

}  // namespace mapsync
