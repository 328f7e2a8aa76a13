// db/options.h - how to reach the e-mail user database (the `database:` section).
//
// A plain struct, filled from the YAML file by config/ (the one room that sees every
// section) or directly by tests; this room's code takes it and nothing else.
#pragma once

#include <string>
#include <vector>

namespace mapsync {

enum class TlsMode { disabled, preferred, required, verify_ca, verify_identity };

// What a server is in the fleet. auto: asked on connecting (wsrep_on: galera; read_only:
// replica; otherwise primary). A replica is never written to; a Galera node is used only
// while it is synced and in the primary component.
enum class EndpointRole { automatic, primary, replica, galera };

struct DbEndpoint {
  std::string host;    // TCP host; empty when socket is used
  unsigned port = 3306;
  std::string socket;  // unix socket path; wins over host when set
  EndpointRole role = EndpointRole::automatic;
};

// The `fleet:` section: how this hub names itself in fleet status, and what "silent too
// long" means there.
struct FleetConfig {
  std::string hub;            // default: the host name
  unsigned period = 60;       // seconds between scheduled builds
  unsigned stale_periods = 3;  // a hub silent this many periods is stale
  bool report = true;         // write this hub's report after every build (best effort)
};

struct DatabaseConfig {
  std::string host;             // TCP host; empty when socket is used
  unsigned port = 3306;
  std::string socket;           // unix socket path; wins over host when set
  std::string user;
  std::string password_file;    // mode checked: no group/other bits
  std::string database;
  unsigned connect_timeout = 10;  // seconds
  unsigned read_timeout = 300;    // seconds; a hung server becomes a temporary failure
  TlsMode tls_mode = TlsMode::preferred;
  std::string tls_ca_file;
  std::string tls_cert_file;
  std::string tls_key_file;
  // database.endpoints, in the order they are tried (a hub's local replica first). Empty
  // when the config names one server by host/port/socket above; a session is always
  // opened with host/port/socket set to the endpoint it uses.
  std::vector<DbEndpoint> endpoints;
  // A reader whose data is older than the primary's by more than this many seconds is
  // passed over for the next endpoint (0: never).
  unsigned max_lag = 0;
  // Leader lease (adsync, mboxsync): how long a holder keeps it without renewing.
  unsigned lease_seconds = 60;
  FleetConfig fleet;
};

}  // namespace mapsync
