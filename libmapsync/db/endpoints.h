// endpoints.h - choosing a server among database.endpoints.
//
// A hub reads from the first endpoint that is healthy and not behind (its local replica
// first), and says which one it read; jobs that write take the first writable one (the
// primary, or a synced Galera node in the primary component). A replica is never written
// to. With one server (host/port/socket, no endpoints list) nothing is probed: the
// session opens as it always did.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "libmapsync/db/database.h"
#include "libmapsync/db/fleet.h"
#include "libmapsync/db/options.h"

namespace mapsync {

// The endpoints in order: the list, or the one server the config names.
std::vector<DbEndpoint> endpoints_of(const DatabaseConfig& db);
// db with host/port/socket set to e.
DatabaseConfig at_endpoint(const DatabaseConfig& db, const DbEndpoint& e);
std::string endpoint_name(const DbEndpoint& e);  // "HOST:PORT" or the socket path
const char* role_name(EndpointRole r);

struct ReaderChoice {
  std::unique_ptr<Database> db;      // the session to read from
  std::unique_ptr<Database> writer;  // a writable session when one was opened (lag, fleet report); may be db's twin
  std::string endpoint;              // endpoint_name() of db
  std::uint64_t serial = 0;          // change_serial on db when chosen
  FleetHold hold;                    // fleet_control on db, read with the serial
  std::uint64_t lag_serials = 0;     // the writable endpoint's serial minus serial (0 when unknown)
  double lag_seconds = 0;            // see docs/fleet.md: how much older db's newest change is
  bool writable = false;             // db is itself writable (then writer is empty)
  std::vector<std::string> passed_over;  // "ENDPOINT: why", also logged
};

// Opens the first endpoint that answers, is synced (Galera), has change_serial >= min_serial
// (a hub never publishes an older state than it did) and, when max_lag is set, is not
// further behind the writable endpoint than that. Every endpoint passed over is logged
// with the reason. None left: Exit::tempfail naming each (Exit::config when every failure
// was a configuration error). check: as for Database.
ReaderChoice connect_reader(const DatabaseConfig& db, std::uint64_t min_serial, SchemaCheck check);

// Opens the first writable endpoint. None: Exit::tempfail naming each and why.
std::unique_ptr<Database> connect_writer(const DatabaseConfig& db, SchemaCheck check = SchemaCheck::on_connect);

// The config of the first writable endpoint (probed, then closed): for code that opens
// its own sessions to it (migrations, a lease renewer).
DatabaseConfig writer_config(const DatabaseConfig& db);

// Best effort (fleet reports): a writable session within timeout seconds, or nullptr and why.
std::unique_ptr<Database> try_connect_writer(const DatabaseConfig& db, unsigned timeout, std::string& why);

}  // namespace mapsync
