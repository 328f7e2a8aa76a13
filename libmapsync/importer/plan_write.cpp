// plan_write.cpp - an ImportPlan into the database in multi-row INSERTs. See plan_write.h.
#include "libmapsync/importer/plan_write.h"

#include <unordered_map>

#include "libmapsync/core/casefold.h"
#include "libmapsync/importer/ident.h"

namespace mapsync {
namespace {

// INSERT INTO table (cols) VALUES (row),(row),...: one statement per kRows rows; a row's
// text may hold subselects (its placeholders are bound in order).
constexpr std::size_t kRows = 500;

class Batch {
 public:
  Batch(Database& db, std::string head, std::string row, std::string doing, std::string tail = "")
      : db_(db), head_(std::move(head)), row_(std::move(row)), doing_(std::move(doing)), tail_(std::move(tail)) {}
  ~Batch() = default;
  void add(SqlParams row) {
    params_.insert(params_.end(), std::make_move_iterator(row.begin()), std::make_move_iterator(row.end()));
    if (++rows_ == kRows) flush();
  }
  std::size_t flush() {
    if (rows_ == 0) return total_;
    std::string sql = head_ + " VALUES ";
    for (std::size_t i = 0; i < rows_; ++i) sql += (i ? "," : "") + row_;
    sql += tail_;
    db_.update(sql, params_, doing_);
    total_ += rows_;
    rows_ = 0;
    params_.clear();
    return total_;
  }

 private:
  Database& db_;
  std::string head_, row_, doing_, tail_;
  SqlParams params_;
  std::size_t rows_ = 0, total_ = 0;
};

std::unordered_map<std::string, std::int64_t> ids_by(Database& db, const std::string& sql, const std::string& doing) {
  std::unordered_map<std::string, std::int64_t> out;
  db.each_row(sql, doing, [&](const SqlRow& r) { out[fold_key(r.view(2))] = static_cast<std::int64_t>(r.u64(1)); });
  return out;
}

SqlParam text_or_null(const std::string& s) { return s.empty() ? SqlParam(nullptr) : SqlParam(s); }

void write_domains_backends(Database& db, const ImportPlan& plan, WriteCounts& n) {
  // A back end of the same name that exists already is used as it is.
  Batch b(db, "INSERT INTO backends (name, lmtp_host, lmtp_port, imap_host)", "(?,?,?,?)", "importing backends",
          " ON DUPLICATE KEY UPDATE id = id");
  for (const PlanBackend& x : plan.backends) b.add({x.name, x.host, std::uint64_t{x.port}, x.host});
  n.backends = b.flush();
  Batch d(db, "INSERT INTO domains (name, kind, transport, enabled)", "(?,?,?,?)", "importing domains");
  for (const PlanDomain& x : plan.domains)
    if (x.kind != "alias") d.add({x.name, x.kind, text_or_null(x.transport), std::uint64_t{x.enabled}});
  n.domains = d.flush();
  for (const PlanDomain& x : plan.domains)
    if (x.kind == "alias") {
      db.update("INSERT INTO domains (name, kind, target_domain_id, enabled) SELECT ?, 'alias', id, ? FROM domains WHERE name = ?",
                {x.name, std::uint64_t{x.enabled}, x.target}, "importing alias domain " + x.name);
      ++n.domains;
    }
}

void write_accounts(Database& db, const ImportPlan& plan, WriteCounts& n) {
  Batch a(db,
          "INSERT INTO accounts (uid, primary_address, status, delivery, backend_id, smtp_nexthop, keep_copy, "
          "display_name, quota_mb, source)",
          "(?,?,?,?,(SELECT id FROM backends WHERE name = ?),?,?,?,?,'manual')", "importing accounts");
  for (const PlanAccount& x : plan.accounts)
    a.add({x.uid, x.primary, std::string(x.active ? "active" : "disabled"), x.delivery, text_or_null(x.backend),
           text_or_null(x.nexthop), std::uint64_t{x.keep_copy}, text_or_null(x.display_name),
           x.quota_mb ? SqlParam(x.quota_mb) : SqlParam(nullptr)});
  n.accounts = a.flush();
  const auto ids = ids_by(db, "SELECT id, primary_address FROM accounts", "reading imported accounts");
  Batch ad(db, "INSERT INTO addresses (account_id, address, kind)", "(?,?,'alias')", "importing addresses");
  for (const PlanAddress& x : plan.addresses) ad.add({ids.at(fold_key(x.account)), x.address});
  n.addresses = ad.flush();
  Batch f(db, "INSERT INTO account_forwards (account_id, target)", "(?,?)", "importing forwards");
  for (const PlanAccount& x : plan.accounts)
    for (const std::string& t : x.forwards) f.add({ids.at(fold_key(x.primary)), t});
  n.forwards = f.flush();
}

void write_groups(Database& db, const ImportPlan& plan, WriteCounts& n) {
  Batch g(db, "INSERT INTO group_aliases (address, enabled)", "(?,?)", "importing groups");
  for (const PlanGroup& x : plan.groups) g.add({x.address, std::uint64_t{x.enabled}});
  n.groups = g.flush();
  if (plan.groups.empty()) return;
  const auto accounts = ids_by(db, "SELECT id, primary_address FROM accounts", "reading imported accounts");
  const auto groups = ids_by(db, "SELECT id, address FROM group_aliases", "reading imported groups");
  // Groups are found by their ident (folded, A-label domain) as members name them.
  std::unordered_map<std::string, std::int64_t> group_ids;
  for (const PlanGroup& x : plan.groups) group_ids[ident(x.address)] = groups.at(fold_key(x.address));
  Batch m(db, "INSERT INTO group_members (group_id, member_account_id, member_group_id, member_address)", "(?,?,?,?)",
          "importing group members");
  for (const PlanGroup& x : plan.groups) {
    const std::int64_t gid = groups.at(fold_key(x.address));
    for (const PlanMember& mb : x.members) {
      if (mb.kind == PlanMember::account) m.add({gid, accounts.at(fold_key(mb.value)), nullptr, nullptr});
      else if (mb.kind == PlanMember::group) m.add({gid, nullptr, group_ids.at(mb.value), nullptr});
      else m.add({gid, nullptr, nullptr, mb.value});
    }
  }
  n.members = m.flush();
}

}  // namespace

WriteCounts write_plan(Database& db, const ImportPlan& plan) {
  WriteCounts n;
  write_domains_backends(db, plan, n);
  write_accounts(db, plan, n);
  write_groups(db, plan, n);
  Batch c(db, "INSERT INTO canonical_rewrites (source, target)", "(?,?)", "importing canonical rewrites");
  for (const PlanPair& x : plan.canonical) c.add({x.key, x.value});
  n.canonical = c.flush();
  Batch s(db, "INSERT INTO system_aliases (name, targets, all_domains)", "(?,?,0)", "importing system aliases");
  for (const PlanPair& x : plan.system_aliases) s.add({x.key, x.value});
  n.system_aliases = s.flush();
  Batch t(db, "INSERT INTO transport_overrides (pattern, transport)", "(?,?)", "importing transport overrides");
  for (const PlanPair& x : plan.transport_overrides) t.add({x.key, x.value});
  n.transport_overrides = t.flush();
  return n;
}

}  // namespace mapsync
