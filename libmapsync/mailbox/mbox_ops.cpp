// mbox_ops.cpp - see mbox_ops.h.
#include "libmapsync/mailbox/mbox_ops.h"

#include <nlohmann/json.hpp>

#include <sstream>

#include "libmapsync/core/error.h"
#include "libmapsync/core/escape.h"
#include "libmapsync/core/identity.h"
#include "libmapsync/core/json_format.h"
#include "libmapsync/core/log.h"
#include "libmapsync/core/prometheus.h"
#include "libmapsync/db/endpoints.h"
#include "libmapsync/mailbox/mbox_db.h"

namespace mapsync {
namespace {

// Why a job may not be changed by hand, or "".
std::string refusal(const JobRow& j, JobAction action) {
  if (action == JobAction::retry)
    return j.state == JobState::done ? "it is done" : "";
  if (j.state != JobState::pending) return std::string("it is ") + std::string(to_sql(j.state)) + ", not pending";
  if (j.kind == JobKind::move && ((!j.step.empty() && j.step != "queued") || j.moving))
    return "the move has started (step " + (j.step.empty() ? std::string("queued") : j.step) +
           (j.moving ? ", the user's mail is deferred" : "") +
           "); mboxsync run finishes it or fails it, a move is never cancelled half-way";
  return "";
}

}  // namespace

std::vector<JobRow> mbox_jobs_list(const MboxsyncSettings& cfg, const JobFilter& filter) {
  auto db = connect_writer(cfg.database);
  return list_jobs(*db, filter);
}

JobActionReport mbox_jobs_change(const MboxsyncSettings& cfg, const JobFilter& filter, JobAction action) {
  JobActionReport out;
  MboxReport rep;
  MboxJob job = start_mbox_job(cfg, true, rep);
  if (!job.lease) {
    out.not_leader = true;
    out.leader = rep.leader;
    return out;
  }
  JobFilter f = filter;
  if (!f.id && f.states.empty())
    f.states = {action == JobAction::retry ? JobState::failed : JobState::pending};
  const std::vector<JobRow> rows = list_jobs(*job.db, f);
  if (rows.empty())
    fail(Exit::usage, std::string("no ") + (action == JobAction::retry ? "failed" : "pending") + " job matches" +
                          (f.id ? " id " + std::to_string(f.id) : f.uid.empty() ? "" : " user " + escape(f.uid)));
  const std::string who = os_user() + "@" + host_name();
  fenced(*job.db, *job.lease, action == JobAction::retry ? "retrying jobs" : "cancelling jobs", [&] {
    for (const JobRow& j : rows) {
      const std::string why = refusal(j, action);
      if (!why.empty()) {
        out.refused.emplace_back(j, why);
        continue;
      }
      if (action == JobAction::retry) retry_job(*job.db, j.id);
      else cancel_job(*job.db, j.id, who);
      out.changed.push_back(j);
    }
  });
  // Reported as they are now (state, attempts, error).
  for (JobRow& j : out.changed) {
    JobFilter one;
    one.id = j.id;
    if (auto now = list_jobs(*job.db, one); !now.empty()) j = std::move(now.front());
  }
  for (const JobRow& j : out.changed)
    log::audit(std::string(action == JobAction::retry ? "retry" : "cancel") + " of " + std::string(to_sql(j.kind)) +
               " job " + std::to_string(j.id) + " (" + escape(j.uid) + ") by " + who);
  return out;
}

MboxStatus mboxsync_status(const MboxsyncSettings& cfg) {
  MboxStatus st;
  auto db = connect_writer(cfg.database);
  st.queue = queue_stats(*db);
  db->query("SELECT UNIX_TIMESTAMP(), IF(l.expires_at > NOW(6), l.owner, ''), COALESCE(CAST(l.acquired_at AS CHAR), '') "
            "FROM (SELECT 1) x LEFT JOIN leases l ON l.name = ?",
            {cfg.cyrus.lock_name}, "reading the lease " + cfg.cyrus.lock_name, [&](const SqlRow& r) {
              st.now = static_cast<std::int64_t>(r.u64(1));
              st.lease_owner = r.str(2);
              st.lease_acquired = r.str(3);
            });
  return st;
}

std::string job_rows_text(const std::vector<JobRow>& rows) {
  std::ostringstream o;
  for (const JobRow& j : rows) {
    o << j.id << ' ' << to_sql(j.kind) << ' ' << escape(j.uid) << ' ' << to_sql(j.state);
    if (!j.step.empty()) o << " step " << j.step << " to " << escape(j.target);
    o << ", " << j.attempts << " attempt(s), queued " << j.created_at;
    if (j.state == JobState::pending && !j.not_before.empty()) o << ", not before " << j.not_before;
    if (!j.last_error.empty()) o << ": " << escape(j.last_error);
    o << '\n';
  }
  if (rows.empty()) o << "no jobs\n";
  return o.str();
}

std::string job_rows_json(const std::vector<JobRow>& rows) {
  nlohmann::json a = nlohmann::json::array();
  for (const JobRow& j : rows)
    a.push_back({{"id", j.id}, {"account_id", j.account_id}, {"uid", j.uid}, {"kind", std::string(to_sql(j.kind))},
                 {"state", std::string(to_sql(j.state))}, {"step", j.step.empty() ? nlohmann::json() : nlohmann::json(j.step)},
                 {"target", j.target.empty() ? nlohmann::json() : nlohmann::json(j.target)}, {"mail_deferred", j.moving},
                 {"attempts", j.attempts}, {"last_error", j.last_error}, {"not_before", j.not_before},
                 {"created_at", j.created_at}, {"updated_at", j.updated_at}});
  nlohmann::ordered_json j = json_document<nlohmann::ordered_json>(json_format::mboxsync_jobs);
  j["jobs"] = a;
  return j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string mbox_status_text(const MboxStatus& st) {
  std::ostringstream o;
  o << "queue:";
  if (st.queue.counts.empty()) o << " empty";
  for (const auto& c : st.queue.counts) o << ' ' << to_sql(c.kind) << '/' << to_sql(c.state) << '=' << c.jobs;
  o << "\npending: " << st.queue.count(JobState::pending) << " (" << st.queue.due << " due now)";
  if (st.queue.oldest_pending_at)
    o << ", the oldest queued " << (st.now - st.queue.oldest_pending_at) << " s ago";
  o << "\nfailed: " << st.queue.count(JobState::failed) << " (mboxsync jobs list; jobs retry)\n";
  o << "last job done: " << (st.queue.last_done_at ? std::to_string(st.now - st.queue.last_done_at) + " s ago" : "never")
    << "\nrun: " << (st.lease_owner.empty() ? "none now" : "running now, " + escape(st.lease_owner))
    << "; the last started " << (st.lease_acquired.empty() ? "never" : st.lease_acquired) << "\n";
  return o.str();
}

std::string mbox_status_json(const MboxStatus& st) {
  nlohmann::json counts = nlohmann::json::array();
  for (const auto& c : st.queue.counts)
    counts.push_back({{"kind", std::string(to_sql(c.kind))}, {"state", std::string(to_sql(c.state))}, {"jobs", c.jobs}});
  nlohmann::ordered_json j = json_document<nlohmann::ordered_json>(json_format::mboxsync_status);
  j["queue"] = counts;
  j["pending"] = st.queue.count(JobState::pending);
  j["due"] = st.queue.due;
  j["failed"] = st.queue.count(JobState::failed);
  j["oldest_pending_age_seconds"] =
      st.queue.oldest_pending_at ? nlohmann::json(st.now - st.queue.oldest_pending_at) : nlohmann::json();
  j["last_done_age_seconds"] = st.queue.last_done_at ? nlohmann::json(st.now - st.queue.last_done_at) : nlohmann::json();
  j["running"] = st.lease_owner.empty() ? nlohmann::json() : nlohmann::json(st.lease_owner);
  j["last_run_started"] = st.lease_acquired.empty() ? nlohmann::json() : nlohmann::json(st.lease_acquired);
  return j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace);
}

void write_mboxsync_metrics(const MboxsyncSettings& cfg, const MboxReport* report, int exit_status, double seconds) {
  if (cfg.cyrus.metrics_textfile.empty()) return;
  PromFile o(cfg.cyrus.metrics_textfile);
  o.run_outcome("mboxsync", exit_status, seconds);
  o.gauge("mboxsync_leader", "1 when this host led the last run (0: another held the lease, or the run failed).",
          report && !report->not_leader ? 1 : 0);
  // Every outcome every time: a series missing from one file would start over at 0.
  for (int i = 0; i <= static_cast<int>(MboxOutcome::skipped); ++i)
    o.counter("mboxsync_jobs_total", "Mailbox jobs and accounts worked, by outcome.",
              report ? static_cast<double>(report->count(static_cast<MboxOutcome>(i))) : 0,
              "{outcome=\"" + std::string(outcome_word(static_cast<MboxOutcome>(i))) + "\"}");
  // The queue as the database has it now; a run that failed (the database down, say)
  // leaves these out rather than waiting for the database again.
  if (!report) {
    o.write();
    return;
  }
  try {
    auto db = connect_writer(cfg.database);
    const QueueStats q = queue_stats(*db);
    std::int64_t now = 0;
    db->query("SELECT UNIX_TIMESTAMP()", {}, "reading the clock", [&](const SqlRow& r) { now = static_cast<std::int64_t>(r.u64(1)); });
    for (JobKind k : {JobKind::create, JobKind::rename, JobKind::move})
      for (JobState s : {JobState::pending, JobState::failed}) {
        double n = 0;
        for (const auto& c : q.counts)
          if (c.kind == k && c.state == s) n = static_cast<double>(c.jobs);
        o.gauge("mboxsync_queue_jobs", "Jobs in the provisioning queue, by kind and state (done ones left out).", n,
                "{kind=\"" + std::string(to_sql(k)) + "\",state=\"" + std::string(to_sql(s)) + "\"}");
      }
    o.gauge("mboxsync_queue_due_jobs", "Pending jobs due now.", static_cast<double>(q.due));
    o.gauge("mboxsync_queue_oldest_pending_age_seconds", "Age of the oldest pending job (0: none).",
            q.oldest_pending_at ? static_cast<double>(now - q.oldest_pending_at) : 0);
  } catch (const Error& e) {
    log::warning(std::string("metrics: the queue could not be read: ") + e.what());
  }
  o.write();
}

}  // namespace mapsync
