// mboxsync_rebalance.cpp - mboxsync rebalance: read the back ends' load (mailboxes, and
// quota used as the servers report it), plan who moves where (rebalance.h), and with
// --apply queue the moves for `mboxsync run`.
#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "libmapsync/core/error.h"
#include "libmapsync/core/identity.h"
#include "libmapsync/core/json_format.h"
#include "libmapsync/core/log.h"
#include "libmapsync/db/backends.h"
#include "libmapsync/db/endpoints.h"
#include "libmapsync/db/queue.h"
#include "libmapsync/mailbox/mbox_db.h"
#include "libmapsync/mailbox/mbox_engine.h"
#include "libmapsync/mailbox/mbox_task.h"
#include "libmapsync/mailbox/mbox_tree.h"
#include "libmapsync/mailbox/rebalance.h"

namespace mapsync {
namespace {

struct Candidate {
  RebalanceUser user;
  std::string inbox;
};

// Provisioned Cyrus accounts with no job pending (a user being created, renamed or moved
// is not planned again), read as every mailbox job reads them (read_mailbox_accounts).
std::vector<Candidate> candidates(Database& db, const CyrusConfig& c) {
  std::set<std::uint32_t> busy;
  db.query("SELECT DISTINCT account_id FROM provisioning_jobs WHERE state = ?", {std::string(to_sql(JobState::pending))},
           "reading the accounts with pending jobs", [&](const SqlRow& r) { busy.insert(static_cast<std::uint32_t>(r.u64(1))); });
  std::vector<Candidate> out;
  for (const auto& [id, a] : read_mailbox_accounts(db)) {
    if (!a.provisioned || !a.backend_id || a.moving || a.status == AccountStatus::pending_delete || busy.count(id)) continue;
    auto inbox = cyrus_inbox(cyrus_namespace(c), a.uid, a.domain, nullptr);
    if (!inbox) continue;
    Candidate cand;
    cand.user.account_id = id;
    cand.user.uid = a.uid;
    cand.user.backend_id = a.backend_id;
    cand.inbox = *inbox;
    out.push_back(std::move(cand));
  }
  return out;
}

void read_usage(const CyrusConfig& c, const std::vector<BackendRow>& backends, std::vector<Candidate>& users) {
  const auto login = admin_login(c);
  for (const BackendRow& b : backends) {
    std::vector<std::string> inboxes;
    for (const auto& u : users)
      if (u.user.backend_id == b.id) inboxes.push_back(u.inbox);
    if (inboxes.empty()) continue;
    ImapClient admin(imap_endpoint(c, b.imap_host, b.imap_port, login->password));
    const auto used = quota_usage(admin, inboxes, c.pipeline);
    admin.logout();
    for (auto& u : users)
      if (u.user.backend_id == b.id)
        if (auto it = used.find(u.inbox); it != used.end()) u.user.bytes = it->second;
  }
}

std::vector<RebalanceBackend> weigh(const CyrusConfig& c, const std::vector<BackendRow>& backends) {
  std::vector<RebalanceBackend> out;
  for (const BackendRow& b : backends) {
    double w = 0;
    if (b.enabled) {
      auto it = c.weights.find(b.name);
      w = c.weights.empty() ? 1.0 : it == c.weights.end() ? 0.0 : static_cast<double>(it->second);
    }
    out.push_back({b.id, b.name, w});
  }
  return out;
}

std::string load_word(double load, bool by_count) {
  char buf[64];
  if (by_count) std::snprintf(buf, sizeof buf, "%.1f", load);
  else std::snprintf(buf, sizeof buf, "%.1f MB", load / 1e6);
  return buf;
}

std::string render(const RebalancePlan& plan, const std::vector<RebalanceBackend>& bs, bool by_count, bool json,
                   std::size_t queued, bool applied) {
  auto name = [&](std::uint32_t id) {
    for (const auto& b : bs)
      if (b.id == id) return b.name;
    return std::to_string(id);
  };
  if (json) {
    nlohmann::json j = json_document<nlohmann::json>(json_format::mboxsync_rebalance);
    j["policy"] = by_count ? "count" : "quota";
    j["backends"] = nlohmann::json::array();
    for (const auto& b : bs)
      j["backends"].push_back({{"name", b.name}, {"weight", b.weight}, {"before", plan.load_before.at(b.id)},
                               {"share", plan.share.count(b.id) ? plan.share.at(b.id) : 0.0},
                               {"after", plan.load_after.at(b.id)}});
    j["moves"] = nlohmann::json::array();
    for (const auto& m : plan.moves)
      j["moves"].push_back({{"uid", m.uid}, {"from", name(m.from)}, {"to", name(m.to)}, {"bytes", m.bytes}});
    j["bytes"] = plan.bytes;
    j["limited"] = plan.limited;
    j["applied"] = applied;
    j["queued"] = queued;
    return j.dump(2) + "\n";
  }
  std::ostringstream o;
  o << "back end        weight  " << (by_count ? "mailboxes" : "quota used") << " now -> planned (share)\n";
  for (const auto& b : bs) {
    char line[256];
    std::snprintf(line, sizeof line, "%-15s %6.1f  %s -> %s (%s)\n", b.name.c_str(), b.weight,
                  load_word(plan.load_before.at(b.id), by_count).c_str(), load_word(plan.load_after.at(b.id), by_count).c_str(),
                  load_word(plan.share.count(b.id) ? plan.share.at(b.id) : 0.0, by_count).c_str());
    o << line;
  }
  for (const auto& m : plan.moves) o << "move  " << m.uid << "  " << name(m.from) << " -> " << name(m.to) << "  " << m.bytes << " bytes\n";
  o << plan.moves.size() << " moves, " << plan.bytes << " bytes" << (plan.limited ? " (limited by max_moves/max_bytes)" : "");
  o << (applied ? ", " + std::to_string(queued) + " queued for mboxsync run\n" : "; --apply queues them\n");
  return o.str();
}

}  // namespace

RebalanceOutput mboxsync_rebalance(const MboxsyncSettings& cfg, const RebalanceOptions& opt) {
  RebalanceOutput out;
  MboxReport rep;
  MboxJob job = start_mbox_job(cfg, opt.apply, rep);
  Database& db = *job.db;
  auto& lease = job.lease;
  if (rep.not_leader) {
    out.not_leader = true;
    out.leader = rep.leader;
    return out;
  }
  const CyrusMoves& m = cfg.cyrus.moves;
  const RebalancePolicy policy = opt.policy_given ? (opt.quota_policy ? RebalancePolicy::quota : RebalancePolicy::count) : m.policy;
  const std::vector<BackendRow> backends = read_backends(db, BackendLoad::provisioned_mailboxes);
  std::vector<Candidate> users = candidates(db, cfg.cyrus);
  read_usage(cfg.cyrus, backends, users);
  std::vector<RebalanceUser> plain;
  for (const auto& u : users) plain.push_back(u.user);
  const std::vector<RebalanceBackend> weighed = weigh(cfg.cyrus, backends);
  const RebalancePlan plan = plan_rebalance(weighed, plain, policy, opt.max_moves ? opt.max_moves : m.max_moves,
                                            opt.max_bytes ? opt.max_bytes : m.max_bytes);
  if (opt.apply) {
    const std::string who = "mboxsync rebalance by " + os_user() + "@" + host_name();
    fenced(db, *lease, "queuing the rebalance moves", [&] {
      for (const auto& mv : plan.moves) {
        MoveJob j;
        j.account_id = mv.account_id;
        j.source_backend_id = mv.from;
        j.target_backend_id = mv.to;
        j.requested_by = who;
        if (enqueue_move(db, j, nullptr)) ++out.queued;
      }
    });
    log::audit("rebalance: queued " + std::to_string(out.queued) + " moves (" + std::to_string(plan.bytes) + " bytes)");
  }
  out.text = render(plan, weighed, policy == RebalancePolicy::count, opt.json, out.queued, opt.apply);
  return out;
}

}  // namespace mapsync
