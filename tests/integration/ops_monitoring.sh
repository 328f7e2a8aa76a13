#!/usr/bin/env bash
# ops_monitoring: what a postmaster's monitoring sees of the three programs (issue 14),
# against the real MariaDB with the example campus:
#  - syslog, captured on a private /dev/log in a mount namespace: one audit line per
#    publish (facility mail, priority notice) even with -q, none for a build that found
#    nothing changed; a multi-line error arrives as one record; errors before the config
#    is read (a missing config file, a mistyped subcommand) reach syslog too;
#  - the post-publish hooks (maps.hooks): argv as configured, a minimal environment
#    (nothing of mapsync's), run only after a publish, a timeout that kills the hook's
#    whole process group, the publish standing and exit 0 when a hook fails, and the
#    hook counters in the metrics;
#  - the metrics of all three programs: <prog>_build_info, counters that survive no-op
#    runs, the count of consecutive runs that ended with 75 and its reset by a success;
#    mboxsync's queue gauges (no Cyrus needed: the queue holds nothing due);
#  - mboxsync status and jobs list/retry/cancel (a started move is not cancelled) and
#    adsync status, read from the database.
# adsync and mboxsync run without their servers (AD unreachable: every apply is a 75).
TEST_NAME=ops_monitoring
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
: "${MAPSYNC_TEST_DBDIR:?}"
DBDIR=$MAPSYNC_TEST_DBDIR
bin=$(cd "$(dirname "$MAPSYNC")/.." && pwd)
ADSYNC=${ADSYNC:-$bin/adsync/adsync}
MBOXSYNC=${MBOXSYNC:-$bin/mboxsync/mboxsync}
for p in "$ADSYNC" "$MBOXSYNC"; do [[ -x $p ]] || die "not found: $p"; done
command -v unshare >/dev/null || die "unshare is not installed"
export LC_ALL=C

MAPS=$WS/maps
PROM=$WS/metrics
mkdir -p "$PROM"
( umask 077; echo not-a-real-password > "$WS/ad.password"; echo not-a-real-password > "$WS/cyrus.password" )

# The hooks: one records its argv and environment; one outlives its timeout together
# with a child in its process group (both pids recorded).
cat > "$WS/hook.sh" <<EOF
#!/bin/sh
printf '%s\n' "\$@" > "$WS/hook.argv"
env > "$WS/hook.env"
echo "reloaded fine"
EOF
cat > "$WS/slow.sh" <<EOF
#!/bin/sh
sleep 300 &
echo \$! > "$WS/slow.pids"
echo \$\$ >> "$WS/slow.pids"
exec sleep 300
EOF
chmod 755 "$WS/hook.sh" "$WS/slow.sh"

config() {  # config [EXTRA_MAPS_YAML] > file
  write_config "$DBDIR" ops_campus "$MAPS" | sed 's/^  syslog: false/  syslog: true/'
  cat <<YAML
metrics:
  textfile: $PROM/mapsync.prom
  adsync_textfile: $PROM/adsync.prom
  mboxsync_textfile: $PROM/mboxsync.prom
ad:
  uris: [ldaps://127.0.0.1:1]
  bind: simple
  bind_dn: CN=svc-mapsync,OU=Service,DC=example,DC=test
  password_file: $WS/ad.password
  timeout: 2
  bases: ["OU=Staff,DC=example,DC=test"]
  placement:
    - name: staff
      delivery: smtp
      smtp_nexthop: "[exchange.example.test]"
cyrus:
  admin_user: cyrus
  password_file: $WS/cyrus.password
  tls: starttls
YAML
}
CONF=$WS/ops.yaml
config > "$CONF"
# maps.hooks go into the maps section that write_config wrote.
hooks_yaml="  hooks:
    - maps: [transport, relay_domains]
      command: [$WS/hook.sh, reload, \"two words\"]
      timeout: 10
    - maps: [virtual]
      command: [$WS/slow.sh]
      timeout: 1"
awk -v h="$hooks_yaml" '{print} /^  default_type:/ {print h}' "$CONF" > "$WS/hooks.yaml"
grep -q 'slow.sh' "$WS/hooks.yaml" || die "the hooks were not added to the config"
campus_db "$DBDIR" ops_campus "$CONF"

# --- syslog: a private /dev holding a log socket, in a mount namespace per run --------
source "$(dirname "$0")/syslog_lib.sh"
start_syslog_capture

# run_logged CODE CMD...: CMD (under logged) exits CODE; stdout+stderr in $WS/out.
run_logged() {
  local want=$1 got=0; shift
  timeout 120 bash -c "$(declare -f logged); WS=\$1; shift; logged \"\$@\"" _ "$WS" "$@" >"$WS/out" 2>"$WS/err" || got=$?
  [[ $got == "$want" ]] || { cat "$WS/out" "$WS/err" >&2; die "exit $got, want $want: $*"; }
}
conforms() {  # conforms FILE: the JSON document in FILE against its schema (docs/json/)
  python3 "$ROOT/tests/support/check_json.py" "$1" || die "$1 does not conform to its schema: $(cat "$1")"
}
metric() {  # metric FILE SERIES: its value
  awk -v s="$2" '$1 == s {print $2}' "$1"
}
# killed_or_gone PID: gone, a zombie, exiting (PF_EXITING) or with SIGKILL pending; no
# waiting: a killed process may not have run its exit yet on a loaded machine.
killed_or_gone() {
  local stat state flags pend
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
  read -r _ _ state _ _ _ _ _ flags _ <<< "$stat"
  [[ $state == [ZX] ]] && return 0
  (( flags & 4 )) && return 0
  for pend in $(awk '/^(ShdPnd|SigPnd):/ {print $2}' "/proc/$1/status" 2>/dev/null); do
    (( 0x$pend & 0x100 )) && return 0
  done
  return 1
}

# PRI of facility mail (2): notice 21, error 19, warning 20.
step_audit_publish() {
  local m lines
  m=$(syslog_mark)
  run_logged 0 "$MAPSYNC" -c "$CONF" -q build
  # The campus has warnings (kept); -q shows no audit or info line on stderr.
  ! grep -q 'audit\|generation' "$WS/err" || { cat "$WS/err"; die "-q build printed its audit line on stderr"; }
  lines=$(syslog_since "$m")
  echo "$lines"
  [[ $(grep -c 'audit: published generation' <<< "$lines") == 1 ]] || die "want one audit line for the publish"
  grep -Eq '^<21>.*mapsync\[[0-9]+\]: audit: published generation 1: serial [0-9]+ from .* written: .*virtual=' <<< "$lines" \
    || die "the audit line is not mail.notice, or lacks generation, serial and maps"
  # Nothing changed: no audit line.
  m=$(syslog_mark)
  run_logged 0 "$MAPSYNC" -c "$CONF" -q build
  lines=$(syslog_since "$m")
  ! grep -q audit <<< "$lines" || die "a build that changed nothing left an audit line: $lines"
  local p=$PROM/mapsync.prom
  [[ $(metric "$p" mapsync_publishes_total) == 1 ]] || die "mapsync_publishes_total: want 1 after a publish and a no-op run"
  [[ $(metric "$p" mapsync_nothing_changed) == 1 ]] || die "mapsync_nothing_changed"
  grep -Eq '^mapsync_build_info\{version="[^"]+"\} 1$' "$p" || die "no mapsync_build_info"
  [[ $(metric "$p" mapsync_consecutive_tempfail_runs) == 0 ]] || die "consecutive tempfail runs after successes"
  [[ $(metric "$p" 'mapsync_runs_total{status="0"}') == 2 ]] || die "mapsync_runs_total{status=\"0\"} want 2"
}

step_errors_before_config() {
  local m lines
  m=$(syslog_mark)
  run_logged 78 "$MAPSYNC" -c "$WS/no-such.yaml" -q build
  run_logged 64 "$MAPSYNC" -q build --bogus-option
  run_logged 78 "$MBOXSYNC" -c "$WS/no-such.yaml" run
  lines=$(syslog_since "$m")
  echo "$lines"
  grep -Eq '^<19>.*mapsync\[[0-9]+\]: error: .*no-such\.yaml' <<< "$lines" || die "the missing config file did not reach syslog as mail.err"
  grep -Eq '^<19>.*mapsync\[[0-9]+\]: error: usage: .*--bogus-option' <<< "$lines" || die "the usage error did not reach syslog"
  grep -Eq '^<19>.*mboxsync\[[0-9]+\]: error: .*no-such\.yaml' <<< "$lines" || die "mboxsync's missing config did not reach syslog"
}

# A gate trip: 65 (a failure at once, never "try again later"); its message has a line per
# gate and syslog gets one record for it. "Another run holds the lock" is 75: the metrics
# count the consecutive 75s, a gate trip or a success sets the count back to 0.
step_multiline_and_tempfail() {
  local m lines p=$PROM/mapsync.prom
  awk '{print} /^  default_type:/ {print "  gates:\n    min_entries: 1000000"}' "$CONF" > "$WS/gated.yaml"
  m=$(syslog_mark)
  run_logged 65 "$MAPSYNC" -c "$WS/gated.yaml" build --full
  grep -q 'change gates tripped' "$WS/err" || die "no gate message"
  (( $(grep -c . "$WS/err") >= 2 )) || die "the gate message on stderr was expected to have several lines"
  run_logged 65 "$MAPSYNC" -c "$WS/gated.yaml" -q build --full
  lines=$(syslog_since "$m")
  echo "$lines"
  [[ $(grep -c 'change gates tripped' <<< "$lines") == 2 ]] || die "want one record per gate message"
  ! grep -q '\\n' <<< "$(grep 'change gates tripped' <<< "$lines")" || die "a record holds line feeds"
  grep -q 'change gates tripped.* | ' <<< "$lines" || die "the lines of the message are not joined in one record"
  ! grep -Eq '\]: +[a-z_]+: .*min_entries' <<< "$(grep -v 'change gates tripped' <<< "$lines")" \
    || die "a line of the gate message arrived as a record of its own"
  [[ $(metric "$p" mapsync_last_exit_status) == 65 ]] || die "a gate trip: last exit status $(metric "$p" mapsync_last_exit_status), want 65"
  [[ $(metric "$p" mapsync_consecutive_tempfail_runs) == 0 ]] || die "a gate trip counted as a temporary failure"
  [[ $(metric "$p" mapsync_publishes_total) == 1 ]] || die "mapsync_publishes_total changed on refused runs"

  # With -q (cron), the first two 75s in a row say nothing on stderr (nothing mailed) but
  # reach syslog; the third (logging.quiet_tempfail_runs: 3) is printed. Without -q always.
  exec {lfd}>>"$MAPS/.mapsync.lock"
  flock -n "$lfd" || die "cannot take the maps' lock for the test"
  m=$(syslog_mark)
  run_logged 75 "$MAPSYNC" -c "$CONF" -q build
  [[ ! -s $WS/err && ! -s $WS/out ]] || die "a first 75 with -q printed something (cron would mail it)"
  grep -q 'error: another mapsync run' <<< "$(syslog_since "$m")" || die "the held-back error did not reach syslog"
  run_logged 75 "$MAPSYNC" -c "$CONF" -q build
  [[ ! -s $WS/err ]] || die "a second 75 in a row with -q printed something"
  run_logged 75 "$MAPSYNC" -c "$CONF" -q build
  grep -q 'another mapsync run' "$WS/err" || die "the third 75 in a row did not print its error"
  exec {lfd}>&-
  [[ $(metric "$p" mapsync_consecutive_tempfail_runs) == 3 ]] || die "want 3 consecutive tempfail runs, got $(metric "$p" mapsync_consecutive_tempfail_runs)"
  [[ $(metric "$p" mapsync_last_exit_status) == 75 ]] || die "last exit status"
  "$MAPSYNC" -c "$CONF" -q build
  [[ $(metric "$p" mapsync_consecutive_tempfail_runs) == 0 ]] || die "a success did not reset the count"
  [[ $(metric "$p" 'mapsync_runs_total{status="75"}') == 3 ]] || die "mapsync_runs_total{status=\"75\"}"
  [[ $(metric "$p" 'mapsync_runs_total{status="65"}') == 2 ]] || die "mapsync_runs_total{status=\"65\"}"
}

step_hooks() {
  local m lines p=$PROM/mapsync.prom pid
  rm -f "$WS/hook.argv" "$WS/hook.env" "$WS/slow.pids"
  local runs0
  runs0=$(metric "$p" mapsync_hook_runs_total)
  [[ $runs0 == 0 ]] || die "hooks counted before any was configured: $runs0"
  m=$(syslog_mark)
  # A secret-looking variable in mapsync's environment must not reach the hook.
  HOOK_SECRET=do-not-pass run_logged 0 "$MAPSYNC" -c "$WS/hooks.yaml" build --full
  cat "$WS/err"
  [[ -f $WS/hook.argv ]] || die "the hook did not run"
  [[ $(cat "$WS/hook.argv") == $'reload\ntwo words' ]] || die "hook argv: $(cat "$WS/hook.argv")"
  grep -qx 'MAPSYNC_MAPS=transport relay_domains' "$WS/hook.env" || die "MAPSYNC_MAPS: $(cat "$WS/hook.env")"
  grep -qx 'PATH=/usr/sbin:/usr/bin:/sbin:/bin' "$WS/hook.env" || die "PATH"
  ! grep -q 'do-not-pass\|MAPSYNC_TEST\|MAIL_CONFIG' "$WS/hook.env" || die "mapsync's environment leaked into the hook"
  grep -q 'hook after publishing transport relay_domains.*exit 0: reloaded fine' "$WS/err" || die "the hook's result is not logged"
  grep -q 'warning: hook after publishing virtual.*timed out after 1 s' "$WS/err" || die "the timeout is not a warning"
  [[ -s $WS/slow.pids ]] || die "the slow hook did not start"
  for pid in $(cat "$WS/slow.pids"); do
    killed_or_gone "$pid" || die "process $pid of the timed-out hook's group was not killed"
  done
  [[ $(metric "$p" mapsync_hook_runs_total) == 2 ]] || die "mapsync_hook_runs_total: $(metric "$p" mapsync_hook_runs_total)"
  [[ $(metric "$p" mapsync_hook_failures_total) == 1 ]] || die "mapsync_hook_failures_total"
  [[ $(metric "$p" mapsync_last_exit_status) == 0 ]] || die "a failed hook changed the exit status"
  lines=$(syslog_since "$m")
  grep -q 'audit: published generation.*hook .*hook.sh reload two words: exit 0.*slow.sh: timed out' <<< "$lines" \
    || die "the audit line does not carry the hooks' outcomes: $lines"
  # Nothing published: no hook, counters unchanged.
  "$MAPSYNC" -c "$WS/hooks.yaml" -q build
  [[ $(metric "$p" mapsync_hook_runs_total) == 2 ]] || die "a hook ran although nothing was published"
  "$MAPSYNC" -c "$WS/hooks.yaml" -q status >/dev/null || die "the maps are not intact after the hooks"
  # A rollback rewrites every map: the hooks run, the rollback is on the record (-q).
  rm -f "$WS/hook.argv"
  m=$(syslog_mark)
  run_logged 0 "$MAPSYNC" -c "$WS/hooks.yaml" -q rollback
  [[ -f $WS/hook.argv ]] || die "the hook did not run after a rollback"
  lines=$(syslog_since "$m")
  grep -Eq '^<21>.*mapsync\[[0-9]+\]: audit: rolled back to generation [0-9]+ as generation [0-9]+; builds are held' <<< "$lines" \
    || die "the rollback left no audit line: $lines"
  m=$(syslog_mark)
  run_logged 0 "$MAPSYNC" -c "$CONF" -q build --release
  grep -q 'audit: hold released, the published maps kept: generation' <<< "$(syslog_since "$m")" || die "the release is not on the record"
}

step_mboxsync() {
  local p=$PROM/mboxsync.prom id move
  run_logged 0 "$MBOXSYNC" -c "$CONF" -q run
  grep -Eq '^mboxsync_build_info\{version="[^"]+"\} 1$' "$p" || die "no mboxsync_build_info"
  [[ $(metric "$p" 'mboxsync_jobs_total{outcome="created"}') == 0 ]] || die "jobs_total"
  [[ $(metric "$p" 'mboxsync_queue_jobs{kind="create",state="pending"}') == 0 ]] || die "queue gauge"
  # A create job waiting out its backoff: not due, so no Cyrus is needed.
  db_root "$DBDIR" ops_campus <<'SQL'
INSERT INTO provisioning_jobs (account_id, kind, new_uid, not_before, attempts, last_error)
  VALUES (1, 'create', 'jdoe', NOW() + INTERVAL 1 DAY, 3, 'be1 unreachable');
SQL
  "$MBOXSYNC" -c "$CONF" -q run || die "a run with nothing due failed"
  [[ $(metric "$p" 'mboxsync_queue_jobs{kind="create",state="pending"}') == 1 ]] || die "queue gauge after enqueue"
  [[ $(metric "$p" mboxsync_queue_due_jobs) == 0 ]] || die "due jobs"
  [[ $(metric "$p" 'mboxsync_runs_total{status="0"}') == 2 ]] || die "mboxsync_runs_total"
  (( $(metric "$p" mboxsync_queue_oldest_pending_age_seconds) >= 0 )) || die "oldest pending age"
  # A move that has started (no run from here on: it would carry it out).
  db_root "$DBDIR" ops_campus <<'SQL'
INSERT INTO provisioning_jobs (account_id, kind, state, step, source_backend_id, target_backend_id, requested_by)
  VALUES (2, 'move', 'pending', 'transfer', 2, 1, 'ops test');
SQL
  id=$(db_root "$DBDIR" ops_campus -N <<< "SELECT id FROM provisioning_jobs WHERE kind = 'create'")
  move=$(db_root "$DBDIR" ops_campus -N <<< "SELECT id FROM provisioning_jobs WHERE kind = 'move'")
  "$MBOXSYNC" -c "$CONF" status --json > "$WS/status.json"
  jq -e '.format == 1 and .pending == 2 and .due == 1 and .failed == 0' "$WS/status.json" >/dev/null \
    || die "status: $(cat "$WS/status.json")"
  conforms "$WS/status.json"
  "$MBOXSYNC" -c "$CONF" jobs list --json > "$WS/jobs.json"
  jq -e --argjson id "$id" '.format == 1 and (.jobs | length) == 2 and any(.jobs[]; .id == $id and .uid == "jdoe" and .attempts == 3)' \
    "$WS/jobs.json" >/dev/null || die "jobs list: $(cat "$WS/jobs.json")"
  conforms "$WS/jobs.json"
  expect_exit 65 "$MBOXSYNC" -c "$CONF" jobs cancel "$move"
  grep -q 'left as it is: the move has started' "$WS/out" || die "the started move's refusal does not say why"
  [[ $(db_root "$DBDIR" ops_campus -N <<< "SELECT state FROM provisioning_jobs WHERE id = $move") == pending ]] \
    || die "the started move was cancelled"
  local m
  m=$(syslog_mark)
  run_logged 0 "$MBOXSYNC" -c "$CONF" -q jobs cancel --user jdoe
  grep -Eq "^<21>.*mboxsync\[[0-9]+\]: audit: cancel of create job $id \(jdoe\) by " <<< "$(syslog_since "$m")" \
    || die "the cancel left no audit line in syslog (with -q)"
  [[ $(db_root "$DBDIR" ops_campus -N <<< "SELECT state, last_error FROM provisioning_jobs WHERE id = $id") == failed$'\t'"cancelled by "* ]] \
    || die "cancel did not fail the job"
  "$MBOXSYNC" -c "$CONF" jobs retry "$id" --json > "$WS/retry.json" || die "jobs retry failed"
  jq -e --argjson id "$id" '.format == 1 and .jobs[0].id == $id and .jobs[0].state == "pending" and .jobs[0].attempts == 0' \
    "$WS/retry.json" >/dev/null || die "jobs retry --json does not show the job as it is now: $(cat "$WS/retry.json")"
  conforms "$WS/retry.json"
  [[ $(db_root "$DBDIR" ops_campus -N <<< "SELECT state, attempts, not_before IS NULL FROM provisioning_jobs WHERE id = $id") == pending$'\t'0$'\t'1 ]] \
    || die "retry did not make the job due again"
  expect_exit 64 "$MBOXSYNC" -c "$CONF" jobs retry 999999
  # While a run holds the lease, a change is refused with 75.
  db_root "$DBDIR" ops_campus <<< "INSERT INTO leases (name, owner, token, expires_at) VALUES ('mapsync.mboxsync', 'other-host', 1, NOW(6) + INTERVAL 1 HOUR) ON DUPLICATE KEY UPDATE owner = 'other-host', expires_at = NOW(6) + INTERVAL 1 HOUR"
  expect_exit 75 "$MBOXSYNC" -c "$CONF" jobs cancel "$id"
  db_root "$DBDIR" ops_campus <<< "UPDATE leases SET expires_at = NOW(6) - INTERVAL 1 SECOND WHERE name = 'mapsync.mboxsync'"
  db_root "$DBDIR" ops_campus <<< "DELETE FROM provisioning_jobs"
}

step_adsync() {
  local p=$PROM/adsync.prom
  run_logged 75 "$ADSYNC" -c "$CONF" -q apply
  run_logged 75 "$ADSYNC" -c "$CONF" -q apply
  grep -Eq '^adsync_build_info\{version="[^"]+"\} 1$' "$p" || die "no adsync_build_info"
  [[ $(metric "$p" adsync_consecutive_tempfail_runs) == 2 ]] || die "adsync_consecutive_tempfail_runs: $(metric "$p" adsync_consecutive_tempfail_runs)"
  [[ $(metric "$p" adsync_last_success_timestamp_seconds) == 0 ]] || die "a success time without a success"
  [[ $(metric "$p" adsync_accounts_created_total) == 0 ]] || die "adsync counters"
  db_root "$DBDIR" ops_campus <<< "UPDATE accounts SET status = 'pending-delete' WHERE uid = 'asmith'"
  local n
  n=$(db_root "$DBDIR" ops_campus -N <<< "SELECT COUNT(*) FROM accounts WHERE source = 'ad' AND status = 'pending-delete'")
  (( n >= 1 )) || die "no pending delete to show"
  "$ADSYNC" -c "$CONF" status --json > "$WS/ad.json"
  jq -e --argjson n "$n" '.format == 1 and .pending_delete == $n and (.pending_delete_uids | index("asmith")) != null
                         and .dcs == [] and .last_run == null' \
    "$WS/ad.json" >/dev/null || die "adsync status: $(cat "$WS/ad.json")"
  conforms "$WS/ad.json"
  "$ADSYNC" -c "$CONF" status | grep -q "pending delete: $n .*asmith" || die "adsync status as text"
}

step audit_publish step_audit_publish
step errors_before_config step_errors_before_config
step --needs audit_publish multiline_and_tempfail step_multiline_and_tempfail
step --needs audit_publish hooks step_hooks
step mboxsync step_mboxsync
step adsync step_adsync
finish
