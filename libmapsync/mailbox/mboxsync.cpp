// mboxsync.cpp - the run, plan and bulk jobs: what to do, read from the database, and
// what came of it, recorded there.
//
// The main thread owns the database: it reads what to do before the engine
// (mbox_engine.h) starts and records each result as it arrives, so an interrupted bulk
// run has recorded everything it finished, and a rerun finds the rest (a mailbox that
// already exists where it belongs counts as done). The queue's rules are db/queue.h's.
#include "libmapsync/mailbox/mboxsync.h"

#include <algorithm>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "libmapsync/core/casefold.h"
#include "libmapsync/core/error.h"
#include "libmapsync/core/json_format.h"
#include "libmapsync/core/signals.h"
#include "libmapsync/db/backends.h"
#include "libmapsync/db/database.h"
#include "libmapsync/db/endpoints.h"
#include "libmapsync/db/lease.h"
#include "libmapsync/db/queue.h"
#include "libmapsync/mailbox/mbox_db.h"
#include "libmapsync/mailbox/mbox_engine.h"
#include "libmapsync/mailbox/mbox_task.h"
#include "libmapsync/mailbox/mbox_tree.h"

namespace mapsync {

std::size_t MboxReport::count(MboxOutcome outcome) const {
  return static_cast<std::size_t>(
      std::count_if(results.begin(), results.end(), [&](const MboxResult& r) { return r.outcome == outcome; }));
}

namespace {

std::string domain_of(const std::string& address) {
  const auto at = address.rfind('@');
  if (at == std::string::npos) return {};
  return fold_key(address.substr(at + 1));
}

// ---- reading ------------------------------------------------------------------------

struct State {
  std::vector<BackendRow> backends;  // accounts: mailboxes provisioned there
  std::map<std::uint32_t, MbAccount> accounts;  // with a mailbox: cyrus, and forward with keep_copy
  const BackendRow* backend(std::uint32_t id) const {
    for (const auto& b : backends)
      if (b.id == id) return &b;
    return nullptr;
  }
};

void read_state(Database& db, State& st) {
  st.backends = read_backends(db, BackendLoad::provisioned_mailboxes);
  st.accounts = read_mailbox_accounts(db);
}

MboxResult outcome(std::uint32_t account_id, const std::string& uid, MboxOutcome what, std::string detail) {
  MboxResult r;
  r.account_id = account_id;
  r.uid = uid;
  r.outcome = what;
  r.detail = std::move(detail);
  return r;
}

// A queued job that cannot become a task fails at once, without an attempt.
void refuse_job(Database& db, MboxReport& rep, const QueuedJob& j, const std::string& uid, const std::string& why) {
  rep.results.push_back(outcome(j.account_id, uid, MboxOutcome::failed, why));
  mark_failed(db, j.id, Attempt::not_made, why);
}

// The queue's due create and rename jobs as tasks (creates still to be named and placed);
// move jobs are mboxsync_moves.cpp's.
std::vector<Task> tasks_from_queue(Database& db, const CyrusConfig& c, const State& st, MboxReport& rep) {
  std::vector<Task> tasks;
  for (const QueuedJob& j : due_jobs(db)) {
    auto it = st.accounts.find(j.account_id);
    if (it == st.accounts.end()) {
      refuse_job(db, rep, j, "", "account " + std::to_string(j.account_id) + " is not delivered to Cyrus");
      continue;
    }
    Task t;
    t.kind = j.kind;
    t.job_id = j.id;
    t.attempts = j.attempts;
    t.account = it->second;
    if (j.kind == JobKind::rename) {
      t.account.uid = j.new_uid;
      std::string why;
      const auto from = cyrus_inbox(cyrus_namespace(c), j.old_uid, t.account.domain, &why);
      const auto to = cyrus_inbox(cyrus_namespace(c), t.account.uid, t.account.domain, &why);
      if (!from || !to) {
        refuse_job(db, rep, j, t.account.uid, why);
        continue;
      }
      t.old_inbox = *from;
      t.inbox = *to;
      t.backend = st.backend(t.account.backend_id);
      t.partition = t.account.partition;
    }
    tasks.push_back(std::move(t));
  }
  return tasks;
}

// ---- recording ----------------------------------------------------------------------

// Placement decisions are written before any CREATE is sent: a run interrupted after the
// server made a mailbox, but before its result was recorded, is followed by one that finds
// the mailbox where it was put (existed), instead of placing the account anew and calling
// its own mailbox a conflict on another back end.
void record_placement(Database& db, Lease& lease, const std::vector<Task>& tasks) {
  std::unique_ptr<Transaction> tx;
  for (const Task& t : tasks) {
    if (t.kind != JobKind::create || !t.backend || t.account.provisioned) continue;
    if (t.backend->id == t.account.backend_id && t.partition == t.account.partition) continue;
    if (!tx) {
      tx = std::make_unique<Transaction>(db, "recording placements");
      lease.fence(db);
    }
    db.update("UPDATE accounts SET backend_id = ?, cyrus_partition = ? WHERE id = ? AND provisioned_at IS NULL",
              {static_cast<std::uint64_t>(t.backend->id), t.partition, static_cast<std::uint64_t>(t.account.id)},
              "recording the placement of " + t.account.uid);
  }
  if (tx) lease.commit(*tx, "recording placements");
}

// What a finished task means for the database, written in one transaction: a process killed
// between "the account has its mailbox" and "its create jobs are done" would otherwise leave
// a job pending that no later run picks up (bulk skips provisioned accounts).
void record_result_rows(Database& db, const CyrusConfig& c, const Task& t, const MboxResult& r) {
  const bool ok = succeeded(r.outcome);
  if (ok && t.kind == JobKind::create) {
    db.update(
        "UPDATE accounts SET backend_id = ?, cyrus_partition = ?, provisioned_at = COALESCE(provisioned_at, NOW()) "
        "WHERE id = ?",
        {static_cast<std::uint64_t>(t.backend->id), t.partition, static_cast<std::uint64_t>(t.account.id)},
        "recording the mailbox of " + t.account.uid);
    close_creates(db, t.account.id, t.account.uid);  // whoever queued them
  }
  if (t.job_id == 0) return;
  if (ok)
    mark_done(db, t.job_id);
  else if (r.outcome == MboxOutcome::retry)
    mark_retry(db, t.job_id, t.attempts, {c.retry_base_seconds, c.retry_max_seconds, c.max_attempts}, r.detail);
  else
    mark_failed(db, t.job_id, Attempt::counted, std::string(outcome_word(r.outcome)) + ": " + r.detail);
}

void record_result(Database& db, Lease& lease, const CyrusConfig& c, const Task& t, const MboxResult& r) {
  // Nothing was sent: the job (or the unprovisioned account) stays as it was.
  if (r.outcome == MboxOutcome::skipped || r.outcome == MboxOutcome::not_tried) return;
  fenced(db, lease, "recording the result of " + t.account.uid, [&] { record_result_rows(db, c, t, r); });
}

void write_result_log(std::ofstream& log, const MboxResult& r) {
  if (!log) return;
  std::string detail = r.detail;
  for (char& ch : detail)
    if (ch == '\t' || ch == '\n' || ch == '\r') ch = ' ';
  log << r.uid << '\t' << r.backend << '\t' << r.mailbox << '\t' << outcome_word(r.outcome) << '\t' << detail << '\n';
  log.flush();
}

// Mailbox name -> back end name, for every user mailbox on the enabled back ends.
std::map<std::string, std::string> list_all(const CyrusConfig& c, const State& st, MboxReport& rep) {
  const auto login = admin_login(c);
  std::map<std::string, std::string> where;
  for (const BackendRow& b : st.backends) {
    if (!b.enabled) continue;
    ImapClient imap(imap_endpoint(c, b.imap_host, b.imap_port, login->password));
    for (const std::string& name : list_inboxes(imap, cyrus_namespace(c))) {
      where.emplace(name, b.name);
      ++rep.existing;
    }
    imap.logout();
  }
  return where;
}

// mupdate (asked through the front end, when one is configured) against the database: a
// user whose mail Postfix routes to one back end while the Murder knows another.
void check_mupdate(const CyrusConfig& c, const State& st, MboxReport& rep) {
  if (c.frontend_host.empty()) return;
  std::vector<std::string> inboxes;
  std::vector<const MbAccount*> of;
  for (const auto& [id, a] : st.accounts) {
    if (a.status == AccountStatus::pending_delete || !a.provisioned) continue;
    if (auto inbox = cyrus_inbox(cyrus_namespace(c), a.uid, a.domain, nullptr)) {
      inboxes.push_back(*inbox);
      of.push_back(&a);
    }
  }
  const auto login = admin_login(c);
  ImapClient fe(imap_endpoint(c, c.frontend_host, c.frontend_port, login->password));
  const auto where = mupdate_servers(fe, inboxes, c.pipeline);
  fe.logout();
  for (std::size_t i = 0; i < inboxes.size(); ++i) {
    const BackendRow* b = st.backend(of[i]->backend_id);
    auto it = where.find(inboxes[i]);
    if (it != where.end() && (!b || it->second != b->imap_host))
      rep.misplaced.push_back(inboxes[i] + ": mupdate names " + it->second + ", the database says " +
                              (b ? b->name + " (" + b->imap_host + ")" : "none"));
  }
}

}  // namespace

std::map<std::uint32_t, MbAccount> read_mailbox_accounts(Database& db) {
  std::map<std::uint32_t, MbAccount> out;
  db.query(
      "SELECT id, uid, primary_address, status, COALESCE(backend_id, 0), COALESCE(cyrus_partition, ''), "
      "COALESCE(quota_mb, 0), provisioned_at IS NOT NULL, mailbox_moving FROM accounts "
      "WHERE delivery = ? OR (delivery = ? AND keep_copy) ORDER BY id",
      {std::string(to_sql(Delivery::cyrus)), std::string(to_sql(Delivery::forward))}, "reading Cyrus accounts",
      [&](const SqlRow& r) {
        MbAccount a;
        a.id = static_cast<std::uint32_t>(r.u64(1));
        a.uid = r.str(2);
        a.domain = domain_of(r.str(3));
        a.status = parse_sql<AccountStatus>(r.view(4));
        a.backend_id = static_cast<std::uint32_t>(r.u64(5));
        a.partition = r.str(6);
        a.quota_mb = static_cast<unsigned>(r.u64(7));
        a.provisioned = r.u64(8) != 0;
        a.moving = r.u64(9) != 0;
        out[a.id] = a;
      });
  return out;
}

MboxJob start_mbox_job(const MboxsyncSettings& cfg, bool lead, MboxReport& rep) {
  if (!cfg.cyrus.present) fail(Exit::config, cfg.path + ": cyrus: section is missing (mboxsync needs cyrus.password_file or cyrus.keytab, ...)");
  MboxJob job;
  job.db = connect_writer(cfg.database);
  if (!lead) return job;
  std::string holder;
  job.lease = Lease::acquire(*job.db, cfg.cyrus.lock_name, holder);
  if (!job.lease) {
    rep.not_leader = true;
    rep.leader = cfg.cyrus.lock_name + " (" + holder + ")";
  }
  return job;
}

MboxReport mboxsync_run(const MboxsyncSettings& cfg, const MboxsyncOptions& opt) {
  MboxReport rep;
  MboxJob job = start_mbox_job(cfg, true, rep);
  if (!job.lease) return rep;
  Database& db = *job.db;
  auto& lease = job.lease;
  State st;
  read_state(db, st);
  std::vector<Task> ready;
  for (Task& t : tasks_from_queue(db, cfg.cyrus, st, rep)) {
    if (t.kind == JobKind::create) {
      std::string why;
      if (!name_task(cfg.cyrus, t, why)) {
        rep.results.push_back(outcome(t.account.id, t.account.uid, MboxOutcome::failed, why));
        fenced(db, *lease, "recording the failure of " + t.account.uid, [&] { mark_failed(db, t.job_id, Attempt::not_made, why); });
        continue;
      }
      place_task(cfg.cyrus, st.backends, t);
    }
    if (!t.backend || !t.backend->enabled) {
      rep.results.push_back(outcome(t.account.id, t.account.uid, MboxOutcome::retry, "no enabled back end for the account"));
      continue;
    }
    ready.push_back(t);
    if (opt.limit && ready.size() >= opt.limit) break;
  }
  record_placement(db, *lease, ready);
  run_tasks(cfg.cyrus, ready, [&](const Task& t, const MboxResult& r) {
    record_result(db, *lease, cfg.cyrus, t, r);
    if (r.outcome != MboxOutcome::skipped) rep.results.push_back(r);
  }, nullptr);
  // Moves after the creates: a new account's mailbox matters more than an even spread.
  run_moves(db, *lease, cfg, opt, pending_moves(db, true), rep);
  return rep;
}

MboxReport mboxsync_plan(const MboxsyncSettings& cfg) {
  MboxReport rep;
  MboxJob job = start_mbox_job(cfg, false, rep);
  Database& db = *job.db;
  State st;
  read_state(db, st);
  const std::map<std::string, std::string> where = list_all(cfg.cyrus, st, rep);
  const CyrusNamespace ns = cyrus_namespace(cfg.cyrus);
  std::set<std::string> wanted;
  for (const auto& [id, a] : st.accounts) {
    if (a.status == AccountStatus::pending_delete) continue;
    ++rep.expected;
    std::string why;
    const auto inbox = cyrus_inbox(ns, a.uid, a.domain, &why);
    if (!inbox) {
      rep.invalid.push_back(a.uid + ": " + why);
      continue;
    }
    wanted.insert(*inbox);
    const BackendRow* b = st.backend(a.backend_id);
    auto it = where.find(*inbox);
    if (it == where.end()) rep.missing.push_back(*inbox + " (" + (b ? b->name : "no back end") + ")");
    else if (!b || it->second != b->name)
      rep.misplaced.push_back(*inbox + ": on " + it->second + ", the database says " + (b ? b->name : "none"));
  }
  for (const auto& [name, backend] : where)
    if (!wanted.count(name)) rep.orphans.push_back(name + " (" + backend + ")");
  check_mupdate(cfg.cyrus, st, rep);
  db.query(
      "SELECT a.uid FROM accounts a WHERE a.mailbox_moving AND NOT EXISTS (SELECT 1 FROM provisioning_jobs j "
      "WHERE j.account_id = a.id AND j.kind = ? AND j.state = ?) ORDER BY a.uid",
      {std::string(to_sql(JobKind::move)), std::string(to_sql(JobState::pending))}, "reading deferred accounts",
      [&](const SqlRow& r) {
        rep.deferred.push_back(r.str(1) + ": the transport map defers its mail (mailbox_moving) but no move is pending");
      });
  return rep;
}

MboxReport mboxsync_bulk(const MboxsyncSettings& cfg, const MboxsyncOptions& opt) {
  // A signal stops the bulk between mailboxes: the commands in flight finish and are
  // recorded, the rest is reported as not tried, and a rerun continues. First, so that
  // every thread of the run (the lease's renewer, the workers) blocks the signals.
  GracefulStop stop_with_a_report;
  MboxReport rep;
  MboxJob job = start_mbox_job(cfg, true, rep);
  if (!job.lease) return rep;
  Database& db = *job.db;
  auto& lease = job.lease;
  State st;
  read_state(db, st);
  // Every Cyrus account not yet recorded as provisioned; those whose mailbox exists are
  // found out by CREATE (ALREADYEXISTS on the right back end), which makes a rerun
  // after an interruption finish the job without listing anything first.
  std::vector<Task> tasks;
  std::ofstream log;
  if (!opt.result_log.empty()) {
    log.open(opt.result_log, std::ios::app);
    if (!log) fail(Exit::cantcreat, errno_text("cannot append to " + opt.result_log, errno));
  }
  for (auto& [id, a] : st.accounts) {
    if (a.provisioned || a.status == AccountStatus::pending_delete) continue;
    Task t;
    t.account = a;
    std::string why;
    if (name_task(cfg.cyrus, t, why)) place_task(cfg.cyrus, st.backends, t);
    if (!why.empty() || !t.backend || !t.backend->enabled) {
      rep.results.push_back(outcome(a.id, a.uid, MboxOutcome::failed, why.empty() ? "no enabled back end" : why));
      write_result_log(log, rep.results.back());
      continue;
    }
    tasks.push_back(t);
    if (opt.limit && tasks.size() >= opt.limit) break;
  }
  record_placement(db, *lease, tasks);
  Progress progress(opt.progress, tasks.size());
  run_tasks(cfg.cyrus, tasks, [&](const Task& t, const MboxResult& r) {
    if (r.outcome == MboxOutcome::skipped) return;
    record_result(db, *lease, cfg.cyrus, t, r);
    write_result_log(log, r);
    rep.results.push_back(r);
  }, &progress);
  rep.interrupted = interrupting_signal();
  return rep;
}

std::string mbox_plan_text(const MboxReport& r) {
  std::ostringstream o;
  o << r.expected << " accounts should have a mailbox; " << r.existing << " user mailboxes exist\n";
  for (const auto& m : r.missing) o << "missing     " << m << "\n";
  for (const auto& m : r.misplaced) o << "misplaced   " << m << "\n";
  for (const auto& m : r.orphans) o << "orphan      " << m << " (no account)\n";
  for (const auto& m : r.invalid) o << "invalid     " << m << "\n";
  for (const auto& m : r.deferred) o << "deferred    " << m << "\n";
  o << (r.in_sync() ? "in step\n" : "summary: " + std::to_string(r.missing.size()) + " missing, " +
                                        std::to_string(r.misplaced.size()) + " misplaced, " +
                                        std::to_string(r.orphans.size()) + " orphans, " +
                                        std::to_string(r.invalid.size()) + " invalid, " +
                                        std::to_string(r.deferred.size()) + " deferred\n");
  return o.str();
}

std::string mbox_plan_json(const MboxReport& r, const JsonFormat& format) {
  nlohmann::json j = json_document<nlohmann::json>(format);
  j["expected"] = r.expected;
  j["existing"] = r.existing;
  j["missing"] = r.missing;
  j["misplaced"] = r.misplaced;
  j["orphans"] = r.orphans;
  j["invalid"] = r.invalid;
  j["deferred"] = r.deferred;
  j["in_sync"] = r.in_sync();  // the same word as adsync's plan --json
  j["results"] = nlohmann::json::array();
  for (const auto& x : r.results) {
    nlohmann::json one = {{"uid", x.uid},
                          {"backend", x.backend},
                          {"mailbox", x.mailbox},
                          {"outcome", outcome_word(x.outcome)},
                          {"detail", x.detail}};
    if (!x.from.empty()) {  // a move
      one["from"] = x.from;
      one["bytes"] = x.bytes;
      one["messages"] = x.messages;
      one["seconds"] = x.seconds;
    }
    j["results"].push_back(one);
  }
  nlohmann::json summary = {{"tried", r.tried()}};
  for (MboxOutcome o : {MboxOutcome::created, MboxOutcome::existed, MboxOutcome::renamed, MboxOutcome::moved,
                        MboxOutcome::conflict, MboxOutcome::failed, MboxOutcome::retry, MboxOutcome::skipped,
                        MboxOutcome::not_tried})
    summary[outcome_word(o)] = r.count(o);
  j["summary"] = std::move(summary);
  j["interrupted"] = r.interrupted.empty() ? nlohmann::json(nullptr) : nlohmann::json(r.interrupted);
  return j.dump(2);
}

}  // namespace mapsync
