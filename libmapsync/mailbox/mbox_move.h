// mbox_move.h - one user's mailbox tree moved between Murder back ends with Cyrus's XFER,
// and proved to have arrived. The IMAP side only; the job around it (the queue, the
// deferral of the user's mail, recording the new back end) is mboxsync_moves.cpp.
//
// What Cyrus 3.6 does (docs/cyrus-xfer-observed.md, measured on the test Murder):
//   - XFER is sent to the source back end as an admin: `XFER user.jdoe <server> [<partition>]`.
//     The source copies the tree over the replication protocol, logging in to the target as
//     its proxy_authname (an admin there), moves mupdate's entries, and deletes its own.
//   - The result is the untagged `* OK USER jdoe` or `* NO USER jdoe (why)`: the tagged reply
//     is OK even when the user's move failed (imapd.c cmd_xfer overwrites the error).
//   - A failed transfer leaves the user on the source, whole; XFER can simply be sent again.
//   - After a move the source's lmtpd answers 550 5.1.1 for the user: mail must not be
//     routed to the old back end once the transfer starts (the job defers it first).
// So a move is done only when the target lists the tree, the source does not, the tree
// compares equal (mbox_tree.h), and mupdate (asked through the front end) names the target.
//
// Sessions are kept (MoveSessions) because what costs is opening them: a STARTTLS login is
// tens of milliseconds, and the source's imapd keeps its replication connection to the
// target for the session, so XFER on a fresh session pays that connection again.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "libmapsync/db/backends.h"
#include "libmapsync/mailbox/imap_client.h"
#include "libmapsync/mailbox/mbox_tree.h"
#include "libmapsync/mailbox/options.h"

namespace mapsync {

struct AdminLogin;

// One thread's admin sessions, one per server, opened when first needed and kept for the
// next steps and moves. A step that fails drops them (a broken connection is not reused).
class MoveSessions {
 public:
  MoveSessions(const CyrusConfig& c, const AdminLogin& login) : c_(c), login_(login) {}
  ~MoveSessions();
  MoveSessions(const MoveSessions&) = delete;
  MoveSessions& operator=(const MoveSessions&) = delete;
  ImapClient& admin(const BackendRow& b) { return admin(b.imap_host, b.imap_port); }
  ImapClient& admin(const std::string& host, unsigned port);
  // A new session on b acting as owner (proxy authorisation): one per tree read.
  std::unique_ptr<ImapClient> as_owner(const BackendRow& b, const std::string& owner) const;
  void drop(const BackendRow& b);
  void close();  // logs out of every session
  const CyrusConfig& config() const { return c_; }

 private:
  ImapEndpoint endpoint(const std::string& host, unsigned port) const;  // as the admin, cyrus.timeout
  static std::string key(const std::string& host, unsigned port);
  const CyrusConfig& c_;
  const AdminLogin& login_;
  std::map<std::string, std::unique_ptr<ImapClient>> open_;  // by key(): host:port
};

// One move to carry out.
struct MoveOrder {
  std::string uid;          // the account, for messages
  std::string owner;        // the Cyrus user name (uid, or uid@domain with virtual domains)
  std::string inbox;        // user.jdoe
  const BackendRow* source = nullptr;
  const BackendRow* target = nullptr;
  std::string partition;    // on the target, "" = its default
  std::optional<TreeState> before;  // read by an earlier, interrupted attempt
};

enum class MoveVerdict {
  moved,         // the tree is on the target and compares equal
  moved_unequal, // it is on the target (mupdate says so), but differs: see diffs
  already,       // it was on the target before we started (an earlier run moved it)
  retry,         // it is still on the source (a transfer refused or failed): try again later
};

struct MoveOutcome {
  MoveVerdict verdict = MoveVerdict::retry;
  std::string detail;               // the server's words, or why
  std::vector<std::string> diffs;   // moved_unequal
  TreeState before, after;
  double seconds = 0;               // the transfer's
  // retry: the source still holds the whole tree, so its mail may be routed there again.
  // false when that is not known (the transfer's outcome is unclear): keep deferring.
  bool on_source = false;
};

// Called once the tree was read on the source, before XFER is sent: the caller records
// the snapshot (so a run killed during the transfer can still compare) and may refuse to
// go on by throwing.
using BeforeTransfer = std::function<void(const TreeState&)>;

// Carries out one move up to the comparison of the trees; mupdate is confirmed afterwards
// (confirm_mupdate) for many moves at once. Connection failures and refusals before the
// transfer are MoveVerdict::retry with the reason; an Error escapes only for a failed
// admin login (Exit::config) or a signal.
MoveOutcome move_tree(MoveSessions& s, const MoveOrder& order, const BeforeTransfer& before_transfer);

// For the moved outcomes among moves: asks the front end whether mupdate names each
// target, again every 250 ms until cyrus.moves.mupdate_wait is over (its mupdate slave
// follows the master within seconds, so asking after many moves mostly waits for none);
// an outcome whose target mupdate does not name becomes retry (where the tree is, is
// unclear: keep deferring its mail). No front end configured: nothing to ask.
struct MoveInFlight {
  const MoveOrder* order;
  MoveOutcome* outcome;
};
void confirm_mupdate(MoveSessions& s, const std::vector<MoveInFlight>& moves);

// The per-user result of an XFER from its replies: "" when `* OK USER <user>` came,
// else the reason (the `* NO USER` text, or the tagged NO).
std::string xfer_failure(const ImapResult& reply, const std::string& owner);

// The XFER command (every argument quoted).
std::string xfer_command(const MoveOrder& order, bool literal_plus);

}  // namespace mapsync
