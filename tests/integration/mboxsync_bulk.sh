#!/usr/bin/env bash
# mboxsync_bulk - the one-off migration: 500 accounts without mailboxes are all created,
# spread over both back ends by the placement policy; a bulk run killed midway (SIGKILL)
# and run again finishes the job: every mailbox exists exactly once, nothing is pending.
# A bulk stopped by SIGTERM finishes what is in flight and reports truthfully: what it
# tried, created and did not try (JSON and the summary line), exit 75; a rerun does the rest.
TEST_NAME=mboxsync_bulk
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=cyrus_lib.sh
source "$(dirname "$0")/cyrus_lib.sh"

N=500
CONF=$WS/cy.yaml
cy_config mbbulk 'placement: fewest' 'pipeline: 64' > "$CONF"
fixture_db mbbulk "$CONF"
# Users already in AD: accounts (all recorded on be1 by an old import) and create jobs,
# no mailboxes. placement: fewest may move an account that has no mailbox yet.
/usr/bin/python3 - "$N" > "$WS/accounts.sql" <<'PY'
import sys
n = int(sys.argv[1])
rows = ",".join("('bulk%04d', 'bulk%04d@example.test', 'cyrus', 1, 'ad')" % (i, i) for i in range(n))
print("INSERT INTO accounts (uid, primary_address, delivery, backend_id, source) VALUES " + rows + ";")
print("INSERT INTO provisioning_jobs (account_id, kind, new_uid) SELECT id, 'create', uid FROM accounts;")
PY
db_root "$DB" mbbulk < "$WS/accounts.sql"

LOG=$WS/results.log
: > "$LOG"

step_killed_midway() {
  note "bulk, killed midway"
  bash "$CYFIX" exec "$CYDIR" "$MBOXSYNC" -c "$CONF" -q bulk --log "$LOG" &
  pid=$!
  # Not left running when a check below ends the step early.
  trap 'kill -KILL "$pid" 2>/dev/null || true' EXIT
  # Wait (by polling the result log, with a deadline) until it is well under way, then kill it.
  deadline=$((SECONDS + 120))
  while (( $(wc -l < "$LOG") < 100 )); do
    kill -0 "$pid" 2>/dev/null || die "bulk ended before it could be killed"
    (( SECONDS < deadline )) || die "bulk made no progress"
    sleep 0.05
  done
  pkill -KILL -f "$MBOXSYNC -c $CONF" || true
  wait "$pid" 2>/dev/null || true
  done_before=$(wc -l < "$LOG")
  (( done_before >= 100 && done_before < N )) || die "kill came too late ($done_before of $N done)"
  note "killed after $done_before results"
}
step killed_midway step_killed_midway

step_rerun() {
  note "run again: every mailbox exactly once, nothing pending"
  local rc=0
  mboxsync -c "$CONF" bulk --log "$LOG" > "$WS/out" 2>&1 || rc=$?
  if [[ $rc == 75 ]]; then
    # The killed run's imapd processes may still be working through the commands it had
    # pipelined, and a lock they hold refuses ours for a moment ("Resource deadlock
    # avoided"): a temporary failure, 75, which cron follows with another run. So does
    # this test; that run must finish everything.
    grep -Eq " [1-9][0-9]* to retry" "$WS/out" || { cat "$WS/out" >&2; die "exit 75 without a mailbox to retry"; }
    cat "$WS/out" >&2
    mv "$WS/out" "$WS/out.first"
    expect_exit 0 mboxsync -c "$CONF" bulk --log "$LOG"
    cat "$WS/out.first" >> "$WS/out"
  elif [[ $rc != 0 ]]; then
    cat "$WS/out" >&2
    die "expected exit 0, got $rc: mboxsync bulk"
  fi
  expect_output "accounts: "
  # The killed run could not release its lease; its successor takes it over at once.
  expect_output "a process on this host that no longer exists; taking it over"
  inboxes > "$WS/inboxes"
  [[ "$(grep -c '^user.bulk' "$WS/inboxes")" == "$N" ]] || die "expected $N user.bulk mailboxes, found $(grep -c '^user.bulk' "$WS/inboxes")"
  [[ "$(cut -d' ' -f1 "$WS/inboxes" | sort | uniq -d | wc -l)" == 0 ]] || die "a mailbox exists twice"
  # Only this test's mailboxes: the other tests leave theirs in the same Murder.
  be1=$(grep -c '^user\.bulk.* 127\.0\.0\.2$' "$WS/inboxes"); be2=$(grep -c '^user\.bulk.* 127\.0\.0\.3$' "$WS/inboxes")
  note "spread: be1 $be1, be2 $be2"
  (( be1 >= N / 2 - 5 && be1 <= N / 2 + 5 )) || die "placement 'fewest' did not spread the mailboxes evenly (be1 $be1, be2 $be2)"
  # The database agrees with mupdate for every account, nothing is pending, nothing is left unprovisioned.
  q mbbulk "SELECT CONCAT('user.', a.uid, ' ', b.imap_host) FROM accounts a JOIN backends b ON b.id = a.backend_id ORDER BY 1" > "$WS/db"
  grep '^user.bulk' "$WS/inboxes" | sort | diff - "$WS/db" || die "the database's back ends differ from mupdate's"
  [[ "$(q mbbulk "SELECT COUNT(*) FROM accounts WHERE provisioned_at IS NULL")" == 0 ]] || die "accounts left unprovisioned"
  [[ "$(q mbbulk "SELECT COUNT(*) FROM provisioning_jobs WHERE state <> 'done'")" == 0 ]] || die "jobs left pending"
  # The result log has a line for every account; those done before the kill are 'existed' now, not created twice.
  [[ "$(cut -f1 "$LOG" | sort -u | wc -l)" == "$N" ]] || die "the result log does not name every account"
  (( $(grep -c $'\texisted\t' "$LOG") >= 1 )) || die "the rerun found no mailbox left by the killed run"
  [[ "$(grep -c $'\tcreated\t' "$LOG")" -le "$N" ]] || die "more creations than accounts"
  # (Other tests share the Murder: their mailboxes are orphans to this database.)
  expect_json 0 mboxsync -c "$CONF" plan --json
  json_check "plan disagrees after the bulk run" '(.missing + .misplaced + .invalid) == []'
  json_check "plan does not count $N accounts" '.expected == $n' --argjson n "$N"
}
step --needs killed_midway rerun step_rerun

step_crash_before_record() {
  note "killed after the server made a mailbox but before its result was recorded; then be2 joins the placement"
  cy_config mbplace 'placement: weights' 'weights: {be1: 1}' > "$WS/place1.yaml"
  cy_config mbplace 'placement: weights' 'weights: {be1: 1, be2: 1}' > "$WS/place2.yaml"
  fixture_db mbplace "$WS/place1.yaml"
  q mbplace "INSERT INTO accounts (uid, primary_address, delivery, backend_id, source) VALUES
    ('place1', 'place1@example.test', 'cyrus', 1, 'ad'), ('place2', 'place2@example.test', 'cyrus', 1, 'ad'),
    ('place3', 'place3@example.test', 'cyrus', 1, 'ad'), ('place4', 'place4@example.test', 'cyrus', 1, 'ad')"
  # All four go to be1 on one session; the fourth result kills mboxsync (testhooks.h) before it
  # is recorded, so the server has made four mailboxes and the database knows of three.
  expect_exit 137 env MAPSYNC_TEST_CRASH_AT=4 bash "$CYFIX" exec "$CYDIR" "$MBOXSYNC" -c "$WS/place1.yaml" -q bulk
  [[ "$(q mbplace "SELECT COUNT(*) FROM accounts WHERE provisioned_at IS NOT NULL")" == 3 ]] || die "expected 3 results recorded before the crash"
  [[ "$(inboxes | grep -c '^user\.place.* 127\.0\.0\.2$')" == 4 ]] || die "the killed run did not make 4 mailboxes on be1"
  # Placed anew, the fourth account would go to the empty be2 and find its own mailbox on be1.
  expect_json 0 mboxsync -c "$WS/place2.yaml" bulk --json
  json_check "the rerun did not find the one mailbox made before the crash" '[.results[].outcome] == ["existed"]'
  inboxes | grep '^user\.place' > "$WS/placed"
  q mbplace "SELECT CONCAT('user.', a.uid, ' ', b.imap_host) FROM accounts a JOIN backends b ON b.id = a.backend_id ORDER BY 1" |
    diff - "$WS/placed" || die "the database's back ends differ from mupdate's after the rerun"

}
step crash_before_record step_crash_before_record

step_sigterm_report() {
  note "bulk, stopped by SIGTERM: the report says what was tried and what was not"
  local n=300 conf=$WS/term.yaml log=$WS/term.log
  cy_config mbterm 'placement: fewest' 'pipeline: 4' > "$conf"
  fixture_db mbterm "$conf"
  printf "('term%04d', 'term%04d@example.test', 'cyrus', 1, 'ad')\n" $(seq 0 $((n - 1)) | sed 'p') | paste -sd, |
    sed 's/^/INSERT INTO accounts (uid, primary_address, delivery, backend_id, source) VALUES /; s/$/;/' |
    db_root "$DB" mbterm
  : > "$log"
  # ip netns exec execs mboxsync: $! is mboxsync itself.
  bash "$CYFIX" exec "$CYDIR" "$MBOXSYNC" -c "$conf" bulk --json --log "$log" > "$WS/term.json" 2> "$WS/term.err" &
  pid=$!
  trap 'kill -KILL "$pid" 2>/dev/null || true' EXIT
  deadline=$((SECONDS + 120))
  while (( $(wc -l < "$log") < 20 )); do
    kill -0 "$pid" 2>/dev/null || { cat "$WS/term.err" >&2; die "bulk ended before the signal"; }
    (( SECONDS < deadline )) || die "bulk made no progress"
    sleep 0.05
  done
  kill -TERM "$pid"
  rc=0; wait "$pid" || rc=$?
  trap - EXIT
  [[ $rc == 75 ]] || { cat "$WS/term.err" >&2; die "bulk stopped by SIGTERM exited $rc, not 75"; }
  python3 "$ROOT/tests/support/check_json.py" "$WS/term.json" ||
    { cat "$WS/term.err" >&2; die "the interrupted bulk's JSON does not conform to its schema"; }
  JSON=$WS/term.json json_check "not interrupted by SIGTERM" '.kind == "mboxsync.bulk" and .interrupted == "SIGTERM"'
  JSON=$WS/term.json json_check "not one result per account" '(.results | length) == $n' --argjson n "$n"
  JSON=$WS/term.json json_check "tried + not tried is not every account, or nothing was left" \
    '.summary.tried + .summary.not_tried == $n and .summary.not_tried > 0 and .summary.tried >= 20' --argjson n "$n"
  JSON=$WS/term.json json_check "an account not tried counted as failed or to retry" \
    '.summary.failed == 0 and .summary.retry == 0 and .summary.created == .summary.tried and
     ([.results[] | select(.outcome == "not_tried")] | length) == .summary.not_tried'
  local tried created not_tried
  tried=$(jq .summary.tried "$WS/term.json"); created=$(jq .summary.created "$WS/term.json")
  not_tried=$(jq .summary.not_tried "$WS/term.json")
  # The summary line and the warning tell the same, and nobody says "nothing published".
  grep -qF "$n accounts: $created created, 0 existed, 0 renamed, 0 moved, 0 to retry, 0 failed, $not_tried not tried" "$WS/term.err" ||
    { cat "$WS/term.err" >&2; die "the summary line does not count what was tried"; }
  grep -qF "interrupted by SIGTERM after trying $tried of $n accounts" "$WS/term.err" ||
    { cat "$WS/term.err" >&2; die "no warning of the interruption"; }
  ! grep -q "nothing published" "$WS/term.err" || { cat "$WS/term.err" >&2; die "the report says nothing published"; }
  # What was tried is recorded (and in the result log); what was not is not.
  [[ "$(q mbterm "SELECT COUNT(*) FROM accounts WHERE provisioned_at IS NOT NULL")" == "$created" ]] ||
    die "the database does not record the $created mailboxes created"
  [[ "$(grep -c $'\tcreated\t' "$log")" == "$created" && "$(grep -c $'\tnot_tried\t' "$log")" == "$not_tried" ]] ||
    die "the result log does not match the report"
  [[ "$(inboxes | grep -c '^user\.term')" == "$created" ]] || die "the back ends hold another number of mailboxes than created"
  note "stopped after $tried of $n; a rerun creates the $not_tried others"
  expect_json 0 mboxsync -c "$conf" bulk --json
  json_check "the rerun did not create exactly the ones not tried" \
    '.summary.created == $k and .summary.tried == $k and .interrupted == null' --argjson k "$not_tried"
}
step sigterm_report step_sigterm_report

step_third_run() {
  note "a third run has nothing to do"
  expect_json 0 mboxsync -c "$CONF" bulk --json
  json_check "a third run found something to do" '.results == []'
}
step --needs rerun third_run step_third_run
finish
