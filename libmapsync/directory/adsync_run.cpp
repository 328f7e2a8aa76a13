// adsync_run.cpp - one adsync run: leader lock, directory search, plan, gates, apply.
//
// Order matters for safety: the DC's highestCommittedUSN is read before the search, so a
// change made during the search is seen again next time (applying it twice is harmless,
// missing it is not); the database is read and written in one transaction after the
// search; nothing is written when anything before the commit fails.
#include <pwd.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <ctime>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "libmapsync/directory/adsync.h"
#include "libmapsync/core/digest.h"
#include "libmapsync/core/error.h"
#include "libmapsync/core/escape.h"
#include "libmapsync/core/identity.h"
#include "libmapsync/core/json_format.h"
#include "libmapsync/core/log.h"
#include "libmapsync/core/signals.h"
#include "libmapsync/db/database.h"
#include "libmapsync/db/endpoints.h"
#include "libmapsync/db/lease.h"

namespace mapsync {

std::string ad_scope_digest(const AdConfig& ad) {
  Digest d;
  auto add = [&](const std::string& s) {
    d.update(s);
    d.update(std::string_view("\0", 1));
  };
  for (const auto& b : ad.bases) add(b);
  add(ad.filter);
  add(ad.member_of);
  for (const auto* a : {&ad.attr_uid, &ad.attr_given, &ad.attr_surname, &ad.attr_display, &ad.attr_mail, &ad.attr_proxy,
                        &ad.attr_anchor})
    add(*a);
  add(ad.primary_from_proxy ? "proxy" : "mail");
  return d.hex();
}

namespace {

const char* action_name(MissAction a) {
  switch (a) {
    case MissAction::count: return "miss";
    case MissAction::disable: return "disable";
    case MissAction::pending_delete: return "pending-delete";
  }
  return "?";
}

constexpr std::size_t kCreateChunk = 500;

// The directory search on a thread of its own, handing over entries in batches. The
// destructor stops and joins it, so an error on the consumer's side unwinds cleanly;
// an error on the search's side is rethrown by next().
class StreamedSearch {
 public:
  StreamedSearch(Directory& dir, const SearchScope& scope)
      : thread_([this, &dir, scope] {
          try {
            dir.search_users(scope, [this](DirEntry&& e) {
              if (stop_) fail(Exit::tempfail, "search stopped");
              std::lock_guard<std::mutex> l(m_);
              queue_.push_back(std::move(e));
              ++count_;
              if (queue_.size() >= 256) cv_.notify_one();
            });
          } catch (...) {
            std::lock_guard<std::mutex> l(m_);
            error_ = std::current_exception();
          }
          std::lock_guard<std::mutex> l(m_);
          done_ = true;
          cv_.notify_one();
        }) {}

  ~StreamedSearch() {
    stop_ = true;
    thread_.join();
  }

  // The entries found since the last call; false when the search has ended and all were
  // handed over.
  bool next(std::vector<DirEntry>& batch) {
    batch.clear();
    std::unique_lock<std::mutex> l(m_);
    cv_.wait(l, [&] { return done_ || queue_.size() >= 256; });
    batch.swap(queue_);
    if (done_ && error_) std::rethrow_exception(error_);
    return !batch.empty() || !done_;
  }

  std::size_t count() const { return count_; }

 private:
  std::mutex m_;
  std::condition_variable cv_;
  std::vector<DirEntry> queue_;
  std::exception_ptr error_;
  bool done_ = false;
  std::atomic<bool> stop_{false};
  std::atomic<std::size_t> count_{0};
  std::thread thread_;  // last: starts when everything above is ready
};

// Full or incremental? Incremental only against the same DC incarnation, the same
// scope, and while the last full run is recent enough.
SyncMode choose_mode(const AdConfig& ad, const AdsyncOptions& opt, const DcState& last, const DcInfo& dc,
                     const RunInfo& info, const std::string& bound_as) {
  std::string why_full;
  if (opt.full) why_full = "asked for";
  else if (!opt.only_uid.empty()) why_full = "one user";
  else if (!last.present) why_full = "first run against this DC";
  else if (last.invocation_id != dc.invocation_id) why_full = "the DC's invocationId changed (restored?)";
  else if (last.scope_digest != info.scope_digest) why_full = "the search scope in the config changed";
  else if (last.highest_usn > dc.highest_usn) why_full = "the DC's USN went backwards";
  else if (ad.full_sync_hours == 0 || last.last_full_at == 0 ||
           info.started - last.last_full_at >= static_cast<std::int64_t>(ad.full_sync_hours) * 3600)
    why_full = "last full run is older than " + std::to_string(ad.full_sync_hours) + " h";
  const SyncMode mode = why_full.empty() ? SyncMode::incremental : SyncMode::full;
  log::info(std::string(mode == SyncMode::full ? "full run (" + why_full + ")" : "incremental run") +
            " against " + dc.uri + " (USN " + std::to_string(dc.highest_usn) + "), bound as " + bound_as);
  return mode;
}

// adsync reads and writes in one REPEATABLE READ snapshot.
std::unique_ptr<Transaction> begin_snapshot(Database& db) {
  db.execute("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ", "setting the isolation level");
  return std::make_unique<Transaction>(db, "starting a transaction", "START TRANSACTION WITH CONSISTENT SNAPSHOT");
}

// What the planning steps share.
struct PlanContext {
  Database& db;
  Directory& dir;
  const AdConfig& ad;
  const SearchScope& scope;
  const PlanInput& in;
  const GroupMembers& members_of;
  std::unique_ptr<Transaction>& tx;
  AdDbState& state;
};

// A full apply (the initial import above all) writes the creates decided so far while
// the search goes on, in the same transaction: the database's work overlaps the
// directory's, and a search that fails still rolls everything back.
Plan plan_while_searching(PlanContext& x, const RunInfo& info, std::uint64_t& run_id, std::size_t& creates_written) {
  x.tx = begin_snapshot(x.db);
  read_ad_db_state(x.db, x.state);
  for (const AdPlacementRule& r : x.ad.placement)
    if (!r.group.empty()) x.members_of(r.group);  // the LDAP connection is the search's from here on
  run_id = begin_ad_audit(x.db, info, x.in.mode);
  AdPlanner planner(x.in, x.state, x.members_of);
  StreamedSearch search(x.dir, x.scope);
  for (std::vector<DirEntry> batch; search.next(batch);) {
    for (DirEntry& e : batch) planner.add(e);
    const std::size_t decided = planner.creates().size();
    if (decided - creates_written >= kCreateChunk) {
      write_ad_creates(x.db, planner.creates(), creates_written, decided, run_id);
      creates_written = decided;
    }
  }
  log::debug(std::to_string(search.count()) + " entries from AD; " + std::to_string(creates_written) +
             " creates written during the search");
  return planner.finish();
}

// Otherwise the search comes first, and the database is read in a transaction after it.
Plan plan_after_search(PlanContext& x) {
  std::vector<DirEntry> entries;
  x.dir.search_users(x.scope, [&](DirEntry&& e) { entries.push_back(std::move(e)); });
  if (x.in.mode == SyncMode::incremental && entries.empty()) {
    // "No changes" or "cannot see the bases any more"? Entries seen before tell.
    std::vector<std::string> known;
    x.db.query("SELECT s.dn FROM ad_account_state s JOIN accounts a ON a.id = s.account_id WHERE a.status = ? "
               "AND s.missed_runs = 0 AND s.dn IS NOT NULL ORDER BY s.account_id DESC LIMIT 200",
               {std::string(to_sql(AccountStatus::active))}, "reading known DNs",
               [&](const SqlRow& r) { known.push_back(r.str(1)); });
    x.dir.probe_bases(known);
  }
  log::debug(std::to_string(entries.size()) + " entries from AD");
  x.tx = begin_snapshot(x.db);
  read_ad_db_state(x.db, x.state);
  log::debug("read the database: " + std::to_string(x.state.accounts.size()) + " accounts");
  return plan_adsync(x.in, x.state, entries, x.members_of);
}

}  // namespace

AdsyncReport run_adsync(const AdsyncSettings& cfg, const AdsyncOptions& opt) {
  const AdConfig& ad = cfg.ad;
  if (!ad.present) fail(Exit::config, cfg.path + ": ad: section is missing (adsync needs ad.uris, ad.bases, ...)");
  AdsyncReport rep;
  auto dbp = connect_writer(cfg.database);
  Database& db = *dbp;
  std::unique_ptr<Lease> lease;
  if (opt.apply) {
    std::string holder;
    lease = Lease::acquire(db, ad.lock_name, holder);
    if (!lease) {
      rep.not_leader = true;
      rep.leader = holder;
      return rep;
    }
  }
  RunInfo info;
  info.started = std::time(nullptr);
  info.host = host_name();
  info.os_user = os_user();

  std::unique_ptr<Directory> dir = Directory::connect(ad);
  rep.dc = dir->dc();
  rep.bound_as = dir->bound_as();
  info.bound_as = rep.bound_as;
  info.dc = rep.dc.uri + " (" + rep.dc.dns_host_name + ")";
  info.dc_key = rep.dc.ds_service_name;
  info.dc_info = rep.dc;
  info.scope_digest = ad_scope_digest(ad);

  const DcState last = read_dc_state(db, info.dc_key);
  const SyncMode mode = choose_mode(ad, opt, last, rep.dc, info, rep.bound_as);
  SearchScope scope;
  scope.only_uid = opt.only_uid;
  if (mode == SyncMode::incremental) scope.usn_above = last.highest_usn;
  PlanInput in;
  in.ad = &ad;
  in.mode = mode;
  in.now = info.started;
  in.only_subset = !opt.only_uid.empty();
  std::unordered_map<std::string, std::unordered_set<std::string>> groups;
  GroupMembers members_of = [&](const std::string& group) -> const std::unordered_set<std::string>& {
    auto it = groups.find(group);
    if (it == groups.end()) {
      const auto anchors = dir->nested_member_anchors(dir->group_dn(group));
      it = groups.emplace(group, std::unordered_set<std::string>(anchors.begin(), anchors.end())).first;
    }
    return it->second;
  };
  std::unique_ptr<Transaction> tx;
  AdDbState state;
  std::size_t creates_written = 0;
  PlanContext x{db, *dir, ad, scope, in, members_of, tx, state};
  rep.plan = opt.apply && mode == SyncMode::full && opt.only_uid.empty()
                 ? plan_while_searching(x, info, rep.run_id, creates_written)
                 : plan_after_search(x);
  log::debug("planned");
  for (const auto& n : rep.plan.notes) log::debug(n);

  if (!rep.plan.gates_tripped.empty() && !opt.force) rep.refused = true;
  if (!opt.apply || rep.refused) return rep;  // the transaction rolls back: nothing written

  info.record_dc_state = opt.only_uid.empty();
  check_interrupted();
  lease->check();
  std::string audit = plan_json(rep, json_format::adsync_apply, false, true);
  // The audit row keeps the whole plan, but not the tens of megabytes of an initial
  // import of a whole university (max_allowed_packet): then the counts only.
  if (audit.size() > (4u << 20)) audit = plan_json(rep, json_format::adsync_apply, true, true);
  log::debug("plan as JSON: " + std::to_string(audit.size()) + " bytes");
  if (!rep.run_id) rep.run_id = begin_ad_audit(db, info, mode);
  apply_ad_plan(db, rep.plan, info, audit, rep.run_id, creates_written);
  log::debug("written");
  check_interrupted();
  // Only a leader whose lease is still its own may commit (a stale leader's late commit
  // is refused here, or by Galera's certification of the lease row).
  lease->fence(db);
  lease->commit(*tx, "committing");
  log::debug("committed");
  rep.applied = true;
  lease->release(db);
  log::audit("applied run " + std::to_string(rep.run_id) + " (" + escape(rep.dc.uri) + ", USN " +
             std::to_string(rep.dc.highest_usn) + "): " + std::to_string(rep.plan.creates.size()) +
              " creates, " + std::to_string(rep.plan.updates.size()) + " updates, " +
              std::to_string(rep.plan.count(MissAction::disable)) + " disables, " +
              std::to_string(rep.plan.count(MissAction::pending_delete)) + " pending-delete, " +
              std::to_string(rep.plan.conflicts.size()) + " conflicts");
  return rep;
}

std::string plan_text(const AdsyncReport& r, bool verbose) {
  const Plan& p = r.plan;
  std::ostringstream o;
  o << (p.mode == SyncMode::full ? "full" : "incremental") << " run against " << r.dc.uri << " (" << r.dc.dns_host_name
    << ", USN " << r.dc.highest_usn << "), bound as " << r.bound_as << ": " << p.entries << " entries\n";
  for (const auto& c : p.creates) {
    o << "create          " << c.w.uid << "  " << c.w.primary_address << "  " << to_sql(c.delivery);
    if (!c.backend.empty()) o << " " << c.backend;
    if (!c.smtp_nexthop.empty()) o << " " << c.smtp_nexthop;
    o << "  (rule " << c.rule << ")";
    if (!c.w.aliases.empty()) {
      o << "  aliases:";
      for (const auto& a : c.w.aliases) o << " " << a;
    }
    o << "\n";
  }
  for (const auto& u : p.updates) {
    o << (u.rename ? "rename          " : u.enable ? "enable          " : "update          ") << u.uid << " ";
    const char* sep = " ";
    for (const auto& c : u.changes) {
      o << sep << c.field << ": " << (c.before.empty() ? "(none)" : c.before) << " -> "
        << (c.after.empty() ? "(none)" : c.after);
      sep = "; ";
    }
    for (const auto& a : u.add_aliases) {
      o << sep << "+alias " << a;
      sep = "; ";
    }
    for (const auto& a : u.remove_aliases) {
      o << sep << "-alias " << a;
      sep = "; ";
    }
    if (u.rename && u.cyrus) o << " (mailbox rename queued)";
    o << "\n";
  }
  for (const auto& m : p.misses) {
    std::string name = action_name(m.action);
    name.resize(16, ' ');
    o << name << m.uid << "  " << (m.reason == "disabled" ? "disabled in AD" : "gone from AD or out of scope");
    if (m.action != MissAction::pending_delete) o << " (missed " << m.missed_runs << " run" << (m.missed_runs == 1 ? "" : "s") << ")";
    o << "\n";
  }
  for (const auto& s : p.state_updates)
    if (!s.old_dn.empty() && s.old_dn != s.dn) o << "move            " << s.uid << "  " << s.old_dn << " -> " << s.dn << "\n";
  for (const auto& c : p.conflicts) o << "conflict        " << c.who << ": " << c.what << "\n";
  if (verbose)
    for (const auto& n : p.notes) o << "note            " << n << "\n";
  if (p.in_sync() && p.conflicts.empty()) o << "in step with AD\n";
  o << "summary: " << p.creates.size() << " create, " << p.updates.size() << " update (" << p.count_renames()
    << " rename, " << p.count_enables() << " enable), " << p.count(MissAction::disable) << " disable, "
    << p.count(MissAction::pending_delete) << " pending-delete, " << p.count(MissAction::count) << " miss, "
    << p.conflicts.size() << " conflict\n";
  for (const auto& g : p.gates_tripped) o << "gate tripped: " << g << "\n";
  if (r.refused) o << "nothing applied: a gate tripped (adsync apply --force if this is intended)\n";
  else if (r.applied) o << "applied (audit run " << r.run_id << ")\n";
  return o.str();
}

std::string plan_json(const AdsyncReport& r, const JsonFormat& format, bool summary_only, bool compact) {
  using nlohmann::json;
  const Plan& p = r.plan;
  json j = json_document<json>(format);
  if (summary_only) j["truncated"] = "the plan was too large to keep; counts only";
  j["mode"] = p.mode == SyncMode::full ? "full" : "incremental";
  j["dc"] = {{"uri", r.dc.uri},
             {"dns_host_name", r.dc.dns_host_name},
             {"ds_service_name", r.dc.ds_service_name},
             {"invocation_id", r.dc.invocation_id},
             {"highest_usn", r.dc.highest_usn}};
  j["bound_as"] = r.bound_as;
  j["entries"] = p.entries;
  j["creates"] = json::array();
  j["updates"] = json::array();
  j["misses"] = json::array();
  j["conflicts"] = json::array();
  if (!summary_only) {
    for (const auto& c : p.creates)
      j["creates"].push_back({{"uid", c.w.uid},
                              {"guid", guid_text(c.w.anchor)},
                              {"dn", c.w.dn},
                              {"primary_address", c.w.primary_address},
                              {"aliases", c.w.aliases},
                              {"delivery", std::string(to_sql(c.delivery))},
                              {"backend", c.backend},
                              {"smtp_nexthop", c.smtp_nexthop},
                              {"rule", c.rule}});
    for (const auto& u : p.updates) {
      json changes = json::array();
      for (const auto& c : u.changes) changes.push_back({{"field", c.field}, {"before", c.before}, {"after", c.after}});
      j["updates"].push_back({{"account_id", u.account_id},
                              {"uid", u.uid},
                              {"changes", changes},
                              {"add_aliases", u.add_aliases},
                              {"remove_aliases", u.remove_aliases},
                              {"rename", u.rename},
                              {"enable", u.enable}});
    }
    for (const auto& m : p.misses)
      j["misses"].push_back({{"account_id", m.account_id},
                             {"uid", m.uid},
                             {"reason", m.reason},
                             {"missed_runs", m.missed_runs},
                             {"action", action_name(m.action)}});
    for (const auto& c : p.conflicts) j["conflicts"].push_back({{"who", c.who}, {"what", c.what}});
    j["notes"] = p.notes;
  }
  j["gates_tripped"] = p.gates_tripped;
  j["summary"] = {{"creates", p.creates.size()},
                  {"updates", p.updates.size()},
                  {"renames", p.count_renames()},
                  {"enables", p.count_enables()},
                  {"disables", p.count(MissAction::disable)},
                  {"pending_deletes", p.count(MissAction::pending_delete)},
                  {"misses", p.count(MissAction::count)},
                  {"conflicts", p.conflicts.size()}};
  j["in_sync"] = p.in_sync();
  j["applied"] = r.applied;
  j["refused"] = r.refused;
  return compact ? j.dump() : j.dump(2);
}

}  // namespace mapsync
