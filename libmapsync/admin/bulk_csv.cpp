// bulk_csv.cpp - the bulk file of `mapadm bulk`: one change per CSV record. See admin.h.
//
// Format (RFC 4180 fields, UTF-8):  ENTITY,VERB,KEY...,FIELD=VALUE...
//   account,set,jdoe,delivery=smtp,delivery_target=exchange
//   alias,add,logs,"targets=root, ""|/usr/bin/logger -t maillog"""
// Blank lines and lines whose first character is '#' are skipped. A record is one line
// (no line breaks inside quotes: no value may hold one). Errors name FILE:LINE.
#include "libmapsync/admin/admin.h"
#include "libmapsync/core/error.h"

namespace mapsync::admin {

bool split_csv_line(std::string_view line, std::vector<std::string>& out) {
  out.clear();
  std::string cur;
  bool quoted = false, was_quoted = false;
  for (std::size_t i = 0; i < line.size(); ++i) {
    const char ch = line[i];
    if (quoted) {
      if (ch != '"') cur += ch;
      else if (i + 1 < line.size() && line[i + 1] == '"') cur += '"', ++i;
      else quoted = false;
    } else if (ch == '"' && cur.empty() && !was_quoted) {
      quoted = was_quoted = true;
    } else if (ch == ',') {
      out.push_back(std::move(cur));
      cur.clear();
      was_quoted = false;
    } else {
      cur += ch;
    }
  }
  if (quoted) return false;
  out.push_back(std::move(cur));
  return true;
}

std::vector<Change> parse_bulk(std::istream& in, const std::string& file) {
  std::vector<Change> out;
  std::string line;
  std::vector<std::string> words;
  for (std::size_t n = 1; std::getline(in, line); ++n) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos || line[0] == '#') continue;
    const std::string origin = file + ":" + std::to_string(n);
    if (!split_csv_line(line, words)) fail(Exit::data, origin + ": unterminated quoted field");
    while (!words.empty() && words.back().empty()) words.pop_back();  // trailing commas
    Change c = parse_change(words, origin);
    if (c.verb == Verb::show || c.verb == Verb::list)
      fail(Exit::data, origin + ": " + std::string(verb_name(c.verb)) + " is not a change");
    out.push_back(std::move(c));
  }
  if (in.bad()) fail(Exit::ioerr, file + ": read error");
  return out;
}

}  // namespace mapsync::admin
