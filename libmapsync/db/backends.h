// backends.h - the `backends` table (Cyrus back ends) as the directory and mailbox jobs
// read it: one struct, one query.
//
// adsync places new accounts on the least loaded back end; mboxsync connects to them and
// places unprovisioned accounts. They count "load" differently (see BackendLoad), which
// is the only difference between their reads.
//
// The maps snapshot keeps its own maps/model.h Backend on purpose: it holds string_views
// into the snapshot's pool (a million-account snapshot must not pay a std::string per
// field) and carries the LMTP columns that only the transport map needs.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace mapsync {

class Database;

struct BackendRow {
  std::uint32_t id = 0;
  std::string name;
  bool enabled = true;
  std::uint64_t accounts = 0;  // the load, as counted by read_backends()
  std::string imap_host;
  unsigned imap_port = 143;
  std::vector<std::string> partitions;  // never empty: {"default"} when the column is
};

// What BackendRow::accounts counts.
enum class BackendLoad {
  // accounts routed to the back end that are not pending-delete (adsync's placement:
  // an account counts from the moment it is assigned, mailbox or not)
  assigned_accounts,
  // accounts whose mailbox was created there (mboxsync's placement)
  provisioned_mailboxes,
};

// Every back end, ordered by id (in the caller's transaction, if one is open).
std::vector<BackendRow> read_backends(Database& db, BackendLoad load);

// "default,part2" -> {"default", "part2"}; empty -> {"default"} (Cyrus' own default).
std::vector<std::string> split_partitions(const std::string& column);

}  // namespace mapsync
