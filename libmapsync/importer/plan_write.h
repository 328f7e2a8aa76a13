// plan_write.h - writes an ImportPlan into the user database, inside the caller's open
// transaction (the caller validates with the renderer and commits or rolls back).
#pragma once

#include "libmapsync/db/database.h"
#include "libmapsync/importer/plan.h"

namespace mapsync {

struct WriteCounts {
  std::size_t domains = 0, backends = 0, accounts = 0, addresses = 0, forwards = 0, groups = 0, members = 0,
              canonical = 0, system_aliases = 0, transport_overrides = 0;
};

// Rows are inserted in batches of multi-row INSERTs; a unique key the database already
// holds (an import into a non-empty database) fails the whole import (Exit::data).
WriteCounts write_plan(Database& db, const ImportPlan& plan);

}  // namespace mapsync
