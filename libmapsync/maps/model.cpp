// model.cpp - the string pool and row descriptions.
#include "libmapsync/maps/model.h"

#include <cstring>

namespace mapsync {

std::string_view StringPool::add(std::string_view s) {
  if (s.empty()) return {};
  if (used_ + s.size() > capacity_) {
    const std::size_t block = std::max<std::size_t>(1u << 20, s.size());
    blocks_.push_back(std::make_unique<char[]>(block));
    used_ = 0;
    capacity_ = block;
  }
  char* p = blocks_.back().get() + used_;
  std::memcpy(p, s.data(), s.size());
  used_ += s.size();
  used_total_ += s.size();
  return {p, s.size()};
}

const char* table_name(Table t) {
  switch (t) {
    case Table::none: return "(generated)";
    case Table::domains: return "domains";
    case Table::backends: return "backends";
    case Table::accounts: return "accounts";
    case Table::addresses: return "addresses";
    case Table::account_forwards: return "account_forwards";
    case Table::group_aliases: return "group_aliases";
    case Table::group_members: return "group_members";
    case Table::mailing_lists: return "mailing_lists";
    case Table::canonical_rewrites: return "canonical_rewrites";
    case Table::transport_overrides: return "transport_overrides";
    case Table::system_aliases: return "system_aliases";
    case Table::delivery_targets: return "delivery_targets";
  }
  return "?";
}

std::string describe(const Origin& o) {
  std::string s = std::string(table_name(o.table)) + " id=" + std::to_string(o.id);
  if (o.via_domain) s += " (copied into alias domain, domains id=" + std::to_string(o.via_domain) + ")";
  return s;
}

}  // namespace mapsync
