#!/usr/bin/env bash
# fleet_leaders (issue 12) - one adsync and one mboxsync leader for the whole fleet, by a
# lease in the database (compare-and-set; named locks are per node on Galera):
#   - two adsync apply at the same moment against different Galera nodes (g1, g2): exactly
#     one applies (one applied ad_sync_runs row), the other exits 0 naming the holder;
#   - fencing: a leader frozen (SIGSTOP) just before its commit while its lease runs out; a
#     second adsync on g2 takes the lease and applies; the first, thawed, must not commit
#     (75, "lease") and the database shows the second one's run only;
#   - two mboxsync run at once: one works the queue, the other exits 0 naming the holder.
# A pause point (MAPSYNC_TEST_PAUSE=lease.before_commit:FIFO, testhooks.h) holds the first
# process at the moment that matters, so nothing here depends on timing.
# adsync and mboxsync run in the Samba AD and Cyrus namespaces and reach the Galera nodes
# over their unix sockets; the cluster is this test's own (fleet_lib.sh).
TEST_NAME=fleet_leaders
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=ad_lib.sh
source "$(dirname "$0")/ad_lib.sh"
# shellcheck source=cyrus_lib.sh
source "$(dirname "$0")/cyrus_lib.sh"
# shellcheck source=fleet_lib.sh
source "$(dirname "$0")/fleet_lib.sh"

galera_start
# The AD and Cyrus fixtures' domain and back ends (as lib.sh's fixture_db).
cat > "$WS/fixture.sql" <<'SQL'
INSERT INTO domains (name, kind) VALUES ('example.test', 'local');
INSERT INTO backends (id, name, lmtp_host, imap_host, partitions) VALUES
  (1, 'be1', '127.0.0.2', '127.0.0.2', 'default,archive'), (2, 'be2', '127.0.0.3', '127.0.0.3', 'default');
SQL
fleet_db g1 "$WS/fixture.sql"

# leader_config NAME NODE > file: hub NAME's config over NODE's socket, with the ad: and
# cyrus: sections of the fixtures' own configs. A short lease keeps the fencing step quick.
leader_config() {
  HUB_LEASE=5 hub_config "$1" "sock:$WS/$2/sock"
  ad_config unused | sed -n '/^ad:/,$p'
  cy_config unused | sed -n '/^cyrus:/,$p'
}
leader_config lead1 g1 > "$WS/lead1.yaml"
leader_config lead2 g2 > "$WS/lead2.yaml"
mkfifo "$WS/pause" "$WS/pause.resume"

applied_runs() { nq g1 "SET SESSION wsrep_sync_wait=1; SELECT COUNT(*) FROM maildb.ad_sync_runs WHERE result = 'applied'"; }
lease_expired() { [[ $(nq g2 "SELECT expires_at < NOW(6) FROM maildb.leases WHERE name = '$1'") == 1 ]]; }

# start_paused OUT FIXTURE exec DIR PROGRAM ARGS...: PROGRAM run by the fixture script's exec
# (in its namespace) in the background, to stop at lease.before_commit; sets PAUSED_PID once
# there. Not through the adsync/mboxsync wrapper functions: bash would fork for them, and the
# PID must be the program's own (SIGSTOP must reach it; the fixture's exec execs into it).
# Killed when the step ends early (its open transaction then rolls back).
start_paused() {
  local out=$1 info exe; shift
  MAPSYNC_TEST_PAUSE="lease.before_commit:$WS/pause" bash "$@" > "$out" 2>&1 &
  PAUSED_PID=$!
  trap 'kill -KILL "$PAUSED_PID" 2>/dev/null || true' EXIT
  info=$(pause_wait "$WS/pause") || { cat "$out" >&2; die "$* did not reach lease.before_commit"; }
  note "paused at lease.before_commit ($info)"
  exe=$(readlink "/proc/$PAUSED_PID/exe") || die "the paused process is gone"
  [[ $exe == */adsync || $exe == */mboxsync ]] || die "pid $PAUSED_PID is $exe, not the program"
}
# finish_paused CODE OUT: waits for it (resuming it at any later pause point: a program that
# commits more than once stops at each); its exit status must be CODE.
finish_paused() {
  local rc=0 fd line end=$((SECONDS + 120))
  exec {fd}<> "$WS/pause"
  while _alive "$PAUSED_PID"; do
    (( SECONDS < end )) || { exec {fd}<&-; die "the paused process still runs after 120 s"; }
    if read -r -t 0.2 -u "$fd" line; then pause_resume "$WS/pause"; fi
  done
  exec {fd}<&-
  wait "$PAUSED_PID" || rc=$?
  [[ $rc == "$1" ]] || { cat "$2" >&2; die "the paused process exited $rc, want $1"; }
}

step_adsync_at_once() {
  note "adsync apply on g1 holds the lease (paused before its commit); adsync apply on g2 at that moment: exit 0, names the holder, writes nothing"
  local before
  before=$(applied_runs)
  start_paused "$WS/first.out" "$ADFIX" exec "$ADDIR" "$ADSYNC" -c "$WS/lead1.yaml" apply
  galera_sync
  expect_exit 0 adsync -c "$WS/lead2.yaml" apply
  expect_output "another adsync holds the lease mapsync.adsync (owner"
  [[ $(applied_runs) == "$before" ]] || die "the second adsync applied while the first held the lease"
  pause_resume "$WS/pause"
  finish_paused 0 "$WS/first.out"
  trap - EXIT
  [[ $(applied_runs) == $((before + 1)) ]] || die "not exactly one applied run: $(applied_runs) (before: $before)"
  [[ $(nq g2 "SET SESSION wsrep_sync_wait=1; SELECT COUNT(*) FROM maildb.accounts WHERE uid = 'alice'") == 1 ]] || die "alice not created"
  # No lease line from the one that applied.
  if grep -q "holds the lease" "$WS/first.out"; then cat "$WS/first.out" >&2; die "the leader says another holds the lease"; fi
}
step adsync_at_once step_adsync_at_once

step_fencing() {
  note "a leader frozen before its commit loses its lease; the next one (on g2) applies; the old one cannot commit"
  local before rfd
  ad add-proxy alice smtp:fleet-fence@example.test
  trap 'ad del-proxy alice smtp:fleet-fence@example.test >/dev/null 2>&1 || true' EXIT
  before=$(applied_runs)
  start_paused "$WS/first.out" "$ADFIX" exec "$ADDIR" "$ADSYNC" -c "$WS/lead1.yaml" apply
  trap 'kill -KILL "$PAUSED_PID" 2>/dev/null || true; ad del-proxy alice smtp:fleet-fence@example.test >/dev/null 2>&1 || true' EXIT
  kill -STOP "$PAUSED_PID"
  # The resume line waits in the FIFO (held open read-write here) for the frozen process.
  exec {rfd}<> "$WS/pause.resume"
  echo go >&"$rfd"
  # Its lease renewer is frozen too: the lease runs out (lease_seconds 5).
  wait_for 30 "lease mapsync.adsync expired" lease_expired mapsync.adsync
  expect_exit 0 adsync -c "$WS/lead2.yaml" apply
  if grep -q "holds the lease" "$WS/out"; then cat "$WS/out" >&2; die "the second adsync did not take the expired lease"; fi
  [[ $(applied_runs) == $((before + 1)) ]] || die "the second adsync did not apply"
  kill -CONT "$PAUSED_PID"
  finish_paused 75 "$WS/first.out"
  exec {rfd}>&-
  grep -qi "lease" "$WS/first.out" || { cat "$WS/first.out" >&2; die "the fenced leader's message does not mention the lease"; }
  [[ $(applied_runs) == $((before + 1)) ]] || die "the fenced leader committed: $(applied_runs) applied runs, want $((before + 1))"
  [[ $(nq g3 "SET SESSION wsrep_sync_wait=1; SELECT COUNT(*) FROM maildb.addresses WHERE address = 'fleet-fence@example.test'") == 1 ]] ||
    die "fleet-fence@ is not there exactly once"
  [[ $(nq g3 "SELECT owner FROM maildb.leases WHERE name = 'mapsync.adsync'") != "" ]] || die "no lease owner recorded"
  ad del-proxy alice smtp:fleet-fence@example.test
  trap - EXIT
}
step --needs adsync_at_once fencing step_fencing

# Unique mailbox names: the Cyrus fixture is shared with the other tests of the run.
U1=flt$$a U2=flt$$b
jobs_of() { nq g1 "SET SESSION wsrep_sync_wait=1; SELECT GROUP_CONCAT(CONCAT(a.uid, ':', j.state, ':', j.attempts) ORDER BY a.uid) FROM maildb.provisioning_jobs j JOIN maildb.accounts a ON a.id = j.account_id WHERE a.uid IN ('$U1', '$U2')"; }

step_mboxsync_at_once() {
  note "mboxsync run on g1 holds the lease (paused before its commit); mboxsync run on g2 at that moment: exit 0, names the holder; the jobs are worked once"
  local u
  # Only this step's jobs in the queue (adsync queued mailboxes for the AD students).
  nq g1 "DELETE FROM maildb.provisioning_jobs"
  for u in "$U1" "$U2"; do
    nq g1 "INSERT INTO maildb.accounts (uid, primary_address, delivery, backend_id, source) VALUES ('$u', '$u@example.test', 'cyrus', 1, 'ad');
INSERT INTO maildb.provisioning_jobs (account_id, kind, new_uid) SELECT id, 'create', uid FROM maildb.accounts WHERE uid = '$u'"
  done
  start_paused "$WS/first.out" "$CYFIX" exec "$CYDIR" "$MBOXSYNC" -c "$WS/lead1.yaml" run
  galera_sync
  expect_exit 0 mboxsync -c "$WS/lead2.yaml" run
  expect_output "another mboxsync holds the lease mapsync.mboxsync"
  pause_resume "$WS/pause"
  finish_paused 0 "$WS/first.out"
  trap - EXIT
  [[ $(jobs_of) == "$U1:done:1,$U2:done:1" ]] || die "jobs after two runs at once: $(jobs_of)"
  [[ $(server_of "user.$U1") == 127.0.0.2 ]] || die "user.$U1 not on be1"
  expect_exit 0 mboxsync -c "$WS/lead2.yaml" run
  [[ $(jobs_of) == "$U1:done:1,$U2:done:1" ]] || die "a later run on g2 worked the jobs again: $(jobs_of)"
}
step mboxsync_at_once step_mboxsync_at_once

finish
