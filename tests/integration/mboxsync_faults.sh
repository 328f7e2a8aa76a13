#!/usr/bin/env bash
# mboxsync_faults - a back end down (its jobs wait and retry, the other back end's
# finish), the mupdate master down (exit 75, jobs kept), a wrong admin password and other
# configuration faults (a clear message, nothing marked done), the leader lock.
TEST_NAME=mboxsync_faults
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=cyrus_lib.sh
source "$(dirname "$0")/cyrus_lib.sh"

CONF=$WS/cy.yaml
cy_config mbfault > "$CONF"
fixture_db mbfault "$CONF"
add_accounts() {  # add_accounts BACKEND_ID UID...: accounts with a create job each
  local be=$1 uid; shift
  for uid in "$@"; do
    q mbfault "INSERT INTO accounts (uid, primary_address, delivery, backend_id, source) VALUES ('$uid', '$uid@example.test', 'cyrus', $be, 'ad');
INSERT INTO provisioning_jobs (account_id, kind, new_uid) SELECT id, 'create', uid FROM accounts WHERE uid = '$uid'"
  done
}
jobs_of() { q mbfault "SELECT GROUP_CONCAT(CONCAT(a.uid, ':', j.state, ':', j.attempts) ORDER BY a.uid) FROM provisioning_jobs j JOIN accounts a ON a.id = j.account_id WHERE a.uid IN ($1)"; }
restart_all() { cy start-server mupdate >/dev/null 2>&1 || true; cy start-server be2 >/dev/null 2>&1 || true; }

step_be2_down() {
  note "be2 down: be1's jobs finish, be2's wait with the error and a retry time; exit 75"
  add_accounts 1 f1a f1b
  add_accounts 2 f2a f2b
  cy stop-server be2
  # Both back ends and the master up again when the step ends, also when a check fails.
  trap restart_all EXIT
  expect_exit 75 mboxsync -c "$CONF" run
  expect_output "127.0.0.3:143: cannot connect"
  [[ "$(jobs_of "'f1a','f1b','f2a','f2b'")" == "f1a:done:1,f1b:done:1,f2a:pending:1,f2b:pending:1" ]] || die "jobs after be2 down: $(jobs_of "'f1a','f1b','f2a','f2b'")"
  [[ "$(q mbfault "SELECT COUNT(*) FROM provisioning_jobs j JOIN accounts a ON a.id = j.account_id WHERE a.uid = 'f2a' AND j.not_before > NOW() AND j.last_error LIKE '%cannot connect%'")" == 1 ]] ||
    die "f2a's job has no retry time or error"
  # Not due yet: a run now leaves them alone.
  expect_json 0 mboxsync -c "$CONF" run --json
  json_check "a run before the retry time took jobs" '.results == []'
  cy start-server be2
  q mbfault "UPDATE provisioning_jobs SET not_before = NOW() - INTERVAL 1 SECOND WHERE state = 'pending'"
  expect_exit 0 mboxsync -c "$CONF" run
  trap - EXIT
  [[ "$(jobs_of "'f2a','f2b'")" == "f2a:done:2,f2b:done:2" ]] || die "be2's jobs not done after it came back: $(jobs_of "'f2a','f2b'")"
  [[ "$(server_of user.f2a)" == 127.0.0.3 ]] || die "user.f2a not on be2"
}
step be2_down step_be2_down

step_mupdate_down() {
  note "mupdate master down: CREATE is refused for now, jobs kept, exit 75"
  add_accounts 1 m1
  cy stop-server mupdate
  trap restart_all EXIT
  expect_exit 75 mboxsync -c "$CONF" run
  expect_output "m1 (user.m1 on be1): retry"
  [[ "$(jobs_of "'m1'")" == "m1:pending:1" ]] || die "m1's job after mupdate down: $(jobs_of "'m1'")"
  cy start-server mupdate
  q mbfault "UPDATE provisioning_jobs SET not_before = NULL WHERE state = 'pending'"
  expect_exit 0 mboxsync -c "$CONF" run
  [[ "$(jobs_of "'m1'")" == "m1:done:2" ]] || die "m1's job not done after mupdate came back"
  trap - EXIT
}
step mupdate_down step_mupdate_down

step_wrong_password() {
  note "wrong admin password: one clear line, exit 78, nothing marked"
  add_accounts 1 w1
  printf 'not-the-password\n' > "$WS/wrong.pw"; chmod 600 "$WS/wrong.pw"
  sed "s|password_file: $CYRUS_ADMIN_PASSWORD_FILE|password_file: $WS/wrong.pw|" "$CONF" > "$WS/wrong.yaml"
  grep -q "$WS/wrong.pw" "$WS/wrong.yaml" || die "could not write the wrong-password config"
  expect_exit 78 mboxsync -c "$WS/wrong.yaml" run
  expect_output "login as cyrus refused: NO"
  [[ "$(jobs_of "'w1'")" == "w1:pending:0" ]] || die "a failed login touched the job: $(jobs_of "'w1'")"
}
step wrong_password step_wrong_password

step_config_faults() {
  note "password file readable by others, plaintext without consent, a CA that does not sign the server: 78"
  cp "$CYRUS_ADMIN_PASSWORD_FILE" "$WS/open.pw"; chmod 644 "$WS/open.pw"
  sed "s|password_file: $CYRUS_ADMIN_PASSWORD_FILE|password_file: $WS/open.pw|" "$CONF" > "$WS/open.yaml"
  expect_exit 78 mboxsync -c "$WS/open.yaml" run
  expect_output "too open"
  sed "s|tls: starttls|tls: none|" "$CONF" > "$WS/plain.yaml"
  expect_exit 78 mboxsync -c "$WS/plain.yaml" run
  expect_output "set allow_plaintext: true to mean it"
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$WS/other.key" -out "$WS/other.pem" -days 1 -subj /CN=other-ca >/dev/null 2>&1
  sed "s|ca_file: .*|ca_file: $WS/other.pem|" "$CONF" > "$WS/ca.yaml"
  expect_exit 78 mboxsync -c "$WS/ca.yaml" run
  expect_output "certificate does not verify"
  [[ "$(jobs_of "'w1'")" == "w1:pending:0" ]] || die "a configuration fault touched the job"
}
step --needs wrong_password config_faults step_config_faults

step_leader_lock() {
  note "leader lease: another mboxsync holds it: exit 0, nothing done"
  hold_lease mbfault mapsync.mboxsync
  expect_exit 0 mboxsync -c "$CONF" run
  expect_output "another mboxsync holds the lease mapsync.mboxsync (owner otherhost:4242:1"
  [[ "$(jobs_of "'w1'")" == "w1:pending:0" ]] || die "a run without the lease touched the job"
  release_lease mbfault mapsync.mboxsync
  expect_exit 0 mboxsync -c "$CONF" run
  [[ "$(jobs_of "'w1'")" == "w1:done:1" ]] || die "w1 not done at last"
}
step --needs wrong_password leader_lock step_leader_lock

finish
