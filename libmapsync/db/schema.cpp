// schema.cpp - helpers around the embedded migrations.
#include "libmapsync/db/schema.h"

#include <cctype>

namespace mapsync {

unsigned required_schema_version() {
  const auto& m = embedded_migrations();
  return m.empty() ? 0 : m.back().version;
}

unsigned migration_compatible_from(const Migration& m) {
  const std::string_view sql = m.sql;
  constexpr std::string_view key = "\n-- compatible-from:";
  const auto at = sql.find(key);
  if (at == std::string_view::npos) return m.version;
  unsigned v = 0;
  for (std::size_t i = at + key.size(); i < sql.size() && sql[i] != '\n'; ++i)
    if (std::isdigit(static_cast<unsigned char>(sql[i]))) v = v * 10 + static_cast<unsigned>(sql[i] - '0');
  return v && v <= m.version ? v : m.version;
}

std::vector<std::string> split_sql(std::string_view sql) {
  std::vector<std::string> out;
  std::string cur;
  bool meaningful = false;  // cur holds more than blanks and comments
  char quote = 0;
  for (std::size_t i = 0; i < sql.size(); ++i) {
    const char c = sql[i];
    if (quote) {
      cur += c;
      if (c == '\\' && quote != '`' && i + 1 < sql.size()) {
        cur += sql[++i];
      } else if (c == quote) {
        quote = 0;
      }
      continue;
    }
    if (c == '-' && i + 1 < sql.size() && sql[i + 1] == '-') {
      while (i < sql.size() && sql[i] != '\n') ++i;
      cur += '\n';
      continue;
    }
    if (c == '/' && i + 1 < sql.size() && sql[i + 1] == '*') {
      const auto end = sql.find("*/", i + 2);
      i = end == std::string_view::npos ? sql.size() : end + 1;
      cur += ' ';
      continue;
    }
    if (c == '\'' || c == '"' || c == '`') {
      quote = c;
      meaningful = true;
      cur += c;
      continue;
    }
    if (c == ';') {
      std::size_t j = i + 1;
      while (j < sql.size() && (sql[j] == ' ' || sql[j] == '\t' || sql[j] == '\r')) ++j;
      if (j >= sql.size() || sql[j] == '\n') {
        if (meaningful) out.push_back(cur);
        cur.clear();
        meaningful = false;
        continue;
      }
    }
    if (!std::isspace(static_cast<unsigned char>(c))) meaningful = true;
    cur += c;
  }
  if (meaningful) out.push_back(cur);
  // Trim each statement for readable error messages.
  for (auto& s : out) {
    const auto b = s.find_first_not_of(" \t\r\n");
    const auto e = s.find_last_not_of(" \t\r\n");
    s = s.substr(b, e - b + 1);
  }
  return out;
}

}  // namespace mapsync
