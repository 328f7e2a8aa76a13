// import_run.h - the transaction, validation and proof shared by both importers.
#pragma once

#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "libmapsync/importer/importer.h"
#include "libmapsync/maps/preview.h"

namespace mapsync {

// Given the scratch directory and mapsync's rendered maps as postmap tables by map name
// ("hash:/scratch/new/virtual"), returns what to compare.
using ProofSetup = std::function<std::vector<ProofMap>(const std::string& scratch,
                                                       const std::map<std::string, std::string>& new_tables,
                                                       const RenderedMaps& rendered)>;

// report.plan must be filled; fills counts, findings, proof, applied.
void run_import(const MapsSettings& settings, const ImportOptions& options, ImportReport& report,
                const ProofSetup& proof_setup);

std::vector<std::string> keys_only_in(const MapContent& rendered, const std::set<std::string>& original_folded);
const MapContent* rendered_map(const RenderedMaps& r, const std::string& name);

}  // namespace mapsync
