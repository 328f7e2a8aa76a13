#!/usr/bin/env bash
# mboxsync_provision - the provisioning queue against a real Cyrus Murder and MariaDB:
# new accounts get their mailbox on the back end the database records (checked through
# mupdate, and by LMTP delivery through the front end landing there), with quota, ACL and
# special-use folders; renames follow; a mailbox on another back end is a conflict left
# alone; names Cyrus would refuse never reach the server; plan --check agrees at the end.
TEST_NAME=mboxsync_provision
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=cyrus_lib.sh
source "$(dirname "$0")/cyrus_lib.sh"

CONF=$WS/cy.yaml
cy_config mbprov > "$CONF"
printf 'metrics:\n  mboxsync_textfile: %s\n' "$WS/mboxsync.prom" >> "$CONF"
metric() { awk -v s="$1" '$1 == s {print $2}' "$WS/mboxsync.prom"; }
fixture_db mbprov "$CONF"
# What adsync leaves behind: accounts with a back end, and a create job each.
q mbprov "INSERT INTO accounts (uid, primary_address, delivery, backend_id, cyrus_partition, quota_mb, smtp_nexthop, source) VALUES
  ('ann', 'ann@example.test', 'cyrus', 1, NULL, NULL, NULL, 'ad'),
  ('ben', 'ben@example.test', 'cyrus', 2, NULL, 250, NULL, 'ad'),
  ('cat', 'cat@example.test', 'cyrus', 1, 'archive', NULL, NULL, 'ad'),
  ('o''brien', 'obrien@example.test', 'cyrus', 2, NULL, NULL, NULL, 'ad'),
  ('exch', 'exch@example.test', 'smtp', NULL, NULL, NULL, '[exchange.example.test]', 'ad');
INSERT INTO provisioning_jobs (account_id, kind, new_uid) SELECT id, 'create', uid FROM accounts WHERE delivery = 'cyrus'"

step_plan_before() {
  note "plan before: four missing"
  expect_json 1 mboxsync -c "$CONF" plan --check --json
  json_check "plan does not list the four missing, user.ann on be1 among them" \
    '(.missing | length) == 4 and any(.missing[]; . == "user.ann (be1)")'
}
step plan_before step_plan_before

step_run() {
  note "run: every job done, each mailbox where the database says"
  expect_json 0 mboxsync -c "$CONF" run --json
  json_check "not 4 jobs, all created" '(.results | length) == 4 and all(.results[]; .outcome == "created")'
  [[ "$(q mbprov "SELECT COUNT(*) FROM provisioning_jobs WHERE state = 'done' AND done_at IS NOT NULL")" == 4 ]] || die "jobs not done"
  [[ "$(q mbprov "SELECT GROUP_CONCAT(uid, ':', cyrus_partition ORDER BY uid) FROM accounts WHERE provisioned_at IS NOT NULL")" == "ann:default,ben:default,cat:archive,o'brien:default" ]] ||
    die "provisioned_at/partition not recorded: $(q mbprov "SELECT uid, cyrus_partition, provisioned_at FROM accounts")"
  [[ "$(server_of user.ann)" == 127.0.0.2 ]] || die "user.ann not on be1 per mupdate"
  [[ "$(server_of user.ben)" == 127.0.0.3 ]] || die "user.ben not on be2 per mupdate"
  [[ "$(server_of "user.o'brien")" == 127.0.0.3 ]] || die "user.o'brien not on be2"
  cy mboxlist > "$WS/mboxlist"
  grep -q '"user.cat": .*"partition": "archive"' "$WS/mboxlist" || die "user.cat not on partition archive"
  for f in Sent Drafts Trash Junk; do [[ "$(server_of "user.ben.$f")" == 127.0.0.3 ]] || die "user.ben.$f missing"; done
  printf 'a GETQUOTAROOT user.ben\nb GETACL user.ben\nc GETQUOTAROOT user.ann\n' | imap be2 > "$WS/be2" || true
  grep -q 'QUOTA user.ben (STORAGE 0 256000)' "$WS/be2" || { cat "$WS/be2"; die "quota of ben (250 MB) not set"; }
  grep -q 'ACL user.ben .*anyone p' "$WS/be2" || { cat "$WS/be2"; die "ACL anyone p not set"; }
  printf 'a GETQUOTAROOT user.ann\n' | imap be1 > "$WS/be1" || true
  grep -q 'QUOTA user.ann (STORAGE 0 102400)' "$WS/be1" || { cat "$WS/be1"; die "default quota (100 MB) not set on ann"; }
}
step run step_run

step_run_metrics() {
  note "the run's metrics: four created, the queue empty, this host led"
  [[ $(metric 'mboxsync_jobs_total{outcome="created"}') == 4 ]] || die "mboxsync_jobs_total created: $(metric 'mboxsync_jobs_total{outcome="created"}')"
  [[ $(metric 'mboxsync_jobs_total{outcome="failed"}') == 0 ]] || die "mboxsync_jobs_total failed"
  [[ $(metric 'mboxsync_queue_jobs{kind="create",state="pending"}') == 0 ]] || die "pending create jobs in the metrics"
  [[ $(metric mboxsync_leader) == 1 && $(metric mboxsync_last_exit_status) == 0 ]] || die "leader / exit status"
  grep -Eq '^mboxsync_build_info\{version="[^"]+"\} 1$' "$WS/mboxsync.prom" || die "mboxsync_build_info"
}
step --needs run run_metrics step_run_metrics

step_lmtp() {
  note "LMTP through the front end lands on the back end mupdate names"
  # Quota usage counts whole KiB: a message of a few KiB shows where it landed.
  { printf 'From: test@example.test\r\nTo: ben@example.test\r\nSubject: where\r\n\r\n'
    for _ in $(seq 100); do printf 'filler line to make the message a few KiB long.........\r\n'; done; } > "$WS/msg"
  cy deliver ben@example.test < "$WS/msg" || die "delivery to ben through the front end failed"
  printf 'a GETQUOTAROOT user.ben\n' | imap be2 > "$WS/be2" || true
  grep -q 'QUOTA user.ben (STORAGE [1-9][0-9]* 256000)' "$WS/be2" || { cat "$WS/be2"; die "ben's message did not land on be2"; }
  expect_json 0 mboxsync -c "$CONF" plan --check --json
  json_check "plan is not in step after the delivery" '.in_sync'
}
step --needs run lmtp step_lmtp

step_idempotent() {
  note "idempotent: a job for a mailbox that exists where it should is done, not an error"
  q mbprov "INSERT INTO provisioning_jobs (account_id, kind, new_uid) SELECT id, 'create', uid FROM accounts WHERE uid = 'ann'"
  expect_json 0 mboxsync -c "$CONF" run --json
  json_check "the repeated job is not the one 'existed'" '[.results[].outcome] == ["existed"]'
}
step --needs run idempotent step_idempotent

step_rename() {
  note "rename: the mailbox and its folders follow the user name"
  q mbprov "UPDATE accounts SET uid = 'benjamin' WHERE uid = 'ben';
  INSERT INTO provisioning_jobs (account_id, kind, old_uid, new_uid) SELECT id, 'rename', 'ben', 'benjamin' FROM accounts WHERE uid = 'benjamin'"
  expect_json 0 mboxsync -c "$CONF" run --json
  json_check "not one mailbox renamed" '[.results[] | select(.outcome == "renamed")] | length == 1'
  [[ "$(server_of user.benjamin)" == 127.0.0.3 && -z "$(server_of user.ben)" ]] || die "rename did not move user.ben to user.benjamin"
  [[ "$(server_of user.benjamin.Sent)" == 127.0.0.3 ]] || die "folders did not follow the rename"
}
step --needs run rename step_rename

step_conflict() {
  note "a mailbox on another back end is a conflict, reported and left alone"
  printf 'a CREATE user.dan\n' | imap be2 > "$WS/out" || true
  grep -q '^a OK' "$WS/out" || { cat "$WS/out"; die "could not make user.dan on be2"; }
  q mbprov "INSERT INTO accounts (uid, primary_address, delivery, backend_id, source) VALUES ('dan', 'dan@example.test', 'cyrus', 1, 'ad');
  INSERT INTO provisioning_jobs (account_id, kind, new_uid) SELECT id, 'create', uid FROM accounts WHERE uid = 'dan'"
  expect_exit 65 mboxsync -c "$CONF" run
  expect_output "dan (user.dan on be1): conflict: exists, but not on be1"
  [[ "$(server_of user.dan)" == 127.0.0.3 ]] || die "the conflicting mailbox was touched"
  [[ "$(q mbprov "SELECT state FROM provisioning_jobs j JOIN accounts a ON a.id = j.account_id WHERE a.uid = 'dan'")" == failed ]] ||
    die "the conflicting job is not failed"
  expect_json 1 mboxsync -c "$CONF" plan --check --json
  json_check "plan does not call user.dan misplaced" 'any(.misplaced[]; . == "user.dan: on be2, the database says be1")'
}
step conflict step_conflict

step_injection() {
  note "injection: names Cyrus would refuse are rejected before anything is sent; the rest is sent as one argument"
  : > "$WS/telemetry-before"
  cat "$CYRUS_TELEMETRY_BE1"/* > "$WS/telemetry-before" 2>/dev/null || true
  q mbprov "INSERT INTO accounts (uid, primary_address, delivery, backend_id, source) VALUES
    ('q\"uote', 'q1@example.test', 'cyrus', 1, 'ad'), (CONCAT('cr', CHAR(13), CHAR(10), 'a DELETE user.ann'), 'q2@example.test', 'cyrus', 1, 'ad'),
    ('sp ace', 'q3@example.test', 'cyrus', 1, 'ad'), ('müller', 'q4@example.test', 'cyrus', 1, 'ad'),
    ('star*', 'q5@example.test', 'cyrus', 1, 'ad');
  INSERT INTO provisioning_jobs (account_id, kind, new_uid) SELECT id, 'create', uid FROM accounts WHERE primary_address LIKE 'q_@example.test'"
  expect_exit 65 mboxsync -c "$CONF" run
  [[ "$(q mbprov "SELECT COUNT(*) FROM provisioning_jobs j JOIN accounts a ON a.id = j.account_id WHERE a.primary_address LIKE 'q_@example.test' AND j.state = 'failed' AND j.last_error LIKE 'user name %'")" == 4 ]] ||
    die "bad names not refused: $(q mbprov "SELECT a.uid, j.state, j.last_error FROM provisioning_jobs j JOIN accounts a ON a.id = j.account_id WHERE a.primary_address LIKE 'q_@example.test'")"
  # 'sp ace' is a name Cyrus accepts (a space is allowed); it went as one quoted string.
  [[ "$(server_of "user.sp ace")" == 127.0.0.2 ]] || die "user.sp ace not created"
  cat "$CYRUS_TELEMETRY_BE1"/* > "$WS/telemetry-after" 2>/dev/null
  diff "$WS/telemetry-before" "$WS/telemetry-after" | grep '^>' > "$WS/sent" || true
  grep -q 'CREATE "user.sp ace" default' "$WS/sent" || { cat "$WS/sent"; die "the server did not see CREATE \"user.sp ace\" default"; }
  if grep -q -e 'DELETE' -e 'uote' -e 'star' -e 'ller' "$WS/sent"; then cat "$WS/sent"; die "a refused name reached the server"; fi
  [[ "$(server_of user.ann)" == 127.0.0.2 ]] || die "user.ann was deleted"
}
step --needs run injection step_injection

step_frontend() {
  note "through the front end (CREATE name server!partition) and over IMAPS"
  cy_config mbprov 'via: frontend' "frontend: {host: $CYRUS_FRONTEND, port: 143}" > "$WS/fe.yaml"
  q mbprov "INSERT INTO accounts (uid, primary_address, delivery, backend_id, source) VALUES ('fay', 'fay@example.test', 'cyrus', 2, 'ad'), ('gil', 'gil@example.test', 'cyrus', 2, 'ad');
  INSERT INTO provisioning_jobs (account_id, kind, new_uid) SELECT id, 'create', uid FROM accounts WHERE uid IN ('fay', 'gil')"
  printf 'a CREATE user.gil\n' | imap be1 > "$WS/out" || true   # gil's name taken on be1: a conflict seen through the front end too
  grep -q '^a OK' "$WS/out" || { cat "$WS/out"; die "could not make user.gil on be1"; }
  expect_exit 65 mboxsync -c "$WS/fe.yaml" run
  expect_output "gil (user.gil on be2): conflict"
  [[ "$(server_of user.fay)" == 127.0.0.3 && "$(server_of user.fay.Sent)" == 127.0.0.3 ]] || die "user.fay not created on be2 through the front end"
  [[ "$(server_of user.gil)" == 127.0.0.2 ]] || die "the conflicting user.gil was touched"
  cy_config mbprov 'tls: imaps' | sed '/^  tls: starttls$/d' > "$WS/imaps.yaml"
  expect_json 1 mboxsync -c "$WS/imaps.yaml" plan --check --json
  json_check "plan over IMAPS does not call user.gil misplaced" 'any(.misplaced[]; . == "user.gil: on be1, the database says be2")'
}
step frontend step_frontend

step_weights() {
  note "placement by weights (be1 3, be2 1): eight new accounts split six to two"
  cy_config mbweight 'placement: weights' 'weights: {be1: 3, be2: 1}' > "$WS/weights.yaml"
  fixture_db mbweight "$WS/weights.yaml"
  # adsync recorded be1 for all of them; with no mailbox yet, the policy decides.
  q mbweight "INSERT INTO accounts (uid, primary_address, delivery, backend_id, source)
    SELECT CONCAT('wt', n), CONCAT('wt', n, '@example.test'), 'cyrus', 1, 'ad' FROM
    (SELECT 1 n UNION SELECT 2 UNION SELECT 3 UNION SELECT 4 UNION SELECT 5 UNION SELECT 6 UNION SELECT 7 UNION SELECT 8) s"
  expect_json 0 mboxsync -c "$WS/weights.yaml" bulk --json
  json_check "not 8 accounts, all created" '(.results | length) == 8 and all(.results[]; .outcome == "created")'
  [[ "$(q mbweight "SELECT GROUP_CONCAT(b.name, ':', c ORDER BY b.name) FROM (SELECT backend_id, COUNT(*) c FROM accounts GROUP BY backend_id) a JOIN backends b ON b.id = a.backend_id")" == "be1:6,be2:2" ]] ||
    die "weights 3:1 did not place 6:2: $(q mbweight "SELECT uid, backend_id FROM accounts")"
  be1=0
  for n in 1 2 3 4 5 6 7 8; do [[ "$(server_of user.wt$n)" == 127.0.0.2 ]] && be1=$((be1 + 1)); done
  (( be1 == 6 )) || die "mupdate has $be1 of the weighted mailboxes on be1, not 6"
}
step weights step_weights

step_standalone() {
  note "a standalone server with unixhierarchysep and virtual domains: user/j.doe@example.test"
  cy_config mbsolo 'unix_separator: true' 'virtual_domains: true' > "$WS/solo.yaml"
  fixture_db mbsolo "$WS/solo.yaml"
  q mbsolo "INSERT INTO backends (id, name, lmtp_host, imap_host) VALUES (3, 'solo', '127.0.0.4', '127.0.0.4');
  INSERT INTO accounts (uid, primary_address, delivery, backend_id, source) VALUES ('j.doe', 'J.Doe@Example.TEST', 'cyrus', 3, 'ad');
  INSERT INTO provisioning_jobs (account_id, kind, new_uid) SELECT id, 'create', uid FROM accounts"
  expect_json 0 mboxsync -c "$WS/solo.yaml" run --json
  json_check "j.doe's mailbox not created" '[.results[] | select(.outcome == "created")] | length == 1'
  printf 'a LIST "" "user/*"\n' | imap standalone | tr -d '\r' > "$WS/solo" || true
  for box in user/j.doe@example.test user/j.doe/Sent@example.test user/j.doe/Junk@example.test; do
    grep -q -F -x "* LIST (\\HasNoChildren) \"/\" $box" "$WS/solo" || { cat "$WS/solo"; die "$box missing on the standalone server"; }
  done
}
step standalone step_standalone

step_status_and_counters() {
  note "mboxsync status agrees with the queue; counters kept across the runs, failures counted"
  expect_json 0 mboxsync -c "$CONF" status --json
  json_check "status: pending and failed as in provisioning_jobs" \
    ".format == 1 and .pending == $(q mbprov "SELECT COUNT(*) FROM provisioning_jobs WHERE state = 'pending'")
     and .failed == $(q mbprov "SELECT COUNT(*) FROM provisioning_jobs WHERE state = 'failed'") and .last_done_age_seconds != null"
  (( $(metric 'mboxsync_jobs_total{outcome="created"}') >= 4 )) || die "the created counter went back"
  (( $(metric 'mboxsync_runs_total{status="65"}') >= 2 )) || die "the runs that exited 65 are not counted"
  (( $(metric 'mboxsync_runs_total{status="0"}') >= 2 )) || die "the successful runs are not counted"
}
step --needs run status_and_counters step_status_and_counters

finish
