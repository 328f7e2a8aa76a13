// fuzz_imap.cpp - the IMAP response side of mailbox/imap_proto.h: the input is what a
// server sends, read as ImapClient reads it (lines, literals announced by {n} and
// inlined), then split into responses and LIST entries. The first line is also quoted
// with imap_string() and must read back as the same string.
#include <optional>

#include "libmapsync/mailbox/imap_proto.h"
#include "tests/fuzz/fuzz_entry.h"

namespace {

// The client's 16 MB cap on one literal (imap_client.cpp).
constexpr std::size_t kMaxLiteral = 1u << 24;

// A server's bytes, read the way ImapClient's stream does.
struct Wire {
  std::string_view in;
  std::optional<std::string> line() {
    const auto crlf = in.find("\r\n");
    if (crlf == std::string_view::npos) return std::nullopt;
    std::string l(in.substr(0, crlf));
    in.remove_prefix(crlf + 2);
    return l;
  }
  std::optional<std::string> exact(std::size_t n) {
    if (n > in.size()) return std::nullopt;
    std::string b(in.substr(0, n));
    in.remove_prefix(n);
    return b;
  }
};

// RFC 3501 literal = "{" number "}" (RFC 7888 LITERAL+: "{" number "+}"); a length the
// client accepts must be exactly the number written.
void check_literal_size(const std::string& line, std::size_t n) {
  const auto open = line.rfind('{');
  FUZZ_CHECK(open != std::string::npos, line);
  std::string digits = line.substr(open + 1, line.size() - open - 2);
  if (!digits.empty() && digits.back() == '+') digits.pop_back();
  FUZZ_CHECK(!digits.empty() && digits.find_first_not_of("0123456789") == std::string::npos, line);
  while (digits.size() > 1 && digits[0] == '0') digits.erase(0, 1);
  if (n <= kMaxLiteral) FUZZ_CHECK(std::to_string(n) == digits, line);
  else FUZZ_CHECK(digits.size() > 8 || std::stoul(digits) > kMaxLiteral, line);
}

void check_response(const std::string& line) {
  const mapsync::ImapResponse r = mapsync::parse_imap_response(line);
  FUZZ_CHECK(r.tag.find(' ') == std::string::npos, line);
  FUZZ_CHECK(r.tag.size() + r.status.size() + r.text.size() <= line.size(), line);
  (void)mapsync::imap_response_code(r.text);
  if (auto e = mapsync::parse_imap_list(r.text)) {
    FUZZ_CHECK(e->name.size() <= r.text.size(), r.text);
    for (const std::string& f : e->flags) FUZZ_CHECK(!f.empty() && f.find(' ') == std::string::npos, r.text);
  }
}

void check_round_trip(std::string_view value) {
  if (!mapsync::imap_string_ok(value)) return;
  for (bool literal_plus : {false, true}) {
    const std::string wire = mapsync::imap_string(value, literal_plus);
    const auto e = mapsync::parse_imap_list("() \"/\" " + wire);
    FUZZ_CHECK(e && e->name == value, wire);
  }
}

}  // namespace

MAPSYNC_FUZZ_TARGET(imap) {
  Wire w{std::string_view(reinterpret_cast<const char*>(data), size)};
  check_round_trip(mapsync::fuzz::cut(w.in, "\r\n").first);
  while (std::optional<std::string> line = w.line()) {
    bool complete = true;
    while (const std::optional<std::size_t> n = mapsync::imap_literal_size(*line)) {
      check_literal_size(*line, *n);
      if (*n > kMaxLiteral) {
        complete = false;
        break;
      }
      std::optional<std::string> literal = w.exact(*n);
      std::optional<std::string> rest = literal ? w.line() : std::nullopt;
      if (!rest) {
        complete = false;
        break;
      }
      *line += "\r\n" + *literal + *rest;
    }
    if (!complete) break;
    check_response(*line);
  }
  return 0;
}
