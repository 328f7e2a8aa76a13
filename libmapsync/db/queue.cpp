// queue.cpp - the provisioning queue's statements (queue.h says the rules).
#include "libmapsync/db/queue.h"

#include <algorithm>

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
      "WHERE state = ? AND (not_before IS NULL OR not_before <= NOW()) ORDER BY id",
      {word(JobState::pending)}, "reading the provisioning queue", [&](const SqlRow& r) {
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

std::int64_t retry_delay(const RetryPolicy& policy, unsigned attempts) {
  std::int64_t s = policy.base_seconds;
  for (unsigned i = 1; i < attempts && s < static_cast<std::int64_t>(policy.max_seconds); ++i) s *= 2;
  return std::min<std::int64_t>(s, policy.max_seconds);
}

}  // namespace mapsync
