#!/usr/bin/env bash
# fleet_replication (issue 12) - three hubs on asynchronous replication: p primary, r1 and
# r2 read-only replicas. hub1 reads r1 then p, hub2 r2 then p, hub3 p only.
#   - all publish; a change on p reaches all three once the replicas have it;
#   - r1's SQL thread stopped: with a generous max_lag hub1 keeps reading r1, publishes
#     nothing older than it has, and status --fleet shows its lag; with a small max_lag it
#     passes r1 over and publishes the new serial from p; a config with r1 alone is then
#     refused (75, maps untouched: a hub never goes back in time); after START SLAVE r1
#     catches up and hub1 reads it again;
#   - r2 stopped: hub2 passes it over (cannot connect) and reads p;
#   - with maps.generations 2, hub3 reports exactly the generations it keeps after each
#     publish (the oldest is pruned in a thread while the build reports).
# It starts its own servers in a private network namespace (fleet_lib.sh).
TEST_NAME=fleet_replication
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=fleet_lib.sh
source "$(dirname "$0")/fleet_lib.sh"

repl_start
fleet_db p
HUBS=(hub1 hub2 hub3)
hub_config hub1 tcp:127.0.0.22=replica tcp:127.0.0.21=primary > "$WS/hub1.yaml"
hub_config hub2 tcp:127.0.0.23 tcp:127.0.0.21 > "$WS/hub2.yaml"
hub_config hub3 tcp:127.0.0.21 > "$WS/hub3.yaml"
STATUS_HUB=hub3   # read_from: the fleet status from p, where the hubs report
declare -A FIRST=([hub1]=127.0.0.22:3306 [hub2]=127.0.0.23:3306 [hub3]=127.0.0.21:3306)

build() {  # build NAME [CODE] [CONFIG]: as in fleet_galera.sh; CONFIG defaults to $WS/NAME.yaml
  local name=$1 code=${2:-0} conf=${3:-$WS/$1.yaml}
  expect_exit "$code" in_ns "$MAPSYNC" -c "$conf" build
  cp "$WS/out" "$WS/$name.log"
}
add_alias() {  # add_alias ADDRESS: an alias of jdoe written on p; prints p's new serial
  nq p "INSERT INTO maildb.addresses (account_id, address) VALUES (1, '$1')"
  serial p
}
serves() {
  local h want got
  want=$(lookup hub3 john.doe@example.edu) || die "hub3 does not know john.doe@example.edu"
  for h in "$@"; do
    got=$(lookup "$h" "$ADDR") || die "$h: postmap -q $ADDR finds nothing"
    [[ $got == "$want" ]] || die "$h: $ADDR -> $got, want $want"
  done
}
status_json() { expect_json 0 hub "${1:-hub3}" status --fleet --json; }

step_publish_all() {
  note "each hub publishes p's serial, read from its first endpoint"
  local s h
  s=$(serial p)
  for h in "${HUBS[@]}"; do
    build "$h"
    read_from "$h" "$s" "${FIRST[$h]}"
  done
}
step publish_all step_publish_all

step_change_on_p() {
  note "a change on p reaches all three hubs once the replicas have applied it"
  local s h
  s=$(add_alias fleet-p@example.edu)
  repl_sync
  for h in "${HUBS[@]}"; do
    build "$h"
    read_from "$h" "$s" "${FIRST[$h]}"
  done
  ADDR=fleet-p@example.edu serves "${HUBS[@]}"
  status_json hub3
  json_check "not all three at serial $s" "(.newest_serial == $s) and all(.hubs[]; .serial == $s and .behind == false and .drift == false)"
  json_check "digests differ" '[.hubs[].digest] | unique | length == 1'
  json_check "readers" '[.hubs[] | {(.hub): .reader}] | add == {"hub1": "127.0.0.22:3306", "hub2": "127.0.0.23:3306", "hub3": "127.0.0.21:3306"}'
}
step --needs publish_all change_on_p step_change_on_p

step_replica_lag() {
  local old new
  old=$(serial r1)
  note "r1's SQL thread stopped at serial $old, then a change on p"
  repl_stop_sql r1
  trap 'repl_start_sql r1 || true' EXIT
  new=$(add_alias fleet-lag@example.edu)
  repl_sync r2
  [[ $(serial r1) == "$old" ]] || die "r1 applied the change although its SQL thread is stopped"
  build hub2
  build hub3
  ADDR=fleet-lag@example.edu serves hub2 hub3

  note "max_lag large: hub1 keeps reading r1 (serial $old), publishes nothing older, and shows its lag"
  HUB_MAX_LAG=86400 hub_config hub1 tcp:127.0.0.22=replica tcp:127.0.0.21=primary > "$WS/hub1-lax.yaml"
  map_fingerprint "$WS/hub-hub1/maps" > "$WS/before"
  build hub1 0 "$WS/hub1-lax.yaml"
  read_from hub1 "$old" 127.0.0.22:3306
  map_fingerprint "$WS/hub-hub1/maps" > "$WS/after"
  diff -u "$WS/before" "$WS/after" >&2 || die "hub1's maps changed although r1 had nothing new"
  if lookup hub1 fleet-lag@example.edu > /dev/null; then die "hub1 serves fleet-lag@ read from a replica that lacks it"; fi
  status_json hub3
  json_check "hub1 shows no lag" ".newest_serial == $new and (.hubs[] | select(.hub == \"hub1\") | .serial == $old and .lag_serials > 0)"
  json_check "hub2/hub3 not at $new" "[.hubs[] | select(.hub != \"hub1\") | .serial] == [$new, $new]"

  note "max_lag 1: r1 (stopped for over a second) is passed over, hub1 publishes serial $new from p"
  # The lag is time since r1 stopped applying: let more than max_lag pass (this is the
  # quantity under test, not a wait for something to happen).
  sleep 2
  HUB_MAX_LAG=1 hub_config hub1 tcp:127.0.0.22=replica tcp:127.0.0.21=primary > "$WS/hub1-strict.yaml"
  build hub1 0 "$WS/hub1-strict.yaml"
  expect_output "passed over"
  read_from hub1 "$new" 127.0.0.21:3306
  ADDR=fleet-lag@example.edu serves hub1

  trap - EXIT   # r1 stays stopped for the next steps (catch_up starts it)
  echo "$old $new" > "$WS/serials"
}
step --needs publish_all replica_lag step_replica_lag

step_never_back() {
  local old new
  read -r old new < "$WS/serials"
  note "r1 alone (max_lag 0: never passed over for lag): serial $old, behind the $new hub1 published, so 75 and maps untouched"
  HUB_MAX_LAG=0 hub_config hub1 tcp:127.0.0.22=replica > "$WS/hub1-r1only.yaml"
  map_fingerprint "$WS/hub-hub1/maps" > "$WS/before"
  build hub1 75 "$WS/hub1-r1only.yaml"
  expect_output "behind"
  map_fingerprint "$WS/hub-hub1/maps" > "$WS/after"
  diff -u "$WS/before" "$WS/after" >&2 || die "hub1 went back in time"
  no_temp_files "$WS/hub-hub1/maps"
  ADDR=fleet-lag@example.edu serves hub1
  status_json hub3
  json_check "hub1 not at $new after publishing from p" ".hubs[] | select(.hub == \"hub1\") | .serial == $new and .lag_serials == 0"
}
step --needs replica_lag never_back step_never_back

step_catch_up() {
  local old new
  read -r old new < "$WS/serials"
  note "START SLAVE SQL_THREAD: r1 catches up to $new; hub1 reads it again"
  repl_start_sql r1
  repl_sync r1
  HUB_MAX_LAG=0 hub_config hub1 tcp:127.0.0.22=replica > "$WS/hub1-r1only.yaml"
  build hub1 0 "$WS/hub1-r1only.yaml"
  read_from hub1 "$new" 127.0.0.22:3306
  build hub1
  read_from hub1 "$new" 127.0.0.22:3306
  ADDR=fleet-lag@example.edu serves hub1
  status_json hub3
  json_check "not all at $new with no lag" "all(.hubs[]; .serial == $new and .lag_serials == 0 and .behind == false)"
}
step --needs replica_lag catch_up step_catch_up

step_replica_down() {
  note "r2 stopped: hub2 passes it over and reads p; r2 back: hub2 reads it again"
  local s
  node_stop r2
  trap 'node_start r2 || true' EXIT
  s=$(add_alias fleet-down@example.edu)
  repl_sync r1
  build hub2
  expect_output "passed over"
  expect_output "cannot connect"
  read_from hub2 "$s" 127.0.0.21:3306
  ADDR=fleet-down@example.edu serves hub2
  node_start r2
  trap - EXIT
  repl_sync r2
  build hub2
  read_from hub2 "$s" 127.0.0.23:3306
}
step --needs publish_all replica_down step_replica_down

step_generations_reported() {
  note "maps.generations 2: after every publish the hub reports exactly the two generations it kept"
  local i kept reported
  sed 's|^  directory: \(.*\)/maps$|  directory: \1/maps\n  generations: 2|' "$WS/hub3.yaml" > "$WS/hub3-g2.yaml"
  grep -q '^  generations: 2$' "$WS/hub3-g2.yaml" || die "no generations line in hub3-g2.yaml"
  for i in 1 2 3 4; do
    add_alias "fleet-gen$i@example.edu" > /dev/null
    build hub3 0 "$WS/hub3-g2.yaml"
    # The build prunes the oldest generation in a thread while it reports: what it reports
    # must still be what it keeps.
    kept=$(find "$WS/hub-hub3/maps/.generations" -mindepth 1 -maxdepth 1 -name '[0-9]*' -printf '%f\n' | sort -n | xargs)
    reported=$(nq p "SELECT generation FROM maildb.fleet_generations WHERE hub = 'hub3' ORDER BY generation" | xargs)
    [[ $(wc -w <<<"$kept") == 2 ]] || die "publish $i: kept generations \"$kept\", want two"
    [[ $reported == "$kept" ]] || die "publish $i: reported generations \"$reported\", kept \"$kept\""
  done
}
step --needs publish_all generations_reported step_generations_reported

finish
