// source_mysql.h - the e-mail user database (MySQL/MariaDB): snapshots and migrations.
//
// source_mysql.cpp is the only module that includes MySQL Connector/C++. Every server
// error is turned into a mapsync::Error whose status tells cron what to do: a server
// that is down, restarting or killed our connection is temporary (75); a wrong
// password, a missing database or a schema version we do not know is configuration (78).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "libmapsync/config.h"
#include "libmapsync/model.h"

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

struct MigrationReport {
  unsigned from = 0;
  unsigned to = 0;
  std::vector<std::string> applied;  // names of the migrations run (or that would run)
};

// Brings the schema up to required_schema_version(). dry_run: only report.
MigrationReport migrate_schema(const DatabaseConfig& db, bool dry_run);

// change_serial.serial alone (schema version checked): the no-op test of every run.
std::uint64_t read_change_serial(const DatabaseConfig& db);

}  // namespace mapsync
