// Unit tests for the IMAP quoting routine and Cyrus mailbox names: the injection values
// of the mboxsync tests (quotes, CR/LF, spaces, 8-bit bytes, 1,500 bytes) either become
// one harmless argument or are refused before anything is sent.
#include <doctest/doctest.h>

#include <optional>
#include <string>

#include "libmapsync/core/digest.h"
#include "libmapsync/mailbox/imap_proto.h"

using namespace mapsync;

TEST_CASE("imap_string: atom, quoted string or literal") {
  CHECK(imap_string("user.jdoe", false) == "user.jdoe");
  CHECK(imap_string("", false) == "\"\"");
  CHECK(imap_string("a b", false) == "\"a b\"");
  CHECK(imap_string("say \"hi\" \\o/", false) == "\"say \\\"hi\\\" \\\\o/\"");
  CHECK(imap_string("x) LOGOUT", false) == "\"x) LOGOUT\"");
  CHECK(imap_string("a\r\nB1 DELETE user.x", true) == "{19+}\r\na\r\nB1 DELETE user.x");
  CHECK(imap_string("Müller", false) == "{7}\r\nMüller");
  CHECK(imap_string("50%*", false) == "\"50%*\"");
  CHECK_FALSE(imap_string_ok(std::string("a\0b", 3)));
}

TEST_CASE("Cyrus mailbox names in both namespaces") {
  std::string why;
  const CyrusNamespace netnews;
  CyrusNamespace unix_ns;
  unix_ns.unix_separator = true;
  unix_ns.virtual_domains = true;
  CHECK(cyrus_inbox(netnews, "jdoe", "example.edu", &why).value() == "user.jdoe");
  CHECK(cyrus_inbox(unix_ns, "j.doe", "example.edu", &why).value() == "user/j.doe@example.edu");
  CHECK_FALSE(cyrus_inbox(netnews, "j.doe", "", &why));
  CHECK(why.find("hierarchy separator") != std::string::npos);
  CHECK(cyrus_folder(netnews, "user.jdoe", "Sent", &why).value() == "user.jdoe.Sent");
  CHECK(cyrus_folder(unix_ns, "user/jdoe@example.edu", "Sent", &why).value() == "user/jdoe/Sent@example.edu");
  for (const std::string bad : {"a\"b", "a\r\nb", "a\nb", " lead", "Müller", "a*b", "a%b", "a(b", "", "a\\b", "a/b"}) {
    CAPTURE(bad);
    CHECK_FALSE(cyrus_inbox(netnews, bad, "", &why));
    CHECK_FALSE(why.empty());
  }
  CHECK(cyrus_inbox(netnews, "o'brien", "", &why).value() == "user.o'brien");  // Cyrus allows the apostrophe
  CHECK_FALSE(cyrus_inbox(netnews, std::string(1500, 'a'), "", &why));
  CHECK(why.find("more than Cyrus allows") != std::string::npos);
}

TEST_CASE("responses: tagged status, response codes, LIST with quoted and literal names") {
  const ImapResponse ok = parse_imap_response("A12 NO [ALREADYEXISTS] Mailbox already exists");
  CHECK(ok.tag == "A12");
  CHECK(ok.status == "NO");
  CHECK(imap_response_code(ok.text) == "ALREADYEXISTS");
  const ImapResponse exists = parse_imap_response("* 3 EXISTS");
  CHECK(exists.status == "EXISTS");
  CHECK(exists.text == "3");
  const auto l1 = parse_imap_list("(\\HasNoChildren) \".\" user.jdoe");
  REQUIRE(l1);
  CHECK(l1->name == "user.jdoe");
  CHECK(l1->delimiter == ".");
  const auto l2 = parse_imap_list("(\\HasChildren \\Sent) \"/\" \"user/j doe\"");
  REQUIRE(l2);
  CHECK(l2->flags.size() == 2);
  CHECK(l2->name == "user/j doe");
  const auto l3 = parse_imap_list("() \".\" {6}\r\nuser.x");
  REQUIRE(l3);
  CHECK(l3->name == "user.x");
  CHECK_FALSE(parse_imap_list("garbage"));
}

TEST_CASE("base64 for AUTHENTICATE PLAIN follows RFC 4648") {
  using mapsync::base64_encode;
  CHECK(base64_encode("") == "");
  CHECK(base64_encode("f") == "Zg==");
  CHECK(base64_encode("fo") == "Zm8=");
  CHECK(base64_encode("foo") == "Zm9v");
  CHECK(base64_encode("foob") == "Zm9vYg==");
  CHECK(base64_encode("fooba") == "Zm9vYmE=");
  CHECK(base64_encode("foobar") == "Zm9vYmFy");
  CHECK(base64_encode(std::string("\0user\0pw", 8)) == "AHVzZXIAcHc=");
  CHECK(base64_encode(std::string(100, 'x')).find('\n') == std::string::npos);
}

TEST_CASE("base64 decoding of server challenges") {
  using mapsync::base64_decode;
  std::string out;
  CHECK(base64_decode("", out));
  CHECK(out.empty());
  CHECK(base64_decode("Zg==", out));
  CHECK(out == "f");
  CHECK(base64_decode("Zm8=", out));
  CHECK(out == "fo");
  CHECK(base64_decode("Zm9vYmFy", out));
  CHECK(out == "foobar");
  CHECK(base64_decode("AHVzZXIAcHc=", out));
  CHECK(out == std::string("\0user\0pw", 8));
  CHECK_FALSE(base64_decode("Zm9", out));       // not a multiple of 4
  CHECK_FALSE(base64_decode("Zm9v!mFy", out));  // not base64
  const std::string bytes("\x00\xff\x10\x80\x7f", 5);
  CHECK(base64_decode(mapsync::base64_encode(bytes), out));
  CHECK(out == bytes);
}

TEST_CASE("literal announcements: only {digits} or {digits+} at the end; huge lengths stay huge") {
  CHECK(imap_literal_size("* LIST () \".\" {6}") == std::optional<std::size_t>(6));
  CHECK(imap_literal_size("* LIST () \".\" {7+}") == std::optional<std::size_t>(7));
  CHECK(imap_literal_size("{0}") == std::optional<std::size_t>(0));
  CHECK_FALSE(imap_literal_size("* OK done"));
  CHECK_FALSE(imap_literal_size("* OK {6} not at the end"));
  CHECK_FALSE(imap_literal_size("* OK {}"));
  CHECK_FALSE(imap_literal_size("* OK {x}"));
  // Found by tests/fuzz (fuzz_imap): "{+}" was a zero-byte literal and "{1+2}" one of 12
  // bytes, so the next line was taken as the rest of this one.
  CHECK_FALSE(imap_literal_size("* LIST () \".\" {+}"));
  CHECK_FALSE(imap_literal_size("* LIST () \".\" {1+2}"));
  // 2^64 + 1 wrapped around to 1: the client read one byte where the server announced
  // more than it would ever accept (the 16 MB cap never saw the real length).
  const auto huge = imap_literal_size("* LIST () \".\" {18446744073709551617}");
  REQUIRE(huge);
  CHECK(*huge > (std::size_t{1} << 24));
}
