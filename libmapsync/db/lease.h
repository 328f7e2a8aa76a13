// lease.h - one leader at a time across hubs and database nodes: a lease row.
//
// GET_LOCK holds only on the Galera node that granted it (two nodes granted the same lock
// at once in our tests). A lease is a row of the leases table, taken by compare-and-set in
// its own transaction: an expired (or never taken) lease gets our owner, a new token and
// an expiry. A thread renews it while the job runs; a job whose lease was lost (expired
// while it was stopped, taken by another) stops before its next write. Every write
// transaction of the leader starts with fence(), which extends the lease only if owner and
// token are still ours: on one server its row lock keeps a rival's compare-and-set out
// until COMMIT, and on Galera a rival's committed take makes our COMMIT fail
// certification. Either way a stale leader's late commit is refused.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "libmapsync/db/database.h"
#include "libmapsync/db/options.h"

namespace mapsync {

class Lease {
 public:
  // Takes the lease name for database.lease_seconds on session (a writable endpoint; the
  // renewer opens its own session to the same one). nullptr when another owner holds it
  // or won a simultaneous take; holder then says who and until when.
  static std::unique_ptr<Lease> acquire(Database& session, const std::string& name, std::string& holder);
  ~Lease();  // stops renewing and releases the lease (best effort; otherwise it expires)
  Lease(const Lease&) = delete;
  Lease& operator=(const Lease&) = delete;

  std::uint64_t token() const { return token_; }
  const std::string& owner() const { return owner_; }

  // The first statement of every write transaction, on that transaction's session.
  // Exit::tempfail naming the lease when it is no longer ours.
  void fence(Database& db);
  // COMMIT of a fenced transaction; a refused commit (Galera certification) is reported
  // as the lease lost to another leader.
  void commit(Transaction& tx, const std::string& doing);
  // Exit::tempfail when the renewer found the lease lost.
  void check() const;
  // Gives the lease up at once (best effort), so the next leader need not wait it out.
  void release(Database& db);

 private:
  Lease(std::string name, std::string owner, std::uint64_t token, const DatabaseConfig& writer);
  void renew_loop();
  [[noreturn]] void lost(const std::string& why) const;

  const std::string name_, owner_;
  const std::uint64_t token_;
  const DatabaseConfig writer_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::string lost_;  // set by the renewer: why the lease is gone
  std::thread renewer_;  // last: started once the members above are set
};

// "host:pid:random", unique per process: a lease is never mistaken for a predecessor's.
std::string lease_owner_id();

}  // namespace mapsync
