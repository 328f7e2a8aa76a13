// adsync_ops.cpp - see adsync_ops.h.
#include "libmapsync/directory/adsync_ops.h"

#include <nlohmann/json.hpp>

#include <sstream>

#include "libmapsync/core/escape.h"
#include "libmapsync/core/json_format.h"
#include "libmapsync/core/prometheus.h"
#include "libmapsync/db/database.h"
#include "libmapsync/db/endpoints.h"
#include "libmapsync/db/vocabulary.h"

namespace mapsync {

AdStatus adsync_status(const AdsyncSettings& cfg) {
  AdStatus st;
  auto db = connect_writer(cfg.database);
  db->query("SELECT dc_key, COALESCE(dns_host_name, ''), highest_usn, CAST(last_run_at AS CHAR), "
            "COALESCE(CAST(last_full_at AS CHAR), ''), TIMESTAMPDIFF(SECOND, last_run_at, NOW(6)) FROM ad_dc_state "
            "ORDER BY last_run_at DESC",
            {}, "reading ad_dc_state", [&](const SqlRow& r) {
              st.dcs.push_back({r.str(1), r.str(2), r.u64(3), r.str(4), r.str(5), static_cast<std::int64_t>(r.u64(6))});
            });
  db->query("SELECT id, CAST(finished_at AS CHAR), host, dc, result, mode FROM ad_sync_runs ORDER BY id DESC LIMIT 1", {},
            "reading ad_sync_runs", [&](const SqlRow& r) {
              st.last_run_id = r.u64(1);
              st.last_run_at = r.str(2);
              st.last_run_host = r.str(3);
              st.last_run_dc = r.str(4);
              st.last_run_result = r.str(5);
              st.last_run_mode = r.str(6);
            });
  const SqlParams ad_pending = {std::string(to_sql(AccountSource::ad)), std::string(to_sql(AccountStatus::pending_delete))};
  db->query("SELECT COUNT(*) FROM accounts WHERE source = ? AND status = ?", ad_pending, "counting pending deletes",
            [&](const SqlRow& r) { st.pending_delete = r.u64(1); });
  db->query("SELECT uid FROM accounts WHERE source = ? AND status = ? ORDER BY status_changed_at, uid LIMIT 100",
            ad_pending, "listing pending deletes", [&](const SqlRow& r) { st.pending_delete_uids.push_back(r.str(1)); });
  db->query("SELECT COUNT(*) FROM ad_account_state WHERE missed_runs > 0", {}, "counting accounts AD no longer shows",
            [&](const SqlRow& r) { st.missing = r.u64(1); });
  return st;
}

std::string ad_status_text(const AdStatus& st) {
  std::ostringstream o;
  if (st.dcs.empty()) o << "no successful run recorded for any DC\n";
  for (const auto& d : st.dcs)
    o << "DC " << escape(d.dns_host_name.empty() ? d.dc_key : d.dns_host_name) << ": last success " << d.last_success
      << " (" << d.last_success_age << " s ago), USN " << d.highest_usn << ", last full run "
      << (d.last_full.empty() ? "never" : d.last_full) << "\n";
  if (st.last_run_id)
    o << "last run: " << st.last_run_id << " at " << st.last_run_at << " on " << escape(st.last_run_host) << " against "
      << escape(st.last_run_dc) << ", " << st.last_run_mode << ", " << st.last_run_result << "\n";
  o << "pending delete: " << st.pending_delete;
  for (const auto& u : st.pending_delete_uids) o << ' ' << escape(u);
  if (st.pending_delete > st.pending_delete_uids.size()) o << " ...";
  o << "\nnot seen in AD (counting towards a disable): " << st.missing << "\n";
  return o.str();
}

std::string ad_status_json(const AdStatus& st) {
  nlohmann::json dcs = nlohmann::json::array();
  for (const auto& d : st.dcs)
    dcs.push_back({{"dc", d.dc_key}, {"dns_host_name", d.dns_host_name}, {"highest_usn", d.highest_usn},
                   {"last_success", d.last_success}, {"last_success_age_seconds", d.last_success_age},
                   {"last_full", d.last_full.empty() ? nlohmann::json() : nlohmann::json(d.last_full)}});
  nlohmann::json last = nullptr;
  if (st.last_run_id)
    last = {{"id", st.last_run_id}, {"finished_at", st.last_run_at}, {"host", st.last_run_host},
            {"dc", st.last_run_dc}, {"result", st.last_run_result}, {"mode", st.last_run_mode}};
  nlohmann::ordered_json j = json_document<nlohmann::ordered_json>(json_format::adsync_status);
  j["dcs"] = dcs;
  j["last_run"] = last;
  j["pending_delete"] = st.pending_delete;
  j["pending_delete_uids"] = st.pending_delete_uids;
  j["missing"] = st.missing;
  return j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace);
}

void write_adsync_metrics(const AdsyncSettings& cfg, const AdsyncReport* r, int exit_status, double seconds) {
  if (cfg.ad.metrics_textfile.empty()) return;
  PromFile o(cfg.ad.metrics_textfile);
  o.run_outcome("adsync", exit_status, seconds);
  o.gauge("adsync_leader", "1 when this host led the last run (0: another held the lease, or the run failed).",
          r && !r->not_leader ? 1 : 0);
  // Counted only when applied; written every time, so that no series starts over.
  const bool applied = r && r->applied;
  auto n = [&](std::size_t x) { return applied ? static_cast<double>(x) : 0.0; };
  o.counter("adsync_accounts_created_total", "Accounts created from AD.", n(r ? r->plan.creates.size() : 0));
  o.counter("adsync_accounts_updated_total", "Accounts updated from AD.", n(r ? r->plan.updates.size() : 0));
  o.counter("adsync_accounts_disabled_total", "Accounts disabled (missing from AD, or disabled there).",
            n(r ? r->plan.count(MissAction::disable) : 0));
  o.counter("adsync_accounts_pending_delete_total", "Accounts marked pending-delete.",
            n(r ? r->plan.count(MissAction::pending_delete) : 0));
  if (!r || r->not_leader) {
    o.write();
    return;
  }
  o.gauge("adsync_entries", "AD entries read by the last run.", static_cast<double>(r->plan.entries));
  o.gauge("adsync_conflicts", "Conflicts the last run left unapplied.", static_cast<double>(r->plan.conflicts.size()));
  o.gauge("adsync_gates_tripped", "Gates tripped by the last run (nothing applied unless --force).",
          static_cast<double>(r->plan.gates_tripped.size()));
  o.gauge("adsync_full_run", "1 when the last run was a full one, 0 incremental.", r->plan.mode == SyncMode::full ? 1 : 0);
  o.gauge("adsync_highest_usn", "The DC's highestCommittedUSN at the last run.", static_cast<double>(r->dc.highest_usn),
          "{dc=" + prom_label(r->dc.dns_host_name.empty() ? r->dc.uri : r->dc.dns_host_name) + "}");
  o.write();
}

}  // namespace mapsync
