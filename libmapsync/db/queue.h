// queue.h - the provisioning queue (table provisioning_jobs, schema/003_adsync.sql).
//
// adsync enqueues a job when it creates a Cyrus account or renames one; mboxsync claims the
// pending jobs that are due, works them off and records each outcome here. Both jobs go
// through this module, so the queue's rules live in one place:
//   - a job is done only when the server confirmed it (mark_done);
//   - a temporary failure counts an attempt and backs off exponentially, from
//     base_seconds up to max_seconds, until max_attempts make it failed (mark_retry);
//   - a permanent failure is failed at once (mark_failed);
//   - a mailbox made for an account closes every pending create job of that account,
//     whoever queued it (close_creates).
// No locking of rows: one mboxsync at a time holds the leader lock (cyrus.lock_name).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "libmapsync/db/vocabulary.h"

namespace mapsync {

class Database;

// A job to add to the queue.
struct NewJob {
  std::uint32_t account_id = 0;
  JobKind kind = JobKind::create;
  std::string old_uid;  // rename: the mailbox's user name now ("" = NULL)
  std::string new_uid;  // create: the account's uid; rename: the new one
  std::uint64_t ad_sync_run_id = 0;  // the adsync run that queued it (0 = NULL)
};

// A pending job, as the consumer sees it.
struct QueuedJob {
  std::uint64_t id = 0;
  std::uint32_t account_id = 0;
  JobKind kind = JobKind::create;
  std::string old_uid, new_uid;  // "" for NULL
  unsigned attempts = 0;         // earlier attempts
};

// How temporary failures are retried (the cyrus.retry settings).
struct RetryPolicy {
  unsigned base_seconds = 60;
  unsigned max_seconds = 3600;
  unsigned max_attempts = 50;
};

// Inserts the jobs, many rows a statement (an initial import queues tens of thousands).
// Checks for a signal between statements: the caller's transaction then rolls back.
void enqueue(Database& db, const std::vector<NewJob>& jobs, const std::string& doing);

// Pending create and rename jobs whose not_before has passed, oldest first.
std::vector<QueuedJob> due_jobs(Database& db);

// ---- moves (schema/006_moves.sql) -----------------------------------------------------
// A move job carries its target and how far it got; the database allows one pending move
// per account (a unique key), so two admins or a rebalance and an admin cannot queue two.
enum class MoveStep : std::uint8_t { queued, snapshot, transfer, verified };
const char* move_step_word(MoveStep s);

struct MoveJob {
  std::uint64_t id = 0;
  std::uint32_t account_id = 0;
  std::uint32_t source_backend_id = 0, target_backend_id = 0;
  std::string target_partition;  // "" = the target's default
  MoveStep step = MoveStep::queued;
  std::string snapshot;          // the tree before the move (JSON), "" until read
  unsigned attempts = 0;
  std::string last_error;
  std::string requested_by;
};

// Queues a move; false (and nothing queued) when the account has a pending move already,
// whose job id is then in *existing.
bool enqueue_move(Database& db, const MoveJob& job, std::uint64_t* existing);
// Pending moves; due_only: only those whose not_before has passed. Oldest first.
std::vector<MoveJob> pending_moves(Database& db, bool due_only);
// Records how far a move got (and the snapshot, when given).
void set_move_step(Database& db, std::uint64_t job_id, MoveStep step, const std::string* snapshot = nullptr);
// The move is done: the account is on the target; bytes and messages moved.
void mark_move_done(Database& db, std::uint64_t job_id, std::uint64_t bytes, std::uint64_t messages);

// The job succeeded on this attempt.
void mark_done(Database& db, std::uint64_t job_id);

// Every pending create job of the account is done (its mailbox exists now); attempts
// are not counted, as these jobs were not the ones tried.
void close_creates(Database& db, std::uint32_t account_id, const std::string& uid);

// A temporary failure of attempt number attempts_before + 1: pending again after the
// backoff, or failed when that was the last attempt allowed.
void mark_retry(Database& db, std::uint64_t job_id, unsigned attempts_before, const RetryPolicy& policy,
                const std::string& error);

// A permanent failure. counted: an attempt was made (an IMAP command was refused);
// otherwise the job could not even be tried (no such account, no valid mailbox name).
enum class Attempt { counted, not_made };
void mark_failed(Database& db, std::uint64_t job_id, Attempt attempt, const std::string& error);

// ---- looking at the queue and changing it by hand (mboxsync status, jobs) ---------------
// Jobs by kind and state, the oldest pending one, how many are due now.
struct QueueCount {
  JobKind kind = JobKind::create;
  JobState state = JobState::pending;
  std::uint64_t jobs = 0;
};
struct QueueStats {
  std::vector<QueueCount> counts;       // only the pairs that have jobs
  std::uint64_t due = 0;                // pending and due now
  std::int64_t oldest_pending_at = 0;   // unix time the oldest pending job was queued, 0: none
  std::int64_t last_done_at = 0;        // unix time a job was last done, 0: never
  std::uint64_t count(JobState s) const;
};
QueueStats queue_stats(Database& db);

// One job as an admin sees it.
struct JobRow {
  std::uint64_t id = 0;
  std::uint32_t account_id = 0;
  std::string uid;  // the account's uid now
  JobKind kind = JobKind::create;
  JobState state = JobState::pending;
  std::string step;  // moves: queued, snapshot, transfer, verified ("" otherwise)
  bool moving = false;  // the account's mail is deferred (accounts.mailbox_moving)
  unsigned attempts = 0;
  std::string last_error, not_before, created_at, updated_at, target;  // target: a move's back end
};
// Which jobs: one by id, or an account's (uid), else every job in state (pending and
// failed when none is given); newest first, at most limit.
struct JobFilter {
  std::uint64_t id = 0;
  std::string uid;
  std::vector<JobState> states;
  std::size_t limit = 100;
};
std::vector<JobRow> list_jobs(Database& db, const JobFilter& filter);

// retry: a failed job becomes pending again, due now, its attempts counted from 0 (a
// pending one waiting out its backoff becomes due now).
void retry_job(Database& db, std::uint64_t job_id);
// cancel: a pending job is failed with last_error "cancelled by WHO". The caller checks
// that it may be (a move that started must finish or fail by itself).
void cancel_job(Database& db, std::uint64_t job_id, const std::string& who);

// Seconds to wait before attempt number attempts + 1 when attempts have failed:
// base, 2 base, 4 base, ... capped at max_seconds.
std::int64_t retry_delay(const RetryPolicy& policy, unsigned attempts);

}  // namespace mapsync
