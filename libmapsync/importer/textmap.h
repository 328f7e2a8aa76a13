// textmap.h - reads Postfix text lookup tables (postmap/postalias source files) the way
// postmap and postalias do, keeping where each key came from.
//
// Rules (Postfix util/readlline.c, postmap.c, postalias.c):
//  - a line whose first non-blank character is '#' is a comment; blank lines are ignored;
//  - a line that starts with whitespace continues the previous logical line (comments in
//    between are skipped); a logical line that begins with whitespace has no key;
//  - the key ends at the first whitespace (aliases: at the first ':'), the value is the
//    rest with surrounding whitespace removed;
//  - keys are case-folded as postmap folds them (UTF-8 aware, core/casefold.h);
//  - a key given twice: postmap keeps the first and warns; the later ones are reported.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace mapsync {

struct TextEntry {
  std::string key;     // as written
  std::string folded;  // as postmap stores it
  std::string value;
  unsigned line = 0;   // first physical line of the logical line
};

struct TextProblem {
  unsigned line = 0;
  std::string key;
  std::string why;
};

struct TextMap {
  std::string file;
  std::vector<TextEntry> entries;     // in file order, first occurrence of each key only
  std::vector<TextProblem> problems;  // duplicates and lines postmap would skip
};

TextMap parse_text_map(std::string_view text, const std::string& file, bool alias_syntax);
// Reads path whole; Exit::noinput when it does not exist.
TextMap read_text_map(const std::string& path, bool alias_syntax);

}  // namespace mapsync
