// config_yaml.cpp - turns the YAML config file into mapsync::Config.
//
// The only module that includes yaml-cpp. Every problem is reported as
// "FILE:LINE: KEY: what is wrong" with Exit::config, because a postmaster reading a
// cron mail at 3 a.m. should not have to guess which of forty lines is meant.
// Unknown keys are errors, not warnings: a misspelt "pasword_file" must not silently
// fall back to a default.
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <map>
#include <set>
#include <sstream>
#include <vector>

#include "libmapsync/config/config.h"
#include "libmapsync/core/error.h"
#include "libmapsync/core/identity.h"

namespace mapsync {

namespace {

// yaml-cpp throws InvalidNode when asked the type of a key that is not there.
bool is_map(const YAML::Node& n) { return n.IsDefined() && n.IsMap(); }
YAML::Node at(const YAML::Node& n, const char* key) { return is_map(n) ? n[key] : YAML::Node(); }

class Reader {
 public:
  explicit Reader(std::string file) : file_(std::move(file)) {}

  [[noreturn]] void error(const YAML::Node& node, const std::string& key, const std::string& what) const {
    std::ostringstream msg;
    msg << file_;
    if (node.IsDefined() && node.Mark().line >= 0) msg << ':' << node.Mark().line + 1;
    msg << ": " << key << ": " << what;
    fail(Exit::config, msg.str());
  }

  // yaml-cpp keeps both copies of a repeated key and a lookup sees only the first, so
  // "connections: 4" followed further down by "connections: 1" would silently mean 4.
  // The first walk: aliases share their anchor's node, so a dozen lines of aliases of
  // aliases ("billion laughs") are a tree of 10^9 nodes, which the budget stops; a node
  // that holds itself through an alias ("a: &x {b: *x}") is endlessly deep, which the
  // depth limit stops (found by tests/fuzz: it overflowed the stack).
  void no_duplicate_keys(const YAML::Node& n, const std::string& path, std::size_t& budget,
                         std::size_t depth = 0) const {
    if (budget-- == 0) error(n, path, "more than " + std::to_string(kConfigNodeLimit) + " YAML nodes (aliases of aliases?)");
    if (depth > kConfigDepthLimit)
      error(n, path, "nested more than " + std::to_string(kConfigDepthLimit) + " levels deep (a node holding itself?)");
    if (n.IsSequence()) {
      for (std::size_t i = 0; i < n.size(); ++i) no_duplicate_keys(n[i], path + "[" + std::to_string(i) + "]", budget, depth + 1);
      return;
    }
    if (!n.IsMap()) return;
    std::map<std::string, int> seen;  // key -> its first line
    for (const auto& kv : n) {
      const std::string k = kv.first.IsScalar() ? kv.first.Scalar() : std::string("?");
      const std::string where = path.empty() ? k : path + "." + k;
      auto [it, fresh] = seen.emplace(k, kv.first.Mark().line + 1);
      if (!fresh) error(kv.first, where, "key given twice (first on line " + std::to_string(it->second) + ")");
      no_duplicate_keys(kv.second, where, budget, depth + 1);
    }
  }

  // Refuses keys that the section does not know.
  void only_keys(const YAML::Node& map, const std::string& path, std::initializer_list<const char*> allowed) const {
    if (!map.IsDefined() || map.IsNull()) return;
    if (!map.IsMap()) error(map, path, "must be a mapping of keys to values");
    for (const auto& kv : map) {
      const std::string k = kv.first.as<std::string>();
      if (std::none_of(allowed.begin(), allowed.end(), [&](const char* a) { return k == a; }))
        error(kv.first, path.empty() ? k : path + "." + k, "unknown key");
    }
  }

  std::string str(const YAML::Node& parent, const char* key, const std::string& path, const std::string& def,
                  bool required = false) const {
    const YAML::Node n = is_map(parent) ? parent[key] : YAML::Node();
    if (!n.IsDefined() || n.IsNull()) {
      if (required) error(parent, path + "." + key, "required key is missing");
      return def;
    }
    if (!n.IsScalar()) error(n, path + "." + key, "must be a single value");
    return n.Scalar();
  }

  // A file or directory name that must be absolute ("" allowed unless required).
  std::string abs_path(const YAML::Node& parent, const char* key, const std::string& path, bool required = false) const {
    std::string v = str(parent, key, path, "", required);
    if ((required && v.empty()) || (!v.empty() && v[0] != '/'))
      error(at(parent, key), path + "." + key, "must be an absolute path");
    return v;
  }

  unsigned number(const YAML::Node& parent, const char* key, const std::string& path, unsigned def, unsigned lo,
                  unsigned hi) const {
    const std::string s = str(parent, key, path, "");
    if (s.empty()) return def;
    unsigned long v = 0;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v, 10);
    if (ec != std::errc() || end != s.data() + s.size() || v < lo || v > hi)
      error(parent[key], path + "." + key,
            "must be a whole number from " + std::to_string(lo) + " to " + std::to_string(hi) + ", not \"" + s + "\"");
    return static_cast<unsigned>(v);
  }

  bool boolean(const YAML::Node& parent, const char* key, const std::string& path, bool def) const {
    const std::string s = str(parent, key, path, "");
    if (s.empty()) return def;
    if (s == "true" || s == "yes" || s == "on") return true;
    if (s == "false" || s == "no" || s == "off") return false;
    error(parent[key], path + "." + key, "must be true or false, not \"" + s + "\"");
  }

  mode_t mode(const YAML::Node& parent, const char* key, const std::string& path, mode_t def) const {
    const std::string s = str(parent, key, path, "");
    if (s.empty()) return def;
    unsigned long v = 0;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v, 8);
    if (ec != std::errc() || end != s.data() + s.size() || v > 0777)
      error(parent[key], path + "." + key, "must be an octal file mode such as \"0644\", not \"" + s + "\"");
    if (v & 0022)
      error(parent[key], path + "." + key, "a map writable by group or others (" + s + ") is refused");
    return static_cast<mode_t>(v);
  }

  const std::string& file() const { return file_; }

 private:
  std::string file_;
};

void resolve_owner(const Reader& r, const YAML::Node& map, const YAML::Node& maps, const std::string& path, MapConfig& m) {
  auto fail_at = [&](const char* key, const std::string& what) {  // where it was set: maps.NAME.owner or maps.owner
    const bool own = is_map(map) && map[key].IsDefined();
    r.error(own ? map[key] : is_map(maps) && maps[key].IsDefined() ? maps[key] : maps, (own ? path : "maps") + "." + key, what);
  };
  const auto uid = m.owner_name.empty() ? std::nullopt : user_id(m.owner_name);
  if (!m.owner_name.empty() && !uid) fail_at("owner", "no such user \"" + m.owner_name + "\"");
  if (uid) m.owner = *uid;
  const auto gid = m.group_name.empty() ? std::nullopt : group_id(m.group_name);
  if (!m.group_name.empty() && !gid) fail_at("group", "no such group \"" + m.group_name + "\"");
  if (gid) m.group = *gid;
}

// database.endpoints: [{host, port | socket, role}], tried in order.
void read_endpoints(const Reader& r, const YAML::Node& n, DatabaseConfig& db) {
  const YAML::Node list = is_map(n) ? n["endpoints"] : YAML::Node();
  if (!list.IsDefined() || list.IsNull()) return;
  if (!list.IsSequence() || list.size() == 0) r.error(list, "database.endpoints", "must be a list of {host, port} or {socket}");
  if (!db.host.empty() || !db.socket.empty())
    r.error(list, "database.endpoints", "set either endpoints or host/socket, not both");
  std::size_t i = 0;
  for (const auto& e : list) {
    const std::string p = "database.endpoints[" + std::to_string(i++) + "]";
    r.only_keys(e, p, {"host", "port", "socket", "role"});
    DbEndpoint ep;
    ep.host = r.str(e, "host", p, "");
    ep.port = r.number(e, "port", p, 3306, 1, 65535);
    ep.socket = r.str(e, "socket", p, "");
    if (ep.host.empty() == ep.socket.empty()) r.error(e, p, "set host (and port) or socket");
    const std::string role = r.str(e, "role", p, "auto");
    if (role == "auto") ep.role = EndpointRole::automatic;
    else if (role == "primary") ep.role = EndpointRole::primary;
    else if (role == "replica") ep.role = EndpointRole::replica;
    else if (role == "galera") ep.role = EndpointRole::galera;
    else r.error(at(e, "role"), p + ".role", "must be auto, primary, replica or galera, not \"" + role + "\"");
    db.endpoints.push_back(ep);
  }
}

void read_fleet(const Reader& r, const YAML::Node& root, FleetConfig& f) {
  const YAML::Node n = root["fleet"];
  r.only_keys(n, "fleet", {"hub", "period", "stale_periods", "report"});
  f.hub = r.str(n, "hub", "fleet", host_name());
  f.period = r.number(n, "period", "fleet", 60, 1, 86400);
  f.stale_periods = r.number(n, "stale_periods", "fleet", 3, 1, 1000);
  f.report = r.boolean(n, "report", "fleet", true);
}

void read_database(const Reader& r, const YAML::Node& root, DatabaseConfig& db) {
  const YAML::Node n = root["database"];
  if (!n.IsDefined()) r.error(root, "database", "required section is missing");
  r.only_keys(n, "database", {"host", "port", "socket", "endpoints", "max_lag", "lease_seconds", "user", "password_file",
                              "database", "connect_timeout", "read_timeout", "tls"});
  db.host = r.str(n, "host", "database", "");
  db.port = r.number(n, "port", "database", 3306, 1, 65535);
  db.socket = r.str(n, "socket", "database", "");
  read_endpoints(r, n, db);
  if (db.host.empty() && db.socket.empty() && db.endpoints.empty())
    r.error(n, "database.host", "set host (and port), socket, or endpoints");
  db.max_lag = r.number(n, "max_lag", "database", 0, 0, 86400 * 30);
  db.lease_seconds = r.number(n, "lease_seconds", "database", 60, 2, 86400);
  db.user = r.str(n, "user", "database", "", true);
  db.password_file = r.str(n, "password_file", "database", "");
  db.database = r.str(n, "database", "database", "", true);
  db.connect_timeout = r.number(n, "connect_timeout", "database", 10, 1, 3600);
  db.read_timeout = r.number(n, "read_timeout", "database", 300, 1, 86400);
  const YAML::Node tls = is_map(n) ? n["tls"] : YAML::Node();
  r.only_keys(tls, "database.tls", {"mode", "ca_file", "cert_file", "key_file"});
  const std::string mode = r.str(tls, "mode", "database.tls", "preferred");
  if (mode == "disabled") db.tls_mode = TlsMode::disabled;
  else if (mode == "preferred") db.tls_mode = TlsMode::preferred;
  else if (mode == "required") db.tls_mode = TlsMode::required;
  // MySQL Connector/C++ 1.1 with libmariadb verifies a server certificate only together with
  // its host name; without that check a server (or a man in the middle) that offers no TLS is
  // silently accepted. So verify_ca cannot mean what it says, and is refused rather than weakened.
  else if (mode == "verify_ca")
    r.error(at(tls, "mode"), "database.tls.mode",
            "verify_ca is not supported (the MySQL client library checks the certificate only together with the host "
            "name); use verify_identity with a server certificate that names database.host, or required");
  else if (mode == "verify_identity") db.tls_mode = TlsMode::verify_identity;
  else r.error(at(tls, "mode"), "database.tls.mode", "must be disabled, preferred, required or verify_identity, not \"" + mode + "\"");
  db.tls_ca_file = r.str(tls, "ca_file", "database.tls", "");
  db.tls_cert_file = r.str(tls, "cert_file", "database.tls", "");
  db.tls_key_file = r.str(tls, "key_file", "database.tls", "");
  if ((db.tls_mode == TlsMode::verify_ca || db.tls_mode == TlsMode::verify_identity) && db.tls_ca_file.empty())
    r.error(tls, "database.tls.ca_file", "required when mode is " + mode);
  if (!db.socket.empty() && !db.host.empty()) r.error(at(n, "socket"), "database.socket", "set either host or socket, not both");
}

GateConfig read_gates(const Reader& r, const YAML::Node& n, const std::string& path, GateConfig g) {
  r.only_keys(n, path, {"max_removed", "max_removed_percent", "max_changed", "max_changed_percent", "min_entries"});
  auto count = [&](const char* key, std::uint64_t def) {
    const std::string s = r.str(n, key, path, "");
    if (s.empty()) return def;
    if (s == "unlimited") return UINT64_MAX;
    return static_cast<std::uint64_t>(r.number(n, key, path, 0, 0, 4000000000u));
  };
  auto percent = [&](const char* key, double def) {
    const std::string s = r.str(n, key, path, "");
    if (s.empty()) return def;
    return static_cast<double>(r.number(n, key, path, 0, 0, 100));
  };
  g.max_removed = count("max_removed", g.max_removed);
  g.max_removed_percent = percent("max_removed_percent", g.max_removed_percent);
  g.max_changed = count("max_changed", g.max_changed);
  g.max_changed_percent = percent("max_changed_percent", g.max_changed_percent);
  g.min_entries = count("min_entries", g.min_entries);
  return g;
}

void read_maps(const Reader& r, const YAML::Node& root, MapsConfig& maps) {
  const YAML::Node n = root["maps"];
  if (!n.IsDefined()) return;  // programs that need maps check maps.directory
  std::vector<const char*> allowed = {"directory", "default_type", "owner", "group", "mode", "gates", "generations", "hooks",
                                      "incremental", "full_build_interval"};
  for (const auto& name : known_map_names()) allowed.push_back(name.c_str());
  if (!n.IsMap()) r.error(n, "maps", "must be a mapping of keys to values");
  for (const auto& kv : n) {
    const std::string k = kv.first.as<std::string>();
    if (std::none_of(allowed.begin(), allowed.end(), [&](const char* a) { return k == a; }))
      r.error(kv.first, "maps." + k, "unknown key (maps are: virtual, transport, canonical, relay_recipients, relay_domains, aliases)");
  }
  maps.directory = r.abs_path(n, "directory", "maps", true);
  const std::string default_type = r.str(n, "default_type", "maps", "hash");
  const std::string default_owner = r.str(n, "owner", "maps", "root");
  const std::string default_group = r.str(n, "group", "maps", "root");
  const mode_t default_mode = r.mode(n, "mode", "maps", 0644);
  maps.generations = r.number(n, "generations", "maps", 5, 0, 1000);
  maps.incremental = r.boolean(n, "incremental", "maps", maps.incremental);
  maps.full_build_interval = r.number(n, "full_build_interval", "maps", maps.full_build_interval, 0, 86400 * 366);
  const GateConfig default_gates = read_gates(r, at(n, "gates"), "maps.gates", GateConfig());

  auto check_type = [&](const YAML::Node& where, const std::string& path, const std::string& type) {
    if (!find_map_format(type)) {
      std::string known;
      for (const MapFormat& f : map_formats) known += (known.empty() ? "" : ", ") + std::string(f.name);
      r.error(where, path, "unknown map type \"" + type + "\" (known: " + known + ")");
    }
  };
  check_type(at(n, "default_type").IsDefined() ? at(n, "default_type") : n, "maps.default_type", default_type);

  for (const MapKindInfo& kind : map_kinds) {
    const std::string name(kind.name);
    const std::string path = "maps." + name;
    const YAML::Node m = n[name];  // n is a map (checked above)
    r.only_keys(m, path, {"enabled", "type", "file", "owner", "group", "mode", "gates"});
    MapConfig mc;
    mc.kind = kind.kind;
    mc.name = name;
    mc.enabled = r.boolean(m, "enabled", path, true);
    mc.type = r.str(m, "type", path, default_type);
    check_type(at(m, "type").IsDefined() ? at(m, "type") : n, path + ".type", mc.type);
    mc.file = r.str(m, "file", path, name);
    if (mc.file.empty() || mc.file.find('/') != std::string::npos || mc.file[0] == '.')
      r.error(at(m, "file").IsDefined() ? at(m, "file") : n, path + ".file",
              "must be a plain file name inside maps.directory (no '/', not starting with '.')");
    mc.owner_name = r.str(m, "owner", path, default_owner);
    mc.group_name = r.str(m, "group", path, default_group);
    mc.mode = r.mode(m, "mode", path, default_mode);
    mc.gates = read_gates(r, at(m, "gates"), path + ".gates", default_gates);
    resolve_owner(r, m, n, path, mc);
    mc.spec = resolve_map_spec(maps.directory, mc);
    maps.maps.push_back(std::move(mc));
  }
  std::set<std::string> files;
  for (const auto& m : maps.maps)
    if (m.enabled && !files.insert(m.file).second)
      r.error(n, "maps." + m.name + ".file", "file name \"" + m.file + "\" is used by two maps");
}

std::vector<std::string> str_list(const Reader& r, const YAML::Node& parent, const char* key, const std::string& path);

void read_render(const Reader& r, const YAML::Node& root, RenderConfig& rc) {
  const YAML::Node n = root["render"];
  r.only_keys(n, "render", {"local_alias_domain", "canonical", "min_accounts", "recursion_limit", "expansion_limit", "list_companions", "moving_transport"});
  rc.moving_transport = r.str(n, "moving_transport", "render", rc.moving_transport);
  // An explicit [] turns companions off; a missing key keeps the default.
  if (const YAML::Node lc = at(n, "list_companions"); lc.IsDefined() && !lc.IsNull())
    rc.list_companions = str_list(r, n, "list_companions", "render");
  for (const std::string& x : rc.list_companions)
    if (x.empty() || x.find_first_of("@ \t,") != std::string::npos)
      r.error(at(n, "list_companions"), "render.list_companions", "\"" + x + "\" is not a local-part suffix such as -request");
  rc.local_alias_domain = r.str(n, "local_alias_domain", "render", rc.local_alias_domain);
  rc.min_accounts = r.number(n, "min_accounts", "render", rc.min_accounts, 0, 100000000);
  rc.recursion_limit = r.number(n, "recursion_limit", "render", rc.recursion_limit, 1, 1000000);
  rc.expansion_limit = r.number(n, "expansion_limit", "render", rc.expansion_limit, 1, 1000000);
  const YAML::Node c = is_map(n) ? n["canonical"] : YAML::Node();
  r.only_keys(c, "render.canonical", {"generate", "key", "value"});
  rc.canonical_generate = r.boolean(c, "generate", "render.canonical", rc.canonical_generate);
  rc.canonical_key = r.str(c, "key", "render.canonical", rc.canonical_key);
  rc.canonical_value = r.str(c, "value", "render.canonical", rc.canonical_value);
  static const std::set<std::string> placeholders = {"uid", "domain", "primary", "primary_local", "given", "surname"};
  for (const auto* tmpl : {&rc.canonical_key, &rc.canonical_value}) {
    const std::string key = tmpl == &rc.canonical_key ? "key" : "value";
    for (std::size_t i = tmpl->find('{'); i != std::string::npos; i = tmpl->find('{', i + 1)) {
      const std::size_t j = tmpl->find('}', i);
      const std::string ph = j == std::string::npos ? "" : tmpl->substr(i + 1, j - i - 1);
      if (!placeholders.count(ph))
        r.error(at(c, key.c_str()), "render.canonical." + key,
                "unknown placeholder in \"" + *tmpl + "\" (known: {uid} {domain} {primary} {primary_local} {given} {surname})");
    }
  }
}

void read_logging(const Reader& r, const YAML::Node& root, LoggingConfig& lc) {
  const YAML::Node n = root["logging"];
  r.only_keys(n, "logging", {"level", "syslog", "facility", "stderr", "quiet_tempfail_runs"});
  const std::string level = r.str(n, "level", "logging", "info");
  if (level == "debug") lc.level = LogLevel::debug;
  else if (level == "info") lc.level = LogLevel::info;
  else if (level == "notice") lc.level = LogLevel::notice;
  else if (level == "warning") lc.level = LogLevel::warning;
  else if (level == "error") lc.level = LogLevel::error;
  else r.error(at(n, "level"), "logging.level", "must be debug, info, notice, warning or error, not \"" + level + "\"");
  lc.syslog = r.boolean(n, "syslog", "logging", true);
  lc.syslog_facility = r.str(n, "facility", "logging", "mail");
  static const std::set<std::string> facilities = {"mail", "daemon", "user", "local0", "local1", "local2",
                                                   "local3", "local4", "local5", "local6", "local7"};
  if (!facilities.count(lc.syslog_facility))
    r.error(at(n, "facility"), "logging.facility", "must be mail, daemon, user or local0..local7");
  lc.stderr_output = r.boolean(n, "stderr", "logging", true);
  lc.quiet_tempfail_runs = r.number(n, "quiet_tempfail_runs", "logging", 3, 0, 1000);
}

std::vector<std::string> str_list(const Reader& r, const YAML::Node& parent, const char* key, const std::string& path) {
  std::vector<std::string> out;
  const YAML::Node n = at(parent, key);
  if (!n.IsDefined() || n.IsNull()) return out;
  if (n.IsScalar()) {
    out.push_back(n.Scalar());
    return out;
  }
  if (!n.IsSequence()) r.error(n, path + "." + key, "must be a value or a list of values");
  for (const auto& v : n) {
    if (!v.IsScalar()) r.error(v, path + "." + key, "must be a list of single values");
    out.push_back(v.Scalar());
  }
  return out;
}

// maps.hooks: [{maps: [transport, relay_domains], command: [/usr/sbin/postfix, reload], timeout: 30}]
void read_hooks(const Reader& r, const YAML::Node& root, MapsConfig& maps) {
  const YAML::Node list = at(at(root, "maps"), "hooks");
  if (!list.IsDefined() || list.IsNull()) return;
  if (!list.IsSequence()) r.error(list, "maps.hooks", "must be a list of {maps, command, timeout}");
  for (std::size_t i = 0; i < list.size(); ++i) {
    const std::string p = "maps.hooks[" + std::to_string(i) + "]";
    r.only_keys(list[i], p, {"maps", "command", "timeout"});
    PublishHook h;
    h.maps = str_list(r, list[i], "maps", p);
    if (h.maps.empty()) r.error(list[i], p + ".maps", "required: the maps whose publish runs the command");
    for (const auto& m : h.maps)
      if (!maps.find(m)) r.error(at(list[i], "maps"), p + ".maps", "\"" + m + "\" is not a map mapsync publishes");
    h.command = str_list(r, list[i], "command", p);
    if (h.command.empty() || h.command[0].empty() || h.command[0][0] != '/')
      r.error(list[i], p + ".command", "required: a list, the program's absolute path first (no shell), "
                                       "e.g. [/usr/sbin/postfix, reload]");
    h.timeout = r.number(list[i], "timeout", p, h.timeout, 1, 3600);
    maps.hooks.push_back(std::move(h));
  }
}

void check_attr(const Reader& r, const YAML::Node& n, const std::string& path, const std::string& v) {
  auto ok = [](const std::string& a) {
    if (a.empty()) return false;
    for (char c : a)
      if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == ';'))
        return false;
    return true;
  };
  if (!ok(v)) r.error(n, path, "not an LDAP attribute name: \"" + v + "\"");
}

// ad.gates: per-run limits, a count or a percentage, each "unlimited" if so written.
void read_ad_gates(const Reader& r, const YAML::Node& g, AdGates& gates) {
  r.only_keys(g, "ad.gates", {"max_creates", "max_creates_percent", "max_disables", "max_disables_percent", "max_deletes",
                              "max_deletes_percent"});
  auto count = [&](const char* key, std::uint64_t def) {
    const std::string s = r.str(g, key, "ad.gates", "");
    if (s.empty()) return def;
    if (s == "unlimited") return UINT64_MAX;
    return static_cast<std::uint64_t>(r.number(g, key, "ad.gates", 0, 0, 4000000000u));
  };
  auto percent = [&](const char* key, double def) {
    const std::string s = r.str(g, key, "ad.gates", "");
    if (s.empty()) return def;
    if (s == "unlimited") return 0.0;
    return static_cast<double>(r.number(g, key, "ad.gates", 0, 1, 100));
  };
  gates.max_creates = count("max_creates", gates.max_creates);
  gates.max_creates_percent = percent("max_creates_percent", gates.max_creates_percent);
  gates.max_disables = count("max_disables", gates.max_disables);
  gates.max_disables_percent = percent("max_disables_percent", gates.max_disables_percent);
  gates.max_deletes = count("max_deletes", gates.max_deletes);
  gates.max_deletes_percent = percent("max_deletes_percent", gates.max_deletes_percent);
}

// ad.placement: the rules that give a new account its delivery, first match wins.
void read_ad_placement(const Reader& r, const YAML::Node& n, std::vector<AdPlacementRule>& placement) {
  const YAML::Node pl = at(n, "placement");
  if (!pl.IsDefined() || pl.IsNull() || !pl.IsSequence() || pl.size() == 0)
    r.error(pl.IsDefined() ? pl : n, "ad.placement",
            "required: a list of rules giving new accounts their delivery (the last one usually matches everything)");
  std::size_t i = 0;
  for (const auto& rule : pl) {
    const std::string rp = "ad.placement[" + std::to_string(i++) + "]";
    r.only_keys(rule, rp, {"name", "ou", "group", "delivery", "backends", "smtp_nexthop", "quota_mb"});
    AdPlacementRule pr;
    pr.name = r.str(rule, "name", rp, rp);
    pr.ou = r.str(rule, "ou", rp, "");
    pr.group = r.str(rule, "group", rp, "");
    const std::string delivery = r.str(rule, "delivery", rp, "", true);
    pr.backends = str_list(r, rule, "backends", rp);
    pr.smtp_nexthop = r.str(rule, "smtp_nexthop", rp, "");
    pr.quota_mb = r.number(rule, "quota_mb", rp, 0, 0, 100000000);
    // The database's words; forward needs targets a placement rule cannot give.
    const auto d = from_sql<Delivery>(delivery);
    if (!d || *d == Delivery::forward)
      r.error(at(rule, "delivery"), rp + ".delivery", "must be cyrus, smtp or none, not \"" + delivery + "\"");
    pr.delivery = *d;
    if (pr.delivery == Delivery::cyrus && pr.backends.empty())
      r.error(rule, rp + ".backends", "delivery cyrus needs one or more back end names");
    if (pr.delivery == Delivery::smtp && pr.smtp_nexthop.empty())
      r.error(rule, rp + ".smtp_nexthop", "delivery smtp needs a next hop, e.g. [exchange.example.edu]");
    placement.push_back(std::move(pr));
  }
}

void read_ad(const Reader& r, const YAML::Node& root, AdConfig& ad) {
  const YAML::Node n = root["ad"];
  if (!n.IsDefined() || n.IsNull()) return;
  ad.present = true;
  const std::string p = "ad";
  r.only_keys(n, p, {"uris", "bind", "keytab", "principal", "krb5_config", "bind_dn", "password_file", "ca_file",
                     "starttls", "timeout", "page_size", "bases", "filter", "member_of", "groups_base", "attributes",
                     "primary_address", "allow_empty_base", "lifecycle", "gates", "placement", "lock_name"});
  ad.uris = str_list(r, n, "uris", p);
  if (ad.uris.empty()) r.error(n, "ad.uris", "required: one or more ldap:// or ldaps:// URIs, tried in order");
  for (const auto& u : ad.uris)
    if (u.rfind("ldap://", 0) != 0 && u.rfind("ldaps://", 0) != 0)
      r.error(at(n, "uris"), "ad.uris", "\"" + u + "\" is not an ldap:// or ldaps:// URI");
  const std::string bind = r.str(n, "bind", p, "gssapi");
  if (bind == "gssapi") ad.bind = AdBind::gssapi;
  else if (bind == "simple") ad.bind = AdBind::simple;
  else r.error(at(n, "bind"), "ad.bind", "must be gssapi or simple, not \"" + bind + "\"");
  ad.keytab = r.str(n, "keytab", p, "");
  ad.principal = r.str(n, "principal", p, "");
  ad.krb5_config = r.str(n, "krb5_config", p, "");
  ad.bind_dn = r.str(n, "bind_dn", p, "");
  ad.password_file = r.str(n, "password_file", p, "");
  ad.ca_file = r.str(n, "ca_file", p, "");
  ad.starttls = r.boolean(n, "starttls", p, false);
  if (ad.bind == AdBind::gssapi && ad.keytab.empty())
    r.error(n, "ad.keytab", "required with bind: gssapi (the service account's keytab, mode 0600)");
  if (ad.bind == AdBind::simple) {
    if (ad.bind_dn.empty() || ad.password_file.empty())
      r.error(n, "ad.bind_dn", "bind: simple needs bind_dn and password_file");
    for (const auto& u : ad.uris)
      if (u.rfind("ldaps://", 0) != 0 && !ad.starttls)
        r.error(at(n, "uris"), "ad.uris",
                "a simple bind sends the password: \"" + u + "\" needs ldaps:// or starttls: true");
  }
  ad.timeout = r.number(n, "timeout", p, ad.timeout, 1, 3600);
  ad.page_size = r.number(n, "page_size", p, ad.page_size, 1, 100000);
  ad.bases = str_list(r, n, "bases", p);
  if (ad.bases.empty()) r.error(n, "ad.bases", "required: the base DNs to search (e.g. OU=Staff,DC=example,DC=edu)");
  ad.filter = r.str(n, "filter", p, ad.filter);
  if (ad.filter.empty() || ad.filter.front() != '(' || ad.filter.back() != ')')
    r.error(at(n, "filter"), "ad.filter", "must be an LDAP filter in parentheses");
  ad.member_of = r.str(n, "member_of", p, "");
  ad.groups_base = r.str(n, "groups_base", p, "");
  const YAML::Node a = at(n, "attributes");
  const std::string ap = "ad.attributes";
  r.only_keys(a, ap, {"uid", "given_name", "surname", "display_name", "mail", "proxy_addresses", "anchor"});
  struct {
    const char* key;
    std::string* field;
  } attrs[] = {{"uid", &ad.attr_uid},         {"given_name", &ad.attr_given}, {"surname", &ad.attr_surname},
               {"display_name", &ad.attr_display}, {"mail", &ad.attr_mail},  {"proxy_addresses", &ad.attr_proxy},
               {"anchor", &ad.attr_anchor}};
  for (auto& at_ : attrs) {
    *at_.field = r.str(a, at_.key, ap, *at_.field);
    check_attr(r, at(a, at_.key).IsDefined() ? at(a, at_.key) : n, ap + "." + at_.key, *at_.field);
  }
  const std::string primary = r.str(n, "primary_address", p, "proxy");
  if (primary == "proxy") ad.primary_from_proxy = true;
  else if (primary == "mail") ad.primary_from_proxy = false;
  else r.error(at(n, "primary_address"), "ad.primary_address", "must be proxy (the SMTP: proxyAddress, else mail) or mail");
  ad.allow_empty_base = r.boolean(n, "allow_empty_base", p, false);
  const YAML::Node l = at(n, "lifecycle");
  r.only_keys(l, "ad.lifecycle", {"disable_after_misses", "pending_delete_after_days", "full_sync_hours"});
  ad.disable_after_misses = r.number(l, "disable_after_misses", "ad.lifecycle", ad.disable_after_misses, 1, 1000);
  ad.pending_delete_after_days = r.number(l, "pending_delete_after_days", "ad.lifecycle", ad.pending_delete_after_days, 0, 36500);
  ad.full_sync_hours = r.number(l, "full_sync_hours", "ad.lifecycle", ad.full_sync_hours, 0, 24 * 366);
  read_ad_gates(r, at(n, "gates"), ad.gates);
  read_ad_placement(r, n, ad.placement);
  ad.lock_name = r.str(n, "lock_name", p, ad.lock_name);
}

// One of a key's words, turned into its enum here and nowhere else. An unknown word is
// refused naming the file, line and key, and the words there are (in the table's order).
template <class E>
E choose(const Reader& r, const YAML::Node& parent, const char* key, const std::string& path, E def,
         std::initializer_list<std::pair<const char*, E>> words) {
  const std::string def_word = std::find_if(words.begin(), words.end(), [&](const auto& w) { return w.second == def; })->first;
  const std::string given = r.str(parent, key, path, def_word);
  for (const auto& [word, value] : words)
    if (given == word) return value;
  std::string list;
  std::size_t i = 0;
  for (const auto& w : words) list += (i++ == 0 ? "" : i == words.size() ? " or " : ", ") + std::string(w.first);
  r.error(at(parent, key), path + "." + key, "must be " + list + ", not \"" + given + "\"");
}

// "22:00" -> minutes after midnight; false when it is not HH:MM.
bool clock_minutes(const std::string& s, unsigned& out) {
  if (s.size() != 5 || s[2] != ':' || !std::isdigit(static_cast<unsigned char>(s[0])) ||
      !std::isdigit(static_cast<unsigned char>(s[1])) || !std::isdigit(static_cast<unsigned char>(s[3])) ||
      !std::isdigit(static_cast<unsigned char>(s[4])))
    return false;
  const unsigned h = static_cast<unsigned>((s[0] - '0') * 10 + (s[1] - '0'));
  const unsigned m = static_cast<unsigned>((s[3] - '0') * 10 + (s[4] - '0'));
  out = h * 60 + m;
  return h < 24 && m < 60;
}

void read_cyrus_moves(const Reader& r, const YAML::Node& n, CyrusMoves& m) {
  const std::string p = "cyrus.moves";
  r.only_keys(n, p, {"timeout", "mupdate_wait", "window", "wait_for_hubs", "hub_wait", "batch", "parallel",
                    "policy", "max_moves", "max_mb"});
  m.wait_for_hubs = r.boolean(n, "wait_for_hubs", p, m.wait_for_hubs);
  m.hub_wait = r.number(n, "hub_wait", p, m.hub_wait, 1, 86400);
  m.batch = r.number(n, "batch", p, m.batch, 1, 10000);
  m.parallel = r.number(n, "parallel", p, m.parallel, 1, 16);
  m.timeout = r.number(n, "timeout", p, m.timeout, 1, 86400);
  m.mupdate_wait = r.number(n, "mupdate_wait", p, m.mupdate_wait, 0, 3600);
  const std::string window = r.str(n, "window", p, "");
  if (!window.empty()) {
    const auto dash = window.find('-');
    if (dash == std::string::npos || !clock_minutes(window.substr(0, dash), m.window_start) ||
        !clock_minutes(window.substr(dash + 1), m.window_end))
      r.error(at(n, "window"), p + ".window", "must be HH:MM-HH:MM (local time), e.g. 22:00-06:00, not \"" + window + "\"");
  }
  m.policy = choose(r, n, "policy", p, m.policy, {{"count", RebalancePolicy::count}, {"quota", RebalancePolicy::quota}});
  m.max_moves = r.number(n, "max_moves", p, m.max_moves, 1, 1000000);
  m.max_bytes = std::uint64_t{r.number(n, "max_mb", p, 0, 0, 1u << 30)} << 20;
}

void read_cyrus(const Reader& r, const YAML::Node& root, CyrusConfig& c) {
  const YAML::Node n = root["cyrus"];
  if (!n.IsDefined() || n.IsNull()) return;
  c.present = true;
  const std::string p = "cyrus";
  r.only_keys(n, p, {"unix_separator", "virtual_domains", "admin_user", "auth", "password_file", "keytab", "principal",
                     "krb5_config", "tls", "ca_file", "allow_plaintext", "imaps_port", "via", "frontend", "placement",
                     "weights", "quota_mb", "acls", "folders", "pipeline", "connections", "timeout", "retry",
                     "lock_name", "moves"});
  c.unix_separator = r.boolean(n, "unix_separator", p, c.unix_separator);
  c.virtual_domains = r.boolean(n, "virtual_domains", p, c.virtual_domains);
  c.admin_user = r.str(n, "admin_user", p, c.admin_user);
  c.auth = choose(r, n, "auth", p, c.auth, {{"password", CyrusAuth::password}, {"gssapi", CyrusAuth::gssapi}});
  c.password_file = r.str(n, "password_file", p, "", c.auth == CyrusAuth::password);
  c.keytab = r.abs_path(n, "keytab", p, c.auth == CyrusAuth::gssapi);
  c.principal = r.str(n, "principal", p, "");
  c.krb5_config = r.abs_path(n, "krb5_config", p);
  c.tls = choose(r, n, "tls", p, c.tls, {{"starttls", ImapTls::starttls}, {"imaps", ImapTls::imaps}, {"none", ImapTls::none}});
  c.ca_file = r.str(n, "ca_file", p, "");
  c.allow_plaintext = r.boolean(n, "allow_plaintext", p, false);
  if (c.tls == ImapTls::none && !c.allow_plaintext)
    r.error(at(n, "tls"), "cyrus.tls", "none sends the admin password in clear: set allow_plaintext: true to mean it");
  c.imaps_port = r.number(n, "imaps_port", p, c.imaps_port, 1, 65535);
  c.via = choose(r, n, "via", p, c.via, {{"backend", CyrusVia::backend}, {"frontend", CyrusVia::frontend}});
  const YAML::Node fe = at(n, "frontend");
  r.only_keys(fe, "cyrus.frontend", {"host", "port"});
  c.frontend_host = r.str(fe, "host", "cyrus.frontend", "");
  c.frontend_port = r.number(fe, "port", "cyrus.frontend", c.frontend_port, 1, 65535);
  if (c.via == CyrusVia::frontend && c.frontend_host.empty())
    r.error(n, "cyrus.frontend.host", "required with via: frontend");
  c.placement = choose(r, n, "placement", p, c.placement,
                       {{"recorded", CyrusPlacement::recorded}, {"fewest", CyrusPlacement::fewest},
                        {"weights", CyrusPlacement::weights}});
  const YAML::Node w = at(n, "weights");
  if (w.IsDefined() && !w.IsNull()) {
    if (!w.IsMap()) r.error(w, "cyrus.weights", "must map back end names to weights");
    for (const auto& kv : w)
      c.weights[kv.first.as<std::string>()] = r.number(w, kv.first.as<std::string>().c_str(), "cyrus.weights", 1, 0, 1000000);
  }
  if (c.placement == CyrusPlacement::weights && c.weights.empty()) r.error(n, "cyrus.weights", "required with placement: weights");
  c.quota_mb = r.number(n, "quota_mb", p, 0, 0, 100000000);
  c.acls = str_list(r, n, "acls", p);
  for (const auto& a : c.acls)
    if (a.find(' ') == std::string::npos || a.find(' ') != a.rfind(' '))
      r.error(at(n, "acls"), "cyrus.acls", "\"" + a + "\" must be IDENTIFIER RIGHTS, e.g. \"anyone p\"");
  const YAML::Node f = at(n, "folders");
  if (f.IsDefined() && !f.IsNull()) {
    if (!f.IsSequence()) r.error(f, "cyrus.folders", "must be a list");
    for (const auto& item : f) {
      CyrusFolder folder;
      if (item.IsScalar()) {
        folder.name = item.Scalar();
      } else {
        r.only_keys(item, "cyrus.folders[]", {"name", "special_use"});
        folder.name = r.str(item, "name", "cyrus.folders[]", "", true);
        folder.special_use = r.str(item, "special_use", "cyrus.folders[]", "");
      }
      static const std::set<std::string> uses = {"", "\\All", "\\Archive", "\\Drafts", "\\Flagged",
                                                 "\\Junk", "\\Sent", "\\Trash"};
      if (!uses.count(folder.special_use))
        r.error(item, "cyrus.folders", "special_use \"" + folder.special_use + "\" is not an RFC 6154 attribute (\\Sent, \\Drafts, \\Trash, \\Junk, ...)");
      c.folders.push_back(folder);
    }
  }
  c.pipeline = r.number(n, "pipeline", p, c.pipeline, 1, 10000);
  c.connections = r.number(n, "connections", p, c.connections, 1, 64);
  c.timeout = r.number(n, "timeout", p, c.timeout, 1, 3600);
  const YAML::Node rt = at(n, "retry");
  r.only_keys(rt, "cyrus.retry", {"base_seconds", "max_seconds", "max_attempts"});
  c.retry_base_seconds = r.number(rt, "base_seconds", "cyrus.retry", c.retry_base_seconds, 0, 86400);
  c.retry_max_seconds = r.number(rt, "max_seconds", "cyrus.retry", c.retry_max_seconds, 0, 86400 * 30);
  c.max_attempts = r.number(rt, "max_attempts", "cyrus.retry", c.max_attempts, 1, 100000);
  c.lock_name = r.str(n, "lock_name", p, c.lock_name);
  read_cyrus_moves(r, at(n, "moves"), c.moves);
}

}  // namespace

Config parse_config(const std::string& text, const std::string& name) {
  Reader r(name);
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    fail(Exit::config, name + ":" + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
  if (!root.IsMap()) fail(Exit::config, name + ": the config must be a YAML mapping (database:, maps:, ...)");
  Config c;
  c.path = name;
  try {
    std::size_t budget = kConfigNodeLimit;
    r.no_duplicate_keys(root, "", budget);
    r.only_keys(root, "", {"database", "fleet", "maps", "render", "logging", "metrics", "ad", "cyrus"});
    read_database(r, root, c.database);
    read_fleet(r, root, c.database.fleet);
    read_maps(r, root, c.maps);
    read_hooks(r, root, c.maps);
    read_ad(r, root, c.ad);
    read_cyrus(r, root, c.cyrus);
    read_render(r, root, c.render);
    read_logging(r, root, c.logging);
    const YAML::Node metrics = at(root, "metrics");
    r.only_keys(metrics, "metrics", {"textfile", "adsync_textfile", "mboxsync_textfile"});
    c.metrics.textfile = r.abs_path(metrics, "textfile", "metrics");
    c.ad.metrics_textfile = r.abs_path(metrics, "adsync_textfile", "metrics");
    c.cyrus.metrics_textfile = r.abs_path(metrics, "mboxsync_textfile", "metrics");
  } catch (const YAML::Exception& e) {
    fail(Exit::config, name + ":" + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
  return c;
}

}  // namespace mapsync
