// rows.h - the SQL side of the change layer (inside the admin room): turning an entity's
// fields into select expressions, bound values and row lookups. Column and table names
// come from the entity table (entities.cpp), values are always bound.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "libmapsync/admin/admin.h"
#include "libmapsync/db/database.h"

namespace mapsync::admin {

// column = value, for INSERT, UPDATE and key lookups (a member is three of them).
struct Assign {
  std::string column;
  SqlParam value;
};

// The value of field f as the row stores it; refs are resolved (Exit::data naming the
// unknown row, e.g. "unknown back end \"be9\""); a ref to an account is locked
// (FOR UPDATE NOWAIT) when lock is set.
std::vector<Assign> bind_field(Database& db, const Change& c, const Field& f, const std::string& value, bool lock);

// The id of the row c names, or 0. lock: SELECT ... FOR UPDATE NOWAIT (the row read is
// then the latest committed one). row: also the row as row_json() gives it.
std::uint64_t find_row(Database& db, const Change& c, bool lock, nlohmann::ordered_json* row = nullptr);

// Columns 2.. of r, read as "SELECT t.id, select_expr(f)..." of e, as a JSON object.
nlohmann::ordered_json row_from(const Entity& e, const SqlRow& r);

// The row with this id as a JSON object, field name -> value (refs by their key).
nlohmann::ordered_json row_json(Database& db, const Entity& e, std::uint64_t id);

// The SQL expression that shows field f of the row aliased t.
std::string select_expr(const Field& f);

// Runs fn; a lock wait or deadlock (the row or the serial held by another transaction)
// becomes Exit::tempfail naming what, and server refusals (duplicate key, foreign key,
// CHECK constraint) become Exit::data naming what.
void guarded(const std::string& what, const std::function<void()>& fn);

}  // namespace mapsync::admin
