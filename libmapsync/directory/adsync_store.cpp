// adsync_store.cpp - adsync's reads and writes of the user database.
//
// Every value goes in as a bound parameter. Inserts of new accounts and their addresses
// are batched (many rows per statement): an initial import of tens of thousands of
// accounts would otherwise spend its time in round trips.
#include <algorithm>
#include <span>

#include "libmapsync/directory/adsync.h"
#include "libmapsync/core/casefold.h"
#include "libmapsync/core/error.h"
#include "libmapsync/core/signals.h"
#include "libmapsync/db/database.h"
#include "libmapsync/db/queue.h"

namespace mapsync {
namespace {

constexpr std::size_t kBatch = 500;

std::string hex(const std::string& raw) {
  static const char digits[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : raw) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

std::string unhex(const std::string& h) {
  auto v = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return 0;
  };
  std::string out;
  for (std::size_t i = 0; i + 1 < h.size(); i += 2) out += static_cast<char>(v(h[i]) * 16 + v(h[i + 1]));
  return out;
}

template <class... A>
void add(SqlParams& p, A&&... a) {
  (p.emplace_back(std::forward<A>(a)), ...);
}

SqlParam text_or_null(const std::string& s) { return s.empty() ? SqlParam(nullptr) : SqlParam(s); }

// An ENUM column's value, bound like any other.
template <class E>
SqlParam word(E e) {
  return std::string(to_sql(e));
}

// INSERT head VALUES (row),(row),... tail, kBatch rows a statement.
template <class Items, class Fn>
void insert_batched(Database& db, const std::string& head, const std::string& row, const std::string& tail,
                    const Items& items, Fn bind, const std::string& doing) {
  for (std::size_t i = 0; i < items.size(); i += kBatch) {
    check_interrupted();  // the caller's transaction rolls back
    const std::size_t n = std::min(kBatch, items.size() - i);
    std::string q = head + " VALUES ";
    SqlParams params;
    for (std::size_t j = 0; j < n; ++j) {
      q += (j ? "," : "") + row;
      bind(items[i + j], params);
    }
    db.update(q + tail, params, doing);
  }
}

}  // namespace

void read_ad_db_state(Database& db, AdDbState& out) {
  std::unordered_map<std::uint32_t, std::size_t> index;
  db.query(
      "SELECT a.id, HEX(a.object_guid), a.uid, a.given_name, a.surname, a.display_name, a.primary_address, a.status, "
      "a.source, a.delivery, COALESCE(FLOOR(UNIX_TIMESTAMP(a.status_changed_at)), 0), s.account_id IS NOT NULL, s.dn, "
      "s.usn_changed, s.missed_runs, s.missing_reason, COALESCE(FLOOR(UNIX_TIMESTAMP(s.missing_since)), 0) "
      "FROM accounts a LEFT JOIN ad_account_state s ON s.account_id = a.id ORDER BY a.id",
      {}, "reading accounts", [&](const SqlRow& r) {
        DbAccount a;
        a.id = static_cast<std::uint32_t>(r.u64(1));
        a.anchor = unhex(r.str(2));
        a.uid = r.str(3);
        a.given_name = r.str(4);
        a.surname = r.str(5);
        a.display_name = r.str(6);
        a.primary_address = r.str(7);
        a.status = parse_sql<AccountStatus>(r.view(8));
        a.source = parse_sql<AccountSource>(r.view(9));
        a.delivery = parse_sql<Delivery>(r.view(10));
        a.status_changed_at = static_cast<std::int64_t>(r.u64(11));
        a.has_state = r.u64(12) != 0;
        a.dn = r.str(13);
        a.usn_changed = r.u64(14);
        a.missed_runs = static_cast<unsigned>(r.u64(15));
        a.missing_reason = r.str(16);
        a.missing_since = static_cast<std::int64_t>(r.u64(17));
        out.addresses[fold_key(a.primary_address)] = {a.id, "account " + a.uid};
        index[a.id] = out.accounts.size();
        out.accounts.push_back(std::move(a));
      });
  db.query("SELECT account_id, address, kind FROM addresses", {}, "reading addresses", [&](const SqlRow& r) {
    const auto id = static_cast<std::uint32_t>(r.u64(1));
    auto it = index.find(id);
    if (it == index.end()) return;
    DbAccount& a = out.accounts[it->second];
    const std::string address = r.str(2);
    out.addresses[fold_key(address)] = {id, "account " + a.uid};
    if (r.str(3) == "proxy") a.proxy_addresses.push_back(address);
  });
  db.query("SELECT address FROM group_aliases", {}, "reading group aliases",
           [&](const SqlRow& r) { out.addresses[fold_key(r.str(1))] = {0, "group alias " + r.str(1)}; });
  db.query("SELECT address FROM mailing_lists", {}, "reading mailing lists",
           [&](const SqlRow& r) { out.addresses[fold_key(r.str(1))] = {0, "mailing list " + r.str(1)}; });
  db.query("SELECT name FROM domains WHERE kind IN (?, ?) AND enabled", {word(DomainKind::local), word(DomainKind::alias)},
           "reading domains", [&](const SqlRow& r) { out.domains.insert(fold_key(r.str(1))); });
  out.backends = read_backends(db, BackendLoad::assigned_accounts);
}

DcState read_dc_state(Database& db, const std::string& dc_key) {
  DcState dc;
  db.query(
      "SELECT invocation_id, highest_usn, scope_digest, COALESCE(FLOOR(UNIX_TIMESTAMP(last_full_at)), 0) "
      "FROM ad_dc_state WHERE dc_key = ?",
      {dc_key}, "reading the DC's state", [&](const SqlRow& r) {
        dc.present = true;
        dc.invocation_id = r.str(1);
        dc.highest_usn = r.u64(2);
        dc.scope_digest = r.str(3);
        dc.last_full_at = static_cast<std::int64_t>(r.u64(4));
      });
  return dc;
}

std::uint64_t begin_ad_audit(Database& db, const RunInfo& info, SyncMode mode) {
  db.update(
      "INSERT INTO ad_sync_runs (started_at, host, os_user, bound_as, dc, mode, result, entries, creates, updates, "
      "renames, disables, enables, pending_deletes, misses, conflicts, plan) "
      "VALUES (FROM_UNIXTIME(?), ?, ?, ?, ?, ?, 'no-change', 0, 0, 0, 0, 0, 0, 0, 0, 0, '{}')",
      {static_cast<std::int64_t>(info.started), info.host, info.os_user, info.bound_as, info.dc,
       std::string(mode == SyncMode::full ? "full" : "incremental")},
      "writing the audit row");
  std::uint64_t run_id = 0;
  db.query("SELECT LAST_INSERT_ID()", {}, "reading the audit row's id", [&](const SqlRow& r) { run_id = r.u64(1); });
  return run_id;
}

void write_ad_creates(Database& db, const std::vector<PlannedCreate>& all, std::size_t from, std::size_t to,
                      std::uint64_t run_id) {
  if (from >= to) return;
  const std::span<const PlannedCreate> chunk(all.data() + from, to - from);
  // New accounts, then their ids by GUID, then addresses, AD state and mailbox jobs.
  insert_batched(
      db,
      "INSERT INTO accounts (uid, object_guid, given_name, surname, display_name, primary_address, status, delivery, "
      "backend_id, smtp_nexthop, quota_mb, source, status_changed_at)",
      "(?, UNHEX(?), ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NOW())", "", chunk,
      [](const PlannedCreate& c, SqlParams& p) {
        add(p, c.w.uid, hex(c.w.anchor), text_or_null(c.w.given_name), text_or_null(c.w.surname),
            text_or_null(c.w.display_name), c.w.primary_address, word(AccountStatus::active), word(c.delivery),
            c.backend_id ? SqlParam(static_cast<std::uint64_t>(c.backend_id)) : SqlParam(nullptr),
            text_or_null(c.smtp_nexthop), c.quota_mb ? SqlParam(static_cast<std::uint64_t>(c.quota_mb)) : SqlParam(nullptr),
            word(AccountSource::ad));
      },
      "creating accounts");
  // Ids by user name (unique, and an index MariaDB uses with plain string parameters;
  // object_guid IN (UNHEX(?), ...) made it scan the table once per batch).
  std::unordered_map<std::string, std::uint32_t> new_ids;  // anchor -> id
  for (std::size_t i = 0; i < chunk.size(); i += kBatch) {
    const std::size_t n = std::min(kBatch, chunk.size() - i);
    std::string q = "SELECT id, uid FROM accounts WHERE uid IN (";
    SqlParams p;
    std::unordered_map<std::string, const std::string*> anchor_of;
    for (std::size_t j = 0; j < n; ++j) {
      const PlannedCreate& c = chunk[i + j];
      q += j ? ",?" : "?";
      p.push_back(c.w.uid);
      anchor_of[fold_key(c.w.uid)] = &c.w.anchor;
    }
    db.query(q + ")", p, "reading the new accounts' ids", [&](const SqlRow& r) {
      if (auto it = anchor_of.find(fold_key(r.str(2))); it != anchor_of.end())
        new_ids[*it->second] = static_cast<std::uint32_t>(r.u64(1));
    });
  }
  struct NewAddress {
    std::uint32_t id;
    const std::string* address;
  };
  std::vector<NewAddress> addresses;
  std::vector<const PlannedCreate*> creates;
  std::vector<NewJob> jobs;
  for (const auto& c : chunk) {
    creates.push_back(&c);
    if (c.delivery == Delivery::cyrus) jobs.push_back({new_ids.at(c.w.anchor), JobKind::create, "", c.w.uid, run_id});
    for (const auto& a : c.w.aliases) addresses.push_back({new_ids.at(c.w.anchor), &a});
  }
  insert_batched(db, "INSERT INTO addresses (account_id, address, kind)", "(?, ?, 'proxy')", "", addresses,
                 [](const NewAddress& a, SqlParams& p) {
                   add(p, static_cast<std::uint64_t>(a.id), *a.address);
                 },
                 "adding the new accounts' addresses");
  insert_batched(db, "INSERT INTO ad_account_state (account_id, dn, usn_changed)", "(?, ?, ?)", "", creates,
                 [&](const PlannedCreate* c, SqlParams& p) {
                   add(p, static_cast<std::uint64_t>(new_ids.at(c->w.anchor)), c->w.dn, c->w.usn_changed);
                 },
                 "recording the new accounts' AD state");
  enqueue(db, jobs, "queueing mailbox creation");
}

namespace {

// One account's update. Addresses that go are deleted first, so that a primary and an
// alias can swap.
void write_update(Database& db, const PlannedUpdate& u, std::uint64_t run_id) {
  const auto id = static_cast<std::uint64_t>(u.account_id);
  const std::string doing = "updating account " + std::to_string(u.account_id) + " (" + u.uid + ")";
  for (const auto& a : u.remove_aliases)
    db.update("DELETE FROM addresses WHERE account_id = ? AND address = ? AND kind = 'proxy'", {id, a}, doing);
  if (!u.changes.empty()) {
    std::string q = "UPDATE accounts SET ";
    SqlParams p;
    for (const FieldChange& c : u.changes) {
      if (p.size()) q += ", ";
      if (c.field == "object_guid") {
        q += "object_guid = UNHEX(?)";
        p.push_back(hex(u.w.anchor));
      } else if (c.field == "status") {
        q += "status = ?, status_changed_at = NOW()";
        p.push_back(c.after);
      } else {
        // Field names come from the planner's fixed list, never from data.
        q += c.field + " = ?";
        p.push_back(c.field == "uid" || c.field == "primary_address" ? SqlParam(c.after) : text_or_null(c.after));
      }
    }
    p.push_back(id);
    p.push_back(word(AccountSource::ad));
    db.update(q + " WHERE id = ? AND source = ?", p, doing);
  }
  for (const auto& a : u.add_aliases)
    db.update("INSERT INTO addresses (account_id, address, kind) VALUES (?, ?, 'proxy')", {id, a}, doing);
  if (u.rename && u.cyrus)
    enqueue(db, {{u.account_id, JobKind::rename, u.uid, u.w.uid, run_id}}, doing + ": queueing the mailbox rename");
}

}  // namespace

void apply_ad_plan(Database& db, const Plan& plan, const RunInfo& info, const std::string& plan_json,
                   std::uint64_t run_id, std::size_t creates_written) {
  write_ad_creates(db, plan.creates, creates_written, plan.creates.size(), run_id);

  for (const PlannedUpdate& u : plan.updates) write_update(db, u, run_id);

  // AD bookkeeping, then misses (which may disable).
  for (bool reset : {false, true}) {
    std::vector<const StateUpdate*> batch;
    for (const auto& s : plan.state_updates)
      if (s.reset_misses == reset) batch.push_back(&s);
    insert_batched(db, "INSERT INTO ad_account_state (account_id, dn, usn_changed)", "(?, ?, ?)",
                   reset ? " ON DUPLICATE KEY UPDATE dn = VALUES(dn), usn_changed = VALUES(usn_changed), missed_runs = 0, "
                           "missing_reason = NULL, missing_since = NULL"
                         : " ON DUPLICATE KEY UPDATE dn = VALUES(dn), usn_changed = VALUES(usn_changed)",
                   batch,
                   [](const StateUpdate* s, SqlParams& p) {
                     add(p, static_cast<std::uint64_t>(s->account_id), s->dn, s->usn_changed);
                   },
                   "recording where accounts are in AD");
  }
  insert_batched(db, "INSERT INTO ad_account_state (account_id, missed_runs, missing_reason, missing_since)",
                 "(?, ?, ?, NOW())",
                 " ON DUPLICATE KEY UPDATE missed_runs = VALUES(missed_runs), missing_reason = VALUES(missing_reason), "
                 "missing_since = COALESCE(missing_since, VALUES(missing_since))",
                 plan.misses,
                 [](const PlannedMiss& m, SqlParams& p) {
                   add(p, static_cast<std::uint64_t>(m.account_id), static_cast<std::uint64_t>(m.missed_runs),
                                      m.reason);
                 },
                 "counting accounts missing from AD");
  // Each step of the lifecycle only from the step before it (a postmaster's change in
  // between wins).
  for (const PlannedMiss& m : plan.misses) {
    const auto id = static_cast<std::uint64_t>(m.account_id);
    const char* set_status =
        "UPDATE accounts SET status = ?, status_changed_at = NOW() WHERE id = ? AND source = ? AND status = ?";
    if (m.action == MissAction::disable)
      db.update(set_status, {word(AccountStatus::disabled), id, word(AccountSource::ad), word(AccountStatus::active)},
                "disabling account " + m.uid);
    else if (m.action == MissAction::pending_delete)
      db.update(set_status,
                {word(AccountStatus::pending_delete), id, word(AccountSource::ad), word(AccountStatus::disabled)},
                "marking account " + m.uid + " pending-delete");
  }

  db.update(
      "UPDATE ad_sync_runs SET finished_at = NOW(6), result = ?, entries = ?, creates = ?, updates = ?, renames = ?, "
      "disables = ?, enables = ?, pending_deletes = ?, misses = ?, conflicts = ?, plan = ? WHERE id = ?",
      {std::string(plan.changes_accounts() ? "applied" : "no-change"), static_cast<std::uint64_t>(plan.entries),
       static_cast<std::uint64_t>(plan.creates.size()), static_cast<std::uint64_t>(plan.updates.size()),
       static_cast<std::uint64_t>(plan.count_renames()), static_cast<std::uint64_t>(plan.count(MissAction::disable)),
       static_cast<std::uint64_t>(plan.count_enables()), static_cast<std::uint64_t>(plan.count(MissAction::pending_delete)),
       static_cast<std::uint64_t>(plan.misses.size()), static_cast<std::uint64_t>(plan.conflicts.size()), plan_json, run_id},
      "completing the audit row");
  if (info.record_dc_state) {
    const bool full = plan.mode == SyncMode::full;
    db.update(
        "INSERT INTO ad_dc_state (dc_key, invocation_id, dns_host_name, highest_usn, scope_digest, last_full_at, last_run_at) "
        "VALUES (?, ?, ?, ?, ?, IF(?, NOW(6), NULL), NOW(6)) ON DUPLICATE KEY UPDATE invocation_id = VALUES(invocation_id), "
        "dns_host_name = VALUES(dns_host_name), highest_usn = VALUES(highest_usn), scope_digest = VALUES(scope_digest), "
        "last_full_at = COALESCE(VALUES(last_full_at), last_full_at), last_run_at = VALUES(last_run_at)",
        {info.dc_key, info.dc_info.invocation_id, info.dc_info.dns_host_name, info.dc_info.highest_usn, info.scope_digest,
         static_cast<std::int64_t>(full ? 1 : 0)},
        "recording the DC's USN");
  }
}

}  // namespace mapsync
