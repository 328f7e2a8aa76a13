// snapshot.h - the maps' read of the user database: every table in ONE consistent snapshot.
#pragma once

#include "libmapsync/db/database.h"
#include "libmapsync/db/options.h"
#include "libmapsync/maps/model.h"
#include "libmapsync/maps/owners.h"

#include <cstdint>
#include <string>
#include <vector>

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

// The rows an incremental build re-renders, inside a snapshot the caller opened on c:
// every row of the small tables (domains, back ends, delivery targets, transport
// overrides, system aliases, mailing lists) at once, and of the big ones only the rows
// asked for. Ids
// asked for twice are read twice: callers ask for each once.
class PartialReader {
 public:
  PartialReader(Database& c, Snapshot& s, const SnapshotOptions& options);
  void accounts(const std::vector<std::uint32_t>& ids);  // with their addresses and forwards
  void groups(const std::vector<std::uint32_t>& ids);    // with their members
  void canonical(const std::vector<std::uint32_t>& ids);
  // Sorts every table by id, as the renderer expects.
  void finish();
  // The rows that may hold these addresses (primary, further address, group, list) or,
  // for the login address, these uids, as the database compares them (case-insensitively,
  // which folds at least as much as Postfix does); appended to out.
  void owners_of(const std::vector<std::string>& addresses, const std::vector<std::string>& locals, std::vector<OwnerCode>& out);

 private:
  Database& c_;
  Snapshot& s_;
  SnapshotOptions options_;
};

}  // namespace mapsync
