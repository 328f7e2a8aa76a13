// ldap_escape.h - the one place where data becomes part of an LDAP filter or DN.
//
// adsync builds filters from configuration and directory data (a group's DN in a
// memberOf clause, a user name given on the command line). A value such as
// "Mail *)(cn=*" pasted into a filter unescaped changes what the filter means, so every
// such value goes through these functions; nothing else in mapsync formats filters.
#pragma once

#include <string>
#include <string_view>

namespace mapsync {

// RFC 4515 section 3: a value for an assertion in a search filter. '*', '(', ')', '\'
// and NUL become \2a \28 \29 \5c \00. Bytes >= 0x80 are kept (UTF-8 is valid in a filter).
std::string ldap_filter_value(std::string_view value);

// RFC 4514 section 2.4: an attribute value inside a DN (the "Mail \*..." in "CN=...,OU=...").
// Escapes '"' '+' ',' ';' '<' '>' '\', a leading ' ' or '#', a trailing ' ', and NUL (as \00).
std::string ldap_dn_value(std::string_view value);

// "(attr=value)" with value escaped. attr must be an attribute description (letters,
// digits, '-', or a dotted OID, optionally with ":rule:"); anything else throws
// Exit::config, because attribute names come from the configuration.
std::string ldap_equality_filter(std::string_view attr, std::string_view value);

// True when attr is a plain attribute description (letters, digits, '-' and ';' options,
// or a numeric OID), as the configuration may name them.
bool ldap_attribute_name_ok(std::string_view attr);

}  // namespace mapsync
