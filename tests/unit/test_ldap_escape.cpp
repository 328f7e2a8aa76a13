// Unit tests for RFC 4515 / RFC 4514 escaping: the values adsync puts into filters and DNs.
#include <doctest/doctest.h>

#include "libmapsync/core/error.h"
#include "libmapsync/directory/ldap_escape.h"

using namespace mapsync;

TEST_CASE("filter values: the RFC 4515 specials become hex escapes") {
  CHECK(ldap_filter_value("alice") == "alice");
  CHECK(ldap_filter_value("*)(cn=*") == "\\2a\\29\\28cn=\\2a");
  CHECK(ldap_filter_value("a\\b") == "a\\5cb");
  CHECK(ldap_filter_value(std::string("a\0b", 3)) == "a\\00b");
  CHECK(ldap_filter_value("Jürgen") == "Jürgen");  // UTF-8 passes as is
  // A DN as a value: the DN's own backslash escapes are escaped once more.
  CHECK(ldap_filter_value("CN=Smith\\, J,OU=Staff") == "CN=Smith\\5c, J,OU=Staff");
}

TEST_CASE("equality filters check the attribute name and escape the value") {
  CHECK(ldap_equality_filter("sAMAccountName", "x*") == "(sAMAccountName=x\\2a)");
  CHECK(ldap_equality_filter("memberOf:1.2.840.113556.1.4.1941:", "CN=Mail *)(cn=*,OU=Groups,DC=example,DC=test") ==
        "(memberOf:1.2.840.113556.1.4.1941:=CN=Mail \\2a\\29\\28cn=\\2a,OU=Groups,DC=example,DC=test)");
  CHECK_THROWS_AS(ldap_equality_filter("cn)(x", "y"), Error);
  CHECK_THROWS_AS(ldap_equality_filter("memberOf:notanoid:", "y"), Error);
  CHECK_THROWS_AS(ldap_equality_filter("", "y"), Error);
  CHECK(ldap_attribute_name_ok("1.2.840.113556.1.4.803"));
  CHECK_FALSE(ldap_attribute_name_ok("1..2"));
  CHECK_FALSE(ldap_attribute_name_ok("1.2."));
}

TEST_CASE("DN values: the RFC 4514 specials are escaped, leading and trailing spaces too") {
  CHECK(ldap_dn_value("Smith, John") == "Smith\\, John");
  CHECK(ldap_dn_value("Mail *)(cn=*") == "Mail *)(cn=*");  // a DN needs none of the filter escapes
  CHECK(ldap_dn_value(" lead") == "\\ lead");
  CHECK(ldap_dn_value("trail ") == "trail\\ ");
  CHECK(ldap_dn_value("#hash") == "\\#hash");
  CHECK(ldap_dn_value("a#b") == "a#b");
  CHECK(ldap_dn_value("a+b;c<d>e\"f\\g") == "a\\+b\\;c\\<d\\>e\\\"f\\\\g");
  CHECK(ldap_dn_value(std::string("a\0b", 3)) == "a\\00b");
}

#include "libmapsync/directory/directory.h"

TEST_CASE("user_filter: clauses join the configured AND; values are escaped") {
  AdConfig ad;
  ad.filter = "(&(objectCategory=person)(objectClass=user))";
  CHECK(user_filter(ad, "", {}) == ad.filter);
  SearchScope inc;
  inc.usn_above = 41;
  CHECK(user_filter(ad, "", inc) == "(&(objectCategory=person)(objectClass=user)(uSNChanged>=42))");
  SearchScope one;
  one.only_uid = "a*)(x=*";
  CHECK(user_filter(ad, "CN=G (1),DC=x", one) ==
        "(&(objectCategory=person)(objectClass=user)(memberOf:1.2.840.113556.1.4.1941:=CN=G \\281\\29,DC=x)"
        "(sAMAccountName=a\\2a\\29\\28x=\\2a))");
  ad.filter = "(&(a=1))(b=2)";  // not one AND as a whole: wrapped, never opened
  CHECK(user_filter(ad, "", inc) == "(&(&(a=1))(b=2)(uSNChanged>=42))");
  ad.filter = "(objectClass=user)";
  CHECK(user_filter(ad, "", inc) == "(&(objectClass=user)(uSNChanged>=42))");
}
