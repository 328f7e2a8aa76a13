#!/usr/bin/env bash
# source_faults: when the source or the disk fails, published maps stay byte-identical,
# no temp file is left, and the exit status tells cron what to do.
#   wrong password (78), password file too open (78), schema version unknown (78),
#   connection killed mid-read with KILL CONNECTION (75), SIGTERM mid-build (75),
#   another run holding the lock (75), validation error (65, names both rows), no active accounts (65),
#   disk full (75, on a small tmpfs), database stopped (75).
# It starts its own MariaDB, because it stops it.
TEST_NAME=source_faults
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
DB="$WS/db"
own_mariadb "$DB"
at_exit 'umount "$WS/small" 2>/dev/null || true'

MAPS="$WS/maps"
write_config "$DB" faults "$MAPS" > "$WS/ok.yaml"
campus_db "$DB" faults "$WS/ok.yaml"
expect_exit 0 "$MAPSYNC" -c "$WS/ok.yaml" build
# From here on the database differs from what is published: any publish would show.
db_root "$DB" faults < "$TESTS_DIR/integration/campus_b.sql"
map_fingerprint "$MAPS" > "$WS/before"
unchanged() {
  map_fingerprint "$MAPS" > "$WS/after"
  diff -u "$WS/before" "$WS/after" >&2 || die "$1: published maps changed"
  no_temp_files "$MAPS"
}

# The build pauses at a named point (testhooks.h): it writes its connection id to the
# first FIFO and waits for a line on the second.
mkfifo "$WS/pause" "$WS/pause.resume"

step_wrong_password() {
  note "wrong password"
  printf 'not-the-password\n' > "$WS/wrong.pw"; chmod 600 "$WS/wrong.pw"
  sed "s|password_file: .*|password_file: $WS/wrong.pw|" "$WS/ok.yaml" > "$WS/wrongpw.yaml"
  expect_exit 78 "$MAPSYNC" -c "$WS/wrongpw.yaml" build
  expect_output "Access denied"
  expect_output "$WS/wrong.pw"
  if grep -q not-the-password "$WS/out"; then die "the password appears in the output"; fi
  unchanged "wrong password"
}
step wrong_password step_wrong_password

step_open_password_file() {
  note "password file readable by others"
  cp "$DB/mapsync.password" "$WS/open.pw"; chmod 644 "$WS/open.pw"
  sed "s|password_file: .*|password_file: $WS/open.pw|" "$WS/ok.yaml" > "$WS/openpw.yaml"
  expect_exit 78 "$MAPSYNC" -c "$WS/openpw.yaml" build
  expect_output "too open"
  unchanged "open password file"
}
step open_password_file step_open_password_file

step_schema_newer() {
  note "schema version newer than we know"
  db_root "$DB" faults <<< "INSERT INTO schema_version (version, name) VALUES (999, '999_future');"
  # Put back on the way out even when a check fails: the next steps need a known schema.
  trap 'db_root "$DB" faults <<< "DELETE FROM schema_version WHERE version = 999;"' EXIT
  expect_exit 78 "$MAPSYNC" -c "$WS/ok.yaml" build
  expect_output "newer than this mapsync knows"
  trap - EXIT
  db_root "$DB" faults <<< "DELETE FROM schema_version WHERE version = 999;"
  unchanged "schema version"
}
step schema_newer step_schema_newer

step_schema_older() {
  note "schema older than this mapsync"
  # The newest migration this build embeds, from schema/NNN_name.sql.
  local latest name prev
  name=$(basename "$(ls "$ROOT"/schema/[0-9][0-9][0-9]_*.sql | sort | tail -1)" .sql)
  latest=$((10#${name%%_*})); prev=$((latest - 1))
  db_root "$DB" faults <<< "DELETE FROM schema_version WHERE version = $latest;"
  trap 'db_root "$DB" faults <<< "INSERT IGNORE INTO schema_version (version, name) VALUES ('"$latest"', '"'$name'"');"' EXIT
  expect_exit 78 "$MAPSYNC" -c "$WS/ok.yaml" build
  expect_output "schema version $prev is older than this mapsync needs ($latest); run \`mapsync migrate\`"
  trap - EXIT
  db_root "$DB" faults <<< "INSERT INTO schema_version (version, name) VALUES ($latest, '$name');"
  expect_exit 0 "$MAPSYNC" -c "$WS/ok.yaml" migrate
  expect_output "schema is at version $latest, nothing to do"
  unchanged "old schema version"
}
step schema_older step_schema_older

step_config_error() {
  note "config error"
  sed 's/^  port:/  prot:/' "$WS/ok.yaml" > "$WS/typo.yaml"
  expect_exit 78 "$MAPSYNC" -c "$WS/typo.yaml" build
  expect_output "$WS/typo.yaml:3: database.prot: unknown key"
  unchanged "config error"
}
step config_error step_config_error

step_connection_killed() {
  note "connection killed in the middle of the read"
  MAPSYNC_TEST_PAUSE="source.after_accounts:$WS/pause" "$MAPSYNC" -c "$WS/ok.yaml" build >"$WS/out" 2>&1 &
  pid=$!
  read -r conn < "$WS/pause"
  db_root "$DB" <<< "KILL CONNECTION $conn;"
  echo go > "$WS/pause.resume"
  rc=0; wait "$pid" || rc=$?
  [[ $rc == 75 ]] || { cat "$WS/out"; die "killed connection: exit $rc, want 75"; }
  expect_output "reading addresses"
  unchanged "connection killed"
}
step connection_killed step_connection_killed

step_sigterm() {
  note "SIGTERM in the middle of the build"
  MAPSYNC_TEST_PAUSE="source.after_accounts:$WS/pause" "$MAPSYNC" -c "$WS/ok.yaml" build >"$WS/out" 2>&1 &
  pid=$!
  read -r conn < "$WS/pause"
  kill -TERM "$pid"
  # No resume: a SIGTERM ends the run at once, also while it waits at the pause point.
  timeout 20 tail --pid="$pid" -f /dev/null || { kill -KILL "$pid"; die "SIGTERM: mapsync still runs after 20 s"; }
  rc=0; wait "$pid" || rc=$?
  [[ $rc == 75 ]] || { cat "$WS/out"; die "SIGTERM: exit $rc, want 75"; }
  expect_output "interrupted by signal"
  unchanged "SIGTERM"
}
step sigterm step_sigterm

step_lock_held() {
  note "another run holds the lock"
  exec 9>>"$MAPS/.mapsync.lock"
  flock -n 9 || die "cannot take the lock for the test"
  expect_exit 75 "$MAPSYNC" -c "$WS/ok.yaml" build
  expect_output "another mapsync run"
  exec 9>&-
  unchanged "lock held"
}
step lock_held step_lock_held

step_address_twice() {
  note "validation error: an address defined twice"
  db_root "$DB" faults <<< "INSERT INTO addresses (id, account_id, address) VALUES (900, 3, 'jdoe@example.edu');"
  trap 'db_root "$DB" faults <<< "DELETE FROM addresses WHERE id = 900;"' EXIT
  expect_exit 65 "$MAPSYNC" -c "$WS/ok.yaml" build
  expect_output 'address "jdoe@example.edu" is defined twice: accounts id=1 and addresses id=900'
  expect_output "nothing published"
  trap - EXIT
  db_root "$DB" faults <<< "DELETE FROM addresses WHERE id = 900;"
  unchanged "validation error"
}
step address_twice step_address_twice

step_invalid_values() {
  note "validation error: an invalid address and a broken transport"
  db_root "$DB" faults <<< "INSERT INTO addresses (id, account_id, address) VALUES (901, 3, 'bad address@example.edu');
  UPDATE accounts SET smtp_nexthop = '[exchange.example.edu' WHERE id = 5;"
  trap 'db_root "$DB" faults <<< "DELETE FROM addresses WHERE id = 901; UPDATE accounts SET smtp_nexthop = '"'[exchange.example.edu]'"' WHERE id = 5;"' EXIT
  expect_exit 65 "$MAPSYNC" -c "$WS/ok.yaml" build
  expect_output 'addresses id=901: address "bad address@example.edu": local part has a blank'
  expect_output 'accounts id=5: smtp_nexthop'
  trap - EXIT
  db_root "$DB" faults <<< "DELETE FROM addresses WHERE id = 901; UPDATE accounts SET smtp_nexthop = '[exchange.example.edu]' WHERE id = 5;"
  unchanged "invalid values"
}
step invalid_values step_invalid_values

step_empty_read() {
  note "empty read: no active accounts (65: render.min_accounts, like a gate)"
  db_root "$DB" faults <<< "CREATE TABLE accounts_saved AS SELECT * FROM accounts; UPDATE accounts SET status = 'disabled';"
  trap 'db_root "$DB" faults <<< "UPDATE accounts a JOIN accounts_saved s USING (id) SET a.status = s.status; DROP TABLE accounts_saved;"' EXIT
  expect_exit 65 "$MAPSYNC" -c "$WS/ok.yaml" build
  expect_output "refusing to publish"
  trap - EXIT
  db_root "$DB" faults <<< "UPDATE accounts a JOIN accounts_saved s USING (id) SET a.status = s.status; DROP TABLE accounts_saved;"
  unchanged "empty read"
}
step empty_read step_empty_read

step_disk_full() {
  note "disk full"
  mkdir -p "$WS/small"
  mount -t tmpfs -o size=160k tmpfs "$WS/small" || die "cannot mount a tmpfs for the disk-full test"
  trap 'umount "$WS/small" 2>/dev/null || true' EXIT
  write_config "$DB" faults "$WS/small/maps" > "$WS/small.yaml"
  db_root "$DB" faults <<< "CREATE TABLE pad AS SELECT 1;"  # keep the B generation; publish it once
  expect_exit 0 "$MAPSYNC" -c "$WS/small.yaml" build
  map_fingerprint "$WS/small/maps" > "$WS/small.before"
  # A few hundred more addresses do not fit any more.
  db_root "$DB" faults <<< "INSERT INTO addresses (account_id, address)
    SELECT 3, CONCAT('filler', seq, '@example.edu') FROM seq_1_to_1500;"
  expect_exit 75 "$MAPSYNC" -c "$WS/small.yaml" build
  expect_output "No space left on device"
  map_fingerprint "$WS/small/maps" > "$WS/small.after"
  diff -u "$WS/small.before" "$WS/small.after" >&2 || die "disk full: published maps changed"
  no_temp_files "$WS/small/maps"
  umount "$WS/small"
}
step disk_full step_disk_full

step_database_stopped() {
  note "database stopped"
  stop_mariadb "$DB"
  expect_exit 75 "$MAPSYNC" -c "$WS/ok.yaml" build
  expect_output "cannot connect"
  unchanged "database stopped"
}
step database_stopped step_database_stopped

finish
