// backends.cpp - read_backends(): the one query of the backends table for adsync and mboxsync.
#include "libmapsync/db/backends.h"

#include <sstream>

#include "libmapsync/db/database.h"
#include "libmapsync/db/vocabulary.h"

namespace mapsync {

std::vector<std::string> split_partitions(const std::string& column) {
  std::vector<std::string> out;
  std::stringstream in(column);
  std::string p;
  while (std::getline(in, p, ','))
    if (!p.empty()) out.push_back(p);
  if (out.empty()) out.push_back("default");
  return out;
}

std::vector<BackendRow> read_backends(Database& db, BackendLoad load) {
  // The condition is ours, never data; the status word is bound.
  SqlParams params;
  std::string join;
  if (load == BackendLoad::assigned_accounts) {
    join = "a.backend_id = b.id AND a.status <> ?";
    params.push_back(std::string(to_sql(AccountStatus::pending_delete)));
  } else {
    join = "a.backend_id = b.id AND a.provisioned_at IS NOT NULL";
  }
  std::vector<BackendRow> out;
  db.query(
      "SELECT b.id, b.name, b.enabled, COUNT(a.id), b.imap_host, b.imap_port, b.partitions FROM backends b "
      "LEFT JOIN accounts a ON " + join +
          " GROUP BY b.id, b.name, b.enabled, b.imap_host, b.imap_port, b.partitions ORDER BY b.id",
      params, "reading back ends", [&](const SqlRow& r) {
        BackendRow b;
        b.id = static_cast<std::uint32_t>(r.u64(1));
        b.name = r.str(2);
        b.enabled = r.u64(3) != 0;
        b.accounts = r.u64(4);
        b.imap_host = r.str(5);
        b.imap_port = static_cast<unsigned>(r.u64(6));
        b.partitions = split_partitions(r.str(7));
        out.push_back(std::move(b));
      });
  return out;
}

}  // namespace mapsync
