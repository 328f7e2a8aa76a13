// vocabulary.cpp - the failure of vocabulary.h's parse_sql, out of line.
#include "libmapsync/db/vocabulary.h"

#include "libmapsync/core/error.h"

namespace mapsync {

void unexpected_sql_word(const char* column, std::string_view word) {
  fail(Exit::software, std::string("unexpected ") + column + " value \"" + std::string(word) + "\"");
}

}  // namespace mapsync
