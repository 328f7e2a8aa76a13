// rows.cpp - rows of the entities in SQL: bound values, lookups, JSON. See rows.h.
#include "libmapsync/admin/rows.h"

#include <nlohmann/json.hpp>

#include "libmapsync/core/error.h"

namespace mapsync::admin {
namespace {

const char* const kNowait = " FOR UPDATE NOWAIT";

bool has_code(const std::string& msg, int code) {
  return msg.find("(error " + std::to_string(code) + ")") != std::string::npos;
}

std::uint64_t resolve_ref(Database& db, const Change& c, const Field& f, const std::string& value, bool lock) {
  std::uint64_t id = 0;
  const bool lock_it = lock && f.ref_table == "accounts";
  const std::string sql = "SELECT id FROM " + std::string(f.ref_table) + " WHERE " + std::string(f.ref_key) + " = ?" +
                          (lock_it ? kNowait : "");
  guarded(std::string(f.ref_noun) + " " + value, [&] {
    db.query(sql, {value}, "looking up " + std::string(f.ref_noun) + " " + value, [&](const SqlRow& r) { id = r.u64(1); });
  });
  if (!id) fail(Exit::data, (c.origin.empty() ? "" : c.origin + ": ") + c.what() + ": unknown " + std::string(f.ref_noun) + " \"" + value + "\"");
  return id;
}

}  // namespace

void guarded(const std::string& what, const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    const std::string m = e.what();
    if (has_code(m, 1205) || has_code(m, 1213))
      fail(Exit::tempfail, what + ": another change is in progress (a row it needs is locked by another session of "
                                  "mapadm, adsync or mboxsync); nothing was written; try again");
    if (has_code(m, 1062)) fail(Exit::data, what + ": already exists (" + m + ")");
    if (has_code(m, 1451)) fail(Exit::data, what + ": still in use by other rows; change or remove those first (" + m + ")");
    if (has_code(m, 1452) || has_code(m, 4025) || has_code(m, 1048) || has_code(m, 1406) || has_code(m, 1264))
      fail(Exit::data, what + ": refused by the database: " + m);
    throw;
  }
}

std::vector<Assign> bind_field(Database& db, const Change& c, const Field& f, const std::string& value, bool lock) {
  if (f.type == FieldType::member) {
    SqlParam account = nullptr, group = nullptr, address = nullptr;
    if (value.rfind("account:", 0) == 0) {
      static const Field acc = [] {
        Field x;
        x.type = FieldType::ref, x.ref_table = "accounts", x.ref_key = "uid", x.ref_noun = "account";
        return x;
      }();
      account = resolve_ref(db, c, acc, value.substr(8), false);
    } else if (value.rfind("group:", 0) == 0) {
      static const Field grp = [] {
        Field x;
        x.type = FieldType::ref, x.ref_table = "group_aliases", x.ref_key = "address", x.ref_noun = "group";
        return x;
      }();
      group = resolve_ref(db, c, grp, value.substr(6), false);
    } else {
      address = value;
    }
    return {{"member_account_id", account}, {"member_group_id", group}, {"member_address", address}};
  }
  SqlParam v = nullptr;
  if (!value.empty()) {
    switch (f.type) {
      case FieldType::boolean:
        v = std::int64_t{value == "yes" || value == "true" || value == "1"};
        break;
      case FieldType::number: v = static_cast<std::uint64_t>(std::stoull(value)); break;
      case FieldType::ref: v = resolve_ref(db, c, f, value, lock); break;
      default: v = value;
    }
  }
  return {{std::string(f.column), v}};
}

std::uint64_t find_row(Database& db, const Change& c, bool lock, nlohmann::ordered_json* row) {
  const Entity& e = *c.entity;
  std::string sql = "SELECT t.id";
  if (row)
    for (const Field& f : e.fields) sql += ", " + select_expr(f);
  sql += " FROM " + std::string(e.table) + " t WHERE ";
  SqlParams p;
  bool first = true;
  for (std::size_t k = 0; k < e.keys; ++k) {
    for (Assign& a : bind_field(db, c, e.fields[k], c.keys[k], lock)) {
      sql += (first ? "t." : " AND t.") + a.column + " <=> ?";
      p.push_back(std::move(a.value));
      first = false;
    }
  }
  if (lock) sql += kNowait;
  std::uint64_t id = 0;
  guarded(c.what(), [&] {
    db.query(sql, p, "looking up " + c.what(), [&](const SqlRow& r) {
      id = r.u64(1);
      if (row) *row = row_from(e, r);
    });
  });
  return id;
}

std::string select_expr(const Field& f) {
  const std::string col = "t." + std::string(f.column);
  switch (f.type) {
    case FieldType::ref:
      return "(SELECT r." + std::string(f.ref_key) + " FROM " + std::string(f.ref_table) + " r WHERE r.id = " + col + ")";
    case FieldType::member:
      return "COALESCE(CONCAT('account:', (SELECT r.uid FROM accounts r WHERE r.id = t.member_account_id)), "
             "CONCAT('group:', (SELECT r.address FROM group_aliases r WHERE r.id = t.member_group_id)), t.member_address)";
    default: return col;
  }
}

nlohmann::ordered_json row_from(const Entity& e, const SqlRow& r) {
  nlohmann::ordered_json row = nlohmann::ordered_json::object();
  row["id"] = r.u64(1);
  for (std::size_t i = 0; i < e.fields.size(); ++i) {
    const Field& f = e.fields[i];
    const int col = static_cast<int>(i) + 2;
    if (r.null(col)) row[std::string(f.name)] = nullptr;
    else if (f.type == FieldType::boolean) row[std::string(f.name)] = r.u64(col) != 0;
    else if (f.type == FieldType::number) row[std::string(f.name)] = r.u64(col);
    else row[std::string(f.name)] = r.str(col);
  }
  return row;
}

nlohmann::ordered_json row_json(Database& db, const Entity& e, std::uint64_t id) {
  std::string sql = "SELECT t.id";
  for (const Field& f : e.fields) sql += ", " + select_expr(f);
  sql += " FROM " + std::string(e.table) + " t WHERE t.id = ?";
  nlohmann::ordered_json row;  // null when there is no such row
  db.query(sql, {id}, "reading " + std::string(e.table) + " id=" + std::to_string(id),
           [&](const SqlRow& r) { row = row_from(e, r); });
  return row;
}

}  // namespace mapsync::admin
