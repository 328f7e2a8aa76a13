// mbox_db.h - what mboxsync's jobs share on the database side: the leader's lease and its
// fenced write transactions (db/lease.h), and the check that the cyrus: section is there.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "libmapsync/db/database.h"
#include "libmapsync/db/lease.h"
#include "libmapsync/db/queue.h"
#include "libmapsync/mailbox/mbox_task.h"
#include "libmapsync/mailbox/mboxsync.h"

namespace mapsync {

// Every write of the leader is one transaction fenced by its lease: a leader that lost
// the lease writes nothing more.
template <class Fn>
void fenced(Database& db, Lease& lease, const std::string& doing, Fn fn) {
  Transaction tx(db, doing);
  lease.fence(db);
  fn();
  lease.commit(tx, doing);
}

// How every job starts: the cyrus: section checked (Exit::config when missing), the
// writable endpoint, and with lead the lease cyrus.lock_name; lease is null when another
// mboxsync leads (rep.not_leader and rep.leader set) or lead is false.
struct MboxJob {
  std::unique_ptr<Database> db;
  std::unique_ptr<Lease> lease;
};
MboxJob start_mbox_job(const MboxsyncSettings& cfg, bool lead, MboxReport& rep);

// Carries out pending move jobs (mboxsync_moves.cpp): defers the users' mail, waits for
// the hubs, moves, records. Outside cyrus.moves.window it only says they wait.
void run_moves(Database& db, Lease& lease, const MboxsyncSettings& cfg, const MboxsyncOptions& opt,
               const std::vector<MoveJob>& jobs, MboxReport& rep);

// The accounts with a mailbox (delivery cyrus, and forward with keep_copy), by id.
std::map<std::uint32_t, MbAccount> read_mailbox_accounts(Database& db);

}  // namespace mapsync
