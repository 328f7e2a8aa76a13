// escape.h - database values and file names made safe to print in one line of a message.
//
// A value from the database can hold anything: a line feed in an address would forge a
// log line, an escape sequence would drive the terminal. Every value or file name put
// into a message, a log line or a text report goes through escape().
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace mapsync {

// C-style: backslash doubled, \n \r \t \0, every other control character, DEL and each
// byte of malformed UTF-8 as \xNN; valid UTF-8 passes. Longer than max_bytes: cut at a
// character boundary and "...(N bytes)" appended, so a 10 KB value stays one readable line.
std::string escape(std::string_view s, std::size_t max_bytes = 512);

// For a whole log message whose parts were escaped already: control characters other
// than line feed escaped as escape() does, and every line after the first indented, so
// that no part of a message can look like a line of its own.
std::string escape_message(std::string_view msg);

// True when s is well-formed UTF-8 (RFC 3629: no overlongs, no surrogates, <= U+10FFFF).
bool valid_utf8(std::string_view s);

}  // namespace mapsync
