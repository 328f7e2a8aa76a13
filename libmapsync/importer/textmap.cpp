// textmap.cpp - Postfix text lookup tables, parsed as postmap/postalias parse them. See textmap.h.
#include "libmapsync/importer/textmap.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <unordered_map>

#include "libmapsync/core/casefold.h"
#include "libmapsync/core/error.h"

namespace mapsync {
namespace {

bool blank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && (blank(s.front()) || s.front() == '\n')) s.remove_prefix(1);
  while (!s.empty() && (blank(s.back()) || s.back() == '\n')) s.remove_suffix(1);
  return s;
}

// Splits one logical line into key and value; false (with why) when postmap would skip it.
bool split_line(std::string_view line, bool alias, std::string& key, std::string& value, std::string& why) {
  std::size_t end;
  if (alias) {
    end = line.find(':');
    if (end == line.npos) {
      why = "no ':' after the alias name";
      return false;
    }
    key = std::string(trim(line.substr(0, end)));
    value = std::string(trim(line.substr(end + 1)));
    if (key.size() > 1 && key.front() == '"' && key.back() == '"') key = key.substr(1, key.size() - 2);
  } else {
    end = 0;
    while (end < line.size() && !blank(line[end])) ++end;
    key = std::string(line.substr(0, end));
    value = std::string(trim(line.substr(end)));
  }
  if (key.empty()) {
    why = "empty key";
    return false;
  }
  if (value.empty() && !alias) {
    why = "key without a value";
    return false;
  }
  return true;
}

}  // namespace

TextMap parse_text_map(std::string_view text, const std::string& file, bool alias_syntax) {
  TextMap out;
  out.file = file;
  std::unordered_map<std::string, std::size_t> seen;
  std::string logical;
  unsigned logical_line = 0, lineno = 0;
  auto flush = [&] {
    if (logical_line == 0) return;
    std::string key, value, why;
    if (!split_line(logical, alias_syntax, key, value, why)) {
      out.problems.push_back({logical_line, key, why});
    } else {
      std::string folded;
      std::string err;
      if (!casefold(key, folded, &err)) {
        out.problems.push_back({logical_line, key, "cannot be folded as postmap folds: " + err});
      } else if (auto it = seen.find(folded); it != seen.end()) {
        out.problems.push_back({logical_line, key,
                                "duplicate of line " + std::to_string(out.entries[it->second].line) +
                                    " (Postfix keeps the first)"});
      } else {
        seen.emplace(folded, out.entries.size());
        out.entries.push_back({std::move(key), std::move(folded), std::move(value), logical_line});
      }
    }
    logical.clear();
    logical_line = 0;
  };
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t nl = text.find('\n', pos);
    std::string_view line = text.substr(pos, nl == text.npos ? text.npos : nl - pos);
    pos = nl == text.npos ? text.size() : nl + 1;
    ++lineno;
    std::string_view t = trim(line);
    if (t.empty() || t.front() == '#') continue;
    if (blank(line.front())) {
      if (logical_line == 0) {
        out.problems.push_back({lineno, std::string(t), "line starts with whitespace but continues nothing"});
        continue;
      }
      logical += ' ';
      logical += t;
      continue;
    }
    flush();
    logical.assign(line.data(), line.size());
    while (!logical.empty() && blank(logical.back())) logical.pop_back();
    logical_line = lineno;
  }
  flush();
  return out;
}

TextMap read_text_map(const std::string& path, bool alias_syntax) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(errno == ENOENT ? Exit::noinput : Exit::ioerr, errno_text("open " + path, errno));
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) fail(Exit::ioerr, "read " + path + ": " + std::strerror(errno));
  return parse_text_map(ss.str(), path, alias_syntax);
}

}  // namespace mapsync
