#!/usr/bin/env bash
# prompt_termination: SIGTERM ends a run at once (exit 75), also while it waits on the
# database, and leaves nothing half-done: published maps unchanged, no temp file left,
# an uncommitted admin change rolled back by the server.
#   - mapsync build blocked on a table lock (LOCK TABLES account_forwards WRITE, another session);
#   - mapsync migrate blocked in GET_LOCK('mapsync.migrate', 30) held by another session;
#   - mapadm holding its transaction at the pause point admin.before_commit;
#   - adsync and mboxsync connected to a server that never answers (network timeout 300 s).
# "At once" is checked by waiting on the pid with a generous bound (timeout + tail --pid):
# the old code waited for the next check between steps, i.e. until the lock went away.
TEST_NAME=prompt_termination
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
: "${MAPSYNC_TEST_DBDIR:?}"
all_programs

DBN=prompt_termination
CONF=$WS/prompt.yaml
MAPS=$WS/maps
write_config "$MAPSYNC_TEST_DBDIR" "$DBN" "$MAPS" > "$CONF"
campus_db "$MAPSYNC_TEST_DBDIR" "$DBN" "$CONF"
"$MAPSYNC" -c "$CONF" -q build || die "the campus does not build"
# From here on the database differs from what is published: any publish would show.
q "$DBN" "UPDATE accounts SET status = 'disabled' WHERE uid = 'emeritus'; UPDATE change_serial SET serial = serial + 1;"
map_fingerprint "$MAPS" > "$WS/maps.before"
mkfifo "$WS/pause" "$WS/pause.resume"

# ends_promptly PID WHAT: the process is gone within 20 s of the signal (it takes
# milliseconds; a process still blocked on the database would never be), exit status 75.
ends_promptly() {
  local pid=$1 what=$2 rc=0
  if ! timeout 20 tail --pid="$pid" -f /dev/null; then
    kill -KILL "$pid" 2>/dev/null || true
    die "$what: still running 20 s after SIGTERM"
  fi
  wait "$pid" || rc=$?
  [[ $rc == 75 ]] || { cat "$WS/out" >&2; die "$what: exit $rc after SIGTERM, want 75"; }
  expect_output "interrupted by signal SIGTERM"
}

# wait_in_server CONDITION: waits (in the server, bounded at 30 s) until a session of
# information_schema.processlist matches CONDITION; dies when none does.
wait_in_server() {
  local n
  n=$(db_root "$MAPSYNC_TEST_DBDIR" -N <<SQL
DELIMITER //
BEGIN NOT ATOMIC
  DECLARE n INT DEFAULT 0;
  WHILE n < 3000 AND NOT EXISTS (SELECT 1 FROM information_schema.processlist WHERE $1) DO
    DO SLEEP(0.01);
    SET n = n + 1;
  END WHILE;
END//
DELIMITER ;
SELECT COUNT(*) FROM information_schema.processlist WHERE $1;
SQL
  )
  [[ $n -ge 1 ]] || die "no database session came to: $1"
}

maps_unchanged() {
  map_fingerprint "$MAPS" > "$WS/maps.after"
  diff -u "$WS/maps.before" "$WS/maps.after" >&2 || die "$1: published maps changed"
  no_temp_files "$MAPS"
}

step_build_blocked_on_table_lock() {
  local pid conn got
  MAPSYNC_TEST_PAUSE="source.after_accounts:$WS/pause" "$MAPSYNC" -c "$CONF" build >"$WS/out" 2>&1 &
  pid=$!
  read -r conn < "$WS/pause"
  # Soon after the pause it reads account_forwards (not yet touched by its snapshot, so
  # another session can lock it now) and waits for that lock.
  coproc TL { db_root "$MAPSYNC_TEST_DBDIR" "$DBN" -N --unbuffered; }
  echo "LOCK TABLES account_forwards WRITE; SELECT 'locked';" >&"${TL[1]}"
  got=""
  read -r -t 30 got <&"${TL[0]}" || true
  [[ $got == locked ]] || { kill -KILL "$pid"; die "the test could not lock account_forwards"; }
  echo go > "$WS/pause.resume"
  wait_in_server "id = $conn AND state LIKE 'Waiting for table metadata lock'"
  kill -TERM "$pid"
  ends_promptly "$pid" "mapsync build waiting on a table lock"
  exec {TL[1]}>&-
  wait "$TL_PID" || true
  maps_unchanged "build blocked on a lock"
}
step build_blocked_on_table_lock step_build_blocked_on_table_lock

step_migrate_blocked_on_get_lock() {
  local pid
  hold_lock "$DBN" mapsync.migrate
  "$MAPSYNC" -c "$CONF" migrate >"$WS/out" 2>&1 &
  pid=$!
  wait_in_server "info LIKE 'SELECT GET_LOCK(''mapsync.migrate'', 30)%'"
  kill -TERM "$pid"
  ends_promptly "$pid" "mapsync migrate waiting in GET_LOCK"
  release_lock
}
step migrate_blocked_on_get_lock step_migrate_blocked_on_get_lock

step_mapadm_before_commit() {
  local pid quota
  quota=$(q "$DBN" "SELECT quota_mb FROM accounts WHERE uid = 'emeritus'")
  MAPSYNC_TEST_PAUSE="admin.before_commit:$WS/pause" "$MAPADM" -c "$CONF" account set emeritus quota_mb=4321 >"$WS/out" 2>&1 &
  pid=$!
  read -r _ < "$WS/pause"   # its transaction is open, the change made but not committed
  kill -TERM "$pid"
  ends_promptly "$pid" "mapadm in its transaction"
  [[ $(q "$DBN" "SELECT quota_mb FROM accounts WHERE uid = 'emeritus'") == "$quota" ]] ||
    die "the interrupted change was committed"
  # The rows it had locked are free again: the next change goes through.
  expect_exit 0 "$MAPADM" -c "$CONF" account set emeritus quota_mb=4321
}
step mapadm_before_commit step_mapadm_before_commit

# silent_server: a TCP server on the loopback that accepts and never says a word, like a
# hung LDAP or IMAP server. Sets PORT; SILENT is its output, one line per connection.
silent_server() {
  rm -f "$WS/silent"; mkfifo "$WS/silent"
  python3 -u -c '
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(8)
print(s.getsockname()[1])
held = []
while True:
    c, _ = s.accept()
    held.append(c)
    print("accepted")
' > "$WS/silent" &
  SILENT_PID=$!
  trap 'kill "$SILENT_PID" 2>/dev/null || true' EXIT
  exec {SILENT}<"$WS/silent"
  read -r -t 30 PORT <&"$SILENT" || die "the silent server did not start"
}

# term_when_connected WHAT CMD...: starts CMD, waits until it has connected to the silent
# server (it then waits for the server's first bytes), sends SIGTERM.
term_when_connected() {
  local what=$1 pid line=""; shift
  "$@" >"$WS/out" 2>&1 &
  pid=$!
  read -r -t 30 line <&"$SILENT" || true
  [[ $line == accepted ]] || { kill -KILL "$pid" 2>/dev/null; cat "$WS/out" >&2; die "$what never connected"; }
  kill -TERM "$pid"
  ends_promptly "$pid" "$what"
}

step_adsync_waiting_on_ldap() {
  silent_server
  ( umask 077; echo not-used > "$WS/ad.password" )
  { cat "$CONF"; cat <<YAML
ad:
  uris: [ldaps://127.0.0.1:$PORT]
  bind: simple
  bind_dn: CN=svc,DC=example,DC=test
  password_file: $WS/ad.password
  timeout: 300
  bases: ["OU=Staff,DC=example,DC=test"]
  placement:
    - name: staff
      ou: OU=Staff,DC=example,DC=test
      delivery: smtp
      smtp_nexthop: "[exchange.example.test]"
YAML
  } > "$WS/ad.yaml"
  term_when_connected "adsync waiting for the TLS handshake of AD" "$ADSYNC" -c "$WS/ad.yaml" plan
}
step adsync_waiting_on_ldap step_adsync_waiting_on_ldap

step_mboxsync_waiting_on_imap() {
  silent_server
  ( umask 077; echo not-used > "$WS/cyrus.password" )
  q "$DBN" "UPDATE backends SET imap_host = '127.0.0.1', imap_port = $PORT;"
  { cat "$CONF"; cat <<YAML
cyrus:
  admin_user: cyrus
  password_file: $WS/cyrus.password
  tls: starttls
  timeout: 300
YAML
  } > "$WS/cyrus.yaml"
  term_when_connected "mboxsync waiting for the IMAP greeting" "$MBOXSYNC" -c "$WS/cyrus.yaml" plan
}
step mboxsync_waiting_on_imap step_mboxsync_waiting_on_imap

finish
