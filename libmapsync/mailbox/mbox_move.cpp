// mbox_move.cpp - see mbox_move.h.
#include "libmapsync/mailbox/mbox_move.h"

#include <algorithm>
#include <chrono>
#include <thread>

#include "libmapsync/core/error.h"
#include "libmapsync/core/log.h"
#include "libmapsync/core/signals.h"
#include "libmapsync/mailbox/mbox_engine.h"
#include "libmapsync/mailbox/mbox_task.h"

namespace mapsync {
namespace {

using Clock = std::chrono::steady_clock;

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
  return s;
}

ImapEndpoint endpoint_of(const CyrusConfig& c, const AdminLogin& login, const std::string& host, unsigned port,
                         unsigned timeout, const std::string& authzid = {}) {
  ImapEndpoint ep = imap_endpoint(c, host, port, login.password);
  ep.timeout = timeout;
  ep.authzid = authzid;
  return ep;
}

ImapEndpoint endpoint_of(const CyrusConfig& c, const AdminLogin& login, const BackendRow& b, unsigned timeout,
                         const std::string& authzid = {}) {
  return endpoint_of(c, login, b.imap_host, b.imap_port, timeout, authzid);
}

bool holds(const CyrusConfig& c, const AdminLogin& login, const BackendRow& b, const std::string& inbox) {
  ImapClient admin(endpoint_of(c, login, b, c.timeout));
  const auto names = list_tree(admin, cyrus_namespace(c), inbox);
  admin.logout();
  return std::find(names.begin(), names.end(), inbox) != names.end();
}

TreeState read_on(const CyrusConfig& c, const AdminLogin& login, const BackendRow& b, const MoveOrder& o) {
  ImapClient admin(endpoint_of(c, login, b, c.timeout));
  ImapClient owner(endpoint_of(c, login, b, c.timeout, o.owner));
  TreeState t = read_tree(admin, owner, cyrus_namespace(c), o.inbox);
  owner.logout();
  admin.logout();
  return t;
}

// The server mupdate names for the inbox, asked through the front end ("" = none known).
std::string mupdate_server(const CyrusConfig& c, const AdminLogin& login, const std::string& inbox) {
  ImapClient fe(endpoint_of(c, login, c.frontend_host, c.frontend_port, c.timeout));
  const auto where = mupdate_servers(fe, {inbox}, 1);
  fe.logout();
  return where.count(inbox) ? where.at(inbox) : std::string();
}

// Whether mupdate names the target, asking again until cyrus.moves.mupdate_wait is over
// (the front end's mupdate slave follows the master within a second or two). No front
// end configured: nothing to ask, true.
bool mupdate_names(const CyrusConfig& c, const AdminLogin& login, const MoveOrder& o, std::string& named) {
  if (c.frontend_host.empty()) return true;
  const auto deadline = Clock::now() + std::chrono::seconds(c.moves.mupdate_wait);
  for (;;) {
    named = mupdate_server(c, login, o.inbox);
    if (named == o.target->imap_host) return true;
    if (Clock::now() >= deadline) return false;
    check_interrupted();
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
}

MoveOutcome retry(std::string why, bool on_source = false) {
  MoveOutcome out;
  out.verdict = MoveVerdict::retry;
  out.detail = std::move(why);
  out.on_source = on_source;
  return out;
}

// The tree is on the target now: compare it with the one that left, and ask mupdate.
MoveOutcome judge_arrival(const CyrusConfig& c, const AdminLogin& login, const MoveOrder& o, MoveOutcome out) {
  if (!o.defer_mupdate) {
    confirm_mupdate(c, login, o, out);
    if (out.verdict == MoveVerdict::retry) return out;
  }
  out.after = read_on(c, login, *o.target, o);
  out.diffs = compare_trees(out.before, out.after);
  out.verdict = out.diffs.empty() ? MoveVerdict::moved : MoveVerdict::moved_unequal;
  return out;
}

// Runs fn; a server or connection failure becomes MoveVerdict::retry with its words. A
// refused admin login (Exit::config) and anything else go up.
template <class Fn>
std::optional<MoveOutcome> guarded(Fn fn) {
  try {
    fn();
    return std::nullopt;
  } catch (const Error& e) {
    if (e.status() != Exit::tempfail && e.status() != Exit::data) throw;
    return retry(e.what());
  }
}

}  // namespace

MoveOutcome move_tree(const CyrusConfig& c, const AdminLogin& login, const MoveOrder& o,
                      const BeforeTransfer& before_transfer) {
  MoveOutcome out;
  bool on_target = false, on_source = false;
  if (auto failed = guarded([&] {
        on_source = holds(c, login, *o.source, o.inbox);
        on_target = holds(c, login, *o.target, o.inbox);
        if (on_target && !on_source && !o.before) out.after = read_on(c, login, *o.target, o);
        if (on_source) out.before = read_on(c, login, *o.source, o);
      })) {
    failed->on_source = on_source;  // nothing was sent; the source's own list says it holds the tree
    return *failed;
  }
  if (on_target && !on_source) {
    // An earlier run's transfer went through (killed before it could record it), or the
    // user was moved by hand.
    if (!o.before) {
      out.verdict = MoveVerdict::already;
      out.detail = "already on " + o.target->name;
      return out;
    }
    out.before = *o.before;
    MoveOutcome judged;
    if (auto failed = guarded([&] { judged = judge_arrival(c, login, o, out); })) return *failed;
    return judged;
  }
  if (!on_source) return retry(o.inbox + " is on neither " + o.source->name + " nor " + o.target->name);
  if (on_target && !o.before) {
    // Both list it and no transfer of ours is known: a leftover of someone else's
    // failed transfer, or a conflict. Cyrus would reuse it; say so, and go on.
    log::warning(o.target->name + " lists " + o.inbox + " too (a failed transfer's leftover?); XFER reuses it");
  }
  // (On both: what a failed transfer left on the target; XFER reuses it.)
  before_transfer(out.before);  // its errors (a lost lease) stop the job
  const auto t0 = Clock::now();
  std::string failure;
  bool still_on_source = false;
  MoveOutcome judged;
  if (auto failed = guarded([&] {
        {
          ImapClient src(endpoint_of(c, login, *o.source, c.moves.timeout));
          const ImapResult r = src.run(xfer_command(o, src.literal_plus()));
          failure = xfer_failure(r, o.owner);
          // Some early failures leave the user's lock held by this session: close it.
          src.logout();
        }
        out.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
        if (!failure.empty()) {
          still_on_source = holds(c, login, *o.source, o.inbox);  // a failed XFER rolls back to the source
          return;
        }
        if (!holds(c, login, *o.target, o.inbox)) {
          still_on_source = holds(c, login, *o.source, o.inbox);
          failure = "it said OK USER, but " + o.target->name + " does not list " + o.inbox;
          return;
        }
        if (holds(c, login, *o.source, o.inbox)) out.diffs.push_back(o.source->name + " still lists " + o.inbox);
        judged = judge_arrival(c, login, o, out);
      }))
    return *failed;
  if (!failure.empty()) return retry("XFER to " + o.target->name + ": " + failure, still_on_source);
  if (!out.diffs.empty() && judged.verdict != MoveVerdict::retry) {
    judged.diffs.insert(judged.diffs.begin(), out.diffs.begin(), out.diffs.end());
    judged.verdict = MoveVerdict::moved_unequal;
  }
  judged.seconds = out.seconds;
  return judged;
}

void confirm_mupdate(const CyrusConfig& c, const AdminLogin& login, const MoveOrder& o, MoveOutcome& out) {
  std::string named;
  bool names = false;
  if (auto failed = guarded([&] { names = mupdate_names(c, login, o, named); })) {
    out = *failed;
    return;
  }
  if (!names)
    out = retry(o.inbox + " is on " + o.target->name + ", but mupdate names " + (named.empty() ? "no server" : named) +
                " after " + std::to_string(c.moves.mupdate_wait) + " s");
}

std::string xfer_command(const MoveOrder& o, bool lp) {
  std::string cmd = "XFER " + imap_string(o.inbox, lp) + " " + imap_string(o.target->imap_host, lp);
  if (!o.partition.empty()) cmd += " " + imap_string(o.partition, lp);
  return cmd;
}

std::string xfer_failure(const ImapResult& reply, const std::string& owner) {
  const std::string want = "user " + lower(owner);
  bool ok_user = false;
  for (const auto& u : reply.untagged) {
    if (u.status != "OK" && u.status != "NO") continue;
    const std::string text = lower(u.text);
    if (text.compare(0, want.size(), want) != 0 || (text.size() > want.size() && text[want.size()] != ' ')) continue;
    if (u.status == "NO") {
      std::string why = u.text.substr(want.size());
      while (!why.empty() && (why.front() == ' ' || why.front() == '(')) why.erase(0, 1);
      if (!why.empty() && why.back() == ')') why.pop_back();
      return why.empty() ? "NO USER" : why;
    }
    ok_user = true;
  }
  if (!reply.ok()) return reply.status + " " + reply.text;
  if (!ok_user) return "no per-user result (* OK USER " + owner + ") in the reply: " + reply.status + " " + reply.text;
  return {};
}

}  // namespace mapsync
