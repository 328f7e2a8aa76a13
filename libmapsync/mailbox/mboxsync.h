// mboxsync.h - mailboxes on the Cyrus back ends for the accounts of the user database.
//
// The jobs:
//   run   the provisioning queue (provisioning_jobs: create, rename) that adsync fills,
//         then the queued moves;
//   plan  accounts that should have a mailbox against the mailboxes that exist (LIST on
//         every back end, and mupdate through the front end): missing, without an
//         account, on another back end than recorded, mail deferred with no move pending;
//   bulk  every missing mailbox of existing accounts (the one-off migration), resumable;
//   move  users' mailbox trees to another back end with XFER (mbox_move.h,
//         mboxsync_moves.cpp), and rebalance: a plan of moves that evens the back ends out.
// The engine keeps one authenticated connection per back end (or to the Murder front
// end), many commands in flight on each (pipelining), the back ends in parallel. A job
// is done only when the server confirmed every step; a mailbox that exists on the
// expected back end counts as done, one on another back end is a conflict and is left
// alone.
// Where it lives: the jobs and their database side in mboxsync.cpp (the queue itself in
// db/queue.h), the engine in mbox_engine.h, the decisions without I/O (names, placement,
// commands, judging replies) in mbox_task.h.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "libmapsync/core/json_format.h"
#include "libmapsync/mailbox/options.h"

namespace mapsync {

struct MboxsyncOptions {
  bool json = false;
  std::string result_log;  // bulk: per-user results appended here ("" = none)
  bool progress = false;   // bulk: a progress bar on stderr
  std::size_t limit = 0;   // bulk/run: at most this many accounts (0 = all)
};

// What became of one account's mailbox (or one job).
enum class MboxOutcome {
  created,   // the server made it (and its quota, ACLs, folders)
  existed,   // it was there already, on the expected back end: done as well
  renamed,
  moved,     // the whole tree is on the target back end, checked there; the account records it
  conflict,  // it exists on another back end: left alone
  failed,    // refused for good (a bad name, a NO that is not temporary)
  retry,     // a temporary failure: the job is tried again later
  skipped,   // not tried: the admin login was refused (the run ends with 78)
  not_tried, // not tried: the run was stopped (a signal under GracefulStop) before it was sent
};

// The outcome's word in JSON, the result log and messages ("created", ...).
const char* outcome_word(MboxOutcome o);
// Done: the mailbox is where it belongs.
bool succeeded(MboxOutcome o);

struct MboxResult {
  std::uint32_t account_id = 0;
  std::string uid;
  std::string backend;
  std::string mailbox;
  MboxOutcome outcome = MboxOutcome::created;
  std::string detail;  // the server's words
  // moves
  std::string from;  // the source back end
  std::uint64_t bytes = 0, messages = 0;
  double seconds = 0;
};

struct MboxReport {
  std::vector<MboxResult> results;
  // plan
  std::vector<std::string> missing, orphans, misplaced, invalid;
  // users whose mail the transport map defers (accounts.mailbox_moving) with no move pending
  std::vector<std::string> deferred;
  std::size_t expected = 0, existing = 0;
  bool not_leader = false;
  std::string leader;
  std::string interrupted;  // the signal that stopped a bulk early ("SIGTERM"), or ""
  std::size_t count(MboxOutcome outcome) const;
  // Results whose commands were sent (not skipped, not not_tried).
  std::size_t tried() const { return results.size() - count(MboxOutcome::skipped) - count(MboxOutcome::not_tried); }
  bool in_sync() const {
    return missing.empty() && orphans.empty() && misplaced.empty() && invalid.empty() && deferred.empty();
  }
};

// mboxsync move USER... --to BACKEND[!PARTITION]: queues a move job per user (one
// pending move per user; a pending one to the same place is reused) and, unless
// queue_only, carries them out now. Moves are mboxsync_moves.cpp.
struct MoveRequest {
  std::vector<std::string> uids;
  std::string to;
  bool queue_only = false;
};

// mboxsync rebalance: a plan (rebalance.h) of who moves where; apply queues it.
struct RebalanceOptions {
  bool apply = false;
  unsigned max_moves = 0;       // 0: cyrus.moves.max_moves
  std::uint64_t max_bytes = 0;  // 0: cyrus.moves.max_bytes
  bool quota_policy = false;    // --policy quota (else cyrus.moves.policy)
  bool policy_given = false;
  bool json = false;
};

MboxReport mboxsync_plan(const MboxsyncSettings& cfg);
MboxReport mboxsync_run(const MboxsyncSettings& cfg, const MboxsyncOptions& opt);
MboxReport mboxsync_bulk(const MboxsyncSettings& cfg, const MboxsyncOptions& opt);
MboxReport mboxsync_move(const MboxsyncSettings& cfg, const MoveRequest& req, const MboxsyncOptions& opt);
// The plan as text or JSON (its own format); exit status 0, or the lease's holder.
struct RebalanceOutput {
  std::string text;
  bool not_leader = false;
  std::string leader;
  std::size_t queued = 0;
};
RebalanceOutput mboxsync_rebalance(const MboxsyncSettings& cfg, const RebalanceOptions& opt);

std::string mbox_plan_text(const MboxReport& r);
std::string mbox_plan_json(const MboxReport& r, const JsonFormat& format);

}  // namespace mapsync
