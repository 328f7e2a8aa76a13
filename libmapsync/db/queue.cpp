// queue.cpp - the provisioning queue's statements (queue.h says the rules).
#include "libmapsync/db/queue.h"

#include <algorithm>

#include "libmapsync/core/error.h"
#include "libmapsync/core/signals.h"
#include "libmapsync/db/database.h"

namespace mapsync {
namespace {

constexpr std::size_t kBatch = 500;  // rows per INSERT: round trips, not packet size, are the cost

SqlParam text_or_null(const std::string& s) { return s.empty() ? SqlParam(nullptr) : SqlParam(s); }
SqlParam word(JobState s) { return std::string(to_sql(s)); }

}  // namespace

void enqueue(Database& db, const std::vector<NewJob>& jobs, const std::string& doing) {
  for (std::size_t i = 0; i < jobs.size(); i += kBatch) {
    check_interrupted();
    const std::size_t n = std::min(kBatch, jobs.size() - i);
    std::string q = "INSERT INTO provisioning_jobs (account_id, kind, old_uid, new_uid, ad_sync_run_id) VALUES ";
    SqlParams p;
    for (std::size_t j = 0; j < n; ++j) {
      const NewJob& job = jobs[i + j];
      q += j ? ",(?, ?, ?, ?, ?)" : "(?, ?, ?, ?, ?)";
      p.emplace_back(static_cast<std::uint64_t>(job.account_id));
      p.emplace_back(std::string(to_sql(job.kind)));
      p.push_back(text_or_null(job.old_uid));
      p.push_back(text_or_null(job.new_uid));
      p.push_back(job.ad_sync_run_id ? SqlParam(job.ad_sync_run_id) : SqlParam(nullptr));
    }
    db.update(q, p, doing);
  }
}

std::vector<QueuedJob> due_jobs(Database& db) {
  std::vector<QueuedJob> out;
  db.query(
      "SELECT id, account_id, kind, COALESCE(old_uid, ''), COALESCE(new_uid, ''), attempts FROM provisioning_jobs "
      "WHERE state = ? AND kind <> ? AND (not_before IS NULL OR not_before <= NOW()) ORDER BY id",
      {word(JobState::pending), std::string(to_sql(JobKind::move))}, "reading the provisioning queue", [&](const SqlRow& r) {
        QueuedJob j;
        j.id = r.u64(1);
        j.account_id = static_cast<std::uint32_t>(r.u64(2));
        j.kind = parse_sql<JobKind>(r.view(3));
        j.old_uid = r.str(4);
        j.new_uid = r.str(5);
        j.attempts = static_cast<unsigned>(r.u64(6));
        out.push_back(std::move(j));
      });
  return out;
}

void mark_done(Database& db, std::uint64_t job_id) {
  db.update("UPDATE provisioning_jobs SET state = ?, done_at = NOW(), attempts = attempts + 1, last_error = NULL "
            "WHERE id = ?",
            {word(JobState::done), job_id}, "closing job " + std::to_string(job_id));
}

void close_creates(Database& db, std::uint32_t account_id, const std::string& uid) {
  db.update("UPDATE provisioning_jobs SET state = ?, done_at = NOW(), last_error = NULL "
            "WHERE account_id = ? AND kind = ? AND state = ?",
            {word(JobState::done), static_cast<std::uint64_t>(account_id), std::string(to_sql(JobKind::create)),
             word(JobState::pending)},
            "closing the jobs of " + uid);
}

void mark_retry(Database& db, std::uint64_t job_id, unsigned attempts_before, const RetryPolicy& policy,
                const std::string& error) {
  db.update(
      "UPDATE provisioning_jobs SET attempts = attempts + 1, last_error = ?, "
      "state = IF(attempts + 1 >= ?, ?, ?), not_before = NOW() + INTERVAL ? SECOND WHERE id = ?",
      {error, static_cast<std::uint64_t>(policy.max_attempts), word(JobState::failed), word(JobState::pending),
       retry_delay(policy, attempts_before + 1), job_id},
      "rescheduling job " + std::to_string(job_id));
}

void mark_failed(Database& db, std::uint64_t job_id, Attempt attempt, const std::string& error) {
  if (attempt == Attempt::counted)
    db.update("UPDATE provisioning_jobs SET state = ?, attempts = attempts + 1, last_error = ? WHERE id = ?",
              {word(JobState::failed), error, job_id}, "failing job " + std::to_string(job_id));
  else
    db.update("UPDATE provisioning_jobs SET state = ?, last_error = ? WHERE id = ?", {word(JobState::failed), error, job_id},
              "failing a job");
}

const char* move_step_word(MoveStep s) {
  static const char* const words[] = {"queued", "snapshot", "transfer", "verified"};
  return words[static_cast<int>(s)];
}

namespace {

MoveStep parse_move_step(std::string_view w) {
  for (int i = 0; i < 4; ++i)
    if (w == move_step_word(static_cast<MoveStep>(i))) return static_cast<MoveStep>(i);
  return MoveStep::queued;  // NULL: queued
}

constexpr int kDuplicateKey = 1062;

}  // namespace

bool enqueue_move(Database& db, const MoveJob& job, std::uint64_t* existing) {
  try {
    db.update("INSERT INTO provisioning_jobs (account_id, kind, source_backend_id, target_backend_id, target_partition, "
              "step, requested_by) VALUES (?, ?, ?, ?, ?, ?, ?)",
              {static_cast<std::uint64_t>(job.account_id), std::string(to_sql(JobKind::move)),
               job.source_backend_id ? SqlParam(static_cast<std::uint64_t>(job.source_backend_id)) : SqlParam(nullptr),
               static_cast<std::uint64_t>(job.target_backend_id), text_or_null(job.target_partition),
               std::string(move_step_word(MoveStep::queued)), text_or_null(job.requested_by)},
              "queuing a move of account " + std::to_string(job.account_id));
    return true;
  } catch (const Error& e) {
    if (e.server_code() != kDuplicateKey) throw;
  }
  if (existing)
    db.query("SELECT id FROM provisioning_jobs WHERE pending_move_account = ?", {static_cast<std::uint64_t>(job.account_id)},
             "reading the pending move", [&](const SqlRow& r) { *existing = r.u64(1); });
  return false;
}

std::vector<MoveJob> pending_moves(Database& db, bool due_only) {
  std::vector<MoveJob> out;
  db.query(
      "SELECT id, account_id, COALESCE(source_backend_id, 0), target_backend_id, COALESCE(target_partition, ''), "
      "COALESCE(step, 'queued'), COALESCE(snapshot, ''), attempts, COALESCE(last_error, ''), COALESCE(requested_by, '') "
      "FROM provisioning_jobs WHERE state = ? AND kind = ? AND (? = 0 OR not_before IS NULL OR not_before <= NOW()) "
      "ORDER BY id",
      {word(JobState::pending), std::string(to_sql(JobKind::move)), std::uint64_t{due_only ? 1u : 0u}},
      "reading the pending moves", [&](const SqlRow& r) {
        MoveJob j;
        j.id = r.u64(1);
        j.account_id = static_cast<std::uint32_t>(r.u64(2));
        j.source_backend_id = static_cast<std::uint32_t>(r.u64(3));
        j.target_backend_id = static_cast<std::uint32_t>(r.u64(4));
        j.target_partition = r.str(5);
        j.step = parse_move_step(r.view(6));
        j.snapshot = r.str(7);
        j.attempts = static_cast<unsigned>(r.u64(8));
        j.last_error = r.str(9);
        j.requested_by = r.str(10);
        out.push_back(std::move(j));
      });
  return out;
}

void set_move_step(Database& db, std::uint64_t job_id, MoveStep step, const std::string* snapshot) {
  if (snapshot)
    db.update("UPDATE provisioning_jobs SET step = ?, snapshot = ?, started_at = COALESCE(started_at, NOW()) WHERE id = ?",
              {std::string(move_step_word(step)), *snapshot, job_id}, "recording the progress of move " + std::to_string(job_id));
  else
    db.update("UPDATE provisioning_jobs SET step = ?, started_at = COALESCE(started_at, NOW()) WHERE id = ?",
              {std::string(move_step_word(step)), job_id}, "recording the progress of move " + std::to_string(job_id));
}

void mark_move_done(Database& db, std::uint64_t job_id, std::uint64_t bytes, std::uint64_t messages) {
  db.update("UPDATE provisioning_jobs SET state = ?, done_at = NOW(), attempts = attempts + 1, last_error = NULL, "
            "bytes = ?, messages = ? WHERE id = ?",
            {word(JobState::done), bytes, messages, job_id}, "closing move " + std::to_string(job_id));
}

std::int64_t retry_delay(const RetryPolicy& policy, unsigned attempts) {
  std::int64_t s = policy.base_seconds;
  for (unsigned i = 1; i < attempts && s < static_cast<std::int64_t>(policy.max_seconds); ++i) s *= 2;
  return std::min<std::int64_t>(s, policy.max_seconds);
}

std::uint64_t QueueStats::count(JobState s) const {
  std::uint64_t n = 0;
  for (const auto& c : counts)
    if (c.state == s) n += c.jobs;
  return n;
}

QueueStats queue_stats(Database& db) {
  QueueStats st;
  db.query("SELECT kind, state, COUNT(*) FROM provisioning_jobs GROUP BY kind, state ORDER BY kind, state", {},
           "counting the provisioning queue", [&](const SqlRow& r) {
             st.counts.push_back({parse_sql<JobKind>(r.view(1)), parse_sql<JobState>(r.view(2)), r.u64(3)});
           });
  db.query("SELECT CAST(COALESCE(SUM(not_before IS NULL OR not_before <= NOW()), 0) AS UNSIGNED), "
           "COALESCE(UNIX_TIMESTAMP(MIN(created_at)), 0) FROM provisioning_jobs WHERE state = ?",
           {word(JobState::pending)}, "reading the provisioning queue", [&](const SqlRow& r) {
             st.due = r.u64(1);
             st.oldest_pending_at = static_cast<std::int64_t>(r.u64(2));
           });
  db.query("SELECT COALESCE(UNIX_TIMESTAMP(MAX(done_at)), 0) FROM provisioning_jobs WHERE state = ?",
           {word(JobState::done)}, "reading the provisioning queue",
           [&](const SqlRow& r) { st.last_done_at = static_cast<std::int64_t>(r.u64(1)); });
  return st;
}

std::vector<JobRow> list_jobs(Database& db, const JobFilter& f) {
  std::string q =
      "SELECT j.id, j.account_id, COALESCE(a.uid, ''), j.kind, j.state, COALESCE(j.step, ''), "
      "COALESCE(a.mailbox_moving, 0), j.attempts, COALESCE(j.last_error, ''), COALESCE(CAST(j.not_before AS CHAR), ''), "
      "CAST(j.created_at AS CHAR), CAST(j.updated_at AS CHAR), COALESCE(b.name, '') FROM provisioning_jobs j "
      "LEFT JOIN accounts a ON a.id = j.account_id LEFT JOIN backends b ON b.id = j.target_backend_id WHERE ";
  SqlParams p;
  if (f.id) {
    q += "j.id = ?";
    p.emplace_back(f.id);
  } else {
    q += f.uid.empty() ? "TRUE" : "a.uid = ?";
    if (!f.uid.empty()) p.emplace_back(f.uid);
    const std::vector<JobState> states = f.states.empty() && f.uid.empty()
                                             ? std::vector<JobState>{JobState::pending, JobState::failed}
                                             : f.states;
    if (!states.empty()) {
      q += " AND j.state IN (";
      for (std::size_t i = 0; i < states.size(); ++i) {
        q += i ? ", ?" : "?";
        p.push_back(word(states[i]));
      }
      q += ")";
    }
  }
  q += " ORDER BY j.id DESC LIMIT " + std::to_string(f.limit ? f.limit : 100);
  std::vector<JobRow> out;
  db.query(q, p, "listing the provisioning queue", [&](const SqlRow& r) {
    JobRow j;
    j.id = r.u64(1);
    j.account_id = static_cast<std::uint32_t>(r.u64(2));
    j.uid = r.str(3);
    j.kind = parse_sql<JobKind>(r.view(4));
    j.state = parse_sql<JobState>(r.view(5));
    j.step = r.str(6);
    j.moving = r.u64(7) != 0;
    j.attempts = static_cast<unsigned>(r.u64(8));
    j.last_error = r.str(9);
    j.not_before = r.str(10);
    j.created_at = r.str(11);
    j.updated_at = r.str(12);
    j.target = r.str(13);
    out.push_back(std::move(j));
  });
  return out;
}

void retry_job(Database& db, std::uint64_t job_id) {
  db.update("UPDATE provisioning_jobs SET state = ?, attempts = 0, not_before = NULL WHERE id = ? AND state <> ?",
            {word(JobState::pending), job_id, word(JobState::done)}, "retrying job " + std::to_string(job_id));
}

void cancel_job(Database& db, std::uint64_t job_id, const std::string& who) {
  db.update("UPDATE provisioning_jobs SET state = ?, last_error = ? WHERE id = ? AND state = ?",
            {word(JobState::failed), "cancelled by " + who, job_id, word(JobState::pending)},
            "cancelling job " + std::to_string(job_id));
}

}  // namespace mapsync
