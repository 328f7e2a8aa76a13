// address.h - what a mail address, domain, transport or alias value may look like.
//
// Checks follow RFC 5321/5322 dot-atoms with RFC 6531 UTF-8, narrowed to what can sit in
// a Postfix lookup table: no quoted local parts, no whitespace or commas (they separate
// values), no key that postmap would read as a comment. Each check returns an empty
// string when the input is fine, else the reason, so callers can name the row.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace mapsync {

// Splits at the last '@'. False when there is none.
bool split_address(std::string_view address, std::string_view& local, std::string_view& domain);

std::string check_domain(std::string_view domain);
std::string check_local_part(std::string_view local);
std::string check_address(std::string_view address);

// transport(5) value: "transport:nexthop", "transport:", ":nexthop", "error:5.1.1 text".
std::string check_transport(std::string_view value);

// One element of an aliases(5) right-hand side.
std::string check_alias_target(std::string_view target);

// Splits an aliases(5) right-hand side at commas outside double quotes, trimming blanks.
std::vector<std::string> split_alias_targets(std::string_view rhs);

// Quotes an alias element for the aliases file when it holds blanks, commas or quotes.
std::string quote_alias_target(std::string_view target);

// ASCII-lowercases the domain of an address (keeps the local part as written).
std::string lowercase_domain(std::string_view address);

// Internationalized domains (IDNA2008 as UTS #46 non-transitional processing with NFC
// input, through libidn2). A domain has two spellings: the U-label form, UTF-8 as people
// write it ("bücher.example.edu"), and the A-label form, ASCII as DNS and non-SMTPUTF8
// mail carry it ("xn--bcher-kva.example.edu").

// True when the domain is non-ASCII or has a label that starts with "xn--" (any case).
// Cheap (one pass, no allocation): plain ASCII domains need no conversion at all.
bool is_idn_domain(std::string_view domain);

// The A-label form, lowercase. "" and the reason in *error when it does not convert.
std::string domain_to_alabel(std::string_view domain, std::string* error = nullptr);

// The U-label form, from either form (lowercase where IDNA maps case). "" and the reason
// in *error when it does not convert.
std::string domain_to_ulabel(std::string_view domain, std::string* error = nullptr);

}  // namespace mapsync
