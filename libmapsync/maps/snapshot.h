// snapshot.h - the maps' read of the user database: every table in ONE consistent snapshot.
#pragma once

#include "libmapsync/db/options.h"
#include "libmapsync/maps/model.h"

namespace mapsync {

struct SnapshotOptions {
  // Read accounts.given_name and surname (only generated canonical forms use them; at a
  // million addresses they cost tens of megabytes).
  bool names = true;
};

// Reads every table in ONE consistent snapshot (InnoDB, REPEATABLE READ, START
// TRANSACTION WITH CONSISTENT SNAPSHOT). Refuses (Exit::config) a schema version other
// than required_schema_version().
void read_snapshot(const DatabaseConfig& db, Snapshot& out, const SnapshotOptions& options = {});

}  // namespace mapsync
