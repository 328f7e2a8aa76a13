// mbox_engine.cpp - workers, sessions and the result queue of the mailbox engine.
#include "libmapsync/mailbox/mbox_engine.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <map>
#include <mutex>
#include <thread>

#include "libmapsync/core/log.h"
#include "libmapsync/core/secret.h"
#include "libmapsync/core/signals.h"
#include "libmapsync/core/testhooks.h"
#include "libmapsync/net/kerberos.h"

namespace mapsync {

AdminLogin::AdminLogin() = default;
AdminLogin::~AdminLogin() { wipe(password); }

std::unique_ptr<AdminLogin> admin_login(const CyrusConfig& c) {
  auto l = std::make_unique<AdminLogin>();
  if (c.auth == CyrusAuth::gssapi) {
    l->kerberos = std::make_unique<KerberosLogin>(KeytabIdentity{c.keytab, c.principal, c.krb5_config, "cyrus"});
    log::debug("Kerberos ticket for " + l->kerberos->principal());
  } else {
    l->password = read_secret_file(c.password_file, "cyrus.password_file");
  }
  return l;
}

ImapEndpoint imap_endpoint(const CyrusConfig& c, const std::string& host, unsigned port, const std::string& password) {
  ImapEndpoint ep;
  ep.gssapi = c.auth == CyrusAuth::gssapi;
  ep.host = host;
  ep.port = c.tls == ImapTls::imaps ? c.imaps_port : port;
  ep.tls = c.tls;
  ep.ca_file = c.ca_file;
  ep.user = c.admin_user;
  ep.password = password;
  ep.allow_plaintext = c.allow_plaintext;
  ep.timeout = c.timeout;
  return ep;
}

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

namespace {

// The commands of one task in flight; judged when all their replies are in.
struct Flight {
  const Task* task = nullptr;
  std::vector<ImapCommand> commands;
  std::vector<ImapResult> replies;
  bool complete() const { return replies.size() == commands.size(); }
};

using ResultSink = std::function<void(const Task&, MboxResult&&)>;

// One admin session's share of a target's tasks.
class Worker {
 public:
  Worker(const CyrusConfig& c, std::string host, unsigned port, std::string password, std::vector<const Task*> tasks,
         const std::atomic<bool>* stop, ResultSink sink)
      : c_(c), host_(std::move(host)), port_(port), password_(std::move(password)), tasks_(std::move(tasks)),
        stop_(stop), sink_(std::move(sink)) {}

  void operator()() {
    // A session the server ends (a crashed imapd, a restart) is opened again, a few
    // times: commands that were in flight are sent again, which is harmless because every
    // step is idempotent (an existing mailbox where it belongs counts as created).
    for (int session = 1;; ++session) {
      const std::size_t before = judged_;
      try {
        ImapClient imap(imap_endpoint(c_, host_, port_, password_));
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
        give_up(e);
        return;
      }
    }
  }

  const std::string& error() const { return error_; }
  Exit status() const { return status_; }

 private:
  // The connection is gone: everything not yet judged is to be retried later.
  void give_up(const Error& e) {
    error_ = e.what();
    status_ = e.status();
    // A refused login or a certificate that does not verify says nothing about the
    // mailboxes: their jobs stay as they are, and the run ends with 78.
    const MboxOutcome outcome = e.status() == Exit::config ? MboxOutcome::skipped : MboxOutcome::retry;
    for (std::size_t i = judged_; i < tasks_.size(); ++i)
      sink_(*tasks_[i], i >= sent_ && stopping() ? not_tried(*tasks_[i]) : task_result(*tasks_[i], outcome, e.what()));
  }

  // Stopped (a signal under GracefulStop, or the results could not be recorded) before
  // this task's commands were sent: nothing happened to it, and the next run does it.
  MboxResult not_tried(const Task& t) const {
    const std::string sig = interrupting_signal();
    return task_result(t, MboxOutcome::not_tried, sig.empty() ? "not tried: the run stopped" : "not tried: interrupted by " + sig);
  }

  void send(ImapClient& imap, Flight& f) {
    f.commands = task_commands(c_, *f.task, imap.literal_plus(), imap.has("CREATE-SPECIAL-USE"));
    for (const ImapCommand& cmd : f.commands) imap.submit(cmd.text);
  }

  void judge(ImapClient& imap, Flight& f) {
    bool here = false;
    // Replies to commands still in flight would come first: work() drained them.
    if (needs_location_check(*f.task, f.replies[0]))
      here = located_here(c_, *f.task, imap.run(location_query(c_, *f.task, imap.literal_plus())));
    sink_(*f.task, judge_replies(*f.task, f.commands, f.replies, here));
    ++judged_;
  }

  void work(ImapClient& imap) {
    std::deque<Flight> flights;
    sent_ = judged_;  // a new session starts where the last one was cut
    std::size_t commands = 0;
    while (judged_ < tasks_.size()) {
      // Fill the pipeline, then read the oldest task's replies.
      while (sent_ < tasks_.size() && (commands < c_.pipeline || flights.empty())) {
        if (stopping()) break;
        Flight f;
        f.task = tasks_[sent_++];
        send(imap, f);
        commands += f.commands.size();
        flights.push_back(std::move(f));
      }
      imap.flush();
      if (flights.empty()) break;
      Flight& f = flights.front();
      while (!f.complete()) f.replies.push_back(imap.next());
      commands -= f.commands.size();
      // A LIST to tell "exists here" from "exists elsewhere" must not interleave with
      // commands in flight: drain them first (rare: only for mailboxes that existed).
      if (needs_location_check(*f.task, f.replies[0]))
        for (std::size_t k = 1; k < flights.size(); ++k)
          while (!flights[k].complete()) flights[k].replies.push_back(imap.next());
      judge(imap, f);
      flights.pop_front();
      // Drained flights are complete: judge them too, in order.
      while (!flights.empty() && flights.front().complete()) {
        commands -= flights.front().commands.size();
        judge(imap, flights.front());
        flights.pop_front();
      }
      if (stopping() && flights.empty()) break;
    }
    // Stopped early, with every flight judged: the tasks never sent are not tried.
    for (; judged_ < tasks_.size(); ++judged_) sink_(*tasks_[judged_], not_tried(*tasks_[judged_]));
  }

  bool stopping() const { return interrupted() || *stop_; }

  const CyrusConfig& c_;
  std::string host_;
  unsigned port_;
  std::string password_;
  std::vector<const Task*> tasks_;
  const std::atomic<bool>* stop_;
  ResultSink sink_;
  std::size_t judged_ = 0;
  std::size_t sent_ = 0;  // tasks_[judged_, sent_) are in flight
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

struct Target {
  std::string host;
  unsigned port = 0;
  std::vector<const Task*> tasks;
};

// The tasks by connection target: the front end, or each task's back end.
std::map<std::string, Target> targets(const CyrusConfig& c, const std::vector<Task>& tasks) {
  std::map<std::string, Target> out;
  for (const Task& t : tasks) {
    const bool fe = c.via == CyrusVia::frontend;
    Target& target = out[fe ? "frontend" : t.backend->name];
    target.host = fe ? c.frontend_host : t.backend->imap_host;
    target.port = fe ? c.frontend_port : t.backend->imap_port;
    target.tasks.push_back(&t);
  }
  return out;
}

}  // namespace

Progress::Progress(bool bar, std::size_t total) : bar_(bar), total_(total), start_(std::chrono::steady_clock::now()) {}

void Progress::update(std::size_t done, std::size_t failed, bool final) {
  const auto now = std::chrono::steady_clock::now();
  if (!final && now - last_ < std::chrono::milliseconds(bar_ ? 200 : 10000)) return;
  last_ = now;
  const double secs = std::chrono::duration<double>(now - start_).count();
  const double rate = secs > 0 ? static_cast<double>(done) / secs : 0;
  const double eta = rate > 0 ? static_cast<double>(total_ - done) / rate : 0;
  char line[256];
  char volume[128] = "";
  if (bytes_ || messages_)
    std::snprintf(volume, sizeof volume, "  %.1f MB/s  %.0f msg/s", secs > 0 ? static_cast<double>(bytes_) / 1e6 / secs : 0.0,
                  secs > 0 ? static_cast<double>(messages_) / secs : 0.0);
  if (bar_) {
    const int width = 30;
    const int filled = total_ ? static_cast<int>(width * done / total_) : width;
    std::snprintf(line, sizeof line, "\r[%-*s] %zu/%zu  %.1f/s%s  ETA %.0fs  failed %zu ", width,
                  std::string(static_cast<std::size_t>(filled), '#').c_str(), done, total_, rate, volume, eta, failed);
    std::fputs(line, stderr);
    if (final) std::fputs("\n", stderr);
  } else {
    std::snprintf(line, sizeof line, "%zu of %zu done, %.1f/s%s, %zu failed, about %.0f s left", done, total_, rate,
                  volume, failed, eta);
    log::info(line);
  }
}

Exit run_tasks(const CyrusConfig& c, const std::vector<Task>& tasks, const RecordResult& record, Progress* progress) {
  std::map<std::string, Target> by_target = targets(c, tasks);
  if (by_target.empty()) return Exit::ok;
  const auto login = admin_login(c);
  ResultQueue queue;
  std::atomic<bool> stop{false};
  std::vector<std::unique_ptr<Worker>> workers;
  for (auto& [key, target] : by_target) {
    // cyrus.connections sessions per target, the tasks dealt round-robin: the server
    // works on each session's commands one after another, so a back end that is not
    // disk-bound serves more than one session faster.
    const auto& list = target.tasks;
    const std::size_t n = std::max<std::size_t>(1, std::min<std::size_t>(c.connections, list.size()));
    std::vector<std::vector<const Task*>> parts(n);
    for (std::size_t i = 0; i < list.size(); ++i) parts[i % n].push_back(list[i]);
    for (auto& part : parts)
      workers.push_back(std::make_unique<Worker>(c, target.host, target.port, login->password, std::move(part), &stop,
                                                 [&queue](const Task& t, MboxResult&& r) { queue.push(t, std::move(r)); }));
  }
  std::vector<std::thread> threads;
  for (auto& w : workers) threads.emplace_back([&w] { (*w)(); });
  // Every task gets exactly one result, also when its worker fails or stops early.
  std::size_t done = 0, failed = 0;
  std::exception_ptr db_error;
  while (done < tasks.size()) {
    for (auto& [t, r] : queue.take()) {
      ++done;
      if (r.outcome == MboxOutcome::failed || r.outcome == MboxOutcome::conflict || r.outcome == MboxOutcome::retry)
        ++failed;
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
  // A signal ends the process before this point, except under GracefulStop: then the
  // not_tried results say what the interruption left, and the caller reports them.
  Exit worst = Exit::ok;
  for (auto& w : workers) {
    if (w->status() == Exit::config) fail(Exit::config, w->error() + "; nothing recorded for its mailboxes");
    worst = worse(worst, w->status());
  }
  return worst;
}

}  // namespace mapsync
