// endpoints.cpp - see endpoints.h.
#include "libmapsync/db/endpoints.h"

#include <algorithm>
#include <string>

#include "libmapsync/core/error.h"
#include "libmapsync/core/log.h"

namespace mapsync {

std::vector<DbEndpoint> endpoints_of(const DatabaseConfig& db) {
  if (!db.endpoints.empty()) return db.endpoints;
  DbEndpoint e;
  e.host = db.host;
  e.port = db.port;
  e.socket = db.socket;
  return {e};
}

DatabaseConfig at_endpoint(const DatabaseConfig& db, const DbEndpoint& e) {
  DatabaseConfig c = db;
  c.host = e.socket.empty() ? e.host : "";
  c.port = e.port;
  c.socket = e.socket;
  return c;
}

std::string endpoint_name(const DbEndpoint& e) {
  return e.socket.empty() ? e.host + ":" + std::to_string(e.port) : e.socket;
}

const char* role_name(EndpointRole r) {
  switch (r) {
    case EndpointRole::primary: return "primary";
    case EndpointRole::replica: return "replica";
    case EndpointRole::galera: return "galera";
    case EndpointRole::automatic: break;
  }
  return "auto";
}

namespace {

// Empty when d may be written to; otherwise why not. Also refuses (as a reason) a Galera
// node that cannot serve reads: not synced, or cut off from the primary component.
std::string unusable(const ServerState& s, const DbEndpoint& e, bool for_writing) {
  if (e.role == EndpointRole::galera && !s.galera) return "role galera, but the server is not a Galera node (wsrep_on is OFF)";
  if (s.galera && !s.synced) return "Galera node not synced (" + s.galera_state + ")";
  if (!for_writing) return {};
  if (e.role == EndpointRole::replica) return "a replica (role replica)";
  if (!s.galera && s.read_only) return "read_only is ON (a replica?)";
  return {};
}

struct SerialAt {
  std::uint64_t serial = 0;
  double changed_at = 0;  // unix time of the last change this server has applied
  double now = 0;         // the server's clock
  unsigned schema = 0;    // schema_version (for_reader only)
  FleetHold hold;         // for_reader only
};

// Plain statements, each one round trip (a prepared one takes two); for_reader brings the
// schema version and the fleet hold along: a hub that finds nothing changed spends most of
// its run waiting for the server's answers.
SerialAt serial_at(Database& d, bool for_reader = false) {
  SerialAt s;
  bool found = false;
  d.each_row(std::string("SELECT s.serial, UNIX_TIMESTAMP(s.changed_at), UNIX_TIMESTAMP(NOW(6))") +
                 (for_reader ? std::string(", (SELECT COALESCE(MAX(version), 0) FROM schema_version), ") + kFleetHoldColumns +
                                   " FROM change_serial s LEFT JOIN fleet_control f ON f.id = 1"
                             : std::string(" FROM change_serial s")) +
                 " WHERE s.id = 1",
             "reading the change serial", [&](const SqlRow& r) {
               s.serial = r.u64(1);
               s.changed_at = std::stod("0" + r.str(2));
               s.now = std::stod("0" + r.str(3));
               if (for_reader) {
                 s.schema = static_cast<unsigned>(r.u64(4));
                 s.hold = fleet_hold_from(r, 5);
               }
               found = true;
             });
  if (!found) fail(Exit::data, d.where() + ": table change_serial has no row id=1");
  return s;
}

// The serial and hold of a reader's session (opened with SchemaCheck::by_caller), and the
// schema check that `check` asks for done with them. A database without our tables fails
// the statement: the check alone then says what is wrong ("create it with mapsync migrate").
SerialAt checked_serial_at(Database& d, SchemaCheck check) {
  const bool checking = check == SchemaCheck::on_connect;
  SerialAt s;
  try {
    s = serial_at(d, true);
  } catch (const Error&) {
    if (checking) d.check_schema(d.schema_version());
    throw;
  }
  if (checking) d.check_schema(s.schema);
  return s;
}

void pass_over(std::vector<std::string>& list, const std::string& name, const std::string& why) {
  log::warning("database endpoint " + name + " passed over: " + why);
  list.push_back(name + ": " + why);
}

[[noreturn]] void none_left(const char* what, const std::vector<std::string>& reasons, bool all_config) {
  std::string all;
  for (const auto& r : reasons) all += "\n  " + r;
  fail(all_config ? Exit::config : Exit::tempfail, std::string("no database endpoint to ") + what + " (tried in order):" + all);
}

// The first writable endpoint but skip, with connections of timeout seconds when set.
std::unique_ptr<Database> first_writer(const DatabaseConfig& db, std::size_t skip, unsigned timeout, SchemaCheck check,
                                       std::vector<std::string>& reasons, bool& all_config) {
  const auto eps = endpoints_of(db);
  for (std::size_t i = 0; i < eps.size(); ++i) {
    const DbEndpoint& e = eps[i];
    if (i == skip || e.role == EndpointRole::replica) continue;
    DatabaseConfig c = at_endpoint(db, e);
    if (timeout) {
      c.connect_timeout = std::min(c.connect_timeout, timeout);
      c.read_timeout = std::min(c.read_timeout, timeout);
    }
    try {
      auto d = std::make_unique<Database>(c, check);
      if (db.endpoints.empty()) return d;  // one server: nothing to choose
      const std::string why = unusable(d->server_state(), e, true);
      if (why.empty()) return d;
      reasons.push_back(endpoint_name(e) + ": " + why);
      all_config = false;
    } catch (const Error& x) {
      reasons.push_back(endpoint_name(e) + ": cannot connect: " + x.what());
      all_config = all_config && x.status() == Exit::config;
    }
  }
  return nullptr;
}

}  // namespace

ReaderChoice connect_reader(const DatabaseConfig& db, std::uint64_t min_serial, SchemaCheck check) {
  const auto eps = endpoints_of(db);
  ReaderChoice out;
  bool all_config = true;
  bool writer_tried = false;
  for (std::size_t i = 0; i < eps.size(); ++i) {
    const DbEndpoint& e = eps[i];
    const std::string name = endpoint_name(e);
    try {
      // The schema is checked with the serial, below: one round trip fewer.
      auto d = std::make_unique<Database>(at_endpoint(db, e), SchemaCheck::by_caller);
      bool can_write = true;
      if (!db.endpoints.empty()) {
        const ServerState st = d->server_state();
        const std::string why = unusable(st, e, false);
        if (!why.empty()) {
          all_config = false;
          pass_over(out.passed_over, name, why);
          continue;
        }
        can_write = unusable(st, e, true).empty();
        // A hub that moves between Galera nodes must not read one that has not yet applied
        // what another already showed it: causal reads.
        if (st.galera) d->execute("SET SESSION wsrep_sync_wait = 1", "asking for causal reads");
      }
      const SerialAt here = checked_serial_at(*d, check);
      if (here.serial < min_serial) {
        all_config = false;
        pass_over(out.passed_over, name,
                  "behind: serial " + std::to_string(here.serial) + ", and this hub already published serial " +
                      std::to_string(min_serial));
        continue;
      }
      std::uint64_t lag_serials = 0;
      double lag_seconds = 0;
      if (!can_write && !writer_tried) {
        writer_tried = true;
        std::vector<std::string> ignored;
        bool ignored_config = true;
        out.writer = first_writer(db, i, std::min(db.connect_timeout, 5u), SchemaCheck::by_caller, ignored, ignored_config);
      }
      if (!can_write && out.writer) {
        try {
          const SerialAt w = serial_at(*out.writer);
          if (w.serial > here.serial) {
            lag_serials = w.serial - here.serial;
            lag_seconds = std::max(0.0, w.now - here.changed_at);
          }
        } catch (const Error& x) {
          log::debug("cannot measure the lag of " + name + " against " + out.writer->endpoint() + ": " + x.what());
          out.writer.reset();
        }
      }
      if (db.max_lag && lag_seconds > db.max_lag) {
        all_config = false;
        pass_over(out.passed_over, name,
                  "lag: " + std::to_string(lag_serials) + " changes behind " + (out.writer ? out.writer->endpoint() : "") +
                      ", its newest change " + std::to_string(static_cast<long long>(lag_seconds)) +
                      " s older (database.max_lag " + std::to_string(db.max_lag) + ")");
        continue;
      }
      if (lag_serials)
        log::info("database endpoint " + name + " is " + std::to_string(lag_serials) + " changes behind " +
                  out.writer->endpoint() + " (lag up to " + std::to_string(static_cast<long long>(lag_seconds)) + " s)");
      out.db = std::move(d);
      out.endpoint = name;
      out.serial = here.serial;
      out.hold = here.hold;
      out.lag_serials = lag_serials;
      out.lag_seconds = lag_seconds;
      out.writable = can_write;
      return out;
    } catch (const Error& x) {
      all_config = all_config && x.status() == Exit::config;
      if (eps.size() == 1) throw;  // one server: its own message, as before
      pass_over(out.passed_over, name, std::string("cannot connect or read: ") + x.what());
    }
  }
  none_left("read from", out.passed_over, all_config);
}

std::unique_ptr<Database> connect_writer(const DatabaseConfig& db, SchemaCheck check) {
  if (db.endpoints.empty()) return std::make_unique<Database>(db, check);
  std::vector<std::string> reasons;
  bool all_config = true;
  auto d = first_writer(db, static_cast<std::size_t>(-1), 0, check, reasons, all_config);
  for (const auto& r : reasons) log::warning("database endpoint " + r + " (passed over for writing)");
  if (!d) none_left("write to", reasons, all_config);
  log::debug("writing to " + d->endpoint());
  return d;
}

DatabaseConfig writer_config(const DatabaseConfig& db) {
  if (db.endpoints.empty()) return db;
  const auto d = connect_writer(db, SchemaCheck::by_caller);
  const std::string name = d->endpoint();
  for (const DbEndpoint& e : db.endpoints)
    if (endpoint_name(e) == name) return at_endpoint(db, e);
  return db;  // not reached: d is one of them
}

std::unique_ptr<Database> try_connect_writer(const DatabaseConfig& db, unsigned timeout, std::string& why) {
  std::vector<std::string> reasons;
  bool all_config = true;
  auto d = first_writer(db, static_cast<std::size_t>(-1), timeout, SchemaCheck::by_caller, reasons, all_config);
  if (!d) {
    why.clear();
    for (const auto& r : reasons) why += (why.empty() ? "" : "; ") + r;
  }
  return d;
}

}  // namespace mapsync
