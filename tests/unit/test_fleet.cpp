// The fleet's pure parts: endpoints in the config, what behind/drift/stale mean, the
// schema compatibility window, the combined digest and the Prometheus text.
#include <doctest/doctest.h>

#include <string>

#include "libmapsync/config/config.h"
#include "tests/unit/config_error.h"
#include "libmapsync/core/error.h"
#include "libmapsync/db/endpoints.h"
#include "libmapsync/db/fleet.h"
#include "libmapsync/db/schema.h"
#include "libmapsync/maps/fleet_report.h"

using namespace mapsync;

namespace {

const char* kFleet = R"(database:
  user: mapsync
  database: mailusers
  max_lag: 30
  lease_seconds: 10
  endpoints:
    - host: 127.0.0.22
      role: replica
    - socket: /run/mysqld/mysqld.sock
    - host: 127.0.0.21
      port: 3307
      role: primary
fleet:
  hub: hub1
  period: 120
maps:
  directory: /var/lib/mapsync/maps
)";


std::string replaced(std::string s, const std::string& from, const std::string& to) {
  const auto at = s.find(from);
  REQUIRE(at != std::string::npos);
  return s.replace(at, from.size(), to);
}

HubRow hub(const std::string& name, std::uint64_t serial, const std::string& digest, double age) {
  HubRow h;
  h.report.hub = name;
  h.report.serial = serial;
  h.report.digest = digest;
  h.age = age;
  return h;
}

}  // namespace

TEST_CASE("database.endpoints: order, roles, and what a session is opened with") {
  const Config c = parse_config(kFleet, "test.yaml");
  REQUIRE(c.database.endpoints.size() == 3);
  CHECK(c.database.endpoints[0].role == EndpointRole::replica);
  CHECK(c.database.endpoints[1].role == EndpointRole::automatic);
  CHECK(c.database.endpoints[2].port == 3307);
  CHECK(c.database.max_lag == 30);
  CHECK(c.database.lease_seconds == 10);
  CHECK(c.database.fleet.hub == "hub1");
  CHECK(c.database.fleet.period == 120);
  CHECK(c.database.fleet.stale_periods == 3);
  CHECK(endpoint_name(c.database.endpoints[0]) == "127.0.0.22:3306");
  CHECK(endpoint_name(c.database.endpoints[1]) == "/run/mysqld/mysqld.sock");
  const DatabaseConfig s = at_endpoint(c.database, c.database.endpoints[1]);
  CHECK(s.host.empty());
  CHECK(s.socket == "/run/mysqld/mysqld.sock");
  CHECK(s.user == "mapsync");
  // One server named by host: one endpoint, as before.
  const Config one = parse_config(replaced(kFleet, "  endpoints:\n    - host: 127.0.0.22\n      role: replica\n    - socket: /run/mysqld/mysqld.sock\n    - host: 127.0.0.21\n      port: 3307\n      role: primary\n", "  host: db.example.edu\n"), "t.yaml");
  REQUIRE(endpoints_of(one.database).size() == 1);
  CHECK(endpoints_of(one.database)[0].host == "db.example.edu");
}

TEST_CASE("database.endpoints: mistakes name the entry") {
  CHECK(config_error(replaced(kFleet, "role: replica", "role: slave")).find("test.yaml:8: database.endpoints[0].role: must be auto") !=
        std::string::npos);
  CHECK(config_error(replaced(kFleet, "  user: mapsync\n", "  user: mapsync\n  host: x\n")).find("either endpoints or host") !=
        std::string::npos);
  CHECK(config_error(replaced(kFleet, "    - socket: /run/mysqld/mysqld.sock\n", "    - role: galera\n")).find("database.endpoints[1]: set host") !=
        std::string::npos);
  CHECK(config_error(replaced(kFleet, "    - socket: /run/mysqld/mysqld.sock\n", "    - socket: /s\n      host: h\n")).find("database.endpoints[1]: set host") !=
        std::string::npos);
  CHECK(config_error(replaced(kFleet, "      role: primary\n", "      role: primary\n      weight: 3\n")).find("database.endpoints[2].weight: unknown key") !=
        std::string::npos);
  CHECK(config_error(replaced(kFleet, "  hub: hub1", "  hub: hub1\n  hubs: 3")).find("fleet.hubs: unknown key") != std::string::npos);
}

TEST_CASE("fleet status: behind, drift and stale") {
  FleetStatus st;
  st.hubs = {hub("a", 10, "d1", 30), hub("b", 10, "d1", 10), hub("c", 9, "d0", 10), hub("d", 10, "d2", 500)};
  judge_fleet(st, 60, 3);
  CHECK(st.newest_serial == 10);
  CHECK_FALSE(st.hubs[0].behind);
  CHECK(st.hubs[2].behind);
  // a, b and d published serial 10, d with other content: all three drift.
  CHECK(st.hubs[0].drift);
  CHECK(st.hubs[3].drift);
  CHECK_FALSE(st.hubs[2].drift);  // alone at serial 9
  CHECK_FALSE(st.hubs[0].stale);
  CHECK(st.hubs[3].stale);  // 500 s > 3 * 60 s
  st.hubs.pop_back();
  judge_fleet(st, 60, 3);
  CHECK_FALSE(st.hubs[0].drift);
}

TEST_CASE("fleet status: Prometheus text escapes hub names") {
  FleetStatus st;
  st.hubs = {hub("hub\"1\\", 7, "d", 1)};
  judge_fleet(st, 60, 3);
  const std::string text = fleet_prometheus(st);
  CHECK(text.find("mapsync_fleet_hub_serial{hub=\"hub\\\"1\\\\\"} 7\n") != std::string::npos);
  CHECK(text.find("mapsync_fleet_hold 0\n") != std::string::npos);
  CHECK(fleet_json(st).find("\"format\": 1") != std::string::npos);
}

TEST_CASE("the schema compatibility window") {
  Migration additive{6, "006_x", "-- 006_x: a new table\n-- compatible-from: 5\nCREATE TABLE x (id INT PRIMARY KEY);\n"};
  CHECK(migration_compatible_from(additive) == 5);
  Migration breaking{7, "007_y", "-- 007_y: a column renamed\nALTER TABLE x RENAME COLUMN id TO xid;\n"};
  CHECK(migration_compatible_from(breaking) == 7);
  Migration nonsense{8, "008_z", "-- 008_z\n-- compatible-from: 9\n"};
  CHECK(migration_compatible_from(nonsense) == 8);  // never from the future
  // The fleet migration itself says what it is.
  bool found = false;
  for (const Migration& m : embedded_migrations())
    if (m.version == 5) {
      found = true;
      CHECK(migration_compatible_from(m) == 5);
    }
  CHECK(found);
}

TEST_CASE("combined digest: the content of a publish, whatever the map order") {
  PublishState a, b;
  a.maps = {{"virtual", "", "v1", 1, 1, {}}, {"aliases", "", "a1", 1, 1, {}}};
  b.maps = {{"aliases", "", "a1", 1, 1, {}}, {"virtual", "", "v1", 1, 1, {}}};
  CHECK(combined_digest(a) == combined_digest(b));
  b.maps[0].digest = "a2";
  CHECK(combined_digest(a) != combined_digest(b));
}
