// change.cpp - applies a batch of changes in one transaction, validated by the build's
// renderer before COMMIT, audited in admin_audit. See admin.h.
#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <unordered_set>

#include <nlohmann/json.hpp>

#include "libmapsync/admin/admin.h"
#include "libmapsync/admin/rows.h"
#include "libmapsync/core/error.h"
#include "libmapsync/core/json_format.h"
#include "libmapsync/db/endpoints.h"
#include "libmapsync/core/log.h"
#include "libmapsync/core/testhooks.h"
#include "libmapsync/db/queue.h"
#include "libmapsync/maps/build.h"
#include "libmapsync/maps/preview.h"

namespace mapsync::admin {
namespace {

using json = nlohmann::ordered_json;

struct Who {
  std::string user, host, batch;
};

std::string new_uuid() {
  std::string u;
  std::ifstream in("/proc/sys/kernel/random/uuid");
  std::getline(in, u);
  if (u.size() != 36) fail(Exit::oserr, "cannot read /proc/sys/kernel/random/uuid for the batch id");
  return u;
}

// SUDO_USER when run through sudo (the admin, not root), else the login name of the uid.
Who who_am_i() {
  Who w;
  if (const char* s = std::getenv("SUDO_USER"); s && *s) w.user = s;
  else if (const passwd* pw = ::getpwuid(::getuid())) w.user = pw->pw_name;
  else w.user = "uid " + std::to_string(::getuid());
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) == 0) w.host = host;
  w.batch = new_uuid();
  return w;
}

std::string where(const Change& c) { return (c.origin.empty() ? "" : c.origin + ": ") + c.what(); }

// The fields a change writes: enable and disable are status or enabled.
std::vector<std::pair<std::string, std::string>> fields_of(const Change& c) {
  if (c.verb != Verb::enable && c.verb != Verb::disable) return c.fields;
  const bool on = c.verb == Verb::enable;
  if (c.entity->field("status")) return {{"status", on ? "active" : "disabled"}};
  return {{"enabled", on ? "1" : "0"}};
}

std::string json_text(const json& j, const std::string& key) {
  if (!j.is_object() || !j.contains(key) || j[key].is_null()) return "";
  if (j[key].is_string()) return j[key].get<std::string>();
  if (j[key].is_boolean()) return j[key].get<bool>() ? "1" : "0";
  return j[key].dump();
}

bool same_value(const Field& f, const std::string& now, const std::string& given) {
  if (f.type == FieldType::boolean) {
    const bool g = given == "yes" || given == "true" || given == "1";
    return (now == "1") == g;
  }
  return now == given;
}

// adsync owns some fields of source 'ad' accounts and their proxy addresses.
void check_ad(Database& db, const Change& c, const json& before) {
  const std::string managed = "managed by adsync from Active Directory; change it in AD";
  if (c.entity->ad == AdRule::account && json_text(before, "source") == "ad") {
    if (c.verb == Verb::remove)
      fail(Exit::data, where(c) + ": the account is " + managed + " (adsync disables and retires it)");
    for (const auto& [name, value] : fields_of(c)) {
      const Field& f = *c.entity->field(name);
      if (f.ad_managed && !same_value(f, json_text(before, name), value))
        fail(Exit::data, where(c) + ": field " + name + " is " + managed);
    }
  }
  if (c.entity->ad != AdRule::proxy_address) return;
  auto account_source = [&](const std::string& uid) {
    std::string s;
    db.query("SELECT source FROM accounts WHERE uid = ?", {uid}, "reading account " + uid,
             [&](const SqlRow& r) { s = r.str(1); });
    return s;
  };
  if (json_text(before, "kind") == "proxy" && account_source(json_text(before, "account")) == "ad")
    fail(Exit::data, where(c) + ": a proxy address of account " + json_text(before, "account") + " is " + managed);
  std::string kind = json_text(before, "kind"), account = json_text(before, "account");
  for (const auto& [name, value] : c.fields) {
    if (name == "kind") kind = value;
    if (name == "account") account = value;
  }
  if (kind == "proxy" && account_source(account) == "ad")
    fail(Exit::data, where(c) + ": proxy addresses of account " + account + " are " + managed);
}

// Where a mailbox lives is a fact mboxsync records (back end, partition, provisioned_at):
// changing it for a provisioned Cyrus account would route its mail to a server without
// its mailbox. Mailbox moves are not implemented (provisioning_jobs 'move' is not worked).
void check_placement(Database& db, const Change& c, const json& before, std::uint64_t id) {
  if (c.entity->ad != AdRule::account || c.verb != Verb::set || json_text(before, "delivery") != "cyrus") return;
  for (const auto& [name, value] : c.fields) {
    if ((name != "backend" && name != "partition") || json_text(before, name) == value) continue;
    bool provisioned = false;
    db.query("SELECT provisioned_at IS NOT NULL FROM accounts WHERE id = ?", {id}, "reading the account's mailbox state",
             [&](const SqlRow& r) { provisioned = r.u64(1) != 0; });
    if (provisioned)
      fail(Exit::data, where(c) + ": field " + name + ": the mailbox exists on back end " + json_text(before, "backend") +
                           " (partition " + json_text(before, "partition") +
                           "); moving a mailbox is not supported, and changing the record alone would send its mail "
                           "where it is not");
  }
}

// Mailboxes, as adsync does for the accounts it writes: an account that becomes a Cyrus
// account without a mailbox yet gets a create job, a provisioned Cyrus account whose uid
// changes a rename job; mboxsync works them off (db/queue.h).
void queue_mailbox_jobs(Database& db, const Change& c, const json& before, const json& after, std::uint64_t id) {
  if (c.entity->ad != AdRule::account || after.is_null()) return;
  if (json_text(after, "delivery") != "cyrus") return;
  bool provisioned = false;
  db.query("SELECT provisioned_at IS NOT NULL FROM accounts WHERE id = ?", {id}, "reading the account's mailbox state",
           [&](const SqlRow& r) { provisioned = r.u64(1) != 0; });
  const auto aid = static_cast<std::uint32_t>(id);
  const std::string uid = json_text(after, "uid"), old_uid = json_text(before, "uid");
  if (!provisioned && json_text(before, "delivery") != "cyrus")
    enqueue(db, {{aid, JobKind::create, "", uid, 0}}, where(c) + ": queueing the mailbox");
  else if (provisioned && !old_uid.empty() && old_uid != uid)
    enqueue(db, {{aid, JobKind::rename, old_uid, uid, 0}}, where(c) + ": queueing the mailbox rename");
}

class Batch {
 public:
  Batch(Database& db, const AdminOptions& o) : db_(db), o_(o), who_(who_am_i()) {}
  const Who& who() const { return who_; }

  ChangeResult apply(const Change& c) {
    ChangeResult r;
    r.entity = c.entity->name;
    r.table = c.entity->table;
    for (const auto& k : c.keys) r.key += (r.key.empty() ? "" : " ") + k;
    std::uint64_t id = 0;
    json before = nullptr, after = nullptr;
    guarded(where(c), [&] {
      id = find_row(db_, c, c.verb != Verb::add, c.verb == Verb::add ? nullptr : &before);
      if (c.verb == Verb::add && id) fail(Exit::data, where(c) + ": already exists");
      if (c.verb != Verb::add && !id) fail(Exit::data, where(c) + ": no such " + std::string(c.entity->name));
      check_ad(db_, c, before);
      check_placement(db_, c, before, id);
      if (c.verb == Verb::add) id = insert(c);
      else if (c.verb == Verb::remove) remove(c, id);
      else update(c, id);
      if (c.verb != Verb::remove) after = row_json(db_, *c.entity, id);
      queue_mailbox_jobs(db_, c, before, after, id);
    });
    r.action = c.verb == Verb::add ? "create" : c.verb == Verb::remove ? "delete" : "update";
    r.before_json = before.dump();
    r.after_json = after.dump();
    db_.scalar("SELECT serial FROM change_serial WHERE id = 1", "reading the change serial", r.serial);
    db_.update(
        "INSERT INTO admin_audit (who, host, batch, command, object_table, object_key, action, before_row, after_row, "
        "serial) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        {who_.user, who_.host, who_.batch, (o_.command_prefix + c.command()).substr(0, 1000), r.table, r.key, r.action,
         before.is_null() ? SqlParam(nullptr) : SqlParam(r.before_json),
         after.is_null() ? SqlParam(nullptr) : SqlParam(r.after_json), r.serial},
        where(c) + ": writing the audit row");
    return r;
  }

 private:
  std::uint64_t insert(const Change& c) {
    const Entity& e = *c.entity;
    std::vector<Assign> all;
    for (std::size_t k = 0; k < e.keys; ++k)
      for (Assign& a : bind_field(db_, c, e.fields[k], c.keys[k], true)) all.push_back(std::move(a));
    for (const auto& [name, value] : c.fields)
      for (Assign& a : bind_field(db_, c, *e.field(name), value, true)) all.push_back(std::move(a));
    std::string cols, marks;
    SqlParams p;
    for (Assign& a : all) {
      cols += (cols.empty() ? "" : ", ") + a.column;
      marks += marks.empty() ? "?" : ", ?";
      p.push_back(std::move(a.value));
    }
    db_.update("INSERT INTO " + std::string(e.table) + " (" + cols + ") VALUES (" + marks + ")", p, "adding " + where(c));
    std::uint64_t id = 0;
    db_.scalar("SELECT LAST_INSERT_ID()", "reading the new row's id", id);
    return id;
  }

  void update(const Change& c, std::uint64_t id) {
    const auto fields = fields_of(c);
    if (fields.empty()) fail(Exit::usage, where(c) + ": nothing to set (give FIELD=VALUE)");
    std::string sets;
    SqlParams p;
    // As adsync does: the lifecycle clock restarts with a status change. First in the SET
    // list: MariaDB assigns left to right, and later expressions see the new status.
    for (const auto& [name, value] : fields)
      if (name == "status") sets = "status_changed_at = IF(status <=> ?, status_changed_at, NOW())", p.push_back(value);
    for (const auto& [name, value] : fields) {
      for (Assign& a : bind_field(db_, c, *c.entity->field(name), value, true)) {
        sets += (sets.empty() ? "" : ", ") + a.column + " = ?";
        p.push_back(std::move(a.value));
      }
    }
    p.push_back(id);
    db_.update("UPDATE " + std::string(c.entity->table) + " SET " + sets + " WHERE id = ?", p, "changing " + where(c));
  }

  void remove(const Change& c, std::uint64_t id) {
    db_.update("DELETE FROM " + std::string(c.entity->table) + " WHERE id = ?", {id}, "removing " + where(c));
  }

  Database& db_;
  const AdminOptions& o_;
  Who who_;
};

std::string text_of(const Finding& x) { return (x.map.empty() ? "" : x.map + ": ") + x.message; }

// The findings the change brings, printed as a build prints them: any new error refuses
// it (Exit::data). Errors the database had before the change do not: a build refuses
// them anyway, and an admin must be able to fix one of several. Returns the new warnings.
std::size_t judge(const Findings& before, const Findings& after) {
  std::unordered_set<std::string> old_errors, old_warnings;
  for (const Finding& x : before.all()) (x.severity == Finding::error ? old_errors : old_warnings).insert(text_of(x));
  Findings fresh;
  std::size_t kept = 0;
  std::string first;
  for (const Finding& x : after.all()) {
    if (x.severity == Finding::error) {
      if (old_errors.count(text_of(x))) {
        ++kept;
        continue;
      }
      if (first.empty()) first = text_of(x);
      fresh.error(x.map, x.message);
    } else if (!old_warnings.count(text_of(x))) {
      fresh.warning(x.map, x.message);
    }
  }
  report_findings(fresh);
  if (fresh.errors())
    fail(Exit::data, "refused: `mapsync build` would refuse the database after this change (" +
                         std::to_string(fresh.errors()) + " new error" + (fresh.errors() == 1 ? "" : "s") +
                         ", first: " + first + "); nothing was written");
  if (kept)
    log::warning("the database already has " + std::to_string(kept) + " error" + (kept == 1 ? "" : "s") +
                 " that make `mapsync build` refuse it, not caused by this change (`mapsync check` lists them)");
  return fresh.warnings();
}

}  // namespace

AdminReport apply_changes(const MapsSettings& settings, const std::vector<Change>& changes, const AdminOptions& o) {
  AdminReport rep;
  rep.dry_run = o.dry_run;
  const auto session = connect_writer(settings.database);
  Database& db = *session;
  // Waiting for a row another admin holds is never useful: NOWAIT refuses at once; a
  // wait on the change serial (another batch writing) ends after a few seconds.
  db.execute("SET SESSION innodb_lock_wait_timeout = 10", "setting the lock wait");
  db.execute("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ", "setting the isolation level");
  Transaction tx(db, "starting the change");
  // The maps before the first write: their findings are the database's own, not the
  // change's; with --dry-run their content is the left side of the diff.
  RenderedMaps before, after;
  Findings found_before;
  render_in_transaction(db, settings, found_before, o.dry_run ? &before : nullptr);
  Batch batch(db, o);
  rep.batch = batch.who().batch;
  for (const Change& c : changes) rep.changes.push_back(batch.apply(c));
  Findings findings;
  render_in_transaction(db, settings, findings, o.dry_run ? &after : nullptr);
  rep.warnings = judge(found_before, findings);
  db.scalar("SELECT serial FROM change_serial WHERE id = 1", "reading the change serial", rep.serial);
  if (o.dry_run) {
    rep.diff = diff_rendered(before, after);
    tx.rollback("rolling back the dry run");
    return rep;
  }
  testhook::pause_point("admin.before_commit", "batch " + rep.batch + " serial " + std::to_string(rep.serial));
  tx.commit("committing the change");
  rep.committed = true;
  log::info("batch " + rep.batch + ": " + std::to_string(rep.changes.size()) + " change(s) committed, serial " +
            std::to_string(rep.serial));
  return rep;
}

std::string format_report(const AdminReport& r, bool as_json) {
  if (as_json) {
    json j = json_document<json>(json_format::mapadm_change);
    j.update({{"batch", r.batch}, {"dry_run", r.dry_run}, {"committed", r.committed}, {"serial", r.serial},
              {"new_warnings", r.warnings}, {"changes", json::array()}});
    for (const auto& c : r.changes)
      j["changes"].push_back({{"entity", c.entity}, {"table", c.table}, {"key", c.key}, {"action", c.action},
                              {"before", json::parse(c.before_json)}, {"after", json::parse(c.after_json)},
                              {"serial", c.serial}});
    // The maps of a mapsync.diff document, without its own format and kind.
    if (r.dry_run) j["diff"] = json::parse(format_diff_json(r.diff, json_format::mapsync_diff))["maps"];
    return j.dump(2) + "\n";
  }
  std::string out;
  if (r.changes.size() <= 50)
    for (const auto& c : r.changes) out += c.entity + " " + c.key + ": " + c.action + "\n";
  out += (r.dry_run ? "dry run: " : "") + std::to_string(r.changes.size()) + " change(s)" +
         (r.dry_run ? ", rolled back; the maps would change so:\n" : ", committed, serial " + std::to_string(r.serial) + "\n");
  if (r.dry_run) out += format_diff(r.diff);
  return out;
}

}  // namespace mapsync::admin
