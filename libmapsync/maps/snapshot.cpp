// snapshot.cpp - reads every table the maps need in one consistent snapshot, through the
// database room's session (db/database.h), into the pooled rows of model.h.
#include "libmapsync/maps/snapshot.h"

#include <algorithm>
#include <functional>
#include <type_traits>

#include "libmapsync/core/error.h"
#include "libmapsync/core/log.h"
#include "libmapsync/core/testhooks.h"
#include "libmapsync/db/database.h"

namespace mapsync {
namespace {

// view() is {} (no data) for NULL, so one call tells NULL from an empty string: NULL stays
// unpooled, as before, without asking the result set twice per column of a million rows.
std::string_view col(StringPool& pool, const SqlRow& r, int i) {
  const std::string_view v = r.view(i);
  return v.data() ? pool.add(v) : v;
}

std::uint32_t id(const SqlRow& r, int i) { return static_cast<std::uint32_t>(r.u64(i)); }

// Which rows of a table to read: all (where empty) or those the condition selects.
struct Filter {
  std::string where;  // "WHERE account_id IN (?,?)"
  SqlParams params;
};

void rows(Database& c, const std::string& select, const std::string& order, const Filter& f, const std::string& doing,
          const std::function<void(const SqlRow&)>& fn) {
  if (f.where.empty()) c.each_row(select + " " + order, doing, fn);
  else c.query(select + " " + f.where + " " + order, f.params, doing, fn);
}

void read_domains(Database& c, Snapshot& s) {
  StringPool& p = s.pool;
  c.each_row("SELECT id, name, kind, target_domain_id, transport, enabled FROM domains ORDER BY id", "reading domains",
             [&](const SqlRow& r) {
               Domain d;
               d.id = id(r, 1);
               // Map entries record an alias domain's id in 16 bits (model.h Origin).
               if (d.id > 65535) fail(Exit::config, c.where() + ": domains id=" + std::to_string(d.id) + ": domain ids above 65535 are not supported");
               d.name = col(p, r, 2);
               d.kind = parse_sql<DomainKind>(r.view(3));
               d.target_domain_id = id(r, 4);
               d.transport = col(p, r, 5);
               d.enabled = (r.u64(6) != 0);
               s.domains.push_back(d);
             });
  c.each_row("SELECT id, name, lmtp_host, lmtp_port, imap_host, imap_port, partitions, enabled FROM backends ORDER BY id",
             "reading backends", [&](const SqlRow& r) {
               Backend b;
               b.id = id(r, 1);
               b.name = col(p, r, 2);
               b.lmtp_host = col(p, r, 3);
               b.lmtp_port = static_cast<std::uint16_t>(r.u64(4));
               b.imap_host = col(p, r, 5);
               b.imap_port = static_cast<std::uint16_t>(r.u64(6));
               b.partitions = col(p, r, 7);
               b.enabled = (r.u64(8) != 0);
               s.backends.push_back(b);
             });
}

void read_accounts(Database& c, Snapshot& s, const SnapshotOptions& options, const Filter& f) {
  StringPool& p = s.pool;
  rows(c, std::string("SELECT id, uid, ") + (options.names ? "given_name, surname" : "NULL, NULL") +
              ", primary_address, status, delivery, backend_id, cyrus_partition, smtp_nexthop, delivery_target_id, "
              "routing_address, keep_copy, mailbox_moving FROM accounts",
       "ORDER BY id", f, "reading accounts", [&](const SqlRow& r) {
         Account a;
         a.id = id(r, 1);
         a.uid = col(p, r, 2);
         a.given_name = col(p, r, 3);
         a.surname = col(p, r, 4);
         a.primary_address = col(p, r, 5);
         a.status = parse_sql<AccountStatus>(r.view(6));
         a.delivery = parse_sql<Delivery>(r.view(7));
         a.backend_id = id(r, 8);
         a.partition = col(p, r, 9);
         a.smtp_nexthop = col(p, r, 10);
         a.delivery_target_id = id(r, 11);
         a.routing_address = col(p, r, 12);
         a.keep_copy = (r.u64(13) != 0);
         a.mailbox_moving = (r.u64(14) != 0);
         s.accounts.push_back(a);
       });
}

void read_account_rows(Database& c, Snapshot& s, const Filter& f) {
  StringPool& p = s.pool;
  rows(c, "SELECT id, account_id, address FROM addresses", "ORDER BY id", f, "reading addresses",
       [&](const SqlRow& r) { s.addresses.push_back({id(r, 1), id(r, 2), col(p, r, 3)}); });
  rows(c, "SELECT id, account_id, target FROM account_forwards", "ORDER BY id", f, "reading account_forwards",
       [&](const SqlRow& r) { s.forwards.push_back({id(r, 1), id(r, 2), col(p, r, 3)}); });
}

void read_groups(Database& c, Snapshot& s, const Filter& groups, const Filter& members) {
  StringPool& p = s.pool;
  rows(c, "SELECT id, address, enabled FROM group_aliases", "ORDER BY id", groups, "reading group_aliases",
       [&](const SqlRow& r) { s.groups.push_back({id(r, 1), col(p, r, 2), (r.u64(3) != 0)}); });
  rows(c, "SELECT id, group_id, member_account_id, member_group_id, member_address FROM group_members", "ORDER BY id", members,
       "reading group_members",
       [&](const SqlRow& r) { s.group_members.push_back({id(r, 1), id(r, 2), id(r, 3), id(r, 4), col(p, r, 5)}); });
}

void read_lists(Database& c, Snapshot& s, const Filter& f) {
  StringPool& p = s.pool;
  rows(c, "SELECT id, address, manager, transport, local_name, pipe_command, enabled FROM mailing_lists", "ORDER BY id", f,
       "reading mailing_lists", [&](const SqlRow& r) {
         MailingList l;
         l.id = id(r, 1);
         l.address = col(p, r, 2);
         l.manager = parse_sql<ListManager>(r.view(3));
         l.transport = col(p, r, 4);
         l.local_name = col(p, r, 5);
         l.pipe_command = col(p, r, 6);
         l.enabled = (r.u64(7) != 0);
         s.lists.push_back(l);
       });
}

void read_canonical(Database& c, Snapshot& s, const Filter& f) {
  StringPool& p = s.pool;
  rows(c, "SELECT id, source, target, enabled FROM canonical_rewrites", "ORDER BY id", f, "reading canonical_rewrites",
       [&](const SqlRow& r) { s.canonical.push_back({id(r, 1), col(p, r, 2), col(p, r, 3), (r.u64(4) != 0)}); });
}

// The small tables after the big ones: transport overrides, system aliases, targets.
void read_routing(Database& c, Snapshot& s) {
  StringPool& p = s.pool;
  c.each_row("SELECT id, pattern, transport, enabled FROM transport_overrides ORDER BY id", "reading transport_overrides",
             [&](const SqlRow& r) { s.transports.push_back({id(r, 1), col(p, r, 2), col(p, r, 3), (r.u64(4) != 0)}); });
  c.each_row("SELECT id, name, targets, all_domains FROM system_aliases ORDER BY id", "reading system_aliases",
             [&](const SqlRow& r) { s.system_aliases.push_back({id(r, 1), col(p, r, 2), col(p, r, 3), (r.u64(4) != 0)}); });
  c.each_row("SELECT id, name, transport, routing_domain, address_template, enabled FROM delivery_targets ORDER BY id",
             "reading delivery_targets", [&](const SqlRow& r) {
               s.targets.push_back({id(r, 1), col(p, r, 2), col(p, r, 3), col(p, r, 4), col(p, r, 5), (r.u64(6) != 0)});
             });
}

// Every table the maps need, in order, inside the snapshot read_snapshot() opened.
void read_rows(Database& c, Snapshot& s, const SnapshotOptions& options, std::uint64_t conn_id) {
  read_domains(c, s);
  read_accounts(c, s, options, {});
  testhook::pause_point("source.after_accounts", std::to_string(conn_id));
  read_account_rows(c, s, {});
  read_groups(c, s, {}, {});
  read_lists(c, s, {});
  read_canonical(c, s, {});
  read_routing(c, s);
}

// "WHERE column IN (?,?,...)" for the values (ids or strings).
template <class T>
Filter in(const char* column, const std::vector<T>& values) {
  Filter f;
  f.where = std::string("WHERE ") + column + " IN (";
  for (std::size_t i = 0; i < values.size(); ++i) {
    f.where += i ? ",?" : "?";
    if constexpr (std::is_same_v<T, std::uint32_t>) f.params.emplace_back(std::uint64_t{values[i]});
    else f.params.emplace_back(values[i]);
  }
  f.where += ")";
  return f;
}

// Large IN lists in slices: a statement per few hundred values.
template <class T, class Fn>
void in_slices(const std::vector<T>& values, Fn fn, std::size_t slice = 500) {
  for (std::size_t i = 0; i < values.size(); i += slice)
    fn(std::vector<T>(values.begin() + static_cast<std::ptrdiff_t>(i),
                      values.begin() + static_cast<std::ptrdiff_t>(std::min(values.size(), i + slice))));
}

template <class T>
void sort_by_id(std::vector<T>& v) {
  std::sort(v.begin(), v.end(), [](const T& a, const T& b) { return a.id < b.id; });
}

}  // namespace

void read_snapshot(const DatabaseConfig& db, Snapshot& s, const SnapshotOptions& options) {
  Database c(db, SchemaCheck::by_caller);
  read_snapshot(c, s, options);
}

void read_snapshot(Database& c, Snapshot& s, const SnapshotOptions& options) {
  c.execute("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ", "setting the isolation level");
  c.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY", "starting the snapshot");
  read_snapshot_in(c, s, options);
  // Ending the read-only transaction proves the connection survived to the last row:
  // a result cut short by a dying server would otherwise look like a shorter table.
  c.execute("COMMIT", "ending the snapshot");
  log::info(c.where() + ": read serial " + std::to_string(s.serial) + " from " + c.endpoint() + ": " + std::to_string(s.accounts.size()) +
            " accounts, " + std::to_string(s.addresses.size()) + " addresses, " + std::to_string(s.groups.size()) +
            " groups");
}

PartialReader::PartialReader(Database& c, Snapshot& s, const SnapshotOptions& options) : c_(c), s_(s), options_(options) {
  read_domains(c_, s_);
  // Lists whole too: their companion addresses (render.list_companions) are checked
  // against each other, and a campus has hundreds of lists, not a million.
  read_lists(c_, s_, {});
  read_routing(c_, s_);
}

void PartialReader::accounts(const std::vector<std::uint32_t>& ids) {
  in_slices(ids, [&](const std::vector<std::uint32_t>& x) {
    read_accounts(c_, s_, options_, in("id", x));
    read_account_rows(c_, s_, in("account_id", x));
  });
}

void PartialReader::groups(const std::vector<std::uint32_t>& ids) {
  in_slices(ids, [&](const std::vector<std::uint32_t>& x) { read_groups(c_, s_, in("id", x), in("group_id", x)); });
}

void PartialReader::canonical(const std::vector<std::uint32_t>& ids) {
  in_slices(ids, [&](const std::vector<std::uint32_t>& x) { read_canonical(c_, s_, in("id", x)); });
}

void PartialReader::finish() {
  sort_by_id(s_.accounts);
  sort_by_id(s_.addresses);
  sort_by_id(s_.forwards);
  sort_by_id(s_.groups);
  sort_by_id(s_.group_members);
  sort_by_id(s_.lists);
  sort_by_id(s_.canonical);
}

void PartialReader::owners_of(const std::vector<std::string>& addresses, const std::vector<std::string>& locals,
                              std::vector<OwnerCode>& out) {
  // Addresses are longer than ids: smaller slices keep each statement short.
  const auto ask = [&](const std::vector<std::string>& values, const char* select, const char* column, Table t, const char* doing) {
    in_slices(
        values,
        [&](const std::vector<std::string>& x) {
          rows(c_, select, "", in(column, x), doing, [&](const SqlRow& r) { out.push_back(owner_code(t, id(r, 1))); });
        },
        200);
  };
  ask(addresses, "SELECT id FROM accounts", "primary_address", Table::accounts, "looking up accounts by address");
  ask(addresses, "SELECT account_id FROM addresses", "address", Table::accounts, "looking up addresses");
  ask(addresses, "SELECT id FROM group_aliases", "address", Table::group_aliases, "looking up groups by address");
  ask(addresses, "SELECT id FROM mailing_lists", "address", Table::mailing_lists, "looking up lists by address");
  ask(locals, "SELECT id FROM accounts", "uid", Table::accounts, "looking up accounts by uid");
}

void read_snapshot_in(Database& c, Snapshot& s, const SnapshotOptions& options) {
  std::uint64_t conn_id = 0;
  c.scalar("SELECT CONNECTION_ID()", "asking for the connection id", conn_id);
  s.schema_version = c.schema_version();
  c.check_schema(s.schema_version);
  if (!c.scalar("SELECT serial FROM change_serial WHERE id = 1", "reading the change serial", s.serial))
    fail(Exit::data, c.where() + ": table change_serial has no row id=1");
  // Reserving from a count inside the same snapshot saves the doubling of the two big
  // vectors (a million rows: tens of megabytes at the peak).
  std::uint64_t n_accounts = 0, n_addresses = 0;
  c.scalar("SELECT COUNT(*) FROM accounts", "counting accounts", n_accounts);
  c.scalar("SELECT COUNT(*) FROM addresses", "counting addresses", n_addresses);
  s.accounts.reserve(n_accounts);
  s.addresses.reserve(n_addresses);

  read_rows(c, s, options, conn_id);
  // Vectors grew by doubling; give back the slack before the renderer needs memory.
  s.accounts.shrink_to_fit();
  s.addresses.shrink_to_fit();
  s.group_members.shrink_to_fit();
}

}  // namespace mapsync
