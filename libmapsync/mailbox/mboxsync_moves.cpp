// mboxsync_moves.cpp - moving users between back ends: the move jobs (mboxsync move, and
// the queue's move jobs in mboxsync run) and the rebalance plan.
//
// The order that keeps mail from being lost (docs/mailbox-moves.md):
//   1. defer: set accounts.mailbox_moving for a batch of users; the transport map then
//      routes them to render.moving_transport (Postfix's retry service: mail waits in the
//      hubs' queues). Wait until every hub reporting to fleet_hubs has published that
//      serial: after XFER the old back end answers 550 5.1.1 for the user, so no hub may
//      still route the user there.
//   2. move: XFER on the source, checked on the target (mbox_move.h).
//   3. record: the account's back end and partition become the target's and the deferral
//      ends, in one fenced transaction; the hubs' next build routes the user to the target
//      and Postfix delivers what it deferred. A move that failed with the tree whole on the
//      source ends the deferral with the user still there; one whose outcome is unclear
//      keeps deferring until a later run finds out where the tree is.
// The main thread owns the database. The moves of a batch run cyrus.moves.parallel at a
// time, each thread with its own kept sessions (mbox_move.h); their one database write,
// the snapshot before XFER, takes the database in turn while the main thread waits for
// them. A batch is confirmed with mupdate and recorded after the next batch's transfers,
// by which time the front end's mupdate slave has caught up.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <exception>
#include <mutex>
#include <thread>

#include "libmapsync/core/error.h"
#include "libmapsync/core/identity.h"
#include "libmapsync/core/log.h"
#include "libmapsync/core/signals.h"
#include "libmapsync/db/backends.h"
#include "libmapsync/db/endpoints.h"
#include "libmapsync/db/fleet.h"
#include "libmapsync/db/queue.h"
#include "libmapsync/mailbox/mbox_db.h"
#include "libmapsync/mailbox/mbox_engine.h"
#include "libmapsync/mailbox/mbox_move.h"
#include "libmapsync/mailbox/mbox_task.h"
#include "libmapsync/mailbox/rebalance.h"

namespace mapsync {
namespace {

// The first schema whose mapsync renders accounts.mailbox_moving: a hub whose binary needs
// less would route a moving user to the old back end.
constexpr unsigned kMovingSchema = 6;

const BackendRow* backend_by_id(const std::vector<BackendRow>& bs, std::uint32_t id) {
  for (const auto& b : bs)
    if (b.id == id) return &b;
  return nullptr;
}

const BackendRow* backend_by_name(const std::vector<BackendRow>& bs, const std::string& name) {
  for (const auto& b : bs)
    if (b.name == name) return &b;
  return nullptr;
}

std::uint64_t current_serial(Database& db) {
  std::uint64_t serial = 0;
  db.scalar("SELECT serial FROM change_serial WHERE id = 1", "reading the change serial", serial);
  return serial;
}

// "" when every hub that reported within the stale window has published serial (and
// renders the deferral); otherwise which hubs have not, and why.
std::string hubs_not_deferring(Database& db, const MboxsyncSettings& cfg, std::uint64_t serial, std::size_t& active) {
  FleetStatus st = read_fleet(db, cfg.database.fleet.period, cfg.database.fleet.stale_periods);
  judge_fleet(st, cfg.database.fleet.period, cfg.database.fleet.stale_periods);
  std::string waiting;
  active = 0;
  for (const HubRow& h : st.hubs) {
    if (h.stale) continue;
    ++active;
    if (h.report.schema_needed < kMovingSchema)
      waiting += " " + h.report.hub + " (its mapsync " + h.report.version + " does not defer moving users: upgrade it)";
    else if (h.report.serial < serial)
      waiting += " " + h.report.hub + " (published serial " + std::to_string(h.report.serial) + ")";
  }
  return waiting;
}

// Waits until every active hub defers the batch's mail. false and why when it did not
// happen within cyrus.moves.hub_wait.
bool wait_for_hubs(Database& db, const MboxsyncSettings& cfg, std::uint64_t serial, std::string& why) {
  const CyrusMoves& m = cfg.cyrus.moves;
  if (!m.wait_for_hubs) return true;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(m.hub_wait);
  log::info("waiting for the hubs to publish serial " + std::to_string(serial) + " (the moving users' mail deferred)");
  for (;;) {
    std::size_t active = 0;
    const std::string waiting = hubs_not_deferring(db, cfg, serial, active);
    if (active == 0) {
      why = "no hub has reported to fleet_hubs lately, so nothing shows that the hubs defer the moving users' mail "
            "(after XFER the old back end bounces it); run the hubs with fleet reports, or set "
            "cyrus.moves.wait_for_hubs: false when Postfix delivers through a front end's LMTP proxy";
      return false;
    }
    if (waiting.empty()) return true;
    if (std::chrono::steady_clock::now() >= deadline) {
      why = "after " + std::to_string(m.hub_wait) + " s these hubs have not published serial " + std::to_string(serial) +
            ":" + waiting;
      return false;
    }
    check_interrupted();
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
}

bool in_window(const CyrusMoves& m) {
  if (m.window_start == m.window_end) return true;
  const std::time_t now = std::time(nullptr);
  std::tm local{};
  localtime_r(&now, &local);
  const unsigned minute = static_cast<unsigned>(local.tm_hour * 60 + local.tm_min);
  return m.window_start < m.window_end ? (minute >= m.window_start && minute < m.window_end)
                                       : (minute >= m.window_start || minute < m.window_end);
}

MboxResult move_result(const MbAccount& a, const BackendRow* from, const BackendRow* to, const std::string& inbox,
                       MboxOutcome o, std::string detail) {
  MboxResult r;
  r.account_id = a.id;
  r.uid = a.uid;
  r.from = from ? from->name : "";
  r.backend = to ? to->name : "";
  r.mailbox = inbox;
  r.outcome = o;
  r.detail = std::move(detail);
  return r;
}

struct Prepared {
  MoveJob job;
  MbAccount account;
  MoveOrder order;
  MoveOutcome outcome;
};

class Mover {
 public:
  Mover(Database& db, Lease& lease, const MboxsyncSettings& cfg, MboxReport& rep, Progress* progress)
      : db_(db), lease_(lease), cfg_(cfg), c_(cfg.cyrus), rep_(rep), progress_(progress) {}

  void run(const std::vector<MoveJob>& jobs) {
    backends_ = read_backends(db_, BackendLoad::provisioned_mailboxes);
    accounts_ = read_mailbox_accounts(db_);
    std::vector<Prepared> ready;
    for (const MoveJob& j : jobs)
      if (auto p = prepare(j)) ready.push_back(std::move(*p));
    if (ready.empty()) return;
    login_ = admin_login(c_);
    for (unsigned k = 0; k < std::max(1u, c_.moves.parallel); ++k)
      sessions_.push_back(std::make_unique<MoveSessions>(c_, *login_));
    std::vector<Prepared> transferred;  // the batch before: to confirm and record
    for (std::size_t i = 0; i < ready.size(); i += c_.moves.batch) {
      check_interrupted();
      std::vector<Prepared> batch(ready.begin() + static_cast<std::ptrdiff_t>(i),
                                  ready.begin() + static_cast<std::ptrdiff_t>(std::min(ready.size(), i + c_.moves.batch)));
      if (!defer(batch)) break;  // the rest waits for a later run
      transfer_all(batch);
      settle(transferred);
      transferred = std::move(batch);
    }
    settle(transferred);
  }

 private:
  void fail_job(const MoveJob& j, const MbAccount& a, const std::string& why) {
    rep_.results.push_back(move_result(a, nullptr, backend_by_id(backends_, j.target_backend_id), "", MboxOutcome::failed, why));
    fenced(db_, lease_, "failing the move of " + a.uid, [&] { mark_failed(db_, j.id, Attempt::not_made, why); });
  }

  std::optional<Prepared> prepare(const MoveJob& j) {
    auto it = accounts_.find(j.account_id);
    MbAccount a = it == accounts_.end() ? MbAccount{} : it->second;
    if (it == accounts_.end()) {
      fail_job(j, a, "account " + std::to_string(j.account_id) + " has no Cyrus mailbox");
      return std::nullopt;
    }
    const BackendRow* to = backend_by_id(backends_, j.target_backend_id);
    // From where the database routes the user's mail now (the job's source_backend_id is
    // where it was when queued: history).
    const BackendRow* from = backend_by_id(backends_, a.backend_id);
    if (!to || !to->enabled) {
      fail_job(j, a, "the target back end " + (to ? to->name + " is disabled" : std::to_string(j.target_backend_id) + " does not exist"));
      return std::nullopt;
    }
    if (!from) {
      fail_job(j, a, "the account has no recorded back end to move from");
      return std::nullopt;
    }
    std::string why;
    const auto inbox = cyrus_inbox(cyrus_namespace(c_), a.uid, a.domain, &why);
    if (!inbox) {
      fail_job(j, a, why);
      return std::nullopt;
    }
    Prepared p{j, a, {}, {}};
    p.order.uid = a.uid;
    p.order.owner = c_.virtual_domains ? a.uid + "@" + a.domain : a.uid;
    p.order.inbox = *inbox;
    p.order.source = from;
    p.order.target = to;
    p.order.partition = j.target_partition;
    if (!j.snapshot.empty()) p.order.before = TreeState::from_json(j.snapshot);
    if (from->id == to->id) {
      // The account is recorded on the target already: an earlier run finished the move.
      rep_.results.push_back(move_result(a, from, to, *inbox, MboxOutcome::existed, "already on " + to->name));
      fenced(db_, lease_, "closing the move of " + a.uid, [&] {
        db_.update("UPDATE accounts SET mailbox_moving = FALSE WHERE id = ? AND mailbox_moving", {std::uint64_t{a.id}},
                   "ending the deferral of " + a.uid);
        mark_move_done(db_, j.id, 0, 0);
      });
      return std::nullopt;
    }
    return p;
  }

  // Step 1 for a batch: defer their mail and wait until every hub does.
  bool defer(const std::vector<Prepared>& batch) {
    std::vector<std::uint32_t> ids;
    for (const auto& p : batch)
      if (!p.account.moving) ids.push_back(p.account.id);
    if (!ids.empty())
      fenced(db_, lease_, "deferring the mail of the users to move", [&] {
        for (std::uint32_t id : ids)
          db_.update("UPDATE accounts SET mailbox_moving = TRUE WHERE id = ?", {std::uint64_t{id}}, "deferring the mail of a user to move");
      });
    std::string why;
    if (c_.moves.wait_for_hubs)
      for (auto& s : sessions_) s->close();  // not left idle through a wait of minutes
    if (wait_for_hubs(db_, cfg_, current_serial(db_), why)) return true;
    // Nothing was moved now: the mail of the users deferred just now goes where it went
    // before. (One deferred by an earlier run whose transfer's outcome is unclear stays
    // deferred: its tree may be on the target already.)
    fenced(db_, lease_, "ending the deferral", [&] {
      for (std::uint32_t id : ids)
        db_.update("UPDATE accounts SET mailbox_moving = FALSE WHERE id = ?", {std::uint64_t{id}}, "ending a deferral");
      for (const auto& p : batch) mark_retry(db_, p.job.id, p.job.attempts, retry_policy(), why);
    });
    for (const auto& p : batch)
      rep_.results.push_back(move_result(p.account, p.order.source, p.order.target, p.order.inbox, MboxOutcome::retry, why));
    return false;
  }

  RetryPolicy retry_policy() const { return {c_.retry_base_seconds, c_.retry_max_seconds, c_.max_attempts}; }

  // The batch's transfers, cyrus.moves.parallel at a time. The first error (a signal, a
  // lost lease, a refused admin login) stops the threads from starting more moves and
  // goes up once they have finished the ones they started.
  void transfer_all(std::vector<Prepared>& batch) {
    std::atomic<std::size_t> next{0};
    std::mutex mu;
    std::exception_ptr error;
    auto work = [&](MoveSessions& s) {
      try {
        for (;;) {
          {
            std::lock_guard<std::mutex> lock(mu);
            if (error) return;
          }
          const std::size_t i = next++;
          if (i >= batch.size()) return;
          check_interrupted();
          lease_.check();
          transfer(s, batch[i]);
        }
      } catch (...) {
        std::lock_guard<std::mutex> lock(mu);
        if (!error) error = std::current_exception();
      }
    };
    std::vector<std::thread> threads;
    const std::size_t n = std::min(sessions_.size(), batch.size());
    for (std::size_t k = 1; k < n; ++k) threads.emplace_back(work, std::ref(*sessions_[k]));
    work(*sessions_[0]);
    for (auto& t : threads) t.join();
    if (error) std::rethrow_exception(error);
  }

  void transfer(MoveSessions& s, Prepared& p) {
    const std::string snapshot_doing = "recording the tree of " + p.account.uid + " before its transfer";
    p.outcome = move_tree(s, p.order, [&](const TreeState& before) {
      const std::string json = before.to_json();
      std::lock_guard<std::mutex> lock(db_mu_);
      fenced(db_, lease_, snapshot_doing, [&] { set_move_step(db_, p.job.id, MoveStep::transfer, &json); });
    });
  }

  // Confirms with mupdate and records the moves of a transferred batch.
  void settle(std::vector<Prepared>& batch) {
    if (batch.empty()) return;
    std::vector<MoveInFlight> moves;
    for (Prepared& p : batch) moves.push_back({&p.order, &p.outcome});
    confirm_mupdate(*sessions_[0], moves);
    for (Prepared& p : batch) finish(p);
    batch.clear();
  }

  void finish(Prepared& p) {
    const MoveOutcome& out = p.outcome;
    MboxOutcome o = MboxOutcome::moved;
    std::string detail = out.detail;
    switch (out.verdict) {
      case MoveVerdict::moved: break;
      case MoveVerdict::already: o = MboxOutcome::existed; break;
      case MoveVerdict::moved_unequal:
        o = MboxOutcome::failed;
        detail = "moved to " + p.order.target->name + ", but the tree differs: ";
        for (std::size_t i = 0; i < out.diffs.size(); ++i) detail += (i ? "; " : "") + out.diffs[i];
        break;
      case MoveVerdict::retry: o = MboxOutcome::retry; break;
    }
    record(p, out, o, detail);
    MboxResult r = move_result(p.account, p.order.source, p.order.target, p.order.inbox, o, detail);
    r.bytes = out.after.storage_kb * 1024;
    r.messages = out.after.messages();
    r.seconds = out.seconds;
    if (o == MboxOutcome::moved) {
      char line[512];
      std::snprintf(line, sizeof line, "moved %s from %s to %s: %zu folders, %llu messages, %llu KiB in %.1f s",
                    p.account.uid.c_str(), r.from.c_str(), r.backend.c_str(), out.after.folders.size(),
                    static_cast<unsigned long long>(r.messages), static_cast<unsigned long long>(out.after.storage_kb),
                    out.seconds);
      log::notice(line);
    }
    rep_.results.push_back(r);
    if (progress_) {
      progress_->add_volume(r.bytes, r.messages);
      progress_->update(rep_.results.size(), rep_.count(MboxOutcome::failed) + rep_.count(MboxOutcome::retry));
    }
  }

  void record(const Prepared& p, const MoveOutcome& out, MboxOutcome o, const std::string& detail) {
    fenced(db_, lease_, "recording the move of " + p.account.uid, [&] {
      if (o == MboxOutcome::retry) {
        if (out.on_source)
          db_.update("UPDATE accounts SET mailbox_moving = FALSE WHERE id = ?", {std::uint64_t{p.account.id}},
                     "ending the deferral of " + p.account.uid);
        mark_retry(db_, p.job.id, p.job.attempts, retry_policy(), detail);
        return;
      }
      // On the target (checked there, mupdate agreeing): the account follows the tree.
      db_.update("UPDATE accounts SET backend_id = ?, cyrus_partition = ?, mailbox_moving = FALSE WHERE id = ?",
                 {std::uint64_t{p.order.target->id},
                  p.order.partition.empty() ? SqlParam(nullptr) : SqlParam(p.order.partition), std::uint64_t{p.account.id}},
                 "recording the new back end of " + p.account.uid);
      if (o == MboxOutcome::failed)
        mark_failed(db_, p.job.id, Attempt::counted, detail);
      else
        mark_move_done(db_, p.job.id, out.after.storage_kb * 1024, out.after.messages());
    });
  }

  Database& db_;
  Lease& lease_;
  const MboxsyncSettings& cfg_;
  const CyrusConfig& c_;
  MboxReport& rep_;
  Progress* progress_;
  std::vector<BackendRow> backends_;
  std::map<std::uint32_t, MbAccount> accounts_;
  std::unique_ptr<AdminLogin> login_;
  std::vector<std::unique_ptr<MoveSessions>> sessions_;  // one per thread, after login_
  std::mutex db_mu_;  // db_ while the threads of transfer_all run
};

}  // namespace

void run_moves(Database& db, Lease& lease, const MboxsyncSettings& cfg, const MboxsyncOptions& opt,
               const std::vector<MoveJob>& jobs, MboxReport& rep) {
  if (jobs.empty()) return;
  if (!in_window(cfg.cyrus.moves)) {
    log::info(std::to_string(jobs.size()) + " moves wait for cyrus.moves.window");
    return;
  }
  std::vector<MoveJob> todo = jobs;
  if (opt.limit && todo.size() > opt.limit) todo.resize(opt.limit);
  Progress progress(opt.progress, todo.size());
  Mover(db, lease, cfg, rep, &progress).run(todo);
  progress.update(rep.results.size(), rep.count(MboxOutcome::failed) + rep.count(MboxOutcome::retry), true);
}

MboxReport mboxsync_move(const MboxsyncSettings& cfg, const MoveRequest& req, const MboxsyncOptions& opt) {
  MboxReport rep;
  MboxJob job = start_mbox_job(cfg, true, rep);
  if (!job.lease) return rep;
  Database& db = *job.db;
  auto& lease = job.lease;
  const auto bang = req.to.find('!');
  const std::string name = req.to.substr(0, bang);
  const std::string partition = bang == std::string::npos ? std::string() : req.to.substr(bang + 1);
  const std::vector<BackendRow> backends = read_backends(db, BackendLoad::provisioned_mailboxes);
  const BackendRow* to = backend_by_name(backends, name);
  if (!to) fail(Exit::usage, "--to " + req.to + ": no back end named " + name);
  if (!to->enabled) fail(Exit::usage, "--to " + req.to + ": back end " + name + " is disabled");
  if (!partition.empty() && std::find(to->partitions.begin(), to->partitions.end(), partition) == to->partitions.end())
    fail(Exit::usage, "--to " + req.to + ": " + name + " has no partition " + partition + " (backends.partitions)");
  const auto accounts = read_mailbox_accounts(db);
  std::map<std::string, const MbAccount*> by_uid;
  for (const auto& [id, a] : accounts) by_uid[a.uid] = &a;
  const std::string who = os_user() + "@" + host_name();
  for (const std::string& uid : req.uids) {
    auto it = by_uid.find(uid);
    if (it == by_uid.end() || !it->second->provisioned) {
      MboxResult r;
      r.uid = uid;
      r.outcome = MboxOutcome::failed;
      r.detail = it == by_uid.end() ? "no account with a Cyrus mailbox" : "the account's mailbox is not provisioned yet";
      rep.results.push_back(r);
      continue;
    }
    MoveJob j;
    j.account_id = it->second->id;
    j.source_backend_id = it->second->backend_id;
    j.target_backend_id = to->id;
    j.target_partition = partition;
    j.requested_by = "mboxsync move by " + who;
    std::uint64_t existing = 0;
    bool queued = false;
    fenced(db, *lease, "queuing the move of " + uid, [&] { queued = enqueue_move(db, j, &existing); });
    if (!queued) {
      const auto pending = pending_moves(db, false);
      auto p = std::find_if(pending.begin(), pending.end(), [&](const MoveJob& m) { return m.id == existing; });
      if (p == pending.end() || p->target_backend_id != to->id || p->target_partition != partition) {
        MboxResult r;
        r.uid = uid;
        r.outcome = MboxOutcome::failed;
        r.detail = "another move of this user is pending (job " + std::to_string(existing) + ")";
        rep.results.push_back(r);
        continue;
      }
    }
  }
  if (req.queue_only) return rep;
  std::vector<MoveJob> jobs;
  for (const MoveJob& j : pending_moves(db, false))
    if (std::any_of(req.uids.begin(), req.uids.end(), [&](const std::string& u) {
          auto a = accounts.find(j.account_id);
          return a != accounts.end() && a->second.uid == u && j.target_backend_id == to->id;
        }))
      jobs.push_back(j);
  MboxsyncOptions o = opt;
  run_moves(db, *lease, cfg, o, jobs, rep);
  return rep;
}

}  // namespace mapsync
