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

// Active Directory reconcile (adsync). Absent from the file: present == false.
enum class AdBind { gssapi, simple };

// Where new accounts deliver: the first rule whose ou and group both match wins.
struct AdPlacementRule {
  std::string name;         // for plans and messages
  std::string ou;           // the entry's DN ends with this DN (case-insensitive); "" = any
  std::string group;        // member, directly or nested, of this group (DN or name); "" = any
  std::string delivery;     // cyrus, smtp, none
  std::vector<std::string> backends;  // cyrus: back end names; the one with the fewest accounts wins
  std::string smtp_nexthop;           // smtp: Postfix next hop, e.g. [exchange.example.edu]
  unsigned quota_mb = 0;              // 0 = none recorded
};

// Per-run limits; a run beyond any of them changes nothing and exits 75 unless --force.
// Percentages are of the AD-sourced accounts in the database (active ones for disables).
struct AdGates {
  std::uint64_t max_creates = UINT64_MAX;
  double max_creates_percent = 0;    // 0 = no percentage limit
  std::uint64_t max_disables = 100;
  double max_disables_percent = 5;
  std::uint64_t max_deletes = 100;   // pending-delete
  double max_deletes_percent = 5;
};

struct AdConfig {
  bool present = false;
  std::vector<std::string> uris;     // tried in order
  AdBind bind = AdBind::gssapi;
  std::string keytab;                // gssapi: the service account's keytab (mode checked)
  std::string principal;             // gssapi: "" = the first principal in the keytab
  std::string krb5_config;           // "" = the system's (KRB5_CONFIG for this process only)
  std::string bind_dn;               // simple
  std::string password_file;         // simple (mode checked)
  std::string ca_file;               // TLS trust for ldaps:// and StartTLS
  bool starttls = false;             // simple over ldap://: StartTLS first
  unsigned timeout = 30;             // seconds, per network operation
  unsigned page_size = 500;
  std::vector<std::string> bases;
  std::string filter = "(&(objectCategory=person)(objectClass=user))";
  std::string member_of;             // scope: members (nested) of this group, DN or name
  std::string groups_base;           // where group names are looked up ("" = the first base's domain)
  // attribute mapping
  std::string attr_uid = "sAMAccountName";
  std::string attr_given = "givenName";
  std::string attr_surname = "sn";
  std::string attr_display = "displayName";
  std::string attr_mail = "mail";
  std::string attr_proxy = "proxyAddresses";
  std::string attr_anchor = "objectGUID";
  bool primary_from_proxy = true;    // "SMTP:" proxyAddress wins over mail
  bool allow_empty_base = false;     // a base that returns no entries is an error unless set
  // lifecycle
  unsigned disable_after_misses = 3;
  unsigned pending_delete_after_days = 30;  // 0 = never
  unsigned full_sync_hours = 24;
  AdGates gates;
  std::vector<AdPlacementRule> placement;
  std::string lock_name = "mapsync.adsync";
};

// Mailbox provisioning on the Cyrus back ends (mboxsync). Absent: present == false.
struct CyrusFolder {
  std::string name;         // "Sent"
  std::string special_use;  // "\\Sent" (RFC 6154), "" = none
};

struct CyrusConfig {
  bool present = false;
  bool unix_separator = false;   // imapd.conf unixhierarchysep
  bool virtual_domains = false;  // imapd.conf virtdomains (user@domain mailboxes)
  std::string admin_user = "cyrus";
  // How the admin logs in: "password" (admin_user and password_file) or "gssapi" (a
  // ticket from keytab for principal; the server maps the principal to an admin).
  std::string auth = "password";
  std::string password_file;     // mode checked
  std::string keytab;            // mode checked
  std::string principal;         // "" = the keytab's first
  std::string krb5_config;       // "" = the system's
  std::string tls = "starttls";  // starttls, imaps, none
  std::string ca_file;
  bool allow_plaintext = false;  // LOGIN without TLS (tls: none): loopback tests only
  unsigned imaps_port = 993;     // with tls: imaps, instead of backends.imap_port
  // Where commands go: "backend" (each back end's imap_host:imap_port) or "frontend"
  // (CREATE name server!partition through a Murder front end).
  std::string via = "backend";
  std::string frontend_host;
  unsigned frontend_port = 143;
  // Unprovisioned accounts: keep the recorded back end ("recorded"), or place them on
  // the back end with the fewest accounts ("fewest") or by weight ("weights").
  std::string placement = "recorded";
  std::map<std::string, unsigned> weights;  // back end name -> weight
  unsigned quota_mb = 0;                     // when the account records none; 0 = no quota
  std::vector<std::string> acls;             // "IDENTIFIER RIGHTS", {uid} replaced
  std::vector<CyrusFolder> folders;
  unsigned pipeline = 32;        // commands in flight per connection
  unsigned connections = 1;      // admin sessions per back end (or front end)
  unsigned timeout = 30;
  unsigned retry_base_seconds = 60;
  unsigned retry_max_seconds = 3600;
  unsigned max_attempts = 50;
  std::string lock_name = "mapsync.mboxsync";
};

struct Config {
  std::string path;  // the file it came from
  DatabaseConfig database;
  MapsConfig maps;   // maps.directory empty: the file has no maps section
  AdConfig ad;
  CyrusConfig cyrus;
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
