#!/usr/bin/env bash
# adsync_reconcile - adsync against a real Samba AD DC and MariaDB: the first full sync,
# then each kind of change in AD (disable, alias, rename, OU move, new user, deleted
# user) and the N-consecutive-misses rule, the audit rows and the mailbox queue.
TEST_NAME=adsync_reconcile
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=ad_lib.sh
source "$(dirname "$0")/ad_lib.sh"

CONF=$WS/ad.yaml
ad_config adrec > "$CONF"
printf 'metrics:\n  adsync_textfile: %s\n' "$WS/adsync.prom" >> "$CONF"
fixture_db adrec "$CONF"

step_plan_before() {
  note "plan before anything: out of step, nothing written"
  before=$(db_sum adrec)
  expect_exit 1 adsync -c "$CONF" plan --check
  expect_output "create          alice"
  [[ "$(db_sum adrec)" == "$before" ]] || die "plan changed the database"
  expect_json 0 adsync -c "$CONF" plan --json
  json_check "plan --json does not list 7 creates" '.mode == "full" and (.creates | length) == 7'
}
step plan_before step_plan_before

step_first_sync() {
  note "first full sync creates exactly the expected accounts"
  serial0=$(q adrec "SELECT serial FROM change_serial")
  expect_exit 0 adsync -c "$CONF" apply
  expect_output "applied (audit run 1)"
  q adrec "SELECT uid, primary_address, status, delivery, COALESCE(smtp_nexthop, '-'), COALESCE(quota_mb, '-'),
             given_name, surname, display_name, source FROM accounts ORDER BY uid" > "$WS/accounts"
  cat > "$WS/accounts.expected" <<'EOF'
alice	alice.smith@example.test	active	smtp	[exchange.example.test]	-	Alice	Smith	Alice Smith	ad
bob	bob@example.test	active	smtp	[exchange.example.test]	-	Bob	Jones	Bob Jones	ad
dave	dave@example.test	active	cyrus	-	1024	Dave	Brown	Dave Brown	ad
erin	erin@example.test	active	cyrus	-	1024	Erin	Green	Erin Green	ad
eve	eve@example.test	active	smtp	[exchange.example.test]	-	Eve	Evans	Eve *)(cn=*	ad
jmueller	jmueller@example.test	active	cyrus	-	1024	Jürgen	Müller	Jürgen Müller	ad
zoe	zoe@example.test	active	cyrus	-	1024	Zoë	王	Zoë 王	ad
EOF
  diff -u "$WS/accounts.expected" "$WS/accounts" || die "accounts after the first sync differ from the expected table"
  q adrec "SELECT a.uid, d.address, d.kind FROM addresses d JOIN accounts a ON a.id = d.account_id ORDER BY d.address" > "$WS/addresses"
  printf 'alice\talice@example.test\tproxy\nalice\tasmith@example.test\tproxy\ndave\td.brown@example.test\tproxy\n' > "$WS/addresses.expected"
  diff -u "$WS/addresses.expected" "$WS/addresses" || die "addresses after the first sync"
  # Placement: the four students spread over both back ends, two each (fewest accounts first).
  [[ "$(q adrec "SELECT b.name, COUNT(*) FROM accounts a JOIN backends b ON b.id = a.backend_id GROUP BY b.name ORDER BY b.name" | tr '\t\n' ': ')" == "be1:2 be2:2 " ]] ||
    die "students not spread over be1/be2 evenly"
  # Every new Cyrus account has a mailbox job; AD state recorded for every account.
  [[ "$(q adrec "SELECT GROUP_CONCAT(j.new_uid ORDER BY j.new_uid) FROM provisioning_jobs j WHERE kind = 'create' AND state = 'pending'")" == "dave,erin,jmueller,zoe" ]] ||
    die "mailbox jobs are not dave,erin,jmueller,zoe"
  [[ "$(q adrec "SELECT COUNT(*) FROM ad_account_state WHERE dn IS NOT NULL")" == 7 ]] || die "AD state rows missing"
  [[ "$(q adrec "SELECT CONCAT_WS(' ', mode, result, entries, creates, os_user, bound_as) FROM ad_sync_runs WHERE id = 1")" == "full applied 9 7 $(id -un) $AD_PRINCIPAL" ]] ||
    die "audit row 1 is wrong: $(q adrec "SELECT * FROM ad_sync_runs WHERE id = 1")"
  (( $(q adrec "SELECT serial FROM change_serial") > serial0 )) || die "the change serial did not move"
  [[ "$(q adrec "SELECT highest_usn > 0 AND last_full_at IS NOT NULL FROM ad_dc_state")" == 1 ]] || die "DC USN not recorded"
}
step first_sync step_first_sync

step_in_step() {
  note "in step afterwards: plan --check 0, the next run is incremental and changes no account"
  expect_json 0 adsync -c "$CONF" plan --check --json
  expect_output "incremental run"
  json_check "not in step with AD after the first sync" '.mode == "incremental" and .in_sync and .conflicts == []'
  serial1=$(q adrec "SELECT serial FROM change_serial")
  expect_exit 0 adsync -c "$CONF" apply
  [[ "$(q adrec "SELECT serial FROM change_serial")" == "$serial1" ]] || die "a no-change run moved the change serial"
  [[ "$(q adrec "SELECT CONCAT_WS(' ', mode, result) FROM ad_sync_runs ORDER BY id DESC LIMIT 1")" == "incremental no-change" ]] ||
    die "no-change run not audited as such"
}
step --needs first_sync in_step step_in_step

step_ad_changes() {
  note "changes in AD: disable, alias, rename, OU move, new user, deleted user"
  ids=$(q adrec "SELECT GROUP_CONCAT(uid, '=', id ORDER BY uid) FROM accounts")
  ad disable erin
  ad add-proxy alice smtp:alice2@example.test
  ad rename dave david
  ad move bob "OU=Students,$AD_BASE"
  ad add-user henry "OU=Students,$AD_BASE" Henry Hill henry@example.test
  ad delete-user zoe
  expect_exit 0 adsync -c "$CONF" apply
  expect_output "incremental run"
  expect_output "create          henry"
  expect_output "+alias alice2@example.test"
  expect_output "uid: dave -> david (mailbox rename queued)"
  expect_output "move            bob  CN=Bob Jones,OU=IT,OU=Staff,$AD_BASE -> CN=Bob Jones,OU=Students,$AD_BASE"
  expect_output "miss            erin  disabled in AD (missed 1 run)"
  # Same account rows (ids) for the renamed and the moved user: updated, not re-created.
  [[ "$(q adrec "SELECT GROUP_CONCAT(uid, '=', id ORDER BY uid) FROM accounts WHERE uid <> 'henry'")" == "${ids/dave=/david=}" ]] ||
    die "ids changed: before $ids, after $(q adrec "SELECT GROUP_CONCAT(uid, '=', id ORDER BY uid) FROM accounts")"
  [[ "$(q adrec "SELECT CONCAT_WS(' ', old_uid, new_uid, state) FROM provisioning_jobs WHERE kind = 'rename'")" == "dave david pending" ]] ||
    die "no mailbox rename job for dave -> david"
  [[ "$(q adrec "SELECT COUNT(*) FROM provisioning_jobs j JOIN accounts a ON a.id = j.account_id WHERE a.uid = 'henry' AND j.kind = 'create'")" == 1 ]] ||
    die "no mailbox job for the new user"
  [[ "$(q adrec "SELECT COUNT(*) FROM addresses WHERE address = 'alice2@example.test' AND kind = 'proxy'")" == 1 ]] || die "alias not added"
  # The move changes where AD keeps bob, not how his mail is delivered (routing is the database's).
  [[ "$(q adrec "SELECT CONCAT_WS(' ', a.delivery, a.status, s.dn) FROM accounts a JOIN ad_account_state s ON s.account_id = a.id WHERE a.uid = 'bob'")" == "smtp active CN=Bob Jones,OU=Students,$AD_BASE" ]] ||
    die "bob after the move: $(q adrec "SELECT * FROM accounts WHERE uid = 'bob'")"
  # Disabled in AD: still active after one miss (N = 3).
  [[ "$(q adrec "SELECT CONCAT_WS(' ', a.status, s.missed_runs, s.missing_reason) FROM accounts a JOIN ad_account_state s ON s.account_id = a.id WHERE a.uid = 'erin'")" == "active 1 disabled" ]] ||
    die "erin after one miss"
  # An incremental run cannot see a deletion: zoe is untouched until a full run.
  [[ "$(q adrec "SELECT CONCAT_WS(' ', a.status, s.missed_runs) FROM accounts a JOIN ad_account_state s ON s.account_id = a.id WHERE a.uid = 'zoe'")" == "active 0" ]] ||
    die "zoe changed in an incremental run"
}
step --needs first_sync ad_changes step_ad_changes

step_misses() {
  note "N consecutive misses: erin disabled on the third run, zoe (deleted) on the third full run"
  # misses[]: action miss (counted), disable or pending-delete; reason disabled (in AD) or gone.
  expect_json 0 adsync -c "$CONF" apply --full --json
  json_check "zoe is not missed once, as gone" 'any(.misses[]; .uid == "zoe" and .action == "miss" and .reason == "gone" and .missed_runs == 1)'
  json_check "erin is not missed twice, as disabled" 'any(.misses[]; .uid == "erin" and .action == "miss" and .reason == "disabled" and .missed_runs == 2)'
  expect_json 0 adsync -c "$CONF" apply --full --json
  json_check "erin is not disabled on the third miss" 'any(.misses[]; .uid == "erin" and .action == "disable")'
  json_check "zoe is not missed twice, as gone" 'any(.misses[]; .uid == "zoe" and .action == "miss" and .reason == "gone" and .missed_runs == 2)'
  [[ "$(q adrec "SELECT status FROM accounts WHERE uid = 'erin'")" == disabled ]] || die "erin not disabled after 3 misses"
  [[ "$(q adrec "SELECT status FROM accounts WHERE uid = 'zoe'")" == active ]] || die "zoe disabled too early"
  expect_json 0 adsync -c "$CONF" apply --full --json
  json_check "zoe is not disabled on the third miss" 'any(.misses[]; .uid == "zoe" and .action == "disable")'
  [[ "$(q adrec "SELECT status FROM accounts WHERE uid = 'zoe'")" == disabled ]] || die "zoe not disabled after 3 misses"
  # Nothing is ever deleted: the rows and their addresses are all still there.
  [[ "$(q adrec "SELECT COUNT(*) FROM accounts")" == 8 ]] || die "an account row disappeared"
}
step --needs ad_changes misses step_misses

step_pending_delete() {
  note "pending-delete after the grace period; back in AD: active again, counter reset"
  q adrec "UPDATE accounts SET status_changed_at = NOW() - INTERVAL 31 DAY WHERE uid = 'zoe'"
  expect_json 0 adsync -c "$CONF" apply --full --json
  json_check "zoe is not pending-delete after the grace period" 'any(.misses[]; .uid == "zoe" and .action == "pending-delete")'
  [[ "$(q adrec "SELECT status FROM accounts WHERE uid = 'zoe'")" == pending-delete ]] || die "zoe not pending-delete"
  ad enable erin
  expect_json 0 adsync -c "$CONF" apply --json
  json_check "erin is not enabled again" 'any(.updates[]; .uid == "erin" and .enable)'
  [[ "$(q adrec "SELECT CONCAT_WS(' ', a.status, s.missed_runs, COALESCE(s.missing_reason, '-')) FROM accounts a JOIN ad_account_state s ON s.account_id = a.id WHERE a.uid = 'erin'")" == "active 0 -" ]] ||
    die "erin not re-enabled with a fresh counter"
}
step --needs misses pending_delete step_pending_delete

step_out_of_scope() {
  note "out of scope (moved to an OU we do not sync) counts as missing, in a full run"
  ad move jmueller "OU=Alumni,$AD_BASE"
  expect_json 0 adsync -c "$CONF" apply --full --json
  json_check "jmueller out of scope is not missed once, as gone" 'any(.misses[]; .uid == "jmueller" and .action == "miss" and .reason == "gone" and .missed_runs == 1)'
  ad move jmueller "OU=Students,$AD_BASE"
  expect_exit 0 adsync -c "$CONF" apply
  [[ "$(q adrec "SELECT CONCAT_WS(' ', a.status, s.missed_runs) FROM accounts a JOIN ad_account_state s ON s.account_id = a.id WHERE a.uid = 'jmueller'")" == "active 0" ]] ||
    die "jmueller back in scope but still counted missing"
}
step --needs first_sync out_of_scope step_out_of_scope

step_manual_accounts() {
  note "manual accounts are never touched, and their addresses are not taken"
  q adrec "INSERT INTO accounts (uid, primary_address, delivery, smtp_nexthop, source) VALUES ('postmaster-desk', 'desk@example.test', 'smtp', '[x]', 'manual')"
  ad add-proxy eve smtp:desk@example.test
  ad set-attr eve sn Manual-Test
  expect_exit 65 adsync -c "$CONF" apply
  expect_output "conflict        eve: address desk@example.test belongs to account postmaster-desk; left out"
  [[ "$(q adrec "SELECT surname FROM accounts WHERE uid = 'eve'")" == Manual-Test ]] || die "the rest of eve's update was not applied"
  [[ "$(q adrec "SELECT CONCAT_WS(' ', uid, status, source) FROM accounts WHERE primary_address = 'desk@example.test'")" == "postmaster-desk active manual" ]] ||
    die "the manual account was touched"
  ad del-proxy eve smtp:desk@example.test
}
step --needs first_sync manual_accounts step_manual_accounts

step_maps_follow() {
  note "the maps follow: mapsync build publishes the new state"
  mkdir -p "$WS/maps-adrec"
  "$MAPSYNC" -c "$CONF" -q build || die "mapsync build after adsync failed"
  postmap -q alice2@example.test "hash:$WS/maps-adrec/virtual" >/dev/null || die "alice2@ not in the virtual map"
}
step --needs first_sync maps_follow step_maps_follow

step_status_and_metrics() {
  note "adsync status and the metrics agree with the audit rows of every apply"
  local p=$WS/adsync.prom col metric
  expect_exit 0 adsync -c "$CONF" apply
  expect_json 0 adsync -c "$CONF" status --json
  json_check "status: one DC with its USN, the last run, zoe pending delete" \
    '.format == 1 and (.dcs | length) == 1 and .dcs[0].highest_usn > 0 and .last_run.result != null
     and (.pending_delete_uids | index("zoe")) != null'
  [[ $(awk '$1 == "adsync_last_exit_status" {print $2}' "$p") == 0 ]] || die "adsync_last_exit_status"
  [[ $(awk '$1 == "adsync_leader" {print $2}' "$p") == 1 ]] || die "adsync_leader"
  grep -Eq '^adsync_highest_usn\{dc="[^"]+"\} [1-9][0-9]*$' "$p" || die "adsync_highest_usn"
  grep -Eq '^adsync_runs_total\{status="65"\} 1$' "$p" || die "the apply with a conflict (65) is not counted"
  for col in creates:created updates:updated disables:disabled pending_deletes:pending_delete; do
    metric=adsync_accounts_${col#*:}_total
    [[ $(awk -v m="$metric" '$1 == m {print $2}' "$p") == "$(q adrec "SELECT COALESCE(SUM(${col%%:*}), 0) FROM ad_sync_runs")" ]] ||
      die "$metric is $(awk -v m="$metric" '$1 == m {print $2}' "$p"), the audit rows say $(q adrec "SELECT SUM(${col%%:*}) FROM ad_sync_runs")"
  done
  (( $(awk '$1 == "adsync_accounts_created_total" {print $2}' "$p") >= 7 )) || die "created_total below the first sync's 7"
}
step --needs first_sync status_and_metrics step_status_and_metrics

finish
