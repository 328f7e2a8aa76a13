#!/usr/bin/env bash
# mboxsync_move - a third back end joins the running Murder and users move onto it with
# XFER while mail keeps arriving through the front end:
#   - rebalance: N users on be1/be2, be3 joins, `rebalance --apply` queues N/3 moves and
#     `mboxsync run` carries them out while a hub publishes its maps (mapsync build, with
#     fleet reports) and a loop delivers mail through the front end's LMTP proxy the whole
#     time. A first run is killed (SIGKILL) midway; the next one completes. Afterwards every
#     message the server accepted is in its user's INBOX exactly once, mupdate and the
#     database agree, the hub's transport map routes the moved users to be3, no user is left
#     deferred and nothing is pending;
#   - be3 stopped during a move: the job stays pending with the server's words, the user
#     stays on the source, readable and deliverable; with be3 back the retry completes;
#   - a large mailbox (thousands of messages in several folders, seen flags, an ACL) moves
#     intact: folders, counts, the owner's unseen counts, quota and ACLs compared by the
#     test itself before and after.
TEST_NAME=mboxsync_move
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=cyrus_lib.sh
source "$(dirname "$0")/cyrus_lib.sh"

N=${MOVE_USERS:-300}
LOAD="$ROOT/tests/fixtures/mail_load.py"
cy join be3

base_config() {
  cy_config mbmove "$@" 'frontend: {host: 127.0.0.1}' 'retry: {base_seconds: 0}' \
    'moves: {hub_wait: 120, batch: 25, mupdate_wait: 30, max_moves: 1000}'
  printf 'fleet:\n  hub: hub1\n  period: 5\n'
}
CONF=$WS/move.yaml
base_config 'weights: {be1: 1, be2: 1}' > "$WS/place.yaml"
base_config 'weights: {be1: 1, be2: 1, be3: 1}' > "$CONF"
fixture_db mbmove "$WS/place.yaml"
q mbmove "INSERT INTO backends (id, name, lmtp_host, imap_host, partitions) VALUES (3, 'be3', '127.0.0.5', '127.0.0.5', 'default')"
/usr/bin/python3 - "$N" > "$WS/accounts.sql" <<'PY'
import sys
n = int(sys.argv[1])
rows = ",".join("('mv%04d', 'mv%04d@example.test', 'cyrus', %d, 'ad')" % (i, i, 1 + i % 2) for i in range(n))
print("INSERT INTO accounts (uid, primary_address, delivery, backend_id, source) VALUES " + rows + ";")
PY
db_root "$DB" mbmove < "$WS/accounts.sql"
mboxsync -c "$WS/place.yaml" -q bulk || die "bulk provisioning failed"
seq -f 'mv%04g' 0 $((N - 1)) > "$WS/users"
# The front end's mupdate slave must know the new mailboxes before mail goes through it
# (after a test that restarted the mupdate master, it resyncs some 20-30 s later).
deadline=$((SECONDS + 180))
until [[ "$(cy mboxlist frontend | grep -c '"user\.mv[0-9]*":')" == "$N" ]]; do
  (( SECONDS < deadline )) || die "the front end does not know the $N new mailboxes after 180 s"
  sleep 0.5
done

# new_user UID BACKEND-ID: one more account with its mailbox (after the rebalance).
new_user() {
  q mbmove "INSERT INTO accounts (uid, primary_address, delivery, backend_id, source) VALUES ('$1', '$1@example.test', 'cyrus', $2, 'ad')"
  mboxsync -c "$WS/place.yaml" -q bulk || die "provisioning $1 failed"
}

# The hub: mapsync build from "cron", reporting to fleet_hubs, until told to stop.
hub_loop() {
  while [[ ! -e $WS/stop-hub ]]; do
    "$MAPSYNC" -c "$CONF" -q build >> "$WS/hub.log" 2>&1 || true
    sleep 0.5  # a cron period, not a synchronisation
  done
}
hub_loop &
HUB=$!
LOADER=
cleanup_move() {
  touch "$WS/stop-hub" "$WS/stop-load"
  [[ -n $LOADER ]] && kill "$LOADER" 2>/dev/null
  kill "$HUB" 2>/dev/null
  wait 2>/dev/null || true
}
trap cleanup_move EXIT

# imap_as BACKEND USER: raw IMAP on BACKEND as the admin acting for USER.
imap_as() { cy imap "$1" --authzid "$2"; }

# tree_of BACKEND USER: folders with MESSAGES/UNSEEN as the owner, ACLs and quota as the admin.
tree_of() {
  local be=$1 u=$2
  printf 'a1 LIST "" "*"\n' | imap_as "$be" "$u" | sed -n 's/^\* LIST ([^)]*) "." //p' | tr -d '"\r' | sort > "$WS/f.$u"
  {
    while read -r f; do printf 's STATUS "%s" (MESSAGES UNSEEN)\n' "$f"; done < "$WS/f.$u"
  } | imap_as "$be" "$u" | grep '^\* STATUS' | tr -d '\r' | sort
  printf 'g1 GETACL user.%s\ng2 GETQUOTAROOT user.%s\n' "$u" "$u" | imap "$be" | grep -E '^\* (ACL|QUOTA) ' |
    sed 's/(STORAGE [0-9]* /(STORAGE - /' | tr -d '\r' | sort
  # The owner's flags by UID (XFER keeps UIDs).
  printf 'e1 EXAMINE INBOX\ne2 UID SEARCH FLAGGED\ne3 UID SEARCH SEEN\n' | imap_as "$be" "$u" | grep '^\* SEARCH' |
    sed 's/^/flags /' | tr -d '\r'
  printf 'l1 LSUB "" "*"\n' | imap_as "$be" "$u" | { grep '^\* LSUB' || true; } | tr -d '\r' | sort
}

# shape_of BACKEND USER: tree_of without the counts (mail keeps arriving during a rebalance).
shape_of() { tree_of "$1" "$2" | grep -v -e '^\* STATUS' -e '^flags'; }

step_rebalance() {
  note "rebalance $N users onto be3 under mail load; the first run killed midway"
  LOADER_LOG=$WS/load.log
  bash "$CYFIX" exec "$CYDIR" /usr/bin/python3 "$LOAD" send --lmtp 127.0.0.1:24 --users "$WS/users" \
    --log "$LOADER_LOG" --stop-file "$WS/stop-load" --drain-timeout 300 2> "$WS/load.err" &
  LOADER=$!
  expect_json 0 mboxsync -c "$CONF" rebalance --json
  json_check "the plan does not move users from be1 and be2 to be3" \
    '(.moves | length) >= ($n / 3 | floor) and all(.moves[]; .to == "be3")' --argjson n "$N"
  planned=$(jq '.moves | length' "$WS/json")
  # A sample of the users to move: folders, ACLs and quota before, to compare after.
  jq -r '.moves[0:5][] | "\(.uid) \(.from)"' "$WS/json" > "$WS/sample"
  while read -r u be; do shape_of "$be" "$u" > "$WS/shape.$u"; done < "$WS/sample"
  expect_exit 0 mboxsync -c "$CONF" -q rebalance --apply
  moves=$(q mbmove "SELECT COUNT(*) FROM provisioning_jobs WHERE kind = 'move' AND state = 'pending'")
  (( moves == planned )) || die "rebalance --apply queued $moves moves, the plan had $planned"
  # First run: killed once a few moves are recorded.
  mboxsync -c "$CONF" -q run > "$WS/run1.out" 2>&1 &
  run=$!
  deadline=$((SECONDS + 300))
  until (( $(q mbmove "SELECT COUNT(*) FROM provisioning_jobs WHERE kind = 'move' AND state = 'done'") >= 5 )); do
    kill -0 "$run" 2>/dev/null || die "the first run ended before it could be killed: $(tail -5 "$WS/run1.out")"
    (( SECONDS < deadline )) || die "no move finished within 300 s: $(tail -5 "$WS/run1.out")"
    sleep 0.2
  done
  pkill -KILL -f "$MBOXSYNC -c $CONF" || true
  wait "$run" 2>/dev/null || true
  note "killed after $(q mbmove "SELECT COUNT(*) FROM provisioning_jobs WHERE kind = 'move' AND state = 'done'") moves"
  expect_exit 0 mboxsync -c "$CONF" run
  [[ "$(q mbmove "SELECT COUNT(*) FROM provisioning_jobs WHERE state <> 'done'")" == 0 ]] || die "jobs left pending or failed"
  [[ "$(q mbmove "SELECT COUNT(*) FROM accounts WHERE mailbox_moving")" == 0 ]] || die "users left deferred"
  touch "$WS/stop-load"
  wait "$LOADER" || die "the mail loop did not deliver everything: $(tail -5 "$WS/load.err")"
  LOADER=
  note "$(tail -1 "$WS/load.err")"
  # Every accepted message is in its user's INBOX exactly once.
  bash "$CYFIX" exec "$CYDIR" /usr/bin/python3 "$LOAD" count --imap 127.0.0.1 --users "$WS/users" \
    --ca "$CYRUS_CA" --password-file "$CYRUS_ADMIN_PASSWORD_FILE" > "$WS/count" || die "counting failed"
  awk '$1 == "delivered" {print $2, $3}' "$LOADER_LOG" | sort > "$WS/sent"
  grep -v ' -$' "$WS/count" | grep ' mapsync-load-' | sort > "$WS/found"
  [[ -s $WS/sent ]] || die "the mail loop delivered nothing"
  diff "$WS/sent" "$WS/found" > "$WS/sent-found.diff" || die "messages lost or doubled: $(head -5 "$WS/sent-found.diff")"
  note "$(wc -l < "$WS/sent") messages, each in its INBOX once"
  # mupdate and the database agree; the spread is even.
  inboxes | grep '^user\.mv[0-9]' > "$WS/placed"
  q mbmove "SELECT CONCAT('user.', a.uid, ' ', b.imap_host) FROM accounts a JOIN backends b ON b.id = a.backend_id WHERE a.uid REGEXP '^mv[0-9]' ORDER BY 1" |
    diff - "$WS/placed" || die "the database's back ends differ from mupdate's"
  # Even now: the back ends' mailbox counts differ by one at most.
  spread=$(q mbmove "SELECT MAX(n) - MIN(n) FROM (SELECT COUNT(*) n FROM accounts GROUP BY backend_id) c")
  (( spread <= 1 )) || die "the back ends are not even after the rebalance: $(q mbmove "SELECT backend_id, COUNT(*) FROM accounts GROUP BY backend_id")"
  while read -r u be; do
    shape_of be3 "$u" | diff "$WS/shape.$u" - || die "the folders, ACLs or quota of $u differ after the move"
  done < "$WS/sample"
  # mboxsync plan agrees: recorded back end, mupdate (through the front end) and the
  # deferrals, for every account.
  expect_json 0 mboxsync -c "$CONF" plan --json
  json_check "plan finds the database, mupdate or the deferrals disagreeing" '(.missing + .misplaced + .deferred) == []'
  # The hub's transport map routes the moved users to be3.
  # (Once the hub has published the last change.)
  want=$(q mbmove "SELECT serial FROM change_serial")
  deadline=$((SECONDS + 120))
  until (( $(q mbmove "SELECT COALESCE(MAX(serial), 0) FROM fleet_hubs WHERE hub = 'hub1'") >= want )); do
    (( SECONDS < deadline )) || die "the hub did not publish serial $want: $(tail -3 "$WS/hub.log")"
    sleep 0.2
  done
  moved=$(q mbmove "SELECT a.uid FROM accounts a WHERE a.backend_id = 3 AND a.uid REGEXP '^mv[0-9]' LIMIT 1")
  got=$(postmap -q "$moved@example.test" "hash:$WS/maps-mbmove/transport") || die "transport has no entry for $moved"
  [[ $got == 'lmtp:[127.0.0.5]:24' ]] || die "transport routes $moved to $got, not be3"
}
step rebalance step_rebalance

step_large_mailbox() {
  note "a large mailbox: thousands of messages in several folders, some seen, an ACL, subscriptions"
  new_user mvbig 1
  # 20 messages, then COPY doubles them (fast, server side) into INBOX and two folders.
  for i in $(seq 1 20); do
    cy deliver mvbig < /dev/null > /dev/null || die "delivery to mvbig failed"
  done
  {
    printf 'c1 SELECT INBOX\n'
    for i in 1 2 3 4 5 6 7; do printf 'c%d COPY 1:* INBOX\n' $((i + 1)); done
    printf 'd1 CREATE INBOX.Archive\nd2 CREATE INBOX.Archive.2025\nd3 COPY 1:1000 INBOX.Archive\nd4 COPY 1:300 INBOX.Archive.2025\n'
    printf 'd5 SUBSCRIBE INBOX.Archive\nd6 SUBSCRIBE INBOX.Archive.2025\n'
    printf 'e1 STORE 1:700 +FLAGS (\\Seen)\ne2 STORE 5:9 +FLAGS (\\Flagged)\n'
  } | imap_as be1 mvbig > "$WS/big.out"
  grep -q '^e2 OK' "$WS/big.out" || die "could not fill mvbig: $(grep -v '^\* [0-9]' "$WS/big.out" | head -20)"
  printf 's1 SETACL user.mvbig.Archive anyone lr\n' | imap be1 | grep -q '^s1 OK' || die "SETACL failed"
  tree_of be1 mvbig > "$WS/big.before"
  grep -q 'MESSAGES 2560' "$WS/big.before" || die "mvbig INBOX does not hold 2560 messages: $(cat "$WS/big.before")"
  grep -q '^\* LSUB .*INBOX.Archive.2025' "$WS/big.before" || die "mvbig has no subscriptions: $(cat "$WS/big.before")"
  expect_json 0 mboxsync -c "$CONF" move mvbig --to be3 --json
  json_check "mvbig was not moved" '[.results[].outcome] == ["moved"]'
  json_check "the move counted no messages" '.results[0].messages >= 3860'
  [[ "$(server_of user.mvbig)" == 127.0.0.5 ]] || die "mupdate does not name be3 for user.mvbig"
  tree_of be3 mvbig > "$WS/big.after"
  diff "$WS/big.before" "$WS/big.after" || die "the tree of mvbig differs after the move"
  [[ "$(q mbmove "SELECT b.name FROM accounts a JOIN backends b ON b.id = a.backend_id WHERE a.uid = 'mvbig'")" == be3 ]] ||
    die "the database does not record be3 for mvbig"
}
step large_mailbox step_large_mailbox

step_target_down() {
  note "be3 stopped during a move: pending with the error, the user stays on be2; retried and completed"
  new_user mvdown 2
  cy stop-server be3
  expect_exit 75 mboxsync -c "$CONF" move mvdown --to be3
  expect_output "mvdown"
  [[ "$(server_of user.mvdown)" == 127.0.0.3 ]] || die "user.mvdown left be2"
  [[ "$(q mbmove "SELECT CONCAT(state, ' ', attempts, ' ', last_error IS NOT NULL) FROM provisioning_jobs WHERE kind = 'move' AND account_id = (SELECT id FROM accounts WHERE uid = 'mvdown')")" == "pending 1 1" ]] ||
    die "the move job of mvdown is not pending with its error"
  [[ "$(q mbmove "SELECT mailbox_moving FROM accounts WHERE uid = 'mvdown'")" == 0 ]] || die "mvdown's mail is still deferred"
  cy deliver mvdown < /dev/null > /dev/null || die "mvdown is not deliverable on be2"
  printf 'x1 EXAMINE INBOX\n' | imap_as be2 mvdown | grep -q '^x1 OK' || die "mvdown is not readable on be2"
  cy start-server be3
  expect_exit 0 mboxsync -c "$CONF" run
  [[ "$(server_of user.mvdown)" == 127.0.0.5 ]] || die "the retry did not move user.mvdown to be3"
}
step target_down step_target_down


finish
