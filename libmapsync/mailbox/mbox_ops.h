// mbox_ops.h - operating mboxsync: its queue by hand, its status, its metrics.
//
//   jobs list     the provisioning queue's jobs (pending and failed by default);
//   jobs retry    a failed job (or one waiting out its backoff) due again now, attempts 0;
//   jobs cancel   a pending job failed with "cancelled by USER@HOST".
// Retry and cancel are writes to the queue the leader works through, so they take the
// leader's lease (cyrus.lock_name) like a run does: while a run holds it they are refused
// with exit 75 (try again in a minute) rather than racing it (a run that read a job before
// the cancel would record its outcome over it). A move is cancelled only while nothing of
// it happened (step queued, the user's mail not deferred): one that started must finish or
// fail by itself, else a tree could stay half on each back end or the mail stay deferred.
//
// status: jobs by kind and state, the oldest pending one, the lease (who runs now, when a
// run last started), when a job was last done. Metrics (mboxsync_*): core/prometheus.h's
// run series, jobs by outcome (counters), the queue by kind and state, the oldest pending
// job's age; docs/monitoring.md lists them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "libmapsync/db/queue.h"
#include "libmapsync/mailbox/mboxsync.h"

namespace mapsync {

std::vector<JobRow> mbox_jobs_list(const MboxsyncSettings& cfg, const JobFilter& filter);

enum class JobAction { retry, cancel };
struct JobActionReport {
  std::vector<JobRow> changed;                            // as they are after the change
  std::vector<std::pair<JobRow, std::string>> refused;   // and why
  bool not_leader = false;
  std::string leader;
};
// The jobs filter selects (refused: none matched, Exit::usage).
JobActionReport mbox_jobs_change(const MboxsyncSettings& cfg, const JobFilter& filter, JobAction action);

struct MboxStatus {
  QueueStats queue;
  std::string lease_owner;      // "" when no run holds it now
  std::string lease_acquired;   // when a run last took it ("" never)
  std::int64_t now = 0;         // the database's clock
};
MboxStatus mboxsync_status(const MboxsyncSettings& cfg);

std::string job_rows_text(const std::vector<JobRow>& rows);
std::string job_rows_json(const std::vector<JobRow>& rows);
std::string mbox_status_text(const MboxStatus& st);
std::string mbox_status_json(const MboxStatus& st);

// Writes cyrus.metrics_textfile (metrics.mboxsync_textfile) after a run: report is null
// when the run failed before it had results. Never throws.
void write_mboxsync_metrics(const MboxsyncSettings& cfg, const MboxReport* report, int exit_status, double seconds);

}  // namespace mapsync
