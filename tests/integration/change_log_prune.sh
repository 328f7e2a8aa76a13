#!/usr/bin/env bash
# change_log_prune: `mapsync prune-log` deletes the change-log rows older than --keep-days,
# never one that a hub which reported lately still needs, and moves change_log_start with
# them: a running hub keeps building incrementally after a prune; one whose published
# serial was pruned away builds in full once and says why; a dry run deletes nothing; the
# rows go in batches of --batch.
TEST_NAME=change_log_prune
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
: "${MAPSYNC_TEST_DBDIR:?}"
DBN=change_log_prune

write_config "$MAPSYNC_TEST_DBDIR" "$DBN" "$WS/maps" > "$WS/conf.yaml"
campus_db "$MAPSYNC_TEST_DBDIR" "$DBN" "$WS/conf.yaml"
"$MAPSYNC" -c "$WS/conf.yaml" -q build || die "the first build failed"

sql() { q "$DBN" "$1"; }
serial() { sql "SELECT serial FROM change_serial WHERE id = 1"; }
start() { sql "SELECT serial FROM change_log_start WHERE id = 1"; }
rows() { sql "SELECT COUNT(*) FROM change_log"; }
published() { sql "SELECT serial FROM fleet_hubs"; }
age_all() { sql "UPDATE change_log SET changed_at = NOW(6) - INTERVAL 40 DAY"; }
# Steps are subshells: the aliases made so far are counted in the database.
made() { sql "SELECT COUNT(*) FROM addresses WHERE address LIKE 'pruned%'"; }
add_aliases() {  # add_aliases COUNT: COUNT new addresses of one account, one change-log row each
  local i N
  for ((i = 0; i < $1; i++)); do
    N=$(( $(made) + 1 ))
    sql "INSERT INTO addresses (account_id, address) SELECT id, 'pruned$N@example.edu' FROM accounts
         WHERE status = 'active' AND delivery = 'cyrus' ORDER BY id LIMIT 1"
  done
}
prune() { expect_exit 0 "$MAPSYNC" -c "$WS/conf.yaml" prune-log "$@"; }
build() {  # build incremental|full: a build that must read the change log (or not)
  expect_exit 0 "$MAPSYNC" -c "$WS/conf.yaml" -v build
  if [[ $1 == incremental ]]; then
    expect_output 'incremental read and render'
  else
    grep -q 'incremental read and render' "$WS/out" && { cat "$WS/out" >&2; die "the build was incremental"; }
    expect_output "full build: the change log starts at serial $(start), after the published serial"
  fi
  [[ $(published) == "$(serial)" ]] || die "the hub did not report the serial it published"
  [[ $(postmap -q "pruned$(made)@example.edu" "hash:$WS/maps/virtual") ]] || die "pruned$(made)@example.edu is not in virtual"
}

# Nothing old: a prune deletes nothing and leaves the start where it was.
nothing_old() {
  local before_rows before_start
  add_aliases 3
  before_rows=$(rows) before_start=$(start)
  prune
  expect_output "deleted 0 change-log row(s)"
  [[ $(rows) == "$before_rows" && $(start) == "$before_start" ]] || die "a prune with nothing old changed the log"
}

# Every row is old, but the hub, which reported just now, has not published the newest:
# the rows after its serial stay, and its next build is still incremental.
running_hub_holds_back() {
  local hub_serial before_rows need
  hub_serial=$(published)
  add_aliases 4
  need=$(( $(serial) - hub_serial ))
  age_all
  sql "UPDATE fleet_hubs SET reported_at = NOW(6)"  # running, however slow this machine
  expect_exit 0 "$MAPSYNC" -c "$WS/conf.yaml" prune-log --dry-run
  expect_output "would delete"
  before_rows=$(rows)
  prune
  [[ $(start) == "$hub_serial" ]] || die "the log starts at $(start), not at the hub's published serial $hub_serial"
  [[ $(sql "SELECT COUNT(*) FROM change_log WHERE serial <= $hub_serial") == 0 ]] || die "rows up to the hub's serial are left"
  [[ $(sql "SELECT COUNT(*) FROM change_log WHERE serial > $hub_serial") == "$need" ]] || die "the $need rows the hub needs are not all kept"
  (( $(rows) < before_rows )) || die "nothing was deleted"
  expect_output "hub $(sql "SELECT hub FROM fleet_hubs") published serial $hub_serial"
  build incremental
}

# A dry run counts and deletes nothing.
dry_run() {
  local before_rows before_start
  add_aliases 2
  age_all
  sql "UPDATE fleet_hubs SET reported_at = NOW(6) - INTERVAL 1 DAY"  # not running: holds nothing back
  before_rows=$(rows) before_start=$(start)
  expect_exit 0 "$MAPSYNC" -c "$WS/conf.yaml" prune-log -n
  expect_output "would delete $before_rows change-log row(s), kept 0; the log starts at serial $(serial)"
  [[ $(rows) == "$before_rows" && $(start) == "$before_start" ]] || die "the dry run changed the log"
}

# A hub silent for a day holds nothing back: its published serial is pruned away, and its
# next build is a full one that names the start of the log. The rows go in batches.
stale_hub_builds_in_full() {
  local cut before_rows
  add_aliases 5
  age_all
  sql "UPDATE fleet_hubs SET reported_at = NOW(6) - INTERVAL 1 DAY"
  cut=$(serial) before_rows=$(rows)
  prune --batch 2
  expect_output "deleted $before_rows change-log row(s), kept 0; the log starts at serial $cut"
  [[ $(rows) == 0 && $(start) == "$cut" ]] || die "after the prune: $(rows) rows, start $(start) (want 0, $cut)"
  build full
  # And a change after that is incremental again.
  add_aliases 1
  build incremental
}

step nothing_old nothing_old
step --needs nothing_old running_hub_holds_back running_hub_holds_back
step --needs running_hub_holds_back dry_run dry_run
step --needs dry_run stale_hub_builds_in_full stale_hub_builds_in_full
finish
