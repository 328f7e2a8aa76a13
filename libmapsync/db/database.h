// database.h - the e-mail user database (MySQL/MariaDB): sessions, queries, migrations.
//
// database.cpp is the only module that includes MySQL Connector/C++. Every server
// error is turned into a mapsync::Error whose status tells cron what to do: a server
// that is down, restarting or killed our connection is temporary (75); a wrong
// password, a missing database or a schema version we do not know is configuration (78).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "libmapsync/db/options.h"

namespace mapsync {

struct MigrationReport {
  unsigned from = 0;
  unsigned to = 0;
  std::vector<std::string> applied;  // names of the migrations run (or that would run)
};

struct MigrateOptions {
  bool dry_run = false;  // only report
  // Apply a step even though hubs that reported within active_seconds could not read the
  // schema after it (fleet_hubs.schema_needed below the step's compatible_from).
  bool force = false;
  unsigned active_seconds = 3 * 3600;
};

// Brings the schema up to required_schema_version() on the first writable endpoint.
MigrationReport migrate_schema(const DatabaseConfig& db, const MigrateOptions& options);

// A value for a '?' placeholder. Data never becomes SQL text: every value a job writes
// (names from the directory, addresses) is bound as a parameter.
using SqlParam = std::variant<std::nullptr_t, std::string, std::int64_t, std::uint64_t>;
using SqlParams = std::vector<SqlParam>;

// One row of a result, columns counted from 1 as in the MySQL API.
class SqlRow {
 public:
  virtual ~SqlRow() = default;
  virtual bool null(int col) const = 0;
  virtual std::string str(int col) const = 0;  // "" for NULL
  // The same without a copy: valid until the next call on this row. NULL is {} (a null
  // data pointer); an empty string has a data pointer.
  virtual std::string_view view(int col) const = 0;
  virtual std::uint64_t u64(int col) const = 0;  // 0 for NULL
};

// A session with the user database for the jobs that write to it (adsync, mboxsync).
// Errors are classified as for snapshots (75 / 78 / 70) and name what was being done.
// The schema version is checked on connecting.
enum class SchemaCheck { on_connect, by_caller };

// What the server says about itself, for choosing among database.endpoints.
struct ServerState {
  bool galera = false;          // wsrep_on
  bool synced = false;          // galera: wsrep_ready, local state 4 (Synced), primary component
  std::string galera_state;     // "Synced", "Donor/Desynced", ... and the cluster status
  bool read_only = false;       // @@read_only (a replica, or a primary being failed over)
};

class Database {
 public:
  // by_caller: the caller reads schema_version() inside its own transaction and passes it
  // to check_schema() (the maps snapshot does, so that version and data agree).
  explicit Database(const DatabaseConfig& db, SchemaCheck check = SchemaCheck::on_connect);
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  void execute(const std::string& sql, const std::string& doing);
  // COMMIT when a transaction this session began may still be open (a read that failed
  // half-way leaves its read-only snapshot open, and that refuses writes); otherwise
  // nothing, and no round trip.
  void end_transaction(const std::string& doing);
  // A plain statement, streamed forward-only: a million rows cost no client memory.
  std::size_t each_row(const std::string& sql, const std::string& doing, const std::function<void(const SqlRow&)>& fn);
  // The first column of a one-row query; false when there is no row.
  bool scalar(const std::string& sql, const std::string& doing, std::uint64_t& out);
  unsigned schema_version();  // 0 when there is no schema_version table
  // Refuses (Exit::config) a version this build cannot use, saying what to do: older than
  // required_schema_version(), or newer and not compatible with it (the version's
  // schema_version.compatible_from is above what this build needs).
  void check_schema(unsigned found);
  ServerState server_state();
  // A prepared statement with parameters; returns the number of affected rows.
  std::uint64_t update(const std::string& sql, const SqlParams& params, const std::string& doing);
  // Streams the rows to fn; returns their number.
  std::size_t query(const std::string& sql, const SqlParams& params, const std::string& doing,
                    const std::function<void(const SqlRow&)>& fn);
  // GET_LOCK(name, 0): true when this session now holds the lock. Otherwise holder
  // describes who has it (connection id, client host, for how long), as far as the
  // server tells a user about its own sessions.
  bool try_lock(const std::string& name, std::string& holder);
  void unlock(const std::string& name);
  std::string where() const;  // "database HOST:PORT/NAME", for messages
  std::string endpoint() const;  // "HOST:PORT" or the socket path
  const DatabaseConfig& config() const;  // with host/port/socket of the endpoint in use

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// One transaction on a session: begun by the constructor with begin ("START TRANSACTION",
// or "START TRANSACTION WITH CONSISTENT SNAPSHOT"), ended by commit() or rollback(). One
// still open when it goes out of scope (an exception on the way) is rolled back, and an
// error of that rollback is swallowed: the error being thrown says more, and the server
// rolls back a session that died.
class Transaction {
 public:
  explicit Transaction(Database& db, const std::string& doing, const char* begin = "START TRANSACTION");
  ~Transaction();
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  void commit(const std::string& doing);
  void rollback(const std::string& doing);

 private:
  Database& db_;
  bool open_ = true;
};


}  // namespace mapsync
