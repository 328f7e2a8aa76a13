// adsync_plan.cpp - the diff between Active Directory and the user database.
//
// Pure: it is handed the database's state and the directory's entries and decides; the
// unit tests drive it without either. What it decides, and why:
// - accounts are matched by objectGUID, so a rename or an OU move is an update; an AD
//   account the database knows only by user name (imported before adsync) is adopted;
// - AD owns uid, names, primary address, the 'proxy' addresses and enabled/disabled of
//   source 'ad' accounts; routing (delivery, back end) is set once, at creation, by the
//   placement policy, and 'manual' accounts are never touched;
// - an account that is disabled in AD or gone from scope is disabled only after
//   disable_after_misses consecutive runs, and pending-delete only after a grace period:
//   one bad search must not bounce a university's mail;
// - an address that another account, group or list already has is a conflict, reported
//   and left alone, never taken over.
#include <algorithm>
#include <set>

#include "libmapsync/directory/adsync.h"
#include "libmapsync/core/address.h"
#include "libmapsync/core/casefold.h"

namespace mapsync {

std::size_t Plan::count_renames() const {
  return static_cast<std::size_t>(std::count_if(updates.begin(), updates.end(), [](const auto& u) { return u.rename; }));
}
std::size_t Plan::count_enables() const {
  return static_cast<std::size_t>(std::count_if(updates.begin(), updates.end(), [](const auto& u) { return u.enable; }));
}
std::size_t Plan::count(MissAction a) const {
  return static_cast<std::size_t>(std::count_if(misses.begin(), misses.end(), [&](const auto& m) { return m.action == a; }));
}
std::size_t Plan::count_new_misses() const {
  return static_cast<std::size_t>(std::count_if(misses.begin(), misses.end(), [](const auto& m) { return m.new_miss; }));
}
bool Plan::changes_accounts() const {
  return !creates.empty() || !updates.empty() || count(MissAction::disable) || count(MissAction::pending_delete);
}

namespace {

std::string domain_part(std::string_view address) {
  std::string_view local, domain;
  if (!split_address(address, local, domain)) return {};
  return fold_key(domain);
}

bool ci_prefix(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(s[i])) != prefix[i]) return false;
  return true;
}

bool dn_ends_with(std::string_view dn, std::string_view suffix) {
  if (suffix.empty()) return true;
  if (dn.size() < suffix.size()) return false;
  const std::string_view tail = dn.substr(dn.size() - suffix.size());
  for (std::size_t i = 0; i < suffix.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(tail[i])) != std::tolower(static_cast<unsigned char>(suffix[i]))) return false;
  return dn.size() == suffix.size() || dn[dn.size() - suffix.size() - 1] == ',';
}

}  // namespace

Wanted wanted_from_entry(const AdConfig& ad, const DirEntry& e, const std::unordered_set<std::string>& domains,
                         std::vector<std::string>& notes) {
  Wanted w;
  w.anchor = e.anchor;
  w.dn = e.dn;
  w.uid = e.uid;
  w.given_name = e.given_name;
  w.surname = e.surname;
  w.display_name = e.display_name;
  w.enabled = !e.disabled();
  w.usn_changed = e.usn_changed;
  // proxyAddresses: "SMTP:" (upper case) is the primary, "smtp:" the others; X500:, SIP:
  // and the rest are not mail addresses.
  std::string proxy_primary;
  std::vector<std::string> candidates;
  for (const std::string& p : e.proxy_addresses) {
    if (!ci_prefix(p, "smtp:")) continue;
    const std::string addr = p.substr(5);
    if (p.compare(0, 5, "SMTP:") == 0 && proxy_primary.empty()) proxy_primary = addr;
    else candidates.push_back(addr);
  }
  if (ad.primary_from_proxy) w.primary_address = !proxy_primary.empty() ? proxy_primary : e.mail;
  else w.primary_address = !e.mail.empty() ? e.mail : proxy_primary;
  if (!proxy_primary.empty() && proxy_primary != w.primary_address) candidates.push_back(proxy_primary);
  if (!e.mail.empty() && e.mail != w.primary_address) candidates.push_back(e.mail);
  const std::string primary_folded = fold_key(w.primary_address);
  std::set<std::string> seen = {primary_folded};
  for (const std::string& a : candidates) {
    const std::string f = fold_key(a);
    if (!seen.insert(f).second) continue;
    if (!check_address(a).empty()) {
      notes.push_back(e.uid + ": address \"" + a + "\" ignored: " + check_address(a));
      continue;
    }
    if (!domains.count(domain_part(a))) {
      notes.push_back(e.uid + ": address " + a + " ignored: its domain is not a local or alias domain of the database");
      continue;
    }
    w.aliases.push_back(a);
  }
  return w;
}

// The diff as a stream: entries are added one by one (adsync apply writes the creates
// decided so far while the search goes on), and finish() judges what was not seen and
// checks the gates. A decision on an entry depends only on the database and the entries
// before it, so it is final when made.
struct AdPlanner::Impl {
  Impl(const PlanInput& input, const AdDbState& state, GroupMembers members)
      : in(input), db(state), members_of(std::move(members)), ad(*input.ad) {
    plan.mode = in.mode;
    for (std::size_t i = 0; i < db.accounts.size(); ++i) {
      const DbAccount& a = db.accounts[i];
      if (!a.anchor.empty()) by_anchor.emplace(a.anchor, i);
      by_uid.emplace(fold_key(a.uid), i);
      if (a.source == AccountSource::ad) {
        ++plan.ad_accounts;
        if (a.status == AccountStatus::active) ++plan.active_ad_accounts;
      }
    }
    for (const auto& b : db.backends) backend_load[b.id] = b.accounts;
  }

  // Who else has address ("" when it is free for account_id; 0: a new account).
  std::string address_owner(const std::string& address, std::uint32_t account_id, const std::string& who) const {
    const std::string f = fold_key(address);
    if (auto it = db.addresses.find(f); it != db.addresses.end() && (account_id == 0 || it->second.account_id != account_id))
      return it->second.what;
    if (auto it = claimed.find(f); it != claimed.end() && it->second != who) return it->second + " (in this run)";
    return {};
  }

  void add(DirEntry& e) {
    ++plan.entries;
    if (e.uid.empty()) {
      plan.notes.push_back(e.dn + ": no " + ad.attr_uid + ", ignored");
      return;
    }
    Wanted w = wanted_from_entry(ad, e, db.domains, plan.notes);
    if (auto it = by_anchor.find(e.anchor); it != by_anchor.end()) {
      add_known(e, it->second, false, std::move(w));
    } else if (auto u = by_uid.find(fold_key(e.uid)); u != by_uid.end() && db.accounts[u->second].source == AccountSource::ad &&
                                                        db.accounts[u->second].anchor.empty()) {
      add_known(e, u->second, true, std::move(w));  // imported before adsync knew its GUID
    } else {
      add_new(e, std::move(w));
    }
  }

  // An entry the database does not have: a create, unless something stands in its way.
  void add_new(const DirEntry& e, Wanted w) {
    if (!w.enabled) {
      plan.notes.push_back(e.uid + ": disabled in AD and not in the database: not created");
      return;
    }
    if (w.primary_address.empty()) {
      plan.notes.push_back(e.uid + ": no mail address (" + ad.attr_mail + " or SMTP: proxyAddress): not a mail user");
      return;
    }
    if (const std::string why = check_address(w.primary_address); !why.empty()) {
      plan.conflicts.push_back({e.uid, "primary address \"" + w.primary_address + "\": " + why + "; not created"});
      return;
    }
    if (!db.domains.count(domain_part(w.primary_address))) {
      plan.notes.push_back(e.uid + ": primary address " + w.primary_address +
                           " is not in a local or alias domain of the database: not created");
      return;
    }
    if (auto u = by_uid.find(fold_key(e.uid)); u != by_uid.end() || claimed_uids.count(fold_key(e.uid))) {
      const std::string other = u != by_uid.end() ? "account " + std::to_string(db.accounts[u->second].id) + " (" +
                                                        std::string(to_sql(db.accounts[u->second].source)) + ")"
                                                  : "another AD entry";
      plan.conflicts.push_back({e.uid, "user name is taken by " + other + "; not created"});
      return;
    }
    if (const std::string other = address_owner(w.primary_address, 0, e.uid); !other.empty()) {
      plan.conflicts.push_back({e.uid, "primary address " + w.primary_address + " belongs to " + other + "; not created"});
      return;
    }
    std::vector<std::string> aliases;
    for (const std::string& a : w.aliases) {
      if (const std::string other = address_owner(a, 0, e.uid); !other.empty())
        plan.conflicts.push_back({e.uid, "address " + a + " belongs to " + other + "; left out"});
      else
        aliases.push_back(a);
    }
    w.aliases = std::move(aliases);
    PlannedCreate c;
    if (!place(e, c)) return;
    claimed[fold_key(w.primary_address)] = e.uid;
    for (const auto& a : w.aliases) claimed[fold_key(a)] = e.uid;
    claimed_uids.insert(fold_key(e.uid));
    c.w = std::move(w);
    plan.creates.push_back(std::move(c));
  }

  // The first placement rule that matches decides delivery, quota and (for Cyrus) the
  // least loaded of its enabled back ends; false (a conflict) when none can.
  bool place(const DirEntry& e, PlannedCreate& c) {
    const AdPlacementRule* rule = nullptr;
    for (const AdPlacementRule& r : ad.placement) {
      if (!dn_ends_with(e.dn, r.ou)) continue;
      if (!r.group.empty() && !members_of(r.group).count(e.anchor)) continue;
      rule = &r;
      break;
    }
    if (!rule) {
      plan.conflicts.push_back({e.uid, "no placement rule matches " + e.dn + "; not created"});
      return false;
    }
    c.rule = rule->name;
    c.delivery = rule->delivery;
    c.quota_mb = rule->quota_mb;
    if (rule->delivery == Delivery::cyrus) {
      const BackendRow* best = nullptr;
      for (const std::string& name : rule->backends) {
        auto b = std::find_if(db.backends.begin(), db.backends.end(), [&](const BackendRow& x) { return x.name == name; });
        if (b == db.backends.end() || !b->enabled) continue;
        if (!best || backend_load[b->id] < backend_load[best->id]) best = &*b;
      }
      if (!best) {
        plan.conflicts.push_back({e.uid, "placement rule " + rule->name + ": none of its back ends exists and is enabled; not created"});
        return false;
      }
      ++backend_load[best->id];
      c.backend_id = best->id;
      c.backend = best->name;
    } else if (rule->delivery == Delivery::smtp) {
      c.smtp_nexthop = rule->smtp_nexthop;
    }
    return true;
  }

  // An entry matched to account db.accounts[idx] (adopt: by user name, its GUID still
  // to be recorded): an update of what AD owns, and the AD bookkeeping.
  void add_known(const DirEntry& e, std::size_t idx, bool adopt, Wanted w) {
    const DbAccount& a = db.accounts[idx];
    seen.insert(idx);
    if (a.source != AccountSource::ad) {
      plan.notes.push_back(e.uid + ": account " + std::to_string(a.id) + " is manual: not touched");
      return;
    }
    if (!w.enabled) {
      PlannedMiss m;
      m.account_id = a.id;
      m.uid = a.uid;
      m.reason = "disabled";
      plan.misses.push_back(m);  // judged with the others in finish()
    }
    PlannedUpdate u;
    u.account_id = a.id;
    u.uid = a.uid;
    u.cyrus = a.delivery == Delivery::cyrus;
    auto field = [&](const char* name, const std::string& before, const std::string& after) {
      if (before != after) u.changes.push_back({name, before, after});
    };
    if (adopt) field("object_guid", "", guid_text(e.anchor));
    if (a.uid != w.uid) {
      if (auto other = by_uid.find(fold_key(w.uid)); (other != by_uid.end() && other->second != idx) || claimed_uids.count(fold_key(w.uid))) {
        plan.conflicts.push_back({a.uid, "renamed in AD to " + w.uid + ", which is taken; not renamed"});
        w.uid = a.uid;
      } else {
        field("uid", a.uid, w.uid);
        u.rename = fold_key(a.uid) != fold_key(w.uid);
      }
    }
    claimed_uids.insert(fold_key(w.uid));
    field("given_name", a.given_name, w.given_name);
    field("surname", a.surname, w.surname);
    field("display_name", a.display_name, w.display_name);
    if (!w.primary_address.empty() && a.primary_address != w.primary_address && primary_may_change(a, w))
      field("primary_address", a.primary_address, w.primary_address);
    const std::string primary_now =
        std::any_of(u.changes.begin(), u.changes.end(), [](const FieldChange& c) { return c.field == "primary_address"; })
            ? w.primary_address
            : a.primary_address;
    claimed[fold_key(primary_now)] = a.uid;
    diff_aliases(a, w, primary_now, u);
    if (w.enabled && a.status != AccountStatus::active) {
      // The change is shown and written in the column's own words.
      field("status", std::string(to_sql(a.status)), std::string(to_sql(AccountStatus::active)));
      u.enable = true;
    }
    const bool state_changed = !a.has_state || a.dn != w.dn || a.usn_changed != w.usn_changed;
    const bool reset = w.enabled && (a.missed_runs > 0 || !a.missing_reason.empty());
    if (!u.changes.empty() || !u.add_aliases.empty() || !u.remove_aliases.empty()) {
      u.w = w;
      plan.updates.push_back(std::move(u));
    }
    if (state_changed || reset) plan.state_updates.push_back({a.id, w.dn, w.usn_changed, reset, w.uid, a.dn});
  }

  // Whether AD's new primary address may replace the account's; a conflict saying why not.
  bool primary_may_change(const DbAccount& a, const Wanted& w) {
    const std::string other = address_owner(w.primary_address, a.id, a.uid);
    if (!check_address(w.primary_address).empty())
      plan.conflicts.push_back({a.uid, "primary address \"" + w.primary_address + "\" from AD is invalid: " +
                                           check_address(w.primary_address) + "; kept " + a.primary_address});
    else if (!db.domains.count(domain_part(w.primary_address)))
      plan.conflicts.push_back({a.uid, "primary address " + w.primary_address + " from AD is not in a local domain; kept " +
                                           a.primary_address});
    else if (!other.empty())
      plan.conflicts.push_back({a.uid, "primary address " + w.primary_address + " belongs to " + other + "; kept " +
                                           a.primary_address});
    else
      return true;
    return false;
  }

  // The account's 'proxy' addresses against AD's: compared folded; AD's spelling wins
  // for new ones.
  void diff_aliases(const DbAccount& a, const Wanted& w, const std::string& primary_now, PlannedUpdate& u) {
    std::unordered_set<std::string> have, want;
    for (const auto& p : a.proxy_addresses) have.insert(fold_key(p));
    for (const auto& x : w.aliases) {
      const std::string f = fold_key(x);
      if (f == fold_key(primary_now)) continue;
      if (have.count(f)) {
        want.insert(f);
        claimed[f] = a.uid;
        continue;
      }
      if (const std::string other = address_owner(x, a.id, a.uid); !other.empty()) {
        // The old primary moves to the aliases when the primary changes: that is ours.
        if (!(fold_key(x) == fold_key(a.primary_address) && primary_now != a.primary_address)) {
          plan.conflicts.push_back({a.uid, "address " + x + " belongs to " + other + "; left out"});
          continue;
        }
      }
      want.insert(f);
      claimed[f] = a.uid;
      u.add_aliases.push_back(x);
    }
    for (const auto& p : a.proxy_addresses)
      if (!want.count(fold_key(p))) u.remove_aliases.push_back(p);
  }

  Plan finish() {
    // Accounts that this run did not see enabled.
    if (!in.only_subset) {
      for (std::size_t i = 0; i < db.accounts.size(); ++i) {
        const DbAccount& a = db.accounts[i];
        if (a.source != AccountSource::ad || seen.count(i)) continue;
        if (a.anchor.empty()) continue;  // never matched: nothing to say it left
        // An incremental run sees only changed entries: an account it does not see is as
        // it was, so only one already missing stays missing.
        if (in.mode == SyncMode::incremental && a.missed_runs == 0) continue;
        PlannedMiss m;
        m.account_id = a.id;
        m.uid = a.uid;
        m.reason = in.mode == SyncMode::incremental && !a.missing_reason.empty() ? a.missing_reason : "gone";
        plan.misses.push_back(m);
      }
    }
    // Judge every miss: count, disable after N, pending-delete after the grace period.
    std::unordered_map<std::uint32_t, const DbAccount*> by_id;
    for (const auto& a : db.accounts) by_id[a.id] = &a;
    std::vector<PlannedMiss> judged;
    for (PlannedMiss m : plan.misses) {
      const DbAccount& a = *by_id[m.account_id];
      m.new_miss = a.missed_runs == 0;
      m.missed_runs = std::min(a.missed_runs + 1, ad.disable_after_misses);
      if (a.status == AccountStatus::active) {
        if (m.missed_runs >= ad.disable_after_misses) m.action = MissAction::disable;
      } else if (a.status == AccountStatus::disabled) {
        const std::int64_t since = a.status_changed_at ? a.status_changed_at : a.missing_since;
        if (ad.pending_delete_after_days > 0 && since > 0 &&
            in.now - since >= static_cast<std::int64_t>(ad.pending_delete_after_days) * 86400)
          m.action = MissAction::pending_delete;
      }
      // Nothing to write: the counter is at its cap, the reason the same, no status change.
      if (m.action == MissAction::count && a.missed_runs == m.missed_runs && a.missing_reason == m.reason) continue;
      judged.push_back(m);
    }
    plan.misses = std::move(judged);

    // Gates. Percentages are of what the database holds; an empty database (the first
    // import) has no percentage to exceed.
    const auto& g = ad.gates;
    auto gate = [&](const char* what, std::size_t n, std::size_t base, std::uint64_t max, double max_pct) {
      if (n == 0) return;
      const double pct = base ? 100.0 * static_cast<double>(n) / static_cast<double>(base) : 0;
      if (n > max)
        plan.gates_tripped.push_back(std::string(what) + ": " + std::to_string(n) + " > max " + std::to_string(max));
      else if (max_pct > 0 && base > 0 && pct > max_pct)
        plan.gates_tripped.push_back(std::string(what) + ": " + std::to_string(n) + " of " + std::to_string(base) + " (" +
                                     std::to_string(static_cast<int>(pct + 0.5)) + "%) > max " +
                                     std::to_string(static_cast<int>(max_pct)) + "%");
    };
    gate("creates", plan.creates.size(), plan.ad_accounts, g.max_creates, g.max_creates_percent);
    // A partial read shows first as many accounts missing at once, long before they are
    // disabled: the disable gate counts both.
    std::size_t disables = 0;
    for (const auto& m : plan.misses)
      if (m.action == MissAction::disable || m.new_miss) ++disables;
    gate("disables", disables, plan.active_ad_accounts, g.max_disables, g.max_disables_percent);
    gate("deletes", plan.count(MissAction::pending_delete), plan.ad_accounts, g.max_deletes, g.max_deletes_percent);
    return std::move(plan);
  }

  const PlanInput& in;
  const AdDbState& db;
  GroupMembers members_of;
  const AdConfig& ad;
  Plan plan;
  std::unordered_map<std::string, std::size_t> by_anchor, by_uid;
  // Addresses and user names claimed in this run, so that two entries cannot take the same one.
  std::unordered_map<std::string, std::string> claimed;
  std::unordered_set<std::string> claimed_uids;
  std::unordered_map<std::uint32_t, std::uint64_t> backend_load;
  std::unordered_set<std::size_t> seen;  // indexes into db.accounts
};

AdPlanner::AdPlanner(const PlanInput& in, const AdDbState& db, GroupMembers members_of)
    : impl_(std::make_unique<Impl>(in, db, std::move(members_of))) {}
AdPlanner::~AdPlanner() = default;
void AdPlanner::add(DirEntry& e) { impl_->add(e); }
const std::vector<PlannedCreate>& AdPlanner::creates() const { return impl_->plan.creates; }
Plan AdPlanner::finish() { return impl_->finish(); }

Plan plan_adsync(const PlanInput& in, const AdDbState& db, std::vector<DirEntry>& entries,
                 const GroupMembers& members_of) {
  AdPlanner planner(in, db, members_of);
  for (DirEntry& e : entries) planner.add(e);
  return planner.finish();
}

}  // namespace mapsync
