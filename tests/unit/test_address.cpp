// Address, domain, transport and alias syntax as it may appear in a Postfix map.
#include <doctest/doctest.h>

#include <string>

#include "libmapsync/core/address.h"
#include "libmapsync/db/schema.h"

using namespace mapsync;

TEST_CASE("valid addresses") {
  for (const char* a : {"jdoe@example.edu", "John.Doe@Example.EDU", "a+tag@example.edu", "o'neil@example.edu",
                        "jörg.müller@example.edu", "user@bücher.example", "x@localhost", "a_b-c@sub.example.edu"})
    CHECK_MESSAGE(check_address(a).empty(), a, ": ", check_address(a));
}

TEST_CASE("invalid addresses say why") {
  CHECK(check_address("") == "empty address");
  CHECK(check_address("jdoe") == "no '@' in address");
  CHECK(check_address("a@b@example.edu") == "more than one '@' in address");
  CHECK(check_address("@example.edu") == "empty local part");
  CHECK(check_address("jdoe@") == "empty domain");
  CHECK(check_address(".jdoe@example.edu") == "local part starts or ends with a dot");
  CHECK(check_address("j..doe@example.edu") == "local part has two dots in a row");
  CHECK(check_address("john doe@example.edu") == "local part has a blank or control character");
  CHECK(check_address("a,b@example.edu") == "local part has the character ','");
  CHECK(check_address("\"quoted\"@example.edu") == "quoted local parts are not supported");
  CHECK(check_address("#x@example.edu").find("comment") != std::string::npos);
  CHECK(check_address("|cmd@example.edu").find("pipe") != std::string::npos);
  CHECK(check_address("jdoe@example..edu") == "domain has an empty label (two dots)");
  CHECK(check_address("jdoe@-example.edu") == "domain label starts or ends with '-'");
  CHECK(check_address("jdoe@exa_mple.edu") == "domain has the character '_'");
  CHECK(check_address(std::string(65, 'a') + "@example.edu") == "local part longer than 64 bytes");
  CHECK(check_address("bad\xff@example.edu") == "local part is not valid UTF-8");
  CHECK(check_address("x@\xe2\x98\x83\xe2\x98\x83.example").find("IDNA") != std::string::npos);  // snowmen: not IDNA2008
}

TEST_CASE("internationalized domains: both forms, either way") {
  CHECK(is_idn_domain("bücher.example.edu"));
  CHECK(is_idn_domain("xn--bcher-kva.example.edu"));
  CHECK(is_idn_domain("mail.XN--BCHER-KVA.example.edu"));
  CHECK_FALSE(is_idn_domain("example.edu"));
  CHECK_FALSE(is_idn_domain("exn--ample.edu"));  // "xn--" only at the start of a label
  CHECK(domain_to_alabel("bücher.example.edu") == "xn--bcher-kva.example.edu");
  CHECK(domain_to_alabel("Bücher.Example.EDU") == "xn--bcher-kva.example.edu");
  CHECK(domain_to_alabel("bu\xcc\x88" "cher.example.edu") == "xn--bcher-kva.example.edu");  // NFD input
  CHECK(domain_to_alabel("straße.de") == "xn--strae-oqa.de");  // non-transitional: ß stays ß
  CHECK(domain_to_alabel("example.edu") == "example.edu");
  CHECK(domain_to_ulabel("xn--bcher-kva.example.edu") == "bücher.example.edu");
  CHECK(domain_to_ulabel("XN--BCHER-KVA.Example.edu") == "bücher.example.edu");
  CHECK(domain_to_ulabel("bücher.example.edu") == "bücher.example.edu");
  std::string err;
  CHECK(domain_to_alabel("xn--zzzzzz-zz.edu", &err).empty());
  CHECK(err.find("punycode") != std::string::npos);
  CHECK(domain_to_ulabel("\xe2\x98\x83.example", &err).empty());  // a snowman is no IDNA2008 label
  // A-labels are checked like U-labels.
  CHECK(check_address("jörg@xn--bcher-kva.example.edu").empty());
  CHECK(check_domain("xn--zzzzzz-zz.edu").find("not valid IDNA") != std::string::npos);
  CHECK(check_domain("xn--abc.example.edu").find("not valid IDNA") != std::string::npos);
}

TEST_CASE("a domain with a NUL byte does not convert as the part before it") {
  // Found by tests/fuzz (fuzz_address): libidn2 reads C strings, so "bücher\0.evil.example"
  // became the A-label of "bücher", and importer/ident.cpp's domain_key() and the
  // renderer's Domains::find() took it for that other domain.
  const std::string nul("b\xc3\xbc" "cher\0.evil.example", 21);
  std::string err;
  CHECK(domain_to_alabel(nul, &err).empty());
  CHECK(err.find("NUL") != std::string::npos);
  CHECK(domain_to_ulabel(nul).empty());
  CHECK(domain_to_ulabel(std::string("xn--bcher-kva\0.example", 22)).empty());
  // Also found by fuzz_address: IDNA maps U+FE01 (a variation selector) to nothing, and
  // check_domain() refused the domain with an empty reason.
  err.clear();
  CHECK(domain_to_alabel("\xef\xb8\x81", &err).empty());
  CHECK(err == "domain is empty after IDNA mapping");
  CHECK(check_domain("\xef\xb8\x81") == "internationalized domain is not valid IDNA: domain is empty after IDNA mapping");
}

TEST_CASE("transports") {
  for (const char* t : {"smtp:[exchange.example.edu]", "smtp:[exchange.example.edu]:25", "lmtp:[127.0.0.2]:24",
                        "lmtp:unix:/var/run/cyrus/socket/lmtp", "error:5.1.1 mailbox gone", "relay:", ":[mx.example.edu]"})
    CHECK_MESSAGE(check_transport(t).empty(), t, ": ", check_transport(t));
  CHECK(check_transport("smtp") != "");
  CHECK(check_transport("smtp:[exchange") == "next hop has '[' without ']'");
  CHECK(check_transport("smtp:[x]:2x") == "next hop port is not a number");
  CHECK(check_transport("smtp:[x] y").find("blank") != std::string::npos);
  CHECK(check_transport("sm tp:x").find("not a master.cf service name") != std::string::npos);
}

TEST_CASE("aliases(5) right-hand sides") {
  const auto t = split_alias_targets("root, \"|/usr/bin/logger -t x\" ,/var/mail/archive,:include:/etc/list");
  REQUIRE(t.size() == 4);
  CHECK(t[0] == "root");
  CHECK(t[1] == "|/usr/bin/logger -t x");
  CHECK(t[2] == "/var/mail/archive");
  CHECK(t[3] == ":include:/etc/list");
  for (const auto& x : t) CHECK(check_alias_target(x).empty());
  CHECK(quote_alias_target("|/usr/bin/logger -t x") == "\"|/usr/bin/logger -t x\"");
  CHECK(quote_alias_target("root") == "root");
  CHECK(check_alias_target(":include:relative") != "");
  CHECK(lowercase_domain("John.Doe@Example.EDU") == "John.Doe@example.edu");
}

TEST_CASE("migrations split at ';' at the end of a line, outside quotes and comments") {
  const auto s = split_sql("-- comment; not a statement\nCREATE TABLE a (x INT);\n"
                           "INSERT INTO a VALUES (';\n');\n/* ; */ CREATE TRIGGER t AFTER INSERT ON a FOR EACH ROW "
                           "UPDATE b SET c = c + 1 WHERE id = 1;\n-- trailing comment\n");
  REQUIRE(s.size() == 3);
  CHECK(s[0] == "CREATE TABLE a (x INT)");
  CHECK(s[1].find("VALUES (';\n')") != std::string::npos);
  CHECK(s[2].find("CREATE TRIGGER") != std::string::npos);
  CHECK(required_schema_version() == embedded_migrations().back().version);
  CHECK(embedded_migrations().front().version == 1);
}
