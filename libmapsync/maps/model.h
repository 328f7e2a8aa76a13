// model.h - one consistent snapshot of the e-mail user database, in memory.
//
// The snapshot reader (snapshot.cpp) fills it inside one REPEATABLE READ transaction; the
// renderer turns it into maps. Strings live in one pool and rows hold string_views into
// it: a campus of a million addresses then costs about a hundred bytes a row instead of
// the several hundred that a std::string per field would.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "libmapsync/db/vocabulary.h"

namespace mapsync {

// Append-only storage for strings whose views must stay valid.
class StringPool {
 public:
  std::string_view add(std::string_view s);
  std::size_t bytes() const { return used_total_; }

 private:
  std::vector<std::unique_ptr<char[]>> blocks_;
  std::size_t used_ = 0, capacity_ = 0, used_total_ = 0;
};

// The tables a rendered entry can come from, for messages that name the row.
enum class Table : std::uint8_t {
  none,
  domains,
  backends,
  accounts,
  addresses,
  account_forwards,
  group_aliases,
  group_members,
  mailing_lists,
  canonical_rewrites,
  transport_overrides,
  system_aliases,
  delivery_targets,
};
const char* table_name(Table t);

// Where a map entry came from: "accounts id=12". Eight bytes, because every one of a
// million map entries carries one.
struct Origin {
  constexpr Origin() = default;
  constexpr Origin(Table t, std::uint32_t row, std::uint16_t via = 0) : table(t), via_domain(via), id(row) {}
  Table table = Table::none;
  // The entry is the alias-domain copy of an entry of the target domain: the id of the
  // alias domain's row (domain ids are limited to 65535, see snapshot.cpp).
  std::uint16_t via_domain = 0;
  std::uint32_t id = 0;
};
static_assert(sizeof(Origin) == 8);
std::string describe(const Origin& o);


struct Domain {
  std::uint32_t id = 0;
  std::string_view name;
  DomainKind kind = DomainKind::local;
  std::uint32_t target_domain_id = 0;  // alias domains
  std::string_view transport;          // relay domains
  bool enabled = true;
};

struct Backend {
  std::uint32_t id = 0;
  std::string_view name;
  std::string_view lmtp_host;
  std::uint16_t lmtp_port = 24;
  std::string_view imap_host;
  std::uint16_t imap_port = 143;
  std::string_view partitions;
  bool enabled = true;
};

struct Account {
  std::uint32_t id = 0;
  std::string_view uid;
  std::string_view given_name;
  std::string_view surname;
  std::string_view primary_address;
  AccountStatus status = AccountStatus::active;
  Delivery delivery = Delivery::none;
  std::uint32_t backend_id = 0;
  std::string_view partition;
  std::string_view smtp_nexthop;
  std::uint32_t delivery_target_id = 0;  // delivery smtp: a delivery_targets row instead of smtp_nexthop
  std::string_view routing_address;      // replaces the target's address template
  bool keep_copy = false;                // delivery forward: also to the Cyrus mailbox
  bool mailbox_moving = false;           // mboxsync is moving the mailbox: defer its mail
};

// A named SMTP next hop (Exchange, a cloud tenant); see schema/004_routing.sql.
struct DeliveryTarget {
  std::uint32_t id = 0;
  std::string_view name;
  std::string_view transport;         // may be empty: the routing domain is routed otherwise
  std::string_view routing_domain;    // empty: hand the primary address to the transport
  std::string_view address_template;  // {uid}@{domain}
  bool enabled = true;
};

struct Address {
  std::uint32_t id = 0;
  std::uint32_t account_id = 0;
  std::string_view address;
};

struct Forward {
  std::uint32_t id = 0;
  std::uint32_t account_id = 0;
  std::string_view target;
};

struct Group {
  std::uint32_t id = 0;
  std::string_view address;
  bool enabled = true;
};

struct GroupMember {
  std::uint32_t id = 0;
  std::uint32_t group_id = 0;
  std::uint32_t account_id = 0;  // one of these three is set
  std::uint32_t member_group_id = 0;
  std::string_view address;
};

struct MailingList {
  std::uint32_t id = 0;
  std::string_view address;
  ListManager manager = ListManager::transport;
  std::string_view transport;
  std::string_view local_name;
  std::string_view pipe_command;
  bool enabled = true;
};

struct CanonicalRewrite {
  std::uint32_t id = 0;
  std::string_view source;
  std::string_view target;
  bool enabled = true;
};

struct TransportOverride {
  std::uint32_t id = 0;
  std::string_view pattern;
  std::string_view transport;
  bool enabled = true;
};

struct SystemAlias {
  std::uint32_t id = 0;
  std::string_view name;
  std::string_view targets;
  bool all_domains = false;
};

struct Snapshot {
  std::uint64_t serial = 0;  // change_serial.serial as seen by the snapshot
  unsigned schema_version = 0;
  StringPool pool;
  std::vector<Domain> domains;
  std::vector<Backend> backends;
  std::vector<Account> accounts;  // sorted by id
  std::vector<Address> addresses;
  std::vector<Forward> forwards;
  std::vector<Group> groups;  // sorted by id
  std::vector<GroupMember> group_members;
  std::vector<MailingList> lists;
  std::vector<CanonicalRewrite> canonical;
  std::vector<TransportOverride> transports;
  std::vector<SystemAlias> system_aliases;
  std::vector<DeliveryTarget> targets;  // sorted by id
};

}  // namespace mapsync
