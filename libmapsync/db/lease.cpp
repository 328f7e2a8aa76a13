// lease.cpp - see lease.h.
#include "libmapsync/db/lease.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <random>

#include "libmapsync/core/error.h"
#include "libmapsync/core/identity.h"
#include "libmapsync/core/log.h"
#include "libmapsync/core/testhooks.h"

namespace mapsync {
namespace {

constexpr int kDeadlock = 1213, kLockWait = 1205;

bool lost_race(const Error& e) { return e.server_code() == kDeadlock || e.server_code() == kLockWait; }

std::string holder_of(Database& db, const std::string& name) {
  std::string who = "another owner";
  db.query("SELECT owner, token, expires_at, TIMESTAMPDIFF(SECOND, NOW(6), expires_at) FROM leases WHERE name = ?", {name},
           "looking up who holds the lease " + name, [&](const SqlRow& r) {
             who = "owner " + r.str(1) + ", token " + r.str(2) + ", until " + r.str(3) + ", " + r.str(4) + " s left";
           });
  return who;
}

// The owner of an unexpired lease when it was a process on this host that no longer
// exists (killed outright: it could not release). Its successor need not wait the lease
// out. Safe even if the judgement were wrong (a pid namespace sharing our host name):
// taking the lease changes owner and token, so the old holder's fenced writes are refused.
std::string dead_local_owner(Database& db, const std::string& name, std::uint64_t& token) {
  std::string owner;
  db.query("SELECT owner, token FROM leases WHERE name = ? AND expires_at >= NOW(6)", {name}, "looking up the lease " + name,
           [&](const SqlRow& r) {
             owner = r.str(1);
             token = r.u64(2);
           });
  const auto last = owner.rfind(':');
  if (last == std::string::npos || last == 0) return {};
  const auto before = owner.rfind(':', last - 1);
  if (before == std::string::npos || owner.compare(0, before, host_name()) != 0) return {};
  const std::string pid_text = owner.substr(before + 1, last - before - 1);
  if (pid_text.empty() || pid_text.size() > 9 || pid_text.find_first_not_of("0123456789") != std::string::npos) return {};
  const pid_t pid = static_cast<pid_t>(std::stol(pid_text));
  if (pid <= 1 || pid == ::getpid()) return {};
  if (::kill(pid, 0) == 0 || errno != ESRCH) return {};  // alive, or not ours to signal: alive
  return owner;
}

}  // namespace

std::string lease_owner_id() {
  std::random_device rd;
  return host_name() + ":" + std::to_string(::getpid()) + ":" + std::to_string(rd() % 1000000);
}

std::unique_ptr<Lease> Lease::acquire(Database& db, const std::string& name, std::string& holder) {
  const DatabaseConfig& writer = db.config();
  const std::string owner = lease_owner_id();
  const std::uint64_t ttl = writer.lease_seconds;
  std::uint64_t token = 0;
  try {
    db.update("INSERT IGNORE INTO leases (name) VALUES (?)", {name}, "creating the lease " + name);
    Transaction tx(db, "taking the lease " + name);
    // A leader in the middle of a fenced transaction holds the row: do not queue behind it.
    const std::uint64_t taken = db.update(
        "SET STATEMENT innodb_lock_wait_timeout = 2 FOR UPDATE leases SET owner = ?, token = token + 1, "
        "expires_at = NOW(6) + INTERVAL ? SECOND, acquired_at = NOW(6), renewed_at = NOW(6) "
        "WHERE name = ? AND expires_at < NOW(6)",
        {owner, ttl, name}, "taking the lease " + name);
    if (!taken) {
      std::uint64_t dead_token = 0;
      const std::string dead = dead_local_owner(db, name, dead_token);
      const bool took_over =
          !dead.empty() &&
          db.update("SET STATEMENT innodb_lock_wait_timeout = 2 FOR UPDATE leases SET owner = ?, token = token + 1, "
                    "expires_at = NOW(6) + INTERVAL ? SECOND, acquired_at = NOW(6), renewed_at = NOW(6) "
                    "WHERE name = ? AND owner = ? AND token = ?",
                    {owner, ttl, name, dead, dead_token}, "taking over the lease " + name);
      if (!took_over) {
        holder = holder_of(db, name);
        return nullptr;  // tx rolls back
      }
      log::warning("the lease " + name + " was held by " + dead + ", a process on this host that no longer exists; taking it over");
    }
    db.query("SELECT token FROM leases WHERE name = ?", {name}, "reading the lease token",
             [&](const SqlRow& r) { token = r.u64(1); });
    tx.commit("taking the lease " + name);
  } catch (const Error& e) {
    if (!lost_race(e)) throw;
    holder = e.server_code() == kLockWait
                 ? "a leader is in the middle of a write under it (" + std::string(e.what()) + ")"
                 : "another leader took it at the same moment (" + std::string(e.what()) + ")";
    return nullptr;
  }
  log::debug("took the lease " + name + " (token " + std::to_string(token) + ", " + std::to_string(ttl) + " s)");
  return std::unique_ptr<Lease>(new Lease(name, owner, token, writer));
}

Lease::Lease(std::string name, std::string owner, std::uint64_t token, const DatabaseConfig& writer)
    : name_(std::move(name)), owner_(std::move(owner)), token_(token), writer_(writer), renewer_([this] { renew_loop(); }) {}

Lease::~Lease() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (renewer_.joinable()) renewer_.join();
}

void Lease::renew_loop() {
  const auto every = std::chrono::milliseconds(std::max<std::uint64_t>(200, writer_.lease_seconds * 1000 / 3));
  std::unique_ptr<Database> db;
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_ && lost_.empty()) {
    if (cv_.wait_for(lock, every, [this] { return stop_; })) break;
    lock.unlock();
    std::string gone;
    try {
      if (!db) db = std::make_unique<Database>(writer_, SchemaCheck::by_caller);
      const std::uint64_t n = db->update(
          "SET STATEMENT innodb_lock_wait_timeout = 1 FOR UPDATE leases SET expires_at = NOW(6) + INTERVAL ? SECOND, "
          "renewed_at = NOW(6) WHERE name = ? AND owner = ? AND token = ? AND expires_at > NOW(6)",
          {std::uint64_t{writer_.lease_seconds}, name_, owner_, token_}, "renewing the lease " + name_);
      if (!n) gone = "it expired or another leader took it (" + holder_of(*db, name_) + ")";
    } catch (const Error& e) {
      // The job's own fenced transaction holds the row (it extends the lease itself), or
      // the server is briefly away: try again at the next tick; the expiry decides.
      if (!lost_race(e)) db.reset();
      log::debug("renewing the lease " + name_ + ": " + e.what());
    }
    lock.lock();
    if (!gone.empty()) lost_ = gone;
  }
  if (!stop_ || !lost_.empty()) return;
  lock.unlock();
  // The job is over, by success or by an error: the next leader need not wait the lease
  // out. (A process killed outright leaves it to expire.)
  try {
    DatabaseConfig quick = writer_;
    quick.connect_timeout = std::min(quick.connect_timeout, 5u);
    quick.read_timeout = std::min(quick.read_timeout, 5u);
    if (!db) db = std::make_unique<Database>(quick, SchemaCheck::by_caller);
    db->update("SET STATEMENT innodb_lock_wait_timeout = 1 FOR UPDATE leases SET expires_at = NOW(6) - INTERVAL 1 SECOND "
               "WHERE name = ? AND owner = ? AND token = ?",
               {name_, owner_, token_}, "releasing the lease " + name_);
  } catch (const Error& e) {
    log::debug("releasing the lease " + name_ + ": " + e.what());
  }
}

void Lease::lost(const std::string& why) const {
  fail(Exit::tempfail, "lost the lease " + name_ + " (token " + std::to_string(token_) + "): " + why +
                           "; stopping before writing anything more");
}

void Lease::check() const {
  std::lock_guard<std::mutex> lock(mu_);
  if (!lost_.empty()) lost(lost_);
}

void Lease::fence(Database& db) {
  check();
  const std::uint64_t n = db.update(
      "UPDATE leases SET expires_at = NOW(6) + INTERVAL ? SECOND, renewed_at = NOW(6) "
      "WHERE name = ? AND owner = ? AND token = ? AND expires_at > NOW(6)",
      {std::uint64_t{writer_.lease_seconds}, name_, owner_, token_}, "checking the lease " + name_);
  if (!n) lost("it expired or another leader took it (" + holder_of(db, name_) + ")");
}

void Lease::commit(Transaction& tx, const std::string& doing) {
  testhook::pause_point("lease.before_commit", name_ + " token " + std::to_string(token_));
  try {
    tx.commit(doing);
  } catch (const Error& e) {
    if (!lost_race(e)) throw;
    lost(std::string("the commit was refused, another leader holds it now (") + e.what() + ")");
  }
}

void Lease::release(Database& db) {
  try {
    db.update("UPDATE leases SET expires_at = NOW(6) - INTERVAL 1 SECOND WHERE name = ? AND owner = ? AND token = ?",
              {name_, owner_, token_}, "releasing the lease " + name_);
  } catch (const Error& e) {
    log::debug(std::string("releasing the lease: ") + e.what());
  }
}

}  // namespace mapsync
