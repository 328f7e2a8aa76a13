// change_log.cpp - see change_log.h.
#include "libmapsync/db/change_log.h"

#include <algorithm>

#include "libmapsync/core/error.h"
#include "libmapsync/db/database.h"

namespace mapsync {

PruneReport prune_change_log(Database& db, const PruneOptions& o) {
  PruneReport r;
  if (!db.scalar("SELECT serial FROM change_log_start WHERE id = 1", "reading the start of the change log", r.start_before))
    fail(Exit::data, "the change log has no start row (change_log_start id 1) in the " + db.where() +
                         "; `mapsync migrate` makes it");
  db.query("SELECT COALESCE(MAX(serial), 0) FROM change_log WHERE changed_at < NOW(6) - INTERVAL ? DAY",
           {std::uint64_t{o.keep_days}}, "finding the change-log rows older than the kept days",
           [&](const SqlRow& row) { r.by_age = row.u64(1); });
  db.query("SELECT hub, serial FROM fleet_hubs WHERE reported_at > NOW(6) - INTERVAL ? SECOND ORDER BY serial, hub LIMIT 1",
           {std::uint64_t{o.active_seconds}}, "finding the oldest serial a running hub published", [&](const SqlRow& row) {
             r.floor_hub = row.str(1);
             r.hub_floor = row.u64(2);
           });
  std::uint64_t cut = r.by_age;
  if (!r.floor_hub.empty() && r.hub_floor < cut) {
    cut = r.hub_floor;
  } else {
    r.floor_hub.clear();  // it did not hold anything back
  }
  // Rows at or below the start are never read; an interrupted prune may have left some.
  cut = std::max(cut, r.start_before);
  r.start_after = cut;
  if (o.dry_run) {
    db.query("SELECT COUNT(*) FROM change_log WHERE serial <= ?", {cut}, "counting the change-log rows to delete",
             [&](const SqlRow& row) { r.deleted = row.u64(1); });
  } else {
    // One statement each, committed as it runs (the session is in autocommit): the start
    // is moved and committed before the first row goes.
    if (cut > r.start_before)
      db.update("UPDATE change_log_start SET serial = GREATEST(serial, ?) WHERE id = 1", {cut},
                "moving the start of the change log");
    const std::uint64_t batch = std::max<std::uint64_t>(o.batch, 1);
    for (;;) {
      const std::uint64_t n = db.update("DELETE FROM change_log WHERE serial <= ? ORDER BY serial LIMIT ?", {cut, batch},
                                        "deleting old change-log rows");
      r.deleted += n;
      if (n < batch) break;
    }
  }
  db.query("SELECT COUNT(*) FROM change_log WHERE serial > ?", {cut}, "counting the change-log rows kept",
           [&](const SqlRow& row) { r.kept = row.u64(1); });
  return r;
}

}  // namespace mapsync
