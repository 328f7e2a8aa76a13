// config.h - the settings every mapsync program shares, as plain structs.
//
// One YAML file (examples/mapsync.yaml documents every key) is turned into these
// structs by config_yaml.cpp, the only module that includes yaml-cpp. Library code
// takes these structs and nothing else, so it can be driven by tests without a file.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

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

// Change gates: a publish that removes or changes more than this is refused (exit 75)
// unless --force; a map that would be empty where entries were published always is.
struct GateConfig {
  std::uint64_t max_removed = UINT64_MAX;  // keys removed, as a count
  double max_removed_percent = 50;         // ... and as a share of the published entries
  std::uint64_t max_changed = UINT64_MAX;  // values changed
  double max_changed_percent = 50;
  std::uint64_t min_entries = 0;
};

// Where and how one map is published.
struct MapConfig {
  std::string name;      // virtual, transport, canonical, relay_recipients, aliases, relay_domains
  bool enabled = true;
  std::string type;      // hash, btree, lmdb, cdb
  std::string file;      // file name inside maps.directory; the type adds its suffix
  uid_t owner = 0;
  gid_t group = 0;
  mode_t mode = 0644;
  std::string owner_name;  // as written in the config, for messages
  std::string group_name;
  GateConfig gates;
};

struct MapsConfig {
  std::string directory;
  unsigned generations = 5;  // published generations kept for rollback (text sources, hard links)
  std::vector<MapConfig> maps;  // every known map, enabled or not, in a fixed order
  const MapConfig* find(const std::string& name) const;
};

// Policy for rendering the maps out of the database rows.
struct RenderConfig {
  // Domain that local(8) delivers for (in mydestination): system aliases and pipe
  // mailing lists are rewritten to name@this and resolved by the aliases map.
  std::string local_alias_domain = "localhost";
  // Generated sender rewrite per active account, with placeholders {uid}, {domain},
  // {primary}, {primary_local}, {given}, {surname}. Empty key template: off.
  std::string canonical_key = "{uid}@{domain}";
  std::string canonical_value = "{primary}";
  bool canonical_generate = true;
  // Refuse to publish when the database has fewer active accounts than this: an empty
  // or truncated read must never become an empty map.
  unsigned min_accounts = 1;
  // Postfix's virtual_alias_recursion_limit and virtual_alias_expansion_limit (both
  // 1000 by default; set them as in main.cf). The published virtual map is flattened,
  // but a chain of groups and forwards deeper than recursion_limit, or an address that
  // expands to more than expansion_limit recipients, is an error.
  unsigned recursion_limit = 1000;
  unsigned expansion_limit = 1000;
};

enum class LogLevel { debug, info, notice, warning, error };

struct LoggingConfig {
  LogLevel level = LogLevel::info;
  bool syslog = true;
  std::string syslog_facility = "mail";
  bool stderr_output = true;
};

struct MetricsConfig {
  // node_exporter textfile collector file, rewritten after every run ("" = none).
  std::string textfile;
};

struct Config {
  std::string path;  // the file it came from
  DatabaseConfig database;
  MapsConfig maps;
  RenderConfig render;
  LoggingConfig logging;
  MetricsConfig metrics;
};

// The map names mapsync knows, in build order.
const std::vector<std::string>& known_map_names();

// Reads and checks a config file. Throws mapsync::Error with Exit::config and a
// message "FILE:LINE: KEY: what is wrong" on any problem.
Config load_config(const std::string& path);

// Same, from a string (tests); name stands for the file in messages.
Config parse_config(const std::string& text, const std::string& name);

}  // namespace mapsync
