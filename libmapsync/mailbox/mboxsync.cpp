// mboxsync.cpp - the mailbox engine and the run, plan and bulk jobs.
//
// Each connection target (a back end, or the front end) gets a worker thread with one
// authenticated ImapClient; a worker keeps up to cyrus.pipeline commands in flight and
// judges an account only when every reply for it is in. The main thread owns the
// database: it reads what to do before the workers start and records each result as it
// arrives, so an interrupted bulk run has recorded everything it finished, and a rerun
// finds the rest (a mailbox that already exists where it belongs counts as done).
#include "libmapsync/mailbox/mboxsync.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <deque>
#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "libmapsync/core/casefold.h"
#include "libmapsync/core/error.h"
#include "libmapsync/mailbox/imap_client.h"
#include "libmapsync/mailbox/imap_proto.h"
#include "libmapsync/net/kerberos.h"
#include "libmapsync/core/log.h"
#include "libmapsync/core/secret.h"
#include "libmapsync/core/signals.h"
#include "libmapsync/db/database.h"
#include "libmapsync/core/testhooks.h"

namespace mapsync {

std::size_t MboxReport::count(const std::string& outcome) const {
  return static_cast<std::size_t>(
      std::count_if(results.begin(), results.end(), [&](const MboxResult& r) { return r.outcome == outcome; }));
}

namespace {

struct MbBackend {
  std::uint32_t id = 0;
  std::string name, host;
  unsigned port = 143;
  std::vector<std::string> partitions;
  bool enabled = true;
  std::uint64_t accounts = 0;
};

struct MbAccount {
  std::uint32_t id = 0;
  std::string uid, domain, status, partition;
  std::uint32_t backend_id = 0;
  unsigned quota_mb = 0;
  bool provisioned = false;
};

// One unit of work for a worker.
struct Task {
  enum Kind { create, rename } kind = create;
  std::uint64_t job_id = 0;  // 0: bulk, no queue row
  unsigned attempts = 0;     // earlier attempts of the job
  MbAccount account;
  const MbBackend* backend = nullptr;
  std::string partition;
  std::string inbox;           // create: the INBOX; rename: the new name
  std::string old_inbox;       // rename
};

std::string domain_of(const std::string& address) {
  const auto at = address.rfind('@');
  if (at == std::string::npos) return {};
  return fold_key(address.substr(at + 1));
}

std::vector<std::string> split_partitions(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  std::string p;
  while (std::getline(in, p, ','))
    if (!p.empty()) out.push_back(p);
  if (out.empty()) out.push_back("default");
  return out;
}

CyrusNamespace ns_of(const CyrusConfig& c) {
  CyrusNamespace ns;
  ns.unix_separator = c.unix_separator;
  ns.virtual_domains = c.virtual_domains;
  return ns;
}

// ---- the database side --------------------------------------------------------------

struct State {
  std::vector<MbBackend> backends;
  std::map<std::uint32_t, MbAccount> accounts;  // delivery cyrus only
  const MbBackend* backend(std::uint32_t id) const {
    for (const auto& b : backends)
      if (b.id == id) return &b;
    return nullptr;
  }
};

void read_state(Database& db, State& st) {
  db.query(
      "SELECT b.id, b.name, b.imap_host, b.imap_port, b.partitions, b.enabled, COUNT(a.id) FROM backends b "
      "LEFT JOIN accounts a ON a.backend_id = b.id AND a.provisioned_at IS NOT NULL GROUP BY b.id, b.name, b.imap_host, "
      "b.imap_port, b.partitions, b.enabled ORDER BY b.id",
      {}, "reading back ends", [&](const SqlRow& r) {
        MbBackend b;
        b.id = static_cast<std::uint32_t>(r.u64(1));
        b.name = r.str(2);
        b.host = r.str(3);
        b.port = static_cast<unsigned>(r.u64(4));
        b.partitions = split_partitions(r.str(5));
        b.enabled = r.u64(6) != 0;
        b.accounts = r.u64(7);
        st.backends.push_back(b);
      });
  db.query(
      "SELECT id, uid, primary_address, status, COALESCE(backend_id, 0), COALESCE(cyrus_partition, ''), "
      "COALESCE(quota_mb, 0), provisioned_at IS NOT NULL FROM accounts WHERE delivery = 'cyrus' ORDER BY id",
      {}, "reading Cyrus accounts", [&](const SqlRow& r) {
        MbAccount a;
        a.id = static_cast<std::uint32_t>(r.u64(1));
        a.uid = r.str(2);
        a.domain = domain_of(r.str(3));
        a.status = r.str(4);
        a.backend_id = static_cast<std::uint32_t>(r.u64(5));
        a.partition = r.str(6);
        a.quota_mb = static_cast<unsigned>(r.u64(7));
        a.provisioned = r.u64(8) != 0;
        st.accounts[a.id] = a;
      });
}

// ---- the IMAP side --------------------------------------------------------------------

bool temporary_no(const std::string& text) {
  const std::string code = imap_response_code(text);
  if (code == "UNAVAILABLE" || code == "SERVERBUG" || code == "INUSE" || code == "LIMIT") return true;
  std::string t;
  for (char c : text) t += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (const char* p : {"unavailable", "no connection", "try again", "timed out", "system i/o error", "temporarily",
                        "server(s)"})
    if (t.find(p) != std::string::npos) return true;
  return false;
}

bool already_exists(const ImapResult& r) {
  if (r.code() == "ALREADYEXISTS") return true;
  std::string t;
  for (char c : r.text) t += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  // A back end whose mupdate master already lists the name for another server says
  // "unable to reserve mailbox on mupdate server" (Cyrus 3.6).
  return t.find("already exists") != std::string::npos || t.find("unable to reserve") != std::string::npos;
}

bool nonexistent(const ImapResult& r) {
  if (r.code() == "NONEXISTENT") return true;
  std::string t;
  for (char c : r.text) t += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return t.find("does not exist") != std::string::npos || t.find("nonexistent") != std::string::npos;
}

// The admin's credentials for a run: the password from its file, or a Kerberos ticket
// from the keytab, held for the process until the run ends.
struct AdminLogin {
  std::string password;
  std::unique_ptr<KerberosLogin> kerberos;
  AdminLogin() = default;
  AdminLogin(const AdminLogin&) = delete;
  AdminLogin& operator=(const AdminLogin&) = delete;
  ~AdminLogin() { wipe(password); }
};

std::unique_ptr<AdminLogin> admin_login(const CyrusConfig& c) {
  auto l = std::make_unique<AdminLogin>();
  if (c.auth == "gssapi") {
    l->kerberos = std::make_unique<KerberosLogin>(KeytabIdentity{c.keytab, c.principal, c.krb5_config, "cyrus"});
    log::debug("Kerberos ticket for " + l->kerberos->principal());
  } else {
    l->password = read_secret_file(c.password_file, "cyrus.password_file");
  }
  return l;
}

ImapEndpoint endpoint(const CyrusConfig& c, const std::string& host, unsigned port, const std::string& password) {
  ImapEndpoint ep;
  ep.gssapi = c.auth == "gssapi";
  ep.host = host;
  ep.port = c.tls == "imaps" ? c.imaps_port : port;
  ep.tls = c.tls == "imaps" ? ImapTls::imaps : c.tls == "none" ? ImapTls::none : ImapTls::starttls;
  ep.ca_file = c.ca_file;
  ep.user = c.admin_user;
  ep.password = password;
  ep.allow_plaintext = c.allow_plaintext;
  ep.timeout = c.timeout;
  return ep;
}

// Mailboxes that exist on one server, by LIST of the user hierarchy.
std::set<std::string> list_inboxes(ImapClient& imap, const CyrusNamespace& ns) {
  const std::string pattern = std::string("user") + ns.separator() + "%";
  ImapResult r = imap.run("LIST \"\" " + imap_string(pattern, imap.literal_plus()));
  if (!r.ok()) fail(temporary_no(r.text) ? Exit::tempfail : Exit::software, imap.peer() + ": LIST refused: " + r.text);
  std::set<std::string> out;
  for (const auto& u : r.untagged) {
    if (u.status != "LIST") continue;
    if (auto e = parse_imap_list(u.text)) out.insert(e->name);
  }
  return out;
}

// The commands of one task; judged when all their replies are in.
struct Flight {
  const Task* task = nullptr;
  std::vector<std::string> what;  // per command: "create", "quota", "acl", "folder", "rename"
  std::vector<ImapResult> replies;
};

using ResultSink = std::function<void(const Task&, MboxResult&&)>;

class Worker {
 public:
  Worker(const MboxsyncSettings& cfg, std::string host, unsigned port, std::string password, std::vector<const Task*> tasks,
         const std::atomic<bool>* stop, ResultSink sink)
      : cfg_(cfg), host_(std::move(host)), port_(port), password_(std::move(password)), tasks_(std::move(tasks)),
        stop_(stop), sink_(std::move(sink)) {}

  void operator()() {
    // A session the server ends (a crashed imapd, a restart) is opened again, a few
    // times: commands that were in flight are sent again, which is harmless because every
    // step is idempotent (an existing mailbox where it belongs counts as created).
    for (int session = 1;; ++session) {
      const std::size_t before = judged_;
      try {
        ImapClient imap(endpoint(cfg_.cyrus, host_, port_, password_));
        work(imap);
        imap.logout();
        wipe(password_);
        return;
      } catch (const Error& e) {
        const bool again = e.status() == Exit::tempfail && !stopping() && session < 4 && judged_ < tasks_.size() &&
                           (session == 1 || judged_ > before);
        if (again) {
          log::warning(std::string(e.what()) + "; opening a new session");
          continue;
        }
        wipe(password_);
        // The connection is gone: everything not yet judged is to be retried later.
        error_ = e.what();
        status_ = e.status();
        for (std::size_t i = judged_; i < tasks_.size(); ++i) {
          MboxResult r = base(*tasks_[i]);
          // A refused login or a certificate that does not verify says nothing about the
          // mailboxes: their jobs stay as they are, and the run ends with 78.
          r.outcome = e.status() == Exit::config ? "skipped" : "retry";
          r.detail = e.what();
          sink_(*tasks_[i], std::move(r));
        }
        return;
      }
    }
  }

  const std::string& error() const { return error_; }
  Exit status() const { return status_; }

 private:
  MboxResult base(const Task& t) const {
    MboxResult r;
    r.account_id = t.account.id;
    r.uid = t.account.uid;
    r.backend = t.backend->name;
    r.mailbox = t.inbox;
    return r;
  }

  std::string create_args(const Task& t, bool lp) const {
    std::string cmd = "CREATE " + imap_string(t.inbox, lp);
    if (cfg_.cyrus.via == "frontend") cmd += " " + imap_string(t.backend->host + "!" + t.partition, lp);
    else if (!t.partition.empty()) cmd += " " + imap_string(t.partition, lp);
    return cmd;
  }

  void send(ImapClient& imap, const Task& t, Flight& f) {
    const bool lp = imap.literal_plus();
    const CyrusNamespace ns = ns_of(cfg_.cyrus);
    auto add = [&](const std::string& what, const std::string& cmd) {
      imap.submit(cmd);
      f.what.push_back(what);
    };
    if (t.kind == Task::rename) {
      add("rename", "RENAME " + imap_string(t.old_inbox, lp) + " " + imap_string(t.inbox, lp));
      return;
    }
    add("create", create_args(t, lp));
    const unsigned quota = t.account.quota_mb ? t.account.quota_mb : cfg_.cyrus.quota_mb;
    if (quota) add("quota", "SETQUOTA " + imap_string(t.inbox, lp) + " (STORAGE " + std::to_string(quota * 1024ull) + ")");
    for (const std::string& acl : cfg_.cyrus.acls) {
      std::string id = acl.substr(0, acl.find(' '));
      if (id == "{uid}") id = t.account.uid;
      add("acl", "SETACL " + imap_string(t.inbox, lp) + " " + imap_string(id, lp) + " " +
                     imap_string(acl.substr(acl.find(' ') + 1), lp));
    }
    for (const CyrusFolder& folder : cfg_.cyrus.folders) {
      std::string why;
      const auto name = cyrus_folder(ns, t.inbox, folder.name, &why);
      if (!name) continue;  // checked before any task was made
      // A folder goes where its INBOX is: no server or partition argument.
      std::string cmd = "CREATE " + imap_string(*name, lp);
      if (!folder.special_use.empty() && imap.has("CREATE-SPECIAL-USE")) cmd += " (USE (" + folder.special_use + "))";
      add("folder", cmd);
    }
  }

  void judge(ImapClient& imap, Flight& f) {
    const Task& t = *f.task;
    MboxResult r = base(t);
    if (t.kind == Task::rename) {
      const ImapResult& rr = f.replies[0];
      if (rr.ok()) r.outcome = "renamed";
      else if (nonexistent(rr) && exists_here(imap, t, t.inbox)) r.outcome = "renamed", r.detail = "already renamed";
      else r.outcome = temporary_no(rr.text) ? "retry" : "failed", r.detail = rr.status + " " + rr.text;
      sink_(t, std::move(r));
      return;
    }
    const ImapResult& c = f.replies[0];
    r.outcome = "created";
    if (!c.ok()) {
      if (already_exists(c)) {
        // Here, or on another back end? Only a mailbox on the expected one is ours.
        if (exists_here(imap, t, t.inbox)) {
          r.outcome = "existed";
        } else {
          r.outcome = "conflict";
          r.detail = "exists, but not on " + t.backend->name + " (" + c.text + "); left alone";
          sink_(t, std::move(r));
          return;
        }
      } else {
        r.outcome = temporary_no(c.text) ? "retry" : "failed";
        r.detail = "CREATE: " + c.status + " " + c.text;
        sink_(t, std::move(r));
        return;
      }
    }
    for (std::size_t i = 1; i < f.replies.size(); ++i) {
      const ImapResult& x = f.replies[i];
      if (x.ok() || (f.what[i] == "folder" && already_exists(x))) continue;
      r.outcome = temporary_no(x.text) ? "retry" : "failed";
      r.detail = f.what[i] + ": " + x.status + " " + x.text;
      break;
    }
    sink_(t, std::move(r));
  }

  // Whether name exists on the task's back end. On a back end, LIST shows only its own
  // mailboxes; through a front end, LIST shows the whole Murder, so ask which server holds
  // it (Cyrus' /shared/vendor/cmu/cyrus-imapd/server annotation).
  bool exists_here(ImapClient& imap, const Task& t, const std::string& name) {
    const bool lp = imap.literal_plus();
    if (cfg_.cyrus.via == "frontend") {
      ImapResult m = imap.run("GETMETADATA " + imap_string(name, lp) + " (/shared/vendor/cmu/cyrus-imapd/server)");
      if (!m.ok()) return false;
      for (const auto& u : m.untagged)
        if (u.status == "METADATA" && u.text.find("\"" + t.backend->host + "\"") != std::string::npos) return true;
      return false;
    }
    // Replies to commands still in flight come first; this check runs with none.
    ImapResult l = imap.run("LIST \"\" " + imap_string(name, lp));
    if (!l.ok()) return false;
    for (const auto& u : l.untagged)
      if (u.status == "LIST")
        if (auto e = parse_imap_list(u.text); e && e->name == name) return true;
    return false;
  }

  void work(ImapClient& imap) {
    std::deque<Flight> flights;
    std::size_t next = judged_;  // a new session starts where the last one was cut
    const std::size_t depth = cfg_.cyrus.pipeline;
    std::size_t commands = 0;
    while (judged_ < tasks_.size()) {
      // Fill the pipeline, then read the oldest task's replies.
      while (next < tasks_.size() && (commands < depth || flights.empty())) {
        if (stopping()) break;
        Flight f;
        f.task = tasks_[next++];
        send(imap, *f.task, f);
        commands += f.what.size();
        flights.push_back(std::move(f));
      }
      imap.flush();
      if (flights.empty()) break;
      Flight& f = flights.front();
      while (f.replies.size() < f.what.size()) f.replies.push_back(imap.next());
      commands -= f.what.size();
      // A LIST to tell "exists here" from "exists elsewhere" must not interleave with
      // commands in flight: drain them first (rare: only for mailboxes that existed).
      if (f.task->kind == Task::create && !f.replies[0].ok() && already_exists(f.replies[0])) {
        for (std::size_t k = 1; k < flights.size(); ++k)
          while (flights[k].replies.size() < flights[k].what.size()) flights[k].replies.push_back(imap.next());
      } else if (f.task->kind == Task::rename && !f.replies[0].ok() && nonexistent(f.replies[0])) {
        for (std::size_t k = 1; k < flights.size(); ++k)
          while (flights[k].replies.size() < flights[k].what.size()) flights[k].replies.push_back(imap.next());
      }
      judge(imap, f);
      ++judged_;
      flights.pop_front();
      // Drained flights are complete: judge them too, in order.
      while (!flights.empty() && flights.front().replies.size() == flights.front().what.size()) {
        commands -= flights.front().what.size();
        judge(imap, flights.front());
        ++judged_;
        flights.pop_front();
      }
      if (stopping() && flights.empty()) break;
    }
    // Stopped early: the tasks never sent are reported as to be retried (operator()).
    if (judged_ < tasks_.size()) fail(Exit::tempfail, interrupted() ? "interrupted by a signal" : "stopped");
  }

  bool stopping() const { return interrupted() || *stop_; }

  const MboxsyncSettings& cfg_;
  std::string host_;
  unsigned port_;
  std::string password_;
  std::vector<const Task*> tasks_;
  const std::atomic<bool>* stop_;
  ResultSink sink_;
  std::size_t judged_ = 0;
  std::string error_;
  Exit status_ = Exit::ok;
};

// Results cross from the workers to the main thread through this queue.
class ResultQueue {
 public:
  void push(const Task& t, MboxResult&& r) {
    std::lock_guard<std::mutex> l(m_);
    q_.emplace_back(&t, std::move(r));
    cv_.notify_one();
  }
  // Waits up to 200 ms for results; returns what has arrived.
  std::vector<std::pair<const Task*, MboxResult>> take() {
    std::unique_lock<std::mutex> l(m_);
    cv_.wait_for(l, std::chrono::milliseconds(200), [&] { return !q_.empty(); });
    std::vector<std::pair<const Task*, MboxResult>> out;
    out.swap(q_);
    return out;
  }

 private:
  std::mutex m_;
  std::condition_variable cv_;
  std::vector<std::pair<const Task*, MboxResult>> q_;
};

class Progress {
 public:
  Progress(bool bar, std::size_t total) : bar_(bar), total_(total), start_(std::chrono::steady_clock::now()) {}
  void update(std::size_t done, std::size_t failed, bool final = false) {
    const auto now = std::chrono::steady_clock::now();
    if (!final && now - last_ < std::chrono::milliseconds(bar_ ? 200 : 10000)) return;
    last_ = now;
    const double secs = std::chrono::duration<double>(now - start_).count();
    const double rate = secs > 0 ? static_cast<double>(done) / secs : 0;
    const double eta = rate > 0 ? static_cast<double>(total_ - done) / rate : 0;
    char line[256];
    if (bar_) {
      const int width = 30;
      const int filled = total_ ? static_cast<int>(width * done / total_) : width;
      std::snprintf(line, sizeof line, "\r[%-*s] %zu/%zu  %.0f/s  ETA %.0fs  failed %zu ", width,
                    std::string(static_cast<std::size_t>(filled), '#').c_str(), done, total_, rate, eta, failed);
      std::fputs(line, stderr);
      if (final) std::fputs("\n", stderr);
    } else {
      std::snprintf(line, sizeof line, "%zu of %zu mailboxes done, %.0f/s, %zu failed, about %.0f s left", done, total_,
                    rate, failed, eta);
      log::info(line);
    }
  }

 private:
  bool bar_;
  std::size_t total_;
  std::chrono::steady_clock::time_point start_, last_{};
};

// Runs the tasks on their targets in parallel; record() is called on the main thread for
// each result as it arrives.
Exit run_tasks(const MboxsyncSettings& cfg, const std::vector<Task>& tasks, const std::function<void(const Task&, const MboxResult&)>& record,
               Progress* progress) {
  std::map<std::string, std::vector<const Task*>> by_target;
  std::map<std::string, std::pair<std::string, unsigned>> where;
  for (const Task& t : tasks) {
    std::string key = cfg.cyrus.via == "frontend" ? "frontend" : t.backend->name;
    by_target[key].push_back(&t);
    where[key] = cfg.cyrus.via == "frontend" ? std::make_pair(cfg.cyrus.frontend_host, cfg.cyrus.frontend_port)
                                             : std::make_pair(t.backend->host, t.backend->port);
  }
  if (by_target.empty()) return Exit::ok;
  const auto login = admin_login(cfg.cyrus);
  const std::string& password = login->password;
  ResultQueue queue;
  std::atomic<bool> stop{false};
  std::vector<std::unique_ptr<Worker>> workers;
  std::vector<std::thread> threads;
  for (auto& [key, list] : by_target) {
    // cyrus.connections sessions per target, the tasks dealt round-robin: the server
    // works on each session's commands one after another, so a back end that is not
    // disk-bound serves more than one session faster.
    const std::size_t n = std::max<std::size_t>(1, std::min<std::size_t>(cfg.cyrus.connections, list.size()));
    std::vector<std::vector<const Task*>> parts(n);
    for (std::size_t i = 0; i < list.size(); ++i) parts[i % n].push_back(list[i]);
    for (auto& part : parts)
      workers.push_back(std::make_unique<Worker>(cfg, where[key].first, where[key].second, password, std::move(part), &stop,
                                                 [&queue](const Task& t, MboxResult&& r) { queue.push(t, std::move(r)); }));
  }
  for (auto& w : workers) threads.emplace_back([&w] { (*w)(); });
  // Every task gets exactly one result, also when its worker fails or stops early.
  std::size_t done = 0, failed = 0;
  std::exception_ptr db_error;
  while (done < tasks.size()) {
    for (auto& [t, r] : queue.take()) {
      ++done;
      if (r.outcome == "failed" || r.outcome == "conflict" || r.outcome == "retry") ++failed;
      if (db_error) continue;
      testhook::crash_point(("before recording " + t->account.uid).c_str());
      try {
        record(*t, r);
      } catch (...) {
        db_error = std::current_exception();  // results can no longer be recorded: stop
        stop = true;
      }
    }
    if (progress) progress->update(done, failed);
  }
  for (auto& th : threads) th.join();
  if (progress) progress->update(done, failed, true);
  if (db_error) std::rethrow_exception(db_error);
  check_interrupted();
  Exit worst = Exit::ok;
  for (auto& w : workers) {
    if (w->status() == Exit::config) fail(Exit::config, w->error() + "; nothing recorded for its mailboxes");
    worst = worse(worst, w->status());
  }
  return worst;
}

// The name a task's mailbox gets, or why it cannot have one.
bool name_task(const MboxsyncSettings& cfg, Task& t, std::string& why) {
  const auto inbox = cyrus_inbox(ns_of(cfg.cyrus), t.account.uid, t.account.domain, &why);
  if (!inbox) return false;
  for (const CyrusFolder& f : cfg.cyrus.folders)
    if (!cyrus_folder(ns_of(cfg.cyrus), *inbox, f.name, &why)) return false;
  t.inbox = *inbox;
  return true;
}

// Back end and partition for an account that has no mailbox yet. An account with a
// recorded partition has been placed already (by the postmaster, or by an earlier run that
// record_placement wrote down): it stays where it was put.
void place(const MboxsyncSettings& cfg, State& st, Task& t) {
  const MbBackend* b = st.backend(t.account.backend_id);
  if (!t.account.provisioned && t.account.partition.empty() && cfg.cyrus.placement != "recorded") {
    const MbBackend* best = nullptr;
    double best_load = 0;
    for (const MbBackend& c : st.backends) {
      if (!c.enabled) continue;
      double weight = 1;
      if (cfg.cyrus.placement == "weights") {
        auto w = cfg.cyrus.weights.find(c.name);
        if (w == cfg.cyrus.weights.end() || w->second == 0) continue;
        weight = w->second;
      }
      const double load = static_cast<double>(c.accounts) / weight;
      if (!best || load < best_load) best = &c, best_load = load;
    }
    if (best) b = best;
  }
  t.backend = b;
  if (b) {
    const_cast<MbBackend*>(b)->accounts++;
    t.partition = !t.account.partition.empty() ? t.account.partition : b->partitions.front();
  }
}

void write_result_log(std::ofstream& log, const MboxResult& r) {
  if (!log) return;
  std::string detail = r.detail;
  for (char& c : detail)
    if (c == '\t' || c == '\n' || c == '\r') c = ' ';
  log << r.uid << '\t' << r.backend << '\t' << r.mailbox << '\t' << r.outcome << '\t' << detail << '\n';
  log.flush();
}

std::int64_t backoff(const CyrusConfig& c, unsigned attempts) {
  std::int64_t s = c.retry_base_seconds;
  for (unsigned i = 1; i < attempts && s < static_cast<std::int64_t>(c.retry_max_seconds); ++i) s *= 2;
  return std::min<std::int64_t>(s, c.retry_max_seconds);
}

// Placement decisions are written before any CREATE is sent: a run interrupted after the
// server made a mailbox, but before its result was recorded, is followed by one that finds
// the mailbox where it was put (existed), instead of placing the account anew and calling
// its own mailbox a conflict on another back end.
void record_placement(Database& db, const std::vector<Task>& tasks) {
  bool open = false;
  for (const Task& t : tasks) {
    if (t.kind != Task::create || !t.backend || t.account.provisioned) continue;
    if (t.backend->id == t.account.backend_id && t.partition == t.account.partition) continue;
    if (!open) db.execute("START TRANSACTION", "recording placements");
    open = true;
    db.update("UPDATE accounts SET backend_id = ?, cyrus_partition = ? WHERE id = ? AND provisioned_at IS NULL",
              {static_cast<std::uint64_t>(t.backend->id), t.partition, static_cast<std::uint64_t>(t.account.id)},
              "recording the placement of " + t.account.uid);
  }
  if (open) db.execute("COMMIT", "recording placements");
}

// What a finished task means for the database.
void record_result(Database& db, const MboxsyncSettings& cfg, const Task& t, const MboxResult& r) {
  if (r.outcome == "skipped") return;
  const bool ok = r.outcome == "created" || r.outcome == "existed" || r.outcome == "renamed";
  if (ok && t.kind == Task::create) {
    db.update(
        "UPDATE accounts SET backend_id = ?, cyrus_partition = ?, provisioned_at = COALESCE(provisioned_at, NOW()) "
        "WHERE id = ?",
        {static_cast<std::uint64_t>(t.backend->id), t.partition, static_cast<std::uint64_t>(t.account.id)},
        "recording the mailbox of " + t.account.uid);
    // Every pending create job of the account is now done, whoever queued it.
    db.update("UPDATE provisioning_jobs SET state = 'done', done_at = NOW(), last_error = NULL "
              "WHERE account_id = ? AND kind = 'create' AND state = 'pending'",
              {static_cast<std::uint64_t>(t.account.id)}, "closing the jobs of " + t.account.uid);
  }
  if (t.job_id == 0) return;
  const auto job = static_cast<std::uint64_t>(t.job_id);
  if (ok) {
    db.update("UPDATE provisioning_jobs SET state = 'done', done_at = NOW(), attempts = attempts + 1, last_error = NULL WHERE id = ?",
              {job}, "closing job " + std::to_string(t.job_id));
  } else if (r.outcome == "retry") {
    db.update(
        "UPDATE provisioning_jobs SET attempts = attempts + 1, last_error = ?, "
        "state = IF(attempts + 1 >= ?, 'failed', 'pending'), not_before = NOW() + INTERVAL ? SECOND WHERE id = ?",
        {r.detail, static_cast<std::uint64_t>(cfg.cyrus.max_attempts),
         static_cast<std::int64_t>(backoff(cfg.cyrus, t.attempts + 1)), job},
        "rescheduling job " + std::to_string(t.job_id));
  } else {
    db.update("UPDATE provisioning_jobs SET state = 'failed', attempts = attempts + 1, last_error = ? WHERE id = ?",
              {r.outcome + ": " + r.detail, job}, "failing job " + std::to_string(t.job_id));
  }
}

bool take_lock(Database& db, const CyrusConfig& c, MboxReport& rep) {
  std::string holder;
  if (db.try_lock(c.lock_name, holder)) return true;
  rep.not_leader = true;
  rep.leader = holder;
  return false;
}

MboxResult outcome(std::uint32_t account_id, const std::string& uid, const char* what, std::string detail) {
  MboxResult r;
  r.account_id = account_id;
  r.uid = uid;
  r.outcome = what;
  r.detail = std::move(detail);
  return r;
}

void fail_job(Database& db, std::uint64_t job_id, const std::string& why) {
  db.update("UPDATE provisioning_jobs SET state = 'failed', last_error = ? WHERE id = ?", {why, job_id}, "failing a job");
}

void require(const MboxsyncSettings& cfg) {
  if (!cfg.cyrus.present) fail(Exit::config, cfg.path + ": cyrus: section is missing (mboxsync needs cyrus.password_file or cyrus.keytab, ...)");
}

}  // namespace

MboxReport mboxsync_run(const MboxsyncSettings& cfg, const MboxsyncOptions& opt) {
  require(cfg);
  MboxReport rep;
  Database db(cfg.database);
  if (!take_lock(db, cfg.cyrus, rep)) return rep;
  State st;
  read_state(db, st);
  std::vector<Task> tasks;
  db.query(
      "SELECT j.id, j.account_id, j.kind, COALESCE(j.old_uid, ''), COALESCE(j.new_uid, ''), j.attempts FROM provisioning_jobs j "
      "WHERE j.state = 'pending' AND (j.not_before IS NULL OR j.not_before <= NOW()) ORDER BY j.id",
      {}, "reading the provisioning queue", [&](const SqlRow& r) {
        Task t;
        t.job_id = r.u64(1);
        t.attempts = static_cast<unsigned>(r.u64(6));
        const auto account = static_cast<std::uint32_t>(r.u64(2));
        const std::string kind = r.str(3);
        auto it = st.accounts.find(account);
        if (it == st.accounts.end()) {
          const std::string why = "account " + std::to_string(account) + " is not delivered to Cyrus";
          rep.results.push_back(outcome(account, "", "failed", why));
          fail_job(db, t.job_id, why);
          return;
        }
        t.account = it->second;
        if (kind == "rename") {
          t.kind = Task::rename;
          t.account.uid = r.str(5);
          MbAccount old = it->second;
          old.uid = r.str(4);
          std::string why;
          const auto from = cyrus_inbox(ns_of(cfg.cyrus), old.uid, old.domain, &why);
          const auto to = cyrus_inbox(ns_of(cfg.cyrus), t.account.uid, t.account.domain, &why);
          if (!from || !to) {
            rep.results.push_back(outcome(account, t.account.uid, "failed", why));
            fail_job(db, t.job_id, why);
            return;
          }
          t.old_inbox = *from;
          t.inbox = *to;
          t.backend = st.backend(t.account.backend_id);
          t.partition = t.account.partition;
        } else if (kind == "create") {
          t.kind = Task::create;
        } else {
          return;  // 'move' is not implemented yet: left pending
        }
        tasks.push_back(t);
      });
  std::vector<Task> ready;
  for (Task& t : tasks) {
    if (t.kind == Task::create) {
      std::string why;
      if (!name_task(cfg, t, why)) {
        rep.results.push_back(outcome(t.account.id, t.account.uid, "failed", why));
        fail_job(db, t.job_id, why);
        continue;
      }
      place(cfg, st, t);
    }
    if (!t.backend || !t.backend->enabled) {
      rep.results.push_back(outcome(t.account.id, t.account.uid, "retry", "no enabled back end for the account"));
      continue;
    }
    ready.push_back(t);
    if (opt.limit && ready.size() >= opt.limit) break;
  }
  record_placement(db, ready);
  run_tasks(cfg, ready, [&](const Task& t, const MboxResult& r) {
    record_result(db, cfg, t, r);
    if (r.outcome != "skipped") rep.results.push_back(r);
  }, nullptr);
  return rep;
}

MboxReport mboxsync_plan(const MboxsyncSettings& cfg) {
  require(cfg);
  MboxReport rep;
  Database db(cfg.database);
  State st;
  read_state(db, st);
  const auto login = admin_login(cfg.cyrus);
  const std::string& password = login->password;
  const CyrusNamespace ns = ns_of(cfg.cyrus);
  std::map<std::string, std::string> where;  // mailbox -> back end name
  for (const MbBackend& b : st.backends) {
    if (!b.enabled) continue;
    ImapClient imap(endpoint(cfg.cyrus, b.host, b.port, password));
    for (const std::string& name : list_inboxes(imap, ns)) {
      where.emplace(name, b.name);
      ++rep.existing;
    }
    imap.logout();
  }
  std::set<std::string> wanted;
  for (const auto& [id, a] : st.accounts) {
    if (a.status == "pending-delete") continue;
    ++rep.expected;
    std::string why;
    const auto inbox = cyrus_inbox(ns, a.uid, a.domain, &why);
    if (!inbox) {
      rep.invalid.push_back(a.uid + ": " + why);
      continue;
    }
    wanted.insert(*inbox);
    const MbBackend* b = st.backend(a.backend_id);
    auto it = where.find(*inbox);
    if (it == where.end()) rep.missing.push_back(*inbox + " (" + (b ? b->name : "no back end") + ")");
    else if (!b || it->second != b->name)
      rep.misplaced.push_back(*inbox + ": on " + it->second + ", the database says " + (b ? b->name : "none"));
  }
  for (const auto& [name, backend] : where)
    if (!wanted.count(name)) rep.orphans.push_back(name + " (" + backend + ")");
  return rep;
}

MboxReport mboxsync_bulk(const MboxsyncSettings& cfg, const MboxsyncOptions& opt) {
  require(cfg);
  MboxReport rep;
  Database db(cfg.database);
  if (!take_lock(db, cfg.cyrus, rep)) return rep;
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
    if (a.provisioned || a.status == "pending-delete") continue;
    Task t;
    t.account = a;
    std::string why;
    if (name_task(cfg, t, why)) place(cfg, st, t);
    if (!why.empty() || !t.backend || !t.backend->enabled) {
      rep.results.push_back(outcome(a.id, a.uid, "failed", why.empty() ? "no enabled back end" : why));
      write_result_log(log, rep.results.back());
      continue;
    }
    tasks.push_back(t);
    if (opt.limit && tasks.size() >= opt.limit) break;
  }
  record_placement(db, tasks);
  Progress progress(opt.progress, tasks.size());
  run_tasks(cfg, tasks, [&](const Task& t, const MboxResult& r) {
    if (r.outcome == "skipped") return;
    record_result(db, cfg, t, r);
    write_result_log(log, r);
    rep.results.push_back(r);
  }, &progress);
  return rep;
}

std::string mbox_plan_text(const MboxReport& r) {
  std::ostringstream o;
  o << r.expected << " accounts should have a mailbox; " << r.existing << " user mailboxes exist\n";
  for (const auto& m : r.missing) o << "missing     " << m << "\n";
  for (const auto& m : r.misplaced) o << "misplaced   " << m << "\n";
  for (const auto& m : r.orphans) o << "orphan      " << m << " (no account)\n";
  for (const auto& m : r.invalid) o << "invalid     " << m << "\n";
  o << (r.in_step() ? "in step\n" : "summary: " + std::to_string(r.missing.size()) + " missing, " +
                                        std::to_string(r.misplaced.size()) + " misplaced, " +
                                        std::to_string(r.orphans.size()) + " orphans, " +
                                        std::to_string(r.invalid.size()) + " invalid\n");
  return o.str();
}

std::string mbox_plan_json(const MboxReport& r) {
  nlohmann::json j;
  j["expected"] = r.expected;
  j["existing"] = r.existing;
  j["missing"] = r.missing;
  j["misplaced"] = r.misplaced;
  j["orphans"] = r.orphans;
  j["invalid"] = r.invalid;
  j["in_step"] = r.in_step();
  j["results"] = nlohmann::json::array();
  for (const auto& x : r.results)
    j["results"].push_back({{"uid", x.uid}, {"backend", x.backend}, {"mailbox", x.mailbox}, {"outcome", x.outcome}, {"detail", x.detail}});
  return j.dump(2);
}

}  // namespace mapsync
