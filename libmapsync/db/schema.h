// schema.h - the schema versions this build knows, embedded from schema/NNN_*.sql.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace mapsync {

struct Migration {
  unsigned version;
  const char* name;  // "001_initial"
  const char* sql;
};

// Generated at build time by cmake/embed_schema.cmake, ordered by version.
const std::vector<Migration>& embedded_migrations();

// The oldest schema version whose programs can still use a database after m: the line
// "-- compatible-from: N" in its header, or m's own version.
unsigned migration_compatible_from(const Migration& m);

// The schema version the programs need: the newest embedded migration.
unsigned required_schema_version();

// Splits a migration into statements: a statement ends with ';' at the end of a line,
// outside quotes and comments. Comment-only pieces are dropped.
std::vector<std::string> split_sql(std::string_view sql);

}  // namespace mapsync
