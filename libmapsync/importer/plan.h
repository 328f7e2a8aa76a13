// plan.h - what an import will write: rows of the user database in plain structs, and
// every source key that has no representation there.
//
// Both importers (Postfix text maps, PostfixAdmin) build an ImportPlan; plan_write.cpp
// writes it in one transaction. Rows refer to one another by address or name (an
// address's account by its primary address, a backend by name), never by id.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace mapsync {

struct PlanDomain {
  std::string name;
  std::string kind;       // domains.kind word: local, alias, relay
  std::string transport;  // relay: next hop (may be empty)
  std::string target;     // alias: the local domain it mirrors
  bool enabled = true;
};

struct PlanBackend {
  std::string name, host;
  unsigned port = 24;
};

struct PlanAccount {
  std::string uid, primary;
  std::string delivery;  // accounts.delivery word: cyrus, smtp, forward
  std::string backend;   // cyrus, or forward with keep_copy
  std::string nexthop;   // smtp
  bool keep_copy = false;
  bool active = true;
  std::string display_name;
  std::uint64_t quota_mb = 0;  // 0: none
  std::vector<std::string> forwards;
};

struct PlanAddress {
  std::string address, account;  // account: its primary address
};

struct PlanMember {
  enum Kind { account, group, address } kind = address;
  std::string value;  // account: primary address; group: group address; address: as written
};

struct PlanGroup {
  std::string address;
  bool enabled = true;
  std::vector<PlanMember> members;
};

struct PlanPair {
  std::string key, value;  // canonical source/target, system alias name/targets, transport pattern/value
};

// A source key that the schema cannot hold, or holds only partly.
struct Skipped {
  std::string map;    // which source map (virtual, transport, alias, mailbox, ...)
  std::string where;  // file:line, or table and key
  std::string key;
  std::string why;
};

struct ImportPlan {
  std::vector<PlanDomain> domains;
  std::vector<PlanBackend> backends;
  std::vector<PlanAccount> accounts;
  std::vector<PlanAddress> addresses;
  std::vector<PlanGroup> groups;
  std::vector<PlanPair> canonical, system_aliases, transport_overrides;
  std::vector<Skipped> skipped;
};

}  // namespace mapsync
