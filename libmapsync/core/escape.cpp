// escape.cpp - see escape.h.
#include "libmapsync/core/escape.h"

namespace mapsync {

namespace {

// Length of the well-formed UTF-8 sequence at s[i], or 0 when it is malformed.
std::size_t utf8_length(std::string_view s, std::size_t i) {
  const auto at = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = at(i);
  std::size_t n;
  unsigned char lo = 0x80, hi = 0xbf;  // the range of the second byte
  if (c < 0x80) return 1;
  if (c >= 0xc2 && c <= 0xdf) n = 2;
  else if (c >= 0xe0 && c <= 0xef) {
    n = 3;
    if (c == 0xe0) lo = 0xa0;  // overlong
    if (c == 0xed) hi = 0x9f;  // surrogates
  } else if (c >= 0xf0 && c <= 0xf4) {
    n = 4;
    if (c == 0xf0) lo = 0x90;  // overlong
    if (c == 0xf4) hi = 0x8f;  // beyond U+10FFFF
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  if (at(i + 1) < lo || at(i + 1) > hi) return 0;
  for (std::size_t k = 2; k < n; ++k)
    if (at(i + k) < 0x80 || at(i + k) > 0xbf) return 0;
  return n;
}

void append_hex(std::string& out, unsigned char c) {
  static const char hex[] = "0123456789abcdef";
  out += "\\x";
  out += hex[c >> 4];
  out += hex[c & 15];
}

// Appends the character at s[i] escaped; returns the number of bytes it took.
std::size_t append_escaped(std::string& out, std::string_view s, std::size_t i) {
  const unsigned char c = static_cast<unsigned char>(s[i]);
  switch (c) {
    case '\\': out += "\\\\"; return 1;
    case '\n': out += "\\n"; return 1;
    case '\r': out += "\\r"; return 1;
    case '\t': out += "\\t"; return 1;
    case '\0': out += "\\0"; return 1;
    default: break;
  }
  if (c < 0x20 || c == 0x7f) {
    append_hex(out, c);
    return 1;
  }
  const std::size_t n = utf8_length(s, i);
  if (n == 0) {
    append_hex(out, c);
    return 1;
  }
  out.append(s.substr(i, n));
  return n;
}

}  // namespace

std::string escape(std::string_view s, std::size_t max_bytes) {
  std::string out;
  out.reserve(s.size() < max_bytes ? s.size() : max_bytes);
  std::size_t i = 0;
  while (i < s.size() && i < max_bytes) i += append_escaped(out, s, i);
  if (i < s.size()) out += "...(" + std::to_string(s.size()) + " bytes)";
  return out;
}

std::string escape_message(std::string_view msg) {
  std::string out;
  out.reserve(msg.size());
  std::size_t i = 0;
  while (i < msg.size()) {
    if (msg[i] == '\n') {
      out += '\n';
      if (i + 1 < msg.size() && msg[i + 1] != ' ' && msg[i + 1] != '\t') out += "  ";
      ++i;
    } else if (msg[i] == '\\') {
      out += '\\';  // escaped parts keep their single escapes
      ++i;
    } else {
      i += append_escaped(out, msg, i);
    }
  }
  return out;
}

bool valid_utf8(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    const std::size_t n = utf8_length(s, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

}  // namespace mapsync
