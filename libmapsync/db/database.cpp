// database.cpp - the user database through MySQL Connector/C++ 1.1: the one module that
// includes it. Sessions, classified errors, the schema check and migrations.
#include "libmapsync/db/database.h"

#include <cppconn/connection.h>
#include <cppconn/driver.h>
#include <cppconn/exception.h>
#include <cppconn/prepared_statement.h>
#include <cppconn/resultset.h>
#include <cppconn/statement.h>
#include <mysql_driver.h>

#include <algorithm>
#include <memory>
#include <type_traits>
#include <unordered_map>
#include <variant>

#include "libmapsync/core/error.h"
#include "libmapsync/core/log.h"
#include "libmapsync/db/endpoints.h"
#include "libmapsync/db/schema.h"
#include "libmapsync/core/secret.h"
#include "libmapsync/core/signals.h"
#include "libmapsync/core/testhooks.h"

namespace mapsync {
namespace {

std::string where(const DatabaseConfig& db) {
  std::string s = db.socket.empty() ? db.host + ":" + std::to_string(db.port) : db.socket;
  return "database " + s + "/" + db.database;
}

// Server and client error codes that mean "not now" rather than "not like this".
bool is_temporary(int code) {
  switch (code) {
    case 1040:  // ER_CON_COUNT_ERROR: too many connections
    case 1047:  // ER_UNKNOWN_COM_ERROR: a Galera node not (yet) synced or not in the primary component
    case 1053:  // ER_SERVER_SHUTDOWN
    case 1205:  // ER_LOCK_WAIT_TIMEOUT
    case 1213:  // ER_LOCK_DEADLOCK
    case 1290:  // ER_OPTION_PREVENTS_STATEMENT: read_only (a replica, a primary being failed over)
    case 1927:  // ER_CONNECTION_KILLED
    case 2002:  // CR_CONNECTION_ERROR (socket)
    case 2003:  // CR_CONN_HOST_ERROR
    case 2005:  // CR_UNKNOWN_HOST (DNS may be down)
    case 2006:  // CR_SERVER_GONE_ERROR
    case 2013:  // CR_SERVER_LOST
    case 2055:  // CR_SERVER_LOST_EXTENDED
      return true;
    default:
      return false;
  }
}

bool is_config(int code) {
  switch (code) {
    // CR_SSL_CONNECTION_ERROR: a certificate that does not verify (wrong CA, host name not in it),
    // a CA/cert/key file that cannot be used, or a server without TLS where TLS is required. Waiting
    // does not fix these, and 75 is silent under systemd (SuccessExitStatus=75): maps would stay
    // stale unnoticed. A rare handshake cut short by the network is reported as 78 too; the next
    // run tries again anyway.
    case 2026:
    case 1044:  // ER_DBACCESS_DENIED_ERROR
    case 1045:  // ER_ACCESS_DENIED_ERROR
    case 1049:  // ER_BAD_DB_ERROR
    case 1142:  // ER_TABLEACCESS_DENIED_ERROR
    case 1143:  // ER_COLUMNACCESS_DENIED_ERROR
    case 1146:  // ER_NO_SUCH_TABLE
    case 1054:  // ER_BAD_FIELD_ERROR: schema does not match
    case 1698:  // ER_ACCESS_DENIED_NO_PASSWORD_ERROR
      return true;
    default:
      return false;
  }
}

[[noreturn]] void rethrow(const DatabaseConfig& db, const std::string& doing, const sql::SQLException& e) {
  const int code = e.getErrorCode();
  std::string msg = where(db) + ": " + doing + ": " + e.what() + " (error " + std::to_string(code) + ")";
  Exit status = Exit::tempfail;  // unknown trouble: let cron try again rather than publish nothing
  if (is_config(code)) status = Exit::config;
  else if (!is_temporary(code) && code >= 1000 && code < 2000) status = Exit::software;
  if (code == 1045) msg += "; check database.user and the password in " + db.password_file;
  if (code == 1146) msg += "; is the mapsync schema loaded? (mapsync migrate)";
  throw Error(status, msg, code);
}

class Connection {
 public:
  explicit Connection(const DatabaseConfig& db) : db_(db) {
    sql::ConnectOptionsMap opts;
    if (!db.socket.empty()) opts["hostName"] = sql::SQLString("unix://" + db.socket);
    else opts["hostName"] = sql::SQLString("tcp://" + db.host + ":" + std::to_string(db.port));
    opts["userName"] = sql::SQLString(db.user);
    std::string password;
    if (!db.password_file.empty()) password = read_secret_file(db.password_file, "database.password_file");
    opts["password"] = sql::SQLString(password);
    opts["schema"] = sql::SQLString(db.database);
    opts["OPT_CHARSET_NAME"] = sql::SQLString("utf8mb4");
    opts["OPT_CONNECT_TIMEOUT"] = static_cast<int>(db.connect_timeout);
    opts["OPT_READ_TIMEOUT"] = static_cast<int>(db.read_timeout);
    opts["OPT_WRITE_TIMEOUT"] = static_cast<int>(db.read_timeout);
    opts["OPT_RECONNECT"] = false;  // a reconnect in mid-snapshot would silently lose the snapshot
    // TLS. Connector/C++ 1.1.12 on Debian 12 is linked against libmariadb (MariaDB Connector/C
    // 3.3), and there (checked against MariaDB 10.11, tests/integration/database_tls.sh):
    // - OPT_SSL_MODE never reaches the client library: it is silently ignored;
    // - sslCA/sslCert/sslKey (mysql_ssl_set) ask for TLS; with a CA file the handshake checks the
    //   certificate chain against it, but not the host name;
    // - sslEnforce (MYSQL_OPT_SSL_ENFORCE) asks for TLS but quietly stays plaintext when the server,
    //   or a man in the middle, offers none;
    // - sslVerify (MYSQL_OPT_SSL_VERIFY_SERVER_CERT) checks the chain AND the host name (IP or DNS
    //   subjectAltName) and refuses a server without TLS, all before authenticating.
    // Hence: verify_identity = sslVerify + ca_file; required = sslEnforce plus the check after
    // connecting below; preferred = sslEnforce (TLS when offered); disabled = no TLS at all.
    // verify_ca (chain but not host name, failing closed) is impossible here: the config refuses
    // it; should one get here anyway it is treated as verify_identity, never weaker.
    const char* tls_mode_name = "preferred";
    bool tls_required = false;
    if (db.socket.empty()) {
      switch (db.tls_mode) {
        case TlsMode::disabled: tls_mode_name = "disabled"; break;
        case TlsMode::preferred: tls_mode_name = "preferred"; break;
        case TlsMode::required: tls_mode_name = "required"; break;
        case TlsMode::verify_ca: tls_mode_name = "verify_ca"; break;
        case TlsMode::verify_identity: tls_mode_name = "verify_identity"; break;
      }
      const bool tls = db.tls_mode != TlsMode::disabled;
      const bool verify = db.tls_mode == TlsMode::verify_ca || db.tls_mode == TlsMode::verify_identity;
      tls_required = tls && db.tls_mode != TlsMode::preferred;
      opts["sslEnforce"] = tls;
      opts["sslVerify"] = verify;
      if (tls) {  // any of these files turns TLS on, so none of them when it is disabled
        if (!db.tls_ca_file.empty()) opts["sslCA"] = sql::SQLString(db.tls_ca_file);
        if (!db.tls_cert_file.empty()) opts["sslCert"] = sql::SQLString(db.tls_cert_file);
        if (!db.tls_key_file.empty()) opts["sslKey"] = sql::SQLString(db.tls_key_file);
      }
    }
    try {
      sql::mysql::MySQL_Driver* driver = sql::mysql::get_mysql_driver_instance();
      conn_.reset(driver->connect(opts));
    } catch (const sql::SQLException& e) {
      wipe(password);
      std::string doing = "cannot connect";
      if (e.getErrorCode() == 2026) {
        doing += std::string(" over TLS (database.tls.mode ") + tls_mode_name;
        if (db.tls_mode == TlsMode::verify_ca || db.tls_mode == TlsMode::verify_identity)
          doing += ": the server's certificate must be signed by the CA in " + db.tls_ca_file + " and name " + db.host;
        else if (!db.tls_ca_file.empty())
          doing += ", ca_file " + db.tls_ca_file;
        doing += ")";
      } else if (db.socket.empty() && db.tls_mode == TlsMode::disabled && e.getErrorCode() == 1045) {
        doing += " without TLS (database.tls.mode disabled; a user that is REQUIRE SSL is refused then)";
      }
      rethrow(db, doing, e);
    }
    wipe(password);
    if (tls_required) {
      // libmariadb's sslEnforce falls back to plaintext; the server knows what the session is.
      std::string cipher;
      each_row("SHOW SESSION STATUS LIKE 'Ssl_cipher'", "checking that the connection is encrypted",
               [&](sql::ResultSet& r) { cipher = r.getString(2); });
      if (cipher.empty())
        fail(Exit::config, where(db) + ": database.tls.mode is " + tls_mode_name +
                               ", but the connection is not encrypted: the server offers no TLS (ssl_cert/ssl_key)");
      log::debug(where(db) + ": TLS with cipher " + cipher);
    }
  }

  void execute(const std::string& q, const std::string& doing) {
    try {
      std::unique_ptr<sql::Statement> st(conn_->createStatement());
      st->execute(q);
    } catch (const sql::SQLException& e) {
      rethrow(db_, doing, e);
    }
  }

  // Streams the rows of q to fn (forward-only: a million rows cost no client memory).
  template <class Fn>
  std::size_t each_row(const std::string& q, const std::string& doing, Fn fn) {
    return drain(doing, fn, [&] {
      std::unique_ptr<sql::Statement> st(conn_->createStatement());
      st->setResultSetType(sql::ResultSet::TYPE_FORWARD_ONLY);
      std::unique_ptr<sql::ResultSet> rs(st->executeQuery(q));
      return Result{std::move(st), std::move(rs)};
    });
  }

  // Single value of a one-row query; returns false when there is no row.
  bool scalar(const std::string& q, const std::string& doing, std::uint64_t& out) {
    bool found = false;
    each_row(q, doing, [&](sql::ResultSet& rs) {
      out = rs.isNull(1) ? 0 : rs.getUInt64(1);
      found = true;
    });
    return found;
  }

  // 0 when the schema_version table is missing. One round trip, not a look in
  // information_schema first: every run, no-op runs too, starts with this.
  unsigned schema_version() {
    std::uint64_t v = 0;
    try {
      std::unique_ptr<sql::Statement> st(conn_->createStatement());
      std::unique_ptr<sql::ResultSet> rs(st->executeQuery("SELECT COALESCE(MAX(version), 0) FROM schema_version"));
      if (rs->next() && !rs->isNull(1)) v = rs->getUInt64(1);
    } catch (const sql::SQLException& e) {
      if (e.getErrorCode() != 1146) rethrow(db_, "reading the schema version", e);  // ER_NO_SUCH_TABLE
    }
    return static_cast<unsigned>(v);
  }

  std::uint64_t update(const std::string& q, const SqlParams& params, const std::string& doing) {
    try {
      Prepared st = prepare(q, params);
      return static_cast<std::uint64_t>(st.get().executeUpdate());
    } catch (const sql::SQLException& e) {
      rethrow(db_, doing, e);
    }
  }

  template <class Fn>
  std::size_t query(const std::string& q, const SqlParams& params, const std::string& doing, Fn fn) {
    return drain(doing, fn, [&] {
      Prepared st = prepare(q, params);
      std::unique_ptr<sql::ResultSet> rs(st.get().executeQuery());
      return Result{std::move(st), std::move(rs)};
    });
  }

 private:
  // Statements are prepared once per session and kept: mapadm's bulk changes and the
  // importers send the same few statements thousands of times, and each fresh prepare
  // is a round trip and a parse on the server. One that is busy (its rows still being
  // read by a caller that asks the same query again) is not reused: that call gets a
  // statement of its own.
  struct Cached {
    std::unique_ptr<sql::PreparedStatement> statement;
    bool busy = false;
  };
  class Prepared {
   public:
    Prepared(Cached* c, std::unique_ptr<sql::PreparedStatement> own) : cached_(c), own_(std::move(own)) {
      if (cached_) cached_->busy = true;
    }
    Prepared(Prepared&& o) noexcept : cached_(o.cached_), own_(std::move(o.own_)) { o.cached_ = nullptr; }
    Prepared& operator=(Prepared&&) = delete;
    ~Prepared() {
      if (cached_) cached_->busy = false;
    }
    sql::PreparedStatement& get() { return cached_ ? *cached_->statement : *own_; }

   private:
    Cached* cached_;
    std::unique_ptr<sql::PreparedStatement> own_;
  };
  static constexpr std::size_t kMaxCached = 128;

  Prepared prepare(const std::string& q, const SqlParams& params) {
    auto it = cache_.find(q);
    if (it == cache_.end() && cache_.size() >= kMaxCached) {
      // Statements built per call (a batch of n rows) would grow the cache without end.
      for (auto i = cache_.begin(); i != cache_.end();) i = i->second.busy ? std::next(i) : cache_.erase(i);
    }
    Prepared st = [&] {
      if (it != cache_.end() && it->second.busy) return Prepared(nullptr, std::unique_ptr<sql::PreparedStatement>(conn_->prepareStatement(q)));
      if (it == cache_.end())
        it = cache_.emplace(q, Cached{std::unique_ptr<sql::PreparedStatement>(conn_->prepareStatement(q)), false}).first;
      return Prepared(&it->second, nullptr);
    }();
    sql::PreparedStatement& ps = st.get();
    ps.clearParameters();
    for (std::size_t i = 0; i < params.size(); ++i) {
      const auto n = static_cast<unsigned>(i + 1);
      std::visit(
          [&](const auto& v) {
            using T = std::decay_t<decltype(v)>;
            if constexpr (std::is_same_v<T, std::nullptr_t>) ps.setNull(n, 0);
            else if constexpr (std::is_same_v<T, std::string>) ps.setString(n, sql::SQLString(v));
            else if constexpr (std::is_same_v<T, std::int64_t>) ps.setInt64(n, v);
            else ps.setUInt64(n, v);
          },
          params[i]);
    }
    return st;
  }

 private:
  // A result set lives only as long as its statement (declared first: destroyed last).
  struct Result {
    std::variant<std::unique_ptr<sql::Statement>, Prepared> statement;
    std::unique_ptr<sql::ResultSet> rows;
  };

  // Runs execute() for a result set and hands every row to fn; server errors name doing.
  template <class Fn, class Exec>
  std::size_t drain(const std::string& doing, Fn& fn, Exec execute) {
    std::size_t n = 0;
    try {
      Result r = execute();
      while (r.rows->next()) {
        fn(*r.rows);
        ++n;
      }
    } catch (const sql::SQLException& e) {
      rethrow(db_, doing, e);
    }
    return n;
  }

  const DatabaseConfig& db_;
  std::unique_ptr<sql::Connection> conn_;
  std::unordered_map<std::string, Cached> cache_;  // destroyed before conn_
};

// compatible_from: the oldest schema version whose programs can use a database at found.
void check_version(const DatabaseConfig& db, unsigned found, unsigned compatible_from) {
  const unsigned need = required_schema_version();
  if (found == need) return;
  if (found > need && compatible_from <= need) {
    log::info(where(db) + ": schema version " + std::to_string(found) + " is newer than this mapsync (" +
               std::to_string(need) + ") and readable by it (compatible from " + std::to_string(compatible_from) + ")");
    return;
  }
  if (found == 0)
    fail(Exit::config, where(db) + ": no mapsync schema found; create it with `mapsync migrate`");
  if (found < need)
    fail(Exit::config, where(db) + ": schema version " + std::to_string(found) + " is older than this mapsync needs (" +
                           std::to_string(need) + "); run `mapsync migrate`");
  fail(Exit::config, where(db) + ": schema version " + std::to_string(found) + " is newer than this mapsync knows (" +
                         std::to_string(need) + ") and needs programs of version " + std::to_string(compatible_from) +
                         " or later; upgrade mapsync on this host");
}

// The compatible_from of a version newer than this build's: asked only then, so that the
// check costs nothing in the usual case (and works on schemas from before the column).
unsigned compatible_from(Connection& c, unsigned found) {
  if (found <= required_schema_version()) return found;
  std::uint64_t v = found;
  c.scalar("SELECT COALESCE(compatible_from, version) FROM schema_version WHERE version = " + std::to_string(found),
           "reading the schema's compatibility", v);
  return static_cast<unsigned>(v);
}

}  // namespace

struct Database::Impl {
  explicit Impl(const DatabaseConfig& c) : cfg(c), conn(cfg) {}
  DatabaseConfig cfg;  // the Connection keeps a reference: this copy outlives it
  Connection conn;
  // Set by a statement that begins a transaction (before it is sent: one that fails may
  // still have begun it), cleared by a COMMIT or ROLLBACK that succeeded. A statement that
  // commits implicitly (DDL) leaves it set: one COMMIT too many is harmless.
  bool transaction_open = false;
};

namespace {

class ResultRow final : public SqlRow {
 public:
  explicit ResultRow(sql::ResultSet& rs) : rs_(rs) {}
  bool null(int col) const override { return rs_.isNull(static_cast<std::uint32_t>(col)); }
  std::string_view view(int col) const override {
    if (rs_.isNull(static_cast<std::uint32_t>(col))) return {};
    buf_ = rs_.getString(static_cast<std::uint32_t>(col));
    return {buf_.c_str(), buf_.length()};
  }
  std::string str(int col) const override {
    return rs_.isNull(static_cast<std::uint32_t>(col)) ? std::string() : std::string(rs_.getString(static_cast<std::uint32_t>(col)));
  }
  std::uint64_t u64(int col) const override {
    return rs_.isNull(static_cast<std::uint32_t>(col)) ? 0 : rs_.getUInt64(static_cast<std::uint32_t>(col));
  }

 private:
  sql::ResultSet& rs_;
  mutable sql::SQLString buf_;  // what view() returned last
};

}  // namespace

Database::Database(const DatabaseConfig& db, SchemaCheck check) : impl_(std::make_unique<Impl>(db)) {
  if (check == SchemaCheck::on_connect) check_schema(impl_->conn.schema_version());
}

unsigned Database::schema_version() { return impl_->conn.schema_version(); }

void Database::check_schema(unsigned found) { check_version(impl_->cfg, found, compatible_from(impl_->conn, found)); }

ServerState Database::server_state() {
  ServerState s;
  std::string ready, state, cluster;
  each_row("SHOW GLOBAL VARIABLES WHERE Variable_name IN ('read_only', 'wsrep_on')", "asking the server's role",
           [&](const SqlRow& r) {
             const bool on = r.str(2) == "ON" || r.str(2) == "1";
             if (r.str(1) == "read_only") s.read_only = on;
             else s.galera = on;
           });
  if (!s.galera) return s;
  each_row("SHOW GLOBAL STATUS WHERE Variable_name IN ('wsrep_ready', 'wsrep_local_state', 'wsrep_local_state_comment', "
           "'wsrep_cluster_status')",
           "asking the Galera node's state", [&](const SqlRow& r) {
             const std::string n = r.str(1);
             if (n == "wsrep_ready") ready = r.str(2);
             else if (n == "wsrep_local_state") state = r.str(2);
             else if (n == "wsrep_local_state_comment") s.galera_state = r.str(2);
             else cluster = r.str(2);
           });
  // wsrep_ready alone is not enough: a node cut off from the others still answers.
  s.synced = ready == "ON" && state == "4" && cluster == "Primary";
  s.galera_state += (s.galera_state.empty() ? "" : ", ") + std::string("cluster ") + (cluster.empty() ? "?" : cluster) +
                    ", ready " + (ready.empty() ? "?" : ready);
  return s;
}
std::size_t Database::each_row(const std::string& q, const std::string& doing, const std::function<void(const SqlRow&)>& fn) {
  return impl_->conn.each_row(q, doing, [&](sql::ResultSet& rs) { fn(ResultRow(rs)); });
}

bool Database::scalar(const std::string& q, const std::string& doing, std::uint64_t& out) {
  return impl_->conn.scalar(q, doing, out);
}

Transaction::Transaction(Database& db, const std::string& doing, const char* begin) : db_(db) { db_.execute(begin, doing); }

Transaction::~Transaction() {
  if (open_) try {
      db_.execute("ROLLBACK", "rolling back");
    } catch (...) {
    }
}

void Transaction::commit(const std::string& doing) {
  // A SIGTERM waits until the outcome is known, so that what is logged is what happened.
  CriticalSection section;
  db_.execute("COMMIT", doing);
  open_ = false;
}

void Transaction::rollback(const std::string& doing) {
  open_ = false;
  db_.execute("ROLLBACK", doing);
}

Database::~Database() = default;

std::string Database::where() const { return mapsync::where(impl_->cfg); }

const DatabaseConfig& Database::config() const { return impl_->cfg; }

std::string Database::endpoint() const {
  const DatabaseConfig& c = impl_->cfg;
  return c.socket.empty() ? c.host + ":" + std::to_string(c.port) : c.socket;
}

void Database::execute(const std::string& q, const std::string& doing) {
  const bool begins = q.starts_with("START TRANSACTION") || q.starts_with("BEGIN");
  if (begins) impl_->transaction_open = true;
  impl_->conn.execute(q, doing);
  if (q == "COMMIT" || q == "ROLLBACK") impl_->transaction_open = false;
}

void Database::end_transaction(const std::string& doing) {
  if (impl_->transaction_open) execute("COMMIT", doing);
}

std::uint64_t Database::update(const std::string& q, const SqlParams& params, const std::string& doing) {
  return impl_->conn.update(q, params, doing);
}

std::size_t Database::query(const std::string& q, const SqlParams& params, const std::string& doing,
                            const std::function<void(const SqlRow&)>& fn) {
  return impl_->conn.query(q, params, doing, [&](sql::ResultSet& rs) { fn(ResultRow(rs)); });
}

bool Database::try_lock(const std::string& name, std::string& holder) {
  std::uint64_t got = 0;
  query("SELECT GET_LOCK(?, 0)", {name}, "taking the lock " + name, [&](const SqlRow& r) { got = r.u64(1); });
  if (got == 1) return true;
  holder = "another session";
  query("SELECT p.ID, p.HOST, p.TIME FROM information_schema.PROCESSLIST p WHERE p.ID = IS_USED_LOCK(?)", {name},
        "looking up who holds the lock " + name, [&](const SqlRow& r) {
          holder = "connection " + r.str(1) + " from " + r.str(2) + ", for " + r.str(3) + " s";
        });
  return false;
}

void Database::unlock(const std::string& name) {
  query("SELECT RELEASE_LOCK(?)", {name}, "releasing the lock " + name, [](const SqlRow&) {});
}

namespace {

// The schema_version.compatible_from column exists from this migration on.
constexpr unsigned kCompatibleFromSince = 5;

// Hubs that reported lately and need a schema older than compatible_from: they would stop
// publishing if the step were applied. Nothing when the fleet table does not exist yet.
std::vector<std::string> hubs_left_behind(Connection& c, unsigned compatible_from, unsigned active_seconds) {
  std::vector<std::string> hubs;
  std::uint64_t exists = 0;
  c.scalar("SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = 'fleet_hubs'",
           "looking for the fleet_hubs table", exists);
  if (!exists) return hubs;
  c.query("SELECT hub, schema_needed, version FROM fleet_hubs WHERE schema_needed < ? AND reported_at > NOW(6) - INTERVAL ? SECOND "
          "ORDER BY hub",
          {std::uint64_t{compatible_from}, std::uint64_t{active_seconds}}, "reading the hubs' schema versions",
          [&](sql::ResultSet& r) {
            hubs.push_back(std::string(r.getString(1)) + " (mapsync " + std::string(r.getString(3)) + ", schema " +
                           std::string(r.getString(2)) + ")");
          });
  return hubs;
}

}  // namespace

MigrationReport migrate_schema(const DatabaseConfig& config, const MigrateOptions& opt) {
  const DatabaseConfig db = writer_config(config);
  Connection c(db);
  // Two hosts migrating at once would interleave DDL; a named lock serialises them. On
  // Galera it holds on one node only: run migrate from one place.
  std::uint64_t got = 0;
  c.scalar("SELECT GET_LOCK('mapsync.migrate', 30)", "taking the migration lock", got);
  if (got != 1) fail(Exit::tempfail, where(db) + ": another mapsync migrate holds the lock 'mapsync.migrate'");
  MigrationReport rep;
  rep.from = c.schema_version();
  rep.to = rep.from;
  if (rep.from > required_schema_version())
    fail(Exit::config, where(db) + ": schema version " + std::to_string(rep.from) + " is newer than this mapsync knows (" +
                           std::to_string(required_schema_version()) + ")");
  for (const Migration& m : embedded_migrations()) {
    if (m.version <= rep.from) continue;
    const unsigned compat = migration_compatible_from(m);
    if (!opt.force) {
      const auto behind = hubs_left_behind(c, compat, opt.active_seconds);
      if (!behind.empty()) {
        std::string list;
        for (const auto& h : behind) list += "\n  " + h;
        fail(Exit::tempfail, where(db) + ": migration " + m.name + " needs programs of schema " + std::to_string(compat) +
                                 " or later, and these hubs reported within " + std::to_string(opt.active_seconds) +
                                 " s with older ones (upgrade them first, or `mapsync migrate --force`):" + list);
      }
    }
    rep.applied.push_back(m.name);
    if (opt.dry_run) {
      rep.to = m.version;
      continue;
    }
    log::info(where(db) + ": applying " + m.name);
    // DDL commits implicitly in MariaDB, so a migration is not atomic; the version row
    // is written last, and migrations are written to be re-runnable after a failure
    // where they can be (a half-applied one names the statement that failed).
    CriticalSection section;  // a SIGTERM waits for the migration being applied
    std::size_t n = 0;
    for (const std::string& stmt : split_sql(m.sql)) {
      ++n;
      c.execute(stmt, std::string("migration ") + m.name + " statement " + std::to_string(n) + " (" +
                          stmt.substr(0, std::min<std::size_t>(stmt.find('\n'), 80)) + ")");
    }
    const std::string v = std::to_string(m.version);
    c.execute(m.version >= kCompatibleFromSince
                  ? "INSERT INTO schema_version (version, name, compatible_from) VALUES (" + v + ", '" + m.name + "', " +
                        std::to_string(compat) + ")"
                  : "INSERT INTO schema_version (version, name) VALUES (" + v + ", '" + m.name + "')",
              std::string("recording migration ") + m.name);
    rep.to = m.version;
  }
  c.execute("DO RELEASE_LOCK('mapsync.migrate')", "releasing the migration lock");
  return rep;
}

}  // namespace mapsync
