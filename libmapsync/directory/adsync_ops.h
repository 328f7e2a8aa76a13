// adsync_ops.h - operating adsync: its status from the database, its metrics.
//
// status: per DC (ad_dc_state) the last successful run and the USN it reached, the last
// run of any kind (ad_sync_runs), the accounts pending delete and those AD stopped
// showing (counting towards a disable). Metrics (adsync_*): core/prometheus.h's run
// series, accounts created, updated, disabled and marked pending-delete (counters), the
// last run's entries, conflicts, gates and the DC's USN; docs/monitoring.md lists them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "libmapsync/directory/adsync.h"

namespace mapsync {

struct AdDcStatus {
  std::string dc_key, dns_host_name;
  std::uint64_t highest_usn = 0;
  std::string last_success, last_full;  // "" never
  std::int64_t last_success_age = -1;   // seconds, -1 never
};

struct AdStatus {
  std::vector<AdDcStatus> dcs;
  // the last run recorded (ad_sync_runs), applied or not
  std::uint64_t last_run_id = 0;
  std::string last_run_at, last_run_host, last_run_dc, last_run_result, last_run_mode;
  std::uint64_t pending_delete = 0, missing = 0;
  std::vector<std::string> pending_delete_uids;  // the first 100, oldest first
};

AdStatus adsync_status(const AdsyncSettings& cfg);
std::string ad_status_text(const AdStatus& st);
std::string ad_status_json(const AdStatus& st);

// Writes ad.metrics_textfile (metrics.adsync_textfile) after `adsync apply`: report is null
// when the run failed before it had one. Never throws.
void write_adsync_metrics(const AdsyncSettings& cfg, const AdsyncReport* report, int exit_status, double seconds);

}  // namespace mapsync
