// change_log.h - pruning the change log (schema/007) that incremental builds read.
//
// The log grows by one row per changed row and is never read past what every hub has
// published, so old rows are dead weight. A prune deletes the rows older than a number of
// days, but never one that a hub which reported lately still needs (rows after the serial
// it published): such a hub would have to build in full. change_log_start moves first, in
// its own commit, then the rows go in small batches (a Galera write set stays small; a
// reader's snapshot taken before the move still sees the old start and every row).
#pragma once

#include <cstdint>
#include <string>

namespace mapsync {

class Database;

struct PruneOptions {
  unsigned keep_days = 30;          // rows changed within this many days stay
  unsigned active_seconds = 3600;   // hubs that reported within this count as running
  std::uint64_t batch = 10000;      // rows per DELETE (each its own transaction)
  bool dry_run = false;             // only count
};

struct PruneReport {
  std::uint64_t start_before = 0;   // change_log_start.serial before
  std::uint64_t start_after = 0;    // ... and after (or what it would be)
  std::uint64_t by_age = 0;         // newest serial older than keep_days (0: none)
  std::uint64_t hub_floor = 0;      // oldest serial published by a running hub (0: none reported)
  std::string floor_hub;            // that hub, when it held the cut back
  std::uint64_t deleted = 0;        // rows deleted (dry run: that would be)
  std::uint64_t kept = 0;           // rows left
};

// Deletes the change-log rows at or below min(by_age, hub_floor), after moving
// change_log_start there. Needs DELETE on change_log and UPDATE on change_log_start (the
// migrate account has both); the caller's session must not be inside a transaction.
PruneReport prune_change_log(Database& db, const PruneOptions& options);

}  // namespace mapsync
