#!/usr/bin/env bash
# fleet_galera (issue 12) - three hubs on a three-node Galera cluster, each reading the nodes
# in its own order (hub1 g1 g2 g3, hub2 g2 g3 g1, hub3 g3 g1 g2):
#   - all publish the same serial and content; a change written on g2 reaches all three
#     (postmap -q on every hub); `status --fleet` (JSON, table, Prometheus) agrees;
#   - g1 killed (-9) while hub1 is in the middle of its read: 75, maps untouched; hub1's
#     next build passes g1 over and reads g2;
#   - a fleet-wide hold: every hub's build exits 75 and leaves its maps alone; after the
#     release they publish;
#   - a fleet-wide rollback: refused, naming the hubs, for content that not every hub has
#     stored; for content every hub has, each hub publishes it again and holds until the release;
#   - drift (a hub with other render settings publishes other maps at the same serial) and
#     stale hubs (silent for fleet.stale_periods periods) in status --fleet;
#   - the schema window: a newer schema that declares itself compatible is read (and said
#     so), one that is not is refused with 78 "upgrade mapsync".
# It starts its own cluster in a private network namespace (fleet_lib.sh).
TEST_NAME=fleet_galera
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=fleet_lib.sh
source "$(dirname "$0")/fleet_lib.sh"

galera_start
fleet_db g1
HUBS=(hub1 hub2 hub3)
hub_config hub1 tcp:127.0.0.11 tcp:127.0.0.12 tcp:127.0.0.13 > "$WS/hub1.yaml"
hub_config hub2 tcp:127.0.0.12 tcp:127.0.0.13 tcp:127.0.0.11 > "$WS/hub2.yaml"
# hub3 names the role; hub1 and hub2 leave it to detection.
hub_config hub3 tcp:127.0.0.13=galera tcp:127.0.0.11=galera tcp:127.0.0.12=galera > "$WS/hub3.yaml"
declare -A FIRST=([hub1]=127.0.0.11:3306 [hub2]=127.0.0.12:3306 [hub3]=127.0.0.13:3306)
mkfifo "$WS/pause" "$WS/pause.resume"

# build NAME [CODE]: hub NAME's build, which must exit CODE (0); its log in $WS/out and $WS/NAME.log.
build() {
  local name=$1 code=${2:-0}
  expect_exit "$code" hub "$name" build
  cp "$WS/out" "$WS/$name.log"
}
# add_alias NODE ADDRESS: a new alias of jdoe (account 1) written on NODE; prints the new serial.
add_alias() {
  nq "$1" "INSERT INTO maildb.addresses (account_id, address) VALUES (1, '$2')"
  galera_sync
  serial "$1"
}
# serves ADDRESS: every hub's virtual map answers ADDRESS as it answers jdoe's primary address.
serves() {
  local h want got
  want=$(lookup hub1 john.doe@example.edu) || die "hub1 does not know john.doe@example.edu"
  for h in "${HUBS[@]}"; do
    got=$(lookup "$h" "$1") || die "$h: postmap -q $1 finds nothing"
    [[ $got == "$want" ]] || die "$h: $1 -> $got, want $want"
  done
}
serves_not() {
  local h
  for h in "${HUBS[@]}"; do
    if lookup "$h" "$1" >/dev/null; then die "$h already serves $1"; fi
  done
}
fingerprints() { local h; for h in "${HUBS[@]}"; do echo "== $h"; map_fingerprint "$WS/hub-$h/maps"; done; }
status_json() { expect_json 0 hub "${1:-hub1}" status --fleet --json; }

step_publish_all() {
  note "three hubs, three orders: each publishes the current serial from its first node"
  local s h
  s=$(serial g1)
  for h in "${HUBS[@]}"; do
    build "$h"
    read_from "$h" "$s" "${FIRST[$h]}"
    [[ -s $WS/hub-$h/maps/virtual.db ]] || die "$h: no virtual.db"
  done
  serves john.doe@example.edu
}
step publish_all step_publish_all

step_change_on_g2() {
  note "an alias added on g2 reaches all three hubs; until hub3 builds, status says it is behind"
  local s h
  serves_not fleet-g2@example.edu
  s=$(add_alias g2 fleet-g2@example.edu)
  build hub1
  build hub2
  status_json hub1
  json_check "newest_serial is not $s" ".newest_serial == $s"
  json_check "hub3 not behind while it has not built" ".hubs[] | select(.hub == \"hub3\") | .behind == true and .serial < $s"
  json_check "hub1 and hub2 not at serial $s" "[.hubs[] | select(.hub != \"hub3\") | .serial] == [$s, $s]"
  build hub3
  for h in "${HUBS[@]}"; do cp "$WS/$h.log" "$WS/out"; read_from "$h" "$s" "${FIRST[$h]}"; done
  serves fleet-g2@example.edu
  echo "$s" > "$WS/serial"
}
step --needs publish_all change_on_g2 step_change_on_g2

step_fleet_status() {
  note "status --fleet: 3 hubs, one serial, one digest, none behind, drifting or stale"
  local s h
  s=$(<"$WS/serial")
  for h in "${HUBS[@]}"; do
    status_json "$h"
    json_check "$h: format" '.format == 1'
    json_check "$h: not the three hubs" '[.hubs[].hub] | sort == ["hub1", "hub2", "hub3"]'
    json_check "$h: not all at serial $s" "(.newest_serial == $s) and all(.hubs[]; .serial == $s)"
    json_check "$h: digests differ" '[.hubs[].digest] | unique | length == 1 and (.[0] | test("^[0-9a-f]{64}$"))'
    json_check "$h: per-map digests differ" '[.hubs[].maps.virtual] | unique | length == 1'
    json_check "$h: a hub behind, drifting or stale" 'all(.hubs[]; .behind == false and .drift == false and .stale == false and .lag_serials == 0)'
    json_check "$h: a hold" '.hold == null'
  done
  json_check "readers are not each hub's first node" \
    '[.hubs[] | {(.hub): .reader}] | add == {"hub1": "127.0.0.11:3306", "hub2": "127.0.0.12:3306", "hub3": "127.0.0.13:3306"}'
  json_check "schema or generation missing" 'all(.hubs[]; (.schema | type) == "number" and (.generation | type) == "number")'
  expect_exit 0 hub hub2 status --fleet
  for h in "${HUBS[@]}"; do expect_output "$h"; done
  expect_exit 0 hub hub3 status --fleet --prometheus "$WS/fleet.prom"
  for h in "${HUBS[@]}"; do
    grep -Eq "^mapsync_fleet_hub_serial\{hub=\"$h\"\} $s\$" "$WS/fleet.prom" || { cat "$WS/fleet.prom" >&2; die "no serial $s for $h in the Prometheus file"; }
    grep -Eq "^mapsync_fleet_hub_behind\{hub=\"$h\"\} 0\$" "$WS/fleet.prom" || die "$h behind in the Prometheus file"
    grep -Eq "^mapsync_fleet_hub_drift\{hub=\"$h\"\} 0\$" "$WS/fleet.prom" || die "$h drifting in the Prometheus file"
    grep -Eq "^mapsync_fleet_hub_stale\{hub=\"$h\"\} 0\$" "$WS/fleet.prom" || die "$h stale in the Prometheus file"
    grep -Eq "^mapsync_fleet_hub_lag_seconds\{hub=\"$h\"\} " "$WS/fleet.prom" || die "no lag for $h in the Prometheus file"
  done
  grep -Eq '^mapsync_fleet_hold 0$' "$WS/fleet.prom" || die "mapsync_fleet_hold is not 0"
}
step --needs change_on_g2 fleet_status step_fleet_status

step_node_killed_mid_read() {
  note "g1 killed while hub1 reads from it: 75, maps untouched; the next build reads g2"
  local pid rc=0 info s
  add_alias g2 fleet-mid@example.edu > /dev/null
  map_fingerprint "$WS/hub-hub1/maps" > "$WS/before"
  in_ns env MAPSYNC_TEST_PAUSE="source.after_accounts:$WS/pause" "$MAPSYNC" -c "$WS/hub1.yaml" build > "$WS/out" 2>&1 &
  pid=$!
  info=$(pause_wait "$WS/pause") || die "hub1 did not reach source.after_accounts"
  note "paused at source.after_accounts ($info)"
  node_kill g1
  pause_resume "$WS/pause"
  wait "$pid" || rc=$?
  [[ $rc == 75 ]] || { cat "$WS/out" >&2; die "g1 killed mid-read: exit $rc, want 75"; }
  map_fingerprint "$WS/hub-hub1/maps" > "$WS/after"
  diff -u "$WS/before" "$WS/after" >&2 || die "hub1's maps changed although the read failed"
  no_temp_files "$WS/hub-hub1/maps"
  if lookup hub1 fleet-mid@example.edu >/dev/null; then die "hub1 serves fleet-mid@ after a failed read"; fi
  s=$(serial g2)
  build hub1
  read_from hub1 "$s" 127.0.0.12:3306
  expect_output "passed over"
  lookup hub1 fleet-mid@example.edu > /dev/null || die "hub1 does not serve fleet-mid@ after reading g2"
  status_json hub2
  json_check "hub1's reader is not g2" '.hubs[] | select(.hub == "hub1") | .reader == "127.0.0.12:3306"'
  build hub2
  build hub3
  node_start g1
  galera_wait_size 3
}
step --needs publish_all node_killed_mid_read step_node_killed_mid_read

step_fleet_hold() {
  note "a fleet-wide hold: every hub's build exits 69 (held) and changes nothing; after the release all publish"
  local h
  # Any node that is down (a failed earlier step) comes back first.
  node_pid g1 > /dev/null || { node_start g1; galera_wait_size 3; }
  for h in "${HUBS[@]}"; do build "$h"; done
  expect_exit 0 hub hub2 hold --fleet "fleet test: change freeze"
  trap 'hub hub2 release --fleet > /dev/null 2>&1 || true' EXIT
  # (add_alias waits until every node has applied the hold too)
  add_alias g3 fleet-hold@example.edu > /dev/null
  fingerprints > "$WS/before"
  for h in "${HUBS[@]}"; do
    build "$h" 69
    expect_output "held fleet-wide"
  done
  fingerprints > "$WS/after"
  diff -u "$WS/before" "$WS/after" >&2 || die "maps changed under a fleet hold"
  serves_not fleet-hold@example.edu
  status_json hub1
  json_check "status does not show the hold" '.hold.reason == "fleet test: change freeze" and (.hold.by | length > 0) and (.hold.at != null)'
  expect_exit 0 hub hub1 status --fleet --prometheus "$WS/fleet.prom"
  grep -Eq '^mapsync_fleet_hold 1$' "$WS/fleet.prom" || { cat "$WS/fleet.prom" >&2; die "mapsync_fleet_hold is not 1"; }
  expect_exit 0 hub hub3 release --fleet
  trap - EXIT
  galera_sync   # the release, written on g3, applied on g1 and g2 before their hubs look
  for h in "${HUBS[@]}"; do build "$h"; done
  serves fleet-hold@example.edu
  status_json hub1
  json_check "hold still shown after the release" '.hold == null'
}
step --needs publish_all fleet_hold step_fleet_hold

gen_of() {  # gen_of HUB: HUB's published generation, from the fleet status
  status_json hub1
  jq -r --arg h "$1" '.hubs[] | select(.hub == $h) | .generation' "$WS/json"
}
step_fleet_rollback() {
  note "rollback --fleet: refused for content only hub1 has; for content all have, every hub goes back and holds"
  local h g_all g_only rc
  node_pid g1 > /dev/null || { node_start g1; galera_wait_size 3; }
  for h in "${HUBS[@]}"; do build "$h"; done
  g_all=$(gen_of hub1)
  add_alias g1 fleet-rb@example.edu > /dev/null
  for h in "${HUBS[@]}"; do build "$h"; done
  serves fleet-rb@example.edu
  add_alias g1 fleet-rb-only1@example.edu > /dev/null
  build hub1
  g_only=$(gen_of hub1)
  [[ $g_all =~ ^[0-9]+$ && $g_only =~ ^[0-9]+$ && $g_only != "$g_all" ]] || die "generations: all $g_all, hub1 only $g_only"

  note "generation $g_only (hub1 alone has its content): refused, naming hub2 and hub3"
  fingerprints > "$WS/before"
  rc=0; hub hub1 rollback --fleet "$g_only" > "$WS/out" 2>&1 || rc=$?
  [[ $rc != 0 ]] || { cat "$WS/out" >&2; die "rollback --fleet $g_only was not refused"; }
  expect_output hub2
  expect_output hub3
  status_json hub1
  json_check "a refused rollback left a hold" '.hold == null'
  fingerprints > "$WS/after"
  diff -u "$WS/before" "$WS/after" >&2 || die "a refused rollback changed maps"

  note "generation $g_all (every hub has its content): each hub publishes it again, then holds"
  expect_exit 0 hub hub1 rollback --fleet "$g_all"
  trap 'hub hub1 release --fleet > /dev/null 2>&1 || true' EXIT
  galera_sync
  for h in "${HUBS[@]}"; do
    # The build that rolls back publishes; whether it then says 0 or 69 (held) is the
    # implementation's choice. The next one is held like any build under a hold.
    rc=0; hub "$h" build > "$WS/out" 2>&1 || rc=$?
    [[ $rc == 0 || $rc == 69 ]] || { cat "$WS/out" >&2; die "$h: rollback build exited $rc"; }
    build "$h" 69
    expect_output "held fleet-wide"
  done
  serves_not fleet-rb@example.edu
  serves john.doe@example.edu
  status_json hub2
  json_check "the hubs do not publish one content after the rollback" '[.hubs[].digest] | unique | length == 1'
  json_check "no hold shown" '.hold != null'
  expect_exit 0 hub hub2 release --fleet
  trap - EXIT
  galera_sync
  for h in "${HUBS[@]}"; do build "$h"; done
  serves fleet-rb@example.edu
  serves fleet-rb-only1@example.edu
}
step --needs publish_all fleet_rollback step_fleet_rollback

# all_stale CONF: status --fleet with CONF says every hub is stale.
all_stale() {
  in_ns "$MAPSYNC" -c "$1" status --fleet --json > "$WS/stale.json" 2>/dev/null &&
    jq -e '(.hubs | length == 3) and all(.hubs[]; .stale == true)' "$WS/stale.json" > /dev/null
}
step_drift_and_stale() {
  note "hub3 with other render settings: other maps at the same serial, shown as drift"
  local h
  node_pid g1 > /dev/null || { node_start g1; galera_wait_size 3; }
  for h in "${HUBS[@]}"; do build "$h"; done
  { cat "$WS/hub3.yaml"; printf 'render:\n  canonical:\n    generate: false\n'; } > "$WS/hub3-drift.yaml"
  # --force: dropping the generated canonical entries trips the removal gate, as it should
  expect_exit 0 in_ns "$MAPSYNC" -c "$WS/hub3-drift.yaml" build --force
  status_json hub1
  json_check "not one serial" '[.hubs[].serial] | unique | length == 1'
  json_check "hub3's other maps not shown as drift" '(.hubs[] | select(.hub == "hub3") | .drift == true) and ([.hubs[].digest] | unique | length == 2)'
  expect_exit 0 hub hub1 status --fleet --prometheus "$WS/fleet.prom"
  grep -Eq '^mapsync_fleet_hub_drift\{hub="hub3"\} 1$' "$WS/fleet.prom" || { cat "$WS/fleet.prom" >&2; die "no drift for hub3 in the Prometheus file"; }
  build hub3
  status_json hub1
  json_check "drift after hub3 went back to the fleet's settings" 'all(.hubs[]; .drift == false) and ([.hubs[].digest] | unique | length == 1)'

  note "stale: with period 1 s and stale_periods 1, every hub is stale once a second passes without a build"
  HUB_PERIOD=1 HUB_STALE=1 hub_config observer tcp:127.0.0.12 > "$WS/observer.yaml"
  wait_for 15 "every hub stale (period 1 s)" all_stale "$WS/observer.yaml"
  expect_exit 0 in_ns "$MAPSYNC" -c "$WS/observer.yaml" status --fleet --prometheus "$WS/fleet.prom"
  for h in "${HUBS[@]}"; do
    grep -Eq "^mapsync_fleet_hub_stale\{hub=\"$h\"\} 1\$" "$WS/fleet.prom" || { cat "$WS/fleet.prom" >&2; die "$h not stale in the Prometheus file"; }
  done
  status_json hub1
  json_check "stale with the default period" 'all(.hubs[]; .stale == false)'
}
step --needs publish_all drift_and_stale step_drift_and_stale

# The schema version this mapsync needs: what its migrate made of the empty database.
LATEST=$(nq g1 "SELECT MAX(version) FROM maildb.schema_version")
[[ $LATEST =~ ^[0-9]+$ ]] || die "cannot read the schema version"
step_schema_window() {
  local v1=$((LATEST + 1)) v2=$((LATEST + 2)) h
  note "schema $v1 compatible from $LATEST: published (and said); $v2 compatible from $v2: 78"
  trap 'nq g1 "DELETE FROM maildb.schema_version WHERE version > $LATEST" || true' EXIT
  nq g1 "INSERT INTO maildb.schema_version (version, name, compatible_from) VALUES ($v1, '$(printf '%03d' "$v1")_fleet_test', $LATEST)"
  add_alias g1 fleet-v1@example.edu > /dev/null
  for h in "${HUBS[@]}"; do
    build "$h"
    grep -i schema "$WS/out" | grep -q "$v1" || { cat "$WS/out" >&2; die "$h: the log does not mention schema version $v1"; }
  done
  serves fleet-v1@example.edu
  nq g2 "INSERT INTO maildb.schema_version (version, name, compatible_from) VALUES ($v2, '$(printf '%03d' "$v2")_fleet_test', $v2)"
  add_alias g2 fleet-v2@example.edu > /dev/null
  fingerprints > "$WS/before"
  for h in "${HUBS[@]}"; do
    build "$h" 78
    expect_output "upgrade mapsync"
  done
  fingerprints > "$WS/after"
  diff -u "$WS/before" "$WS/after" >&2 || die "maps changed although the schema was refused"
  nq g3 "DELETE FROM maildb.schema_version WHERE version > $LATEST"
  galera_sync
  trap - EXIT
  for h in "${HUBS[@]}"; do build "$h"; done
  serves fleet-v2@example.edu
  status_json hub1
  json_check "schema is not $LATEST for every hub" "all(.hubs[]; .schema == $LATEST)"
}
step --needs publish_all schema_window step_schema_window

finish
