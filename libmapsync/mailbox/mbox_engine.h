// mbox_engine.h - the mailbox engine: tasks carried out on the Cyrus servers in parallel.
//
// Each connection target (a back end, or the front end) gets cyrus.connections worker
// threads, each with one authenticated ImapClient keeping up to cyrus.pipeline commands
// in flight; a task is judged (mbox_task.h) only when every reply for it is in. The
// calling thread keeps the database: results cross to it through a queue and are
// recorded as they arrive, so an interrupted bulk run has recorded everything it
// finished.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstddef>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "libmapsync/core/error.h"
#include "libmapsync/mailbox/mbox_task.h"

namespace mapsync {

class KerberosLogin;

// The admin's credentials for a run: the password from its file, or a Kerberos ticket
// from the keytab, held for the process until the run ends.
struct AdminLogin {
  std::string password;
  std::unique_ptr<KerberosLogin> kerberos;
  AdminLogin();
  AdminLogin(const AdminLogin&) = delete;
  AdminLogin& operator=(const AdminLogin&) = delete;
  ~AdminLogin();
};
std::unique_ptr<AdminLogin> admin_login(const CyrusConfig& c);

// Where and how to log in to host:port (the port is replaced by cyrus.imaps_port with tls: imaps).
ImapEndpoint imap_endpoint(const CyrusConfig& c, const std::string& host, unsigned port, const std::string& password);

// Mailboxes that exist on one server, by LIST of the user hierarchy.
std::set<std::string> list_inboxes(ImapClient& imap, const CyrusNamespace& ns);

// A progress bar on stderr (a terminal), else a log line every 10 s.
class Progress {
 public:
  Progress(bool bar, std::size_t total);
  void update(std::size_t done, std::size_t failed, bool final = false);
  // Moves: the bytes and messages carried so far, shown with their rates.
  void add_volume(std::uint64_t bytes, std::uint64_t messages) {
    bytes_ += bytes;
    messages_ += messages;
  }

 private:
  std::uint64_t bytes_ = 0, messages_ = 0;
  bool bar_;
  std::size_t total_;
  std::chrono::steady_clock::time_point start_, last_{};
};

// Runs the tasks (each with a back end) on their targets in parallel; record() is called
// on the calling thread for each result as it arrives, exactly once per task (skipped
// ones included). A refused admin login fails with Exit::config after the rest is
// recorded; otherwise returns the worst status of the sessions.
using RecordResult = std::function<void(const Task&, const MboxResult&)>;
Exit run_tasks(const CyrusConfig& c, const std::vector<Task>& tasks, const RecordResult& record, Progress* progress);

}  // namespace mapsync
