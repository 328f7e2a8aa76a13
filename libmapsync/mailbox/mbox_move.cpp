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

bool holds(MoveSessions& s, const BackendRow& b, const std::string& inbox) {
  const auto names = list_tree(s.admin(b), cyrus_namespace(s.config()), inbox);
  return std::find(names.begin(), names.end(), inbox) != names.end();
}

TreeState read_on(MoveSessions& s, const BackendRow& b, const MoveOrder& o) {
  auto owner = s.as_owner(b, o.owner);
  TreeState t = read_tree(s.admin(b), *owner, cyrus_namespace(s.config()), o.inbox);
  owner->logout();
  return t;
}

MoveOutcome retry(std::string why, bool on_source = false) {
  MoveOutcome out;
  out.verdict = MoveVerdict::retry;
  out.detail = std::move(why);
  out.on_source = on_source;
  return out;
}

// The tree is on the target now: compare it with the one that left.
MoveOutcome judge_arrival(MoveSessions& s, const MoveOrder& o, MoveOutcome out) {
  out.after = read_on(s, *o.target, o);
  out.diffs = compare_trees(out.before, out.after);
  out.verdict = out.diffs.empty() ? MoveVerdict::moved : MoveVerdict::moved_unequal;
  return out;
}

// Runs fn; a server or connection failure becomes MoveVerdict::retry with its words. A
// refused admin login (Exit::config) and anything else go up.
// The sessions are dropped then: one may be broken, or hold the user's lock.
template <class Fn>
std::optional<MoveOutcome> guarded(MoveSessions& s, Fn fn) {
  try {
    fn();
    return std::nullopt;
  } catch (const Error& e) {
    if (e.status() != Exit::tempfail && e.status() != Exit::data) throw;
    s.close();
    return retry(e.what());
  }
}

}  // namespace

MoveSessions::~MoveSessions() { close(); }

ImapEndpoint MoveSessions::endpoint(const std::string& host, unsigned port) const {
  ImapEndpoint ep = imap_endpoint(c_, host, port, login_.password);
  ep.timeout = c_.timeout;
  return ep;
}

std::string MoveSessions::key(const std::string& host, unsigned port) { return host + ":" + std::to_string(port); }

ImapClient& MoveSessions::admin(const std::string& host, unsigned port) {
  auto& slot = open_[key(host, port)];
  if (!slot) slot = std::make_unique<ImapClient>(endpoint(host, port));
  return *slot;
}

std::unique_ptr<ImapClient> MoveSessions::as_owner(const BackendRow& b, const std::string& owner) const {
  ImapEndpoint ep = endpoint(b.imap_host, b.imap_port);
  ep.authzid = owner;
  return std::make_unique<ImapClient>(ep);
}

void MoveSessions::drop(const BackendRow& b) {
  auto it = open_.find(key(b.imap_host, b.imap_port));
  if (it == open_.end()) return;
  if (it->second) it->second->logout();
  open_.erase(it);
}

void MoveSessions::close() {
  for (auto& [where, imap] : open_)
    if (imap) imap->logout();
  open_.clear();
}

MoveOutcome move_tree(MoveSessions& s, const MoveOrder& o, const BeforeTransfer& before_transfer) {
  const CyrusConfig& c = s.config();
  MoveOutcome out;
  bool on_target = false, on_source = false;
  if (auto failed = guarded(s, [&] {
        on_source = holds(s, *o.source, o.inbox);
        on_target = holds(s, *o.target, o.inbox);
        if (on_target && !on_source && !o.before) out.after = read_on(s, *o.target, o);
        if (on_source) out.before = read_on(s, *o.source, o);
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
    if (auto failed = guarded(s, [&] { judged = judge_arrival(s, o, out); })) return *failed;
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
  if (auto failed = guarded(s, [&] {
        ImapClient& src = s.admin(*o.source);
        src.set_timeout(c.moves.timeout);
        const ImapResult r = src.run(xfer_command(o, src.literal_plus()));
        src.set_timeout(c.timeout);
        failure = xfer_failure(r, o.owner);
        // Some early failures leave the user's lock held by this session: close it.
        if (!failure.empty()) s.drop(*o.source);
        out.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
        if (!failure.empty()) {
          still_on_source = holds(s, *o.source, o.inbox);  // a failed XFER rolls back to the source
          return;
        }
        if (!holds(s, *o.target, o.inbox)) {
          still_on_source = holds(s, *o.source, o.inbox);
          failure = "it said OK USER, but " + o.target->name + " does not list " + o.inbox;
          return;
        }
        if (holds(s, *o.source, o.inbox)) out.diffs.push_back(o.source->name + " still lists " + o.inbox);
        judged = judge_arrival(s, o, out);
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

void confirm_mupdate(MoveSessions& s, const std::vector<MoveInFlight>& moves) {
  const CyrusConfig& c = s.config();
  std::vector<MoveInFlight> asking;
  for (const MoveInFlight& m : moves)
    if (m.outcome->verdict == MoveVerdict::moved || m.outcome->verdict == MoveVerdict::moved_unequal) asking.push_back(m);
  if (c.frontend_host.empty() || asking.empty()) return;
  const auto deadline = Clock::now() + std::chrono::seconds(c.moves.mupdate_wait);
  std::map<std::string, std::string> named;
  for (;;) {
    std::vector<std::string> inboxes;
    for (const MoveInFlight& m : asking) inboxes.push_back(m.order->inbox);
    if (auto failed = guarded(s, [&] { named = mupdate_servers(s.admin(c.frontend_host, c.frontend_port), inboxes, c.pipeline); })) {
      for (const MoveInFlight& m : asking) *m.outcome = retry("asking mupdate through the front end: " + failed->detail);
      return;
    }
    std::vector<MoveInFlight> still;
    for (const MoveInFlight& m : asking) {
      auto it = named.find(m.order->inbox);
      if (it == named.end() || it->second != m.order->target->imap_host) still.push_back(m);
    }
    asking.swap(still);
    if (asking.empty()) return;
    if (Clock::now() >= deadline) break;
    check_interrupted();
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  for (const MoveInFlight& m : asking) {
    auto it = named.find(m.order->inbox);
    *m.outcome = retry(m.order->inbox + " is on " + m.order->target->name + ", but mupdate names " +
                       (it == named.end() ? std::string("no server") : it->second) + " after " +
                       std::to_string(c.moves.mupdate_wait) + " s");
  }
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
