// ident.h - one spelling per address and domain, for matching keys and targets of the
// source maps: the local part folded as postmap folds keys, the domain folded and in its
// A-label form (mapsync publishes both IDN forms of a key; the sources may use either).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace mapsync {

std::string ident(std::string_view address);           // folded address, A-label domain
std::string domain_key(std::string_view domain);       // folded, A-label
std::string domain_display(const std::string& key);    // U-label form of a domain_key, for rows
std::string domain_ident(const std::string& ident);    // the domain part of an ident
std::string local_of(const std::string& ident);        // the local part of an ident
// virtual(5) right-hand side: addresses separated by commas and/or whitespace.
std::vector<std::string> split_targets(std::string_view rhs);

}  // namespace mapsync
