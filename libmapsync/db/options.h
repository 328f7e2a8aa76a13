// db/options.h - how to reach the e-mail user database (the `database:` section).
//
// A plain struct, filled from the YAML file by config/ (the one room that sees every
// section) or directly by tests; this room's code takes it and nothing else.
#pragma once

#include <string>

namespace mapsync {

enum class TlsMode { disabled, preferred, required, verify_ca, verify_identity };

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
};

}  // namespace mapsync
