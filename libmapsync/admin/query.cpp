// query.cpp - mapadm's reads: show one row, list rows with filters, the audit log. See admin.h.
#include <nlohmann/json.hpp>

#include "libmapsync/admin/admin.h"
#include "libmapsync/admin/rows.h"
#include "libmapsync/core/error.h"
#include "libmapsync/core/json_format.h"
#include "libmapsync/db/endpoints.h"

namespace mapsync::admin {

using json = nlohmann::ordered_json;

std::string query_rows(const MapsSettings& settings, const Change& q, std::size_t limit) {
  const Entity& e = *q.entity;
  // Admins read their own writes: the writable endpoint, also for reading.
  const auto session = connect_writer(settings.database);
  Database& db = *session;
  json rows = json::array();
  db.execute("START TRANSACTION READ ONLY", "starting the read");
  if (q.verb == Verb::show) {
    json row;
    if (!find_row(db, q, false, &row)) fail(Exit::data, q.what() + ": no such " + std::string(e.name));
    rows.push_back(std::move(row));
  } else {
    // list: FIELD=VALUE filters compare what show prints (refs by their key).
    std::string sql = "SELECT t.id FROM " + std::string(e.table) + " t";
    SqlParams p;
    bool first = true;
    for (const auto& [name, value] : q.fields) {
      const Field& f = *e.field(name);
      sql += std::string(first ? " WHERE " : " AND ") + select_expr(f) + (value.empty() ? " IS NULL" : " = ?");
      if (!value.empty()) {
        if (f.type == FieldType::boolean) p.push_back(std::int64_t{value == "yes" || value == "true" || value == "1"});
        else p.push_back(value);
      }
      first = false;
    }
    sql += " ORDER BY t.id LIMIT " + std::to_string(limit);
    std::vector<std::uint64_t> ids;
    db.query(sql, p, "listing " + std::string(e.table), [&](const SqlRow& r) { ids.push_back(r.u64(1)); });
    for (std::uint64_t id : ids) rows.push_back(row_json(db, e, id));
  }
  db.execute("COMMIT", "ending the read");
  json doc = json_document<json>(json_format::mapadm_rows);
  doc["entity"] = std::string(e.name);
  doc["rows"] = std::move(rows);
  return doc.dump();
}

std::string format_rows(const std::string& rows_json, bool show) {
  const json rows = json::parse(rows_json).at("rows");
  auto text = [](const json& v) {
    if (v.is_null()) return std::string("-");
    if (v.is_string()) return v.get<std::string>();
    if (v.is_boolean()) return std::string(v.get<bool>() ? "yes" : "no");
    return v.dump();
  };
  std::string out;
  if (show) {
    for (const auto& row : rows)
      for (const auto& [k, v] : row.items()) out += k + ": " + text(v) + "\n";
    return out;
  }
  if (rows.empty()) return out;
  bool first = true;
  for (const auto& [k, v] : rows[0].items()) out += (first ? "" : "\t") + k, first = false;
  out += "\n";
  for (const auto& row : rows) {
    first = true;
    for (const auto& [k, v] : row.items()) out += (first ? "" : "\t") + text(v), first = false;
    out += "\n";
  }
  return out;
}

std::string audit_log(const MapsSettings& settings, std::size_t limit, const std::string& object_key) {
  // Admins read their own writes: the writable endpoint, also for reading.
  const auto session = connect_writer(settings.database);
  Database& db = *session;
  json rows = json::array();
  std::string sql =
      "SELECT id, DATE_FORMAT(at, '%Y-%m-%dT%H:%i:%s.%f'), who, host, batch, command, object_table, object_key, action, "
      "before_row, after_row, serial FROM admin_audit";
  SqlParams p;
  if (!object_key.empty()) sql += " WHERE object_key = ?", p.push_back(object_key);
  sql += " ORDER BY id DESC LIMIT " + std::to_string(limit);
  db.query(sql, p, "reading admin_audit", [&](const SqlRow& r) {
    auto parsed = [&](int col) { return r.null(col) ? json(nullptr) : json::parse(r.str(col), nullptr, false); };
    rows.push_back({{"id", r.u64(1)}, {"at", r.str(2)}, {"who", r.str(3)}, {"host", r.str(4)}, {"batch", r.str(5)},
                    {"command", r.str(6)}, {"table", r.str(7)}, {"key", r.str(8)}, {"action", r.str(9)},
                    {"before", parsed(10)}, {"after", parsed(11)}, {"serial", r.u64(12)}});
  });
  json doc = json_document<json>(json_format::mapadm_log);
  doc["rows"] = std::move(rows);
  return doc.dump();
}

}  // namespace mapsync::admin
