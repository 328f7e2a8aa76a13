// casefold.h - lookup-key case folding exactly as Postfix does it.
//
// Postfix (src/util/casefold.c) with smtputf8_enable=yes: an all-ASCII key is simply
// lowercased; anything else must be valid UTF-8 and is folded with ICU's default full
// case folding (ucasemap_utf8FoldCase, locale en_US), so "Straße" becomes "strasse".
// postmap folds keys when it builds a map and Postfix folds them when it looks up, so
// our writers must store exactly what this returns.
#pragma once

#include <string>
#include <string_view>

namespace mapsync {

// Folds in into out. Returns false, with a reason in *error, for malformed UTF-8.
bool casefold(std::string_view in, std::string& out, std::string* error = nullptr);

// The folded form as a matching key, or s itself when it is malformed UTF-8: for
// comparisons whose inputs are validated elsewhere (a bad address is refused by its own
// check, not by failing to match).
std::string fold_key(std::string_view s);

// True when every byte is ASCII.
bool is_ascii(std::string_view s);

// True when s is well-formed UTF-8 (no overlongs, no surrogates, nothing past U+10FFFF).
bool is_valid_utf8(std::string_view s);

}  // namespace mapsync
