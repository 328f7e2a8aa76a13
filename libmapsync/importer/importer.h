// importer.h - `mapadm import postfix` and `mapadm import postfixadmin`: bring what a site
// already runs into the user database, and prove the result.
//
// Shape of every import (docs/import.md):
//  1. read the sources and plan the rows (plan.h), noting every key the schema cannot hold;
//  2. START TRANSACTION, write the rows, render every enabled map with the build's renderer
//     (maps/preview.h): a finding that would stop `mapsync build` rolls back (Exit::data);
//  3. the proof: every original key asked through `postmap -q -` of the original tables
//     and of mapsync's rendered maps (written in a scratch directory, never published);
//  4. COMMIT only with apply and no difference (accept_differences overrides), else ROLLBACK.
#pragma once

#include <string>
#include <vector>

#include "libmapsync/importer/import_postfix.h"
#include "libmapsync/importer/plan.h"
#include "libmapsync/importer/plan_write.h"
#include "libmapsync/importer/proof.h"
#include "libmapsync/maps/options.h"
#include "libmapsync/maps/render.h"

namespace mapsync {

struct ImportOptions {
  bool apply = false;
  bool accept_differences = false;
  std::string scratch_dir;  // "" = a fresh directory under $TMPDIR, removed afterwards
  bool keep_scratch = false;
  PostfixTools tools;
  std::string backend_prefix = "cyrus";  // postfix: back ends found are named prefix1, prefix2, ...
};

struct PostfixAdminOptions {
  DatabaseConfig source;        // the PostfixAdmin database
  std::string backend;          // the back end mailboxes go to (a backends row, or created)
  std::string backend_host;     // created when backend does not exist yet
  unsigned backend_port = 24;
  std::string mysql_cf_dir;     // the .cf files POSTFIX_CONF.txt writes (for the proof)
};

struct ImportReport {
  std::string source;  // "postfix" or "postfixadmin"
  ImportPlan plan;
  WriteCounts counts;
  std::vector<Finding> findings;
  std::vector<MapProof> proof;
  bool applied = false;
  bool dry_run = true;
  std::size_t differences() const {
    std::size_t n = 0;
    for (const auto& p : proof) n += p.different;
    return n;
  }
};

ImportReport import_postfix(const MapsSettings& settings, const PostfixSources& sources, const ImportOptions& options);
ImportReport import_postfixadmin(const MapsSettings& settings, const PostfixAdminOptions& pfa, const ImportOptions& options);

std::string format_import_report(const ImportReport& r);
std::string format_import_report_json(const ImportReport& r);

}  // namespace mapsync
