// snapshot.h - the maps' read of the user database: every table in ONE consistent snapshot.
#pragma once

#include "libmapsync/db/database.h"
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

// The same rows, read inside a transaction the caller opened on c and still holds: mapadm
// validates the database as its change leaves it, before COMMIT, through this.
// The same on an open session (the endpoint a build chose).
void read_snapshot(Database& c, Snapshot& out, const SnapshotOptions& options = {});

void read_snapshot_in(Database& c, Snapshot& out, const SnapshotOptions& options = {});

}  // namespace mapsync
