#!/usr/bin/env bash
# NAME
#   bench_mboxsync.sh - bulk mailbox creation on a Cyrus back end: `mboxsync bulk` against
#   cyradm's Perl module and a bare pipelined IMAP session sending the same commands
# SUMMARY
#   bench/bench_mboxsync.sh [BUILD_DIR]          (default BUILD_DIR: build-bench in the source tree)
# DESCRIPTION
#   Builds mboxsync and mapsync into BUILD_DIR (configured RelWithDebInfo when it has no
#   CMakeCache.txt yet; the build is a no-op when up to date). Starts a private MariaDB
#   (tests/fixtures/mariadb.sh, buffer pool 512M) for the whole run, and, before EVERY timed
#   run, a fresh Cyrus Murder (tests/fixtures/cyrus_murder.sh start: mupdate master, back ends
#   be1 127.0.0.2 and be2 127.0.0.3, ...; the old instances are removed), so every contender
#   starts from empty back ends. Each contender creates the same users u00001..uN with the same
#   seven commands per user, on one connection, as the Cyrus admin over STARTTLS:
#     CREATE user.uNNNNN default
#     SETQUOTA user.uNNNNN (STORAGE 102400)
#     SETACL user.uNNNNN anyone p
#     CREATE user.uNNNNN.Sent (USE (\Sent))       ... Drafts, Trash, Junk likewise
#   Contenders, on be1 only, MBOXSYNC_BENCH_RUNS rounds (round r starts with contender r, then
#   the others in turn, so that a drifting machine load does not always hit the same one):
#   1. bare: tests/fixtures/cyrus_imap.py imap (the fixture's pipelined client: it writes the
#      7N commands as fast as the server takes them and reads the replies concurrently), i.e.
#      the server's own limit on one connection.
#   2. mboxsync: `mboxsync -c CONF bulk` on a fresh database with N accounts (backend_id be1,
#      source ad, no provisioned_at). By default its config sets neither cyrus.pipeline nor
#      cyrus.connections, so it runs with mboxsync's own defaults (read from
#      libmapsync/mailbox/options.h for the table's label only). Its time includes reading the
#      database and recording every result (two UPDATEs per account).
#   3. cyradm: a Perl script on Cyrus::IMAP::Admin, the module cyradm is a shell around, making
#      exactly the calls cyradm's commands make (createmailbox, setquota, setaclmailbox,
#      createmailbox with -specialuse): one command at a time, each waiting for its reply.
#      (cyradm itself takes the password from stdin, which then swallows piped commands; the
#      commands, their order and their round trips are the same.)
#   Then, once: 4. both back ends: `mboxsync bulk` with the N accounts alternating be1/be2 (the
#   main runs' settings; the back ends in parallel); the total rate. And 5. a sweep of
#   connections per back end and pipeline depth (MBOXSYNC_BENCH_SWEEP_RUNS rounds, rotated
#   likewise; what mboxsync's defaults are chosen from): MBOXSYNC_BENCH_SWEEP_USERS users with
#   `mboxsync bulk` at every pair of MBOXSYNC_BENCH_SWEEP_CONNECTIONS (cyrus.connections) and
#   MBOXSYNC_BENCH_SWEEP (cyrus.pipeline), a bare and a cyradm run of the same size, and for each
#   connection count K > 1 a bare run with the users spread over K connections to be1 at once.
#   Each mboxsync setting is compared with the one-connection bare client (the goal's "bare
#   pipelined rate"), with the bare client on as many connections, and with cyradm. Smaller runs
#   repeated give steadier ratios on a shared machine than one long run each.
#   Checked after every run, on the back ends' own data: N inboxes user.uNNNNN and 4N folders
#   (ctl_mboxlist), the "anyone p" ACL on every inbox, N quota roots of 102400 KB (cyrus quota),
#   N \Sent, \Drafts, \Trash and \Junk special-use annotations each (annotations.db); bare: 7N
#   tagged OKs; mboxsync: "N created" and N accounts with provisioned_at; cyradm: exit 0 and no
#   error. A failed run or check exits 1.
#   Every client runs inside the fixture's namespace. Wall time is taken there by a small wrapper
#   around the client process (bash EPOCHREALTIME, /usr/bin/time for its CPU), so the fixture's
#   start is not counted. Server CPU: utime+stime (children included) of every process of the
#   namespace, per Cyrus instance, before and after. Pressure: /proc/pressure cpu and io
#   "some" during the run (the whole machine). Rates are users (mailboxes with their folders)
#   per second; figures are medians. Goals (from the issue): mboxsync >= 0.9 x the bare
#   pipelined rate and >= 1.2 x cyradm. Prints a table with PASS/MISS and exits 0 either way
#   when the runs themselves worked (benchmarks report, tests assert). Replaces the "mboxsync"
#   section of docs/benchmarks.md, or appends it at the end (MBOXSYNC_BENCH_NO_DOC=1: leave the
#   file alone). Cyrus and MariaDB are stopped at the end.
#   Needs: root (ip netns), cmake and a compiler, the packages of cyrus_murder.sh (cyrus-imapd
#   cyrus-murder cyrus-admin cyrus-clients sasl2-bin libsasl2-modules), libcyrus-imap-perl
#   (with cyrus-admin), MariaDB server and client, GNU time, bash 5.
# ENVIRONMENT
#   MBOXSYNC_BENCH_USERS        users per run (default 5000)
#   MBOXSYNC_BENCH_RUNS         rounds of bare, mboxsync, cyradm (default 1)
#   MBOXSYNC_BENCH_PIPELINE     cyrus.pipeline for the main runs (default: unset, mboxsync's default)
#   MBOXSYNC_BENCH_CONNECTIONS  cyrus.connections for the main runs (default: unset, mboxsync's default)
#   MBOXSYNC_BENCH_BOTH=0       skip the run on both back ends
#   MBOXSYNC_BENCH_SWEEP        pipeline depths of the sweep (default "8 32"; empty: no sweep)
#   MBOXSYNC_BENCH_SWEEP_CONNECTIONS  connections per back end of the sweep (default "1 2 4 8")
#   MBOXSYNC_BENCH_SWEEP_USERS  users per sweep run (default 300)
#   MBOXSYNC_BENCH_SWEEP_RUNS   rounds of the sweep (default 3)
#   MBOXSYNC_BENCH_KEEP=1       keep the work directory (its path is printed); services are stopped anyway
#   MBOXSYNC_BENCH_NO_DOC=1     do not update docs/benchmarks.md
#   TMPDIR                      where the work directory goes (default /tmp)
# shellcheck disable=SC2016  # backquotes in the printf formats below are Markdown
set -euo pipefail
export LC_ALL=C

readonly PROG=bench_mboxsync.sh
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
readonly SRC
# shellcheck source=bench/lib.sh
source "$SRC/bench/lib.sh"

BUILD_ARG=${1:-build-bench}
if [[ $BUILD_ARG == /* ]]; then BUILD=$BUILD_ARG; else BUILD=$SRC/$BUILD_ARG; fi
readonly BUILD_ARG BUILD
readonly CYRFIX=$SRC/tests/fixtures/cyrus_murder.sh
readonly IMAP_HELPER=$SRC/tests/fixtures/cyrus_imap.py
readonly CYRBIN=/usr/lib/cyrus/bin
readonly N=${MBOXSYNC_BENCH_USERS:-5000}
readonly RUNS=${MBOXSYNC_BENCH_RUNS:-1}
# Empty: the key is left out of the config, so mboxsync runs with its own default.
readonly PIPELINE=${MBOXSYNC_BENCH_PIPELINE:-}
readonly CONNECTIONS=${MBOXSYNC_BENCH_CONNECTIONS:-}
readonly BOTH=${MBOXSYNC_BENCH_BOTH:-1}
readonly SWEEP=${MBOXSYNC_BENCH_SWEEP-8 32}
readonly SWEEP_CONNS=${MBOXSYNC_BENCH_SWEEP_CONNECTIONS:-1 2 4 8}
readonly SWEEP_N=${MBOXSYNC_BENCH_SWEEP_USERS:-300}
readonly SWEEP_RUNS=${MBOXSYNC_BENCH_SWEEP_RUNS:-3}
readonly QUOTA_MB=100
readonly CMDS_PER_USER=7   # CREATE, SETQUOTA, SETACL, 4 folder CREATEs
for v in N RUNS SWEEP_N SWEEP_RUNS; do
  [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v: not a positive number: ${!v}"
done
for v in PIPELINE CONNECTIONS; do
  [[ -z ${!v} || ${!v} =~ ^[1-9][0-9]*$ ]] || die "MBOXSYNC_BENCH_$v: not a positive number: ${!v}"
done
(( N <= 99999 && SWEEP_N <= 99999 )) || die "at most 99999 users (names u00001..u99999)"
for d in $SWEEP; do [[ $d =~ ^[1-9][0-9]*$ ]] || die "MBOXSYNC_BENCH_SWEEP: not a positive number: $d"; done
for k in $SWEEP_CONNS; do [[ $k =~ ^[1-9][0-9]*$ ]] || die "MBOXSYNC_BENCH_SWEEP_CONNECTIONS: not a positive number: $k"; done
# mboxsync's defaults, for the labels only (the runs never pass them): the struct's initialisers.
DEF_PIPELINE=$(sed -nE 's/^ *unsigned pipeline = ([0-9]+);.*/\1/p' "$SRC/libmapsync/mailbox/options.h")
DEF_CONNECTIONS=$(sed -nE 's/^ *unsigned connections = ([0-9]+);.*/\1/p' "$SRC/libmapsync/mailbox/options.h")
[[ $DEF_PIPELINE =~ ^[0-9]+$ && $DEF_CONNECTIONS =~ ^[0-9]+$ ]] ||
  die "cannot read the defaults of pipeline and connections from libmapsync/mailbox/options.h"
readonly DEF_PIPELINE DEF_CONNECTIONS
# What the main runs use, for the labels.
readonly EFF_PIPELINE=${PIPELINE:-$DEF_PIPELINE} EFF_CONNECTIONS=${CONNECTIONS:-$DEF_CONNECTIONS}

# ---------------------------------------------------------------- tools, build

bench_preflight "Cyrus lives in a network namespace" cmake mariadb perl ip
[[ -x $CYRBIN/ctl_mboxlist && -x $CYRBIN/quota && -x $CYRBIN/cyr_dbtool ]] ||
  die "$CYRBIN/ctl_mboxlist, quota or cyr_dbtool missing (apt-get install cyrus-imapd cyrus-murder cyrus-admin)"
perl -MCyrus::IMAP::Admin -e 1 2>/dev/null || die "Perl Cyrus::IMAP::Admin missing (apt-get install cyrus-admin libcyrus-imap-perl)"

build_programs mboxsync mapsync

# ---------------------------------------------------------------- work directory, cleanup

WORK_KEEP=${MBOXSYNC_BENCH_KEEP:-0}
# WORK/timer.sh RESULT OUT CMD...: see write_timer_script (runs inside the namespace).
cyrus_work_dir mboxsync-bench
# par.sh K FILE OUTDIR HELPER-ARGS...: runs inside the namespace; K helper connections at once, the
# commands of FILE split by user number (user i goes to connection i mod K); replies to OUTDIR/J.out.
cat >"$WORK/par.sh" <<'EOF'
#!/usr/bin/env bash
k=$1 file=$2 out=$3
shift 3
mkdir -p "$out"
for (( j = 0; j < k; j++ )); do
  awk -v k="$k" -v j="$j" '{ t = $1; sub(/^[cqaf]/, "", t); sub(/\..*/, "", t); if (t % k == j) print }' "$file" >"$out/$j.in"
done
pids=()
for (( j = 0; j < k; j++ )); do
  /usr/bin/python3 "$@" <"$out/$j.in" >"$out/$j.out" 2>"$out/$j.err" &
  pids+=($!)
done
rc=0
for p in "${pids[@]}"; do wait "$p" || rc=1; done
exit "$rc"
EOF
chmod 0755 "$WORK/par.sh"

# cyradm_bulk.pl HOST CAFILE PASSWORD_FILE FIRST LAST: what `cyradm` does for
#   cm user.uNNNNN default; sq user.uNNNNN STORAGE 102400; sam user.uNNNNN anyone p;
#   cm --specialuse \Sent user.uNNNNN.Sent; ... (Drafts, Trash, Junk)
# through the same module (Cyrus::IMAP::Admin, as cyradm's Cyrus::IMAP::Shell calls it),
# STARTTLS (-tlskey '', as `cyradm -t ''`), AUTHENTICATE PLAIN as cyrus.
cat >"$WORK/cyradm_bulk.pl" <<'EOF'
use strict;
use warnings;
use Cyrus::IMAP::Admin;
my ($host, $ca, $pwfile, $first, $last) = @ARGV;
open(my $fh, '<', $pwfile) or die "$pwfile: $!\n";
my $pw = <$fh>;
close $fh;
chomp $pw;
my $c = Cyrus::IMAP::Admin->new($host, 143) or die "cannot connect to $host\n";
$c->authenticate(-user => 'cyrus', -password => $pw, -mechanism => 'PLAIN', -tlskey => '', -cafile => $ca)
  or die "cannot authenticate to $host\n";
my @folders = (['Sent', '\\Sent'], ['Drafts', '\\Drafts'], ['Trash', '\\Trash'], ['Junk', '\\Junk']);
my $bad = 0;
for my $i ($first .. $last) {
  my $mbx = sprintf('user.u%05d', $i);
  unless ($c->createmailbox($mbx, 'default')) { warn "$mbx: createmailbox: " . $c->error . "\n"; $bad++; next; }
  $c->setquota($mbx, STORAGE => 102400) or do { warn "$mbx: setquota: " . $c->error . "\n"; $bad++; };
  $c->setaclmailbox($mbx, anyone => 'p') or do { warn "$mbx: setaclmailbox: " . $c->error . "\n"; $bad++; };
  for my $f (@folders) {
    $c->createmailbox("$mbx.$f->[0]", undef, {-specialuse => $f->[1]})
      or do { warn "$mbx.$f->[0]: createmailbox: " . $c->error . "\n"; $bad++; };
  }
}
exit($bad ? 1 : 0);
EOF

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
verdict() { awk -v v="$1" -v lim="$2" 'BEGIN { print (v != "n/a" && v >= lim) ? "PASS" : "MISS" }'; }
rate() { awk -v n="$1" -v t="$2" 'BEGIN { printf "%.1f", n / t }'; }
fsub() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a - b }'; }

# ---------------------------------------------------------------- MariaDB

say "work directory $WORK"
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
T_START=$EPOCHREALTIME
start_mariadb

# The disk under the work directory: 4 KiB writes with O_DSYNC (Cyrus fsyncs on every CREATE).
FSYNC_MS=$(dd if=/dev/zero of="$WORK/fsync.test" bs=4k count=500 oflag=dsync 2>&1 |
  awk '/copied/ { for (i = 1; i <= NF; i++) if ($i == "s,") { printf "%.2f", $(i - 1) * 1000 / 500; exit } }')
rm -f "$WORK/fsync.test"

# new_db NAME USERS MODE DEPTH CONNS (MODE be1 | both; the config's cyrus.pipeline and
# cyrus.connections, each left out when empty): an empty database with the schema, example.test,
# be1 and be2, and USERS accounts u00001..; writes WORK/NAME.yaml.
new_db() {
  local name=$1 users=$2 mode=$3 depth=$4 conns=$5
  # (process substitution, not a pipe: make_db runs in this shell, its die stops the benchmark)
  make_db "$name" < <(
    cat <<YAML
cyrus:
  admin_user: cyrus
  password_file: $CYRDIR/admin.password
  tls: starttls
  ca_file: $CYRDIR/tls/ca.pem
  quota_mb: $QUOTA_MB
  acls: ["anyone p"]
  folders:
    - {name: Sent, special_use: "\\\\Sent"}
    - {name: Drafts, special_use: "\\\\Drafts"}
    - {name: Trash, special_use: "\\\\Trash"}
    - {name: Junk, special_use: "\\\\Junk"}
YAML
    [[ -z $depth ]] || printf '  pipeline: %s\n' "$depth"
    [[ -z $conns ]] || printf '  connections: %s\n' "$conns"
  )
  {
    printf '%s\n' "START TRANSACTION;" \
      "INSERT INTO domains (name, kind) VALUES ('example.test', 'local');" \
      "INSERT INTO backends (id, name, lmtp_host, imap_host, partitions) VALUES (1, 'be1', '127.0.0.2', '127.0.0.2', 'default,archive'), (2, 'be2', '127.0.0.3', '127.0.0.3', 'default');"
    printf 'INSERT INTO accounts (uid, primary_address, delivery, backend_id, source) VALUES\n'
    awk -v n="$users" -v mode="$mode" 'BEGIN {
      for (i = 1; i <= n; i++)
        printf "%s(\047u%05d\047, \047u%05d@example.test\047, \047cyrus\047, %d, \047ad\047)\n", (i > 1 ? "," : ""), i, i,
          (mode == "both" && i % 2 == 0) ? 2 : 1
      print ";"
    }'
    printf 'COMMIT;\n'
  } | db_root "$name" || die "loading the accounts into $name failed"
}

# ---------------------------------------------------------------- Cyrus

fresh_cyrus() {
  at_cleanup "stop Cyrus in $CYRDIR" bash "$CYRFIX" stop "$CYRDIR"
  bash "$CYRFIX" start "$CYRDIR" 2>"$WORK/cyr-start.log" || { cat "$WORK/cyr-start.log" >&2; die "cyrus_murder.sh start failed"; }
  # shellcheck disable=SC1091
  source "$CYRDIR/env"
}

# ns_cpu: "TOTAL BE1 BE2 MUPDATE" CPU seconds (utime+stime+cutime+cstime) of the namespace's
# processes, by the instance whose imapd.conf is on their command line.
ns_cpu() {
  local pid stat inst tick
  local -a f
  tick=$(getconf CLK_TCK)
  declare -A sum=([be1]=0 [be2]=0 [mupdate]=0 [other]=0)
  for pid in $(ip netns pids "$CYRUS_NETNS" 2>/dev/null); do
    stat=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
    stat=${stat##*) }
    read -r -a f <<<"$stat"
    inst=other
    case $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) in
      *"$CYRDIR/be1/imapd.conf"*) inst=be1 ;;
      *"$CYRDIR/be2/imapd.conf"*) inst=be2 ;;
      *"$CYRDIR/mupdate/imapd.conf"*) inst=mupdate ;;
    esac
    # fields 14-17 of /proc/PID/stat; after "comm) " the state is f[0], utime f[11]
    sum[$inst]=$(( ${sum[$inst]} + f[11] + f[12] + f[13] + f[14] ))
  done
  awk -v t="$tick" -v a="${sum[be1]}" -v b="${sum[be2]}" -v m="${sum[mupdate]}" -v o="${sum[other]}" \
    'BEGIN { printf "%.2f %.2f %.2f %.2f\n", (a + b + m + o) / t, a / t, b / t, m / t }'
}
# psi: microseconds some task stalled on CPU, on I/O (whole machine; 0 0 without PSI).
psi() {
  local c=0 i=0
  [[ -r /proc/pressure/cpu ]] && c=$(awk '/^some/ { sub(/total=/, "", $5); print $5 }' /proc/pressure/cpu)
  [[ -r /proc/pressure/io ]] && i=$(awk '/^some/ { sub(/total=/, "", $5); print $5 }' /proc/pressure/io)
  echo "$c $i"
}

# check_backend NAME USERS: the back end holds exactly USERS users u..., each with 4 folders, the
# ACL, the quota and the special-use annotations.
check_backend() {
  local be=$1 want=$2 list inboxes folders acl quotas use n conf=$CYRDIR/$1/imapd.conf
  list=$(bash "$CYRFIX" mboxlist "$CYRDIR" "$be") || die "mboxlist $be failed"
  inboxes=$(grep -cE '^"user\.u[0-9]+": ' <<<"$list" || true)
  folders=$(grep -cE '^"user\.u[0-9]+\.(Sent|Drafts|Trash|Junk)": ' <<<"$list" || true)
  acl=$(grep -E '^"user\.u[0-9]+": ' <<<"$list" | grep -c '"anyone": "p"' || true)
  quotas=$(runuser -u cyrus -- "$CYRBIN/quota" -C "$conf" 2>/dev/null |
    awk '$1 == 102400 && $4 == "STORAGE" && $5 ~ /^user\.u[0-9]+$/' | wc -l)
  [[ $inboxes == "$want" ]] || die "$LABEL: $be has $inboxes inboxes user.u..., not $want"
  [[ $folders == $(( 4 * want )) ]] || die "$LABEL: $be has $folders folders, not $(( 4 * want ))"
  [[ $acl == "$want" ]] || die "$LABEL: $be has $acl inboxes with \"anyone p\", not $want"
  [[ $quotas == "$want" ]] || die "$LABEL: $be has $quotas quota roots of 102400 KB, not $want"
  runuser -u cyrus -- "$CYRBIN/cyr_dbtool" -C "$conf" "$CYRDIR/$be/conf/annotations.db" twoskip show \
    >"$WORK/annotations.$be" 2>/dev/null || die "reading $be's annotations.db failed"
  for use in Sent Drafts Trash Junk; do
    n=$(grep -a '/specialuse' "$WORK/annotations.$be" | grep -ac "\\\\$use" || true)
    [[ $n == "$want" ]] || die "$LABEL: $be has $n \\$use special-use annotations, not $want"
  done
}

# bare_cmds USERS: the 7 commands per user, tagged, one file per size.
bare_cmds() {
  local file=$WORK/bare.$1.txt
  [[ -f $file ]] || awk -v n="$1" 'BEGIN {
    split("Sent Drafts Trash Junk", fo, " ")
    for (i = 1; i <= n; i++) {
      u = sprintf("user.u%05d", i)
      printf "c%d CREATE %s default\r\nq%d SETQUOTA %s (STORAGE 102400)\r\na%d SETACL %s anyone p\r\n", i, u, i, u, i, u
      for (k = 1; k <= 4; k++) printf "f%d.%d CREATE %s.%s (USE (\\%s))\r\n", i, k, u, fo[k], fo[k]
    }
  }' >"$file"
  echo "$file"
}

# run_one LABEL KIND USERS [DEPTH [CONNS]]: a fresh Cyrus, one timed run, the checks (KIND
# parallel: CONNS bare connections at once; mboxsync, both: the config's pipeline and connections,
# by default the main runs' settings); appends
# "WALL CLIENT_CPU SERVER_CPU BE1 BE2 MUPDATE CPU_PSI_% IO_PSI_% LOAD1" to WORK/LABEL.times.
run_one() {
  LABEL=$1
  local kind=$2 users=$3 depth=${4:-$PIPELINE} conns=${5:-$CONNECTIONS} log res cmds db c0 c1 p0 p1 rc=0 wall client n1 n2
  local k=$(( ${RUNCOUNT:-0} + 1 ))
  RUNCOUNT=$k
  log=$WORK/run.$k.$LABEL.log
  res=$WORK/t.$k
  fresh_cyrus
  case $kind in
    bare|parallel) cmds=$(bare_cmds "$users") ;;
    mboxsync|both) db=mbench$k; new_db "$db" "$users" "$([[ $kind == both ]] && echo both || echo be1)" "$depth" "$conns" ;;
  esac
  c0=$(ns_cpu)
  p0=$(psi)
  case $kind in
    bare)
      bash "$CYRFIX" exec "$CYRDIR" "$WORK/timer.sh" "$res" "$log.out" /usr/bin/python3 "$IMAP_HELPER" imap \
        --host "$CYRUS_BE1" --server-name "$CYRUS_TLSNAME_BE1" --ca "$CYRUS_CA" --user cyrus \
        --password-file "$CYRUS_ADMIN_PASSWORD_FILE" --timeout 120 <"$cmds" >"$log" 2>&1 || rc=$? ;;
    parallel)
      # Timed as a whole, the split of the file included (an awk pass per connection: well under a second).
      bash "$CYRFIX" exec "$CYRDIR" "$WORK/timer.sh" "$res" - "$WORK/par.sh" "$conns" "$cmds" "$log.par" \
        "$IMAP_HELPER" imap --host "$CYRUS_BE1" --server-name "$CYRUS_TLSNAME_BE1" --ca "$CYRUS_CA" --user cyrus \
        --password-file "$CYRUS_ADMIN_PASSWORD_FILE" --timeout 120 >"$log" 2>&1 </dev/null || rc=$? ;;
    cyradm)
      bash "$CYRFIX" exec "$CYRDIR" "$WORK/timer.sh" "$res" - perl "$WORK/cyradm_bulk.pl" "$CYRUS_BE1" "$CYRUS_CA" \
        "$CYRUS_ADMIN_PASSWORD_FILE" 1 "$users" >"$log" 2>&1 </dev/null || rc=$? ;;
    mboxsync|both)
      bash "$CYRFIX" exec "$CYRDIR" "$WORK/timer.sh" "$res" - "$MBOXSYNC" -c "$WORK/$db.yaml" bulk \
        >"$log" 2>&1 </dev/null || rc=$? ;;
  esac
  c1=$(ns_cpu)
  p1=$(psi)
  [[ -s $res ]] || { tail -n 20 "$log" >&2; die "$LABEL: no timing in $res (could not run the client in the namespace?)"; }
  read -r wall _ _ client <"$res"
  (( rc == 0 )) || { tail -n 20 "$log" "$log".par/*.err >&2 2>/dev/null; die "$LABEL: the client exited with $rc (log $log)"; }
  # The client's own checks.
  case $kind in
    bare)
      n1=$(grep -cE '^[cqaf][0-9.]+ OK' "$log.out" || true)
      [[ $n1 == $(( CMDS_PER_USER * users )) ]] ||
        { grep -vE '^[cqaf][0-9.]+ OK|^\* ' "$log.out" | head -n 5 >&2; die "$LABEL: $n1 tagged OKs, not $(( CMDS_PER_USER * users ))"; } ;;
    parallel)
      n1=$(cat "$log".par/*.out | grep -cE '^[cqaf][0-9.]+ OK' || true)
      [[ $n1 == $(( CMDS_PER_USER * users )) ]] || die "$LABEL: $n1 tagged OKs, not $(( CMDS_PER_USER * users ))" ;;
    cyradm)
      [[ ! -s $log ]] || { head -n 5 "$log" >&2; die "$LABEL: cyradm_bulk.pl reported errors"; } ;;
    mboxsync|both)
      grep -qF "$users accounts: $users created, 0 existed, 0 renamed, 0 moved, 0 to retry, 0 failed" "$log" ||
        { tail -n 5 "$log" >&2; die "$LABEL: mboxsync did not create all $users mailboxes"; }
      n1=$(q "$db" "SELECT COUNT(*) FROM accounts WHERE provisioned_at IS NOT NULL")
      [[ $n1 == "$users" ]] || die "$LABEL: $n1 accounts recorded as provisioned, not $users" ;;
  esac
  # The servers' data.
  if [[ $kind == both ]]; then
    n1=$(( (users + 1) / 2 )); n2=$(( users / 2 ))
  else
    n1=$users; n2=0
  fi
  check_backend be1 "$n1"
  check_backend be2 "$n2"
  read -r -a c0 <<<"$c0"
  read -r -a c1 <<<"$c1"
  read -r -a p0 <<<"$p0"
  read -r -a p1 <<<"$p1"
  printf '%s %s %s %s %s %s %s %s %s\n' "$wall" "$client" "$(fsub "${c1[0]}" "${c0[0]}")" \
    "$(fsub "${c1[1]}" "${c0[1]}")" "$(fsub "${c1[2]}" "${c0[2]}")" "$(fsub "${c1[3]}" "${c0[3]}")" \
    "$(awk -v a="${p0[0]}" -v b="${p1[0]}" -v w="$wall" 'BEGIN { printf "%.0f", (b - a) / 1e4 / w }')" \
    "$(awk -v a="${p0[1]}" -v b="${p1[1]}" -v w="$wall" 'BEGIN { printf "%.0f", (b - a) / 1e4 / w }')" \
    "$(cut -d' ' -f1 /proc/loadavg)" >>"$WORK/$LABEL.times"
  say "$LABEL: $users users in $wall s = $(rate "$users" "$wall")/s (client CPU $client s, server CPU $(fsub "${c1[0]}" "${c0[0]}") s)"
}

# ---------------------------------------------------------------- the runs

# rotated R LIST...: LIST rotated left by R-1 places.
rotated() {
  local r=$1
  shift
  local -a l=("$@")
  local i n=${#l[@]}
  for (( i = 0; i < n; i++ )); do printf '%s\n' "${l[( (r - 1 + i) % n )]}"; done
}
for (( r = 1; r <= RUNS; r++ )); do
  say "round $r of $RUNS: $N users each"
  for c in $(rotated "$r" bare mboxsync cyradm); do run_one "$c" "$c" "$N"; done
done
if [[ $BOTH == 1 ]]; then
  say "both back ends: $N users"
  run_one both both "$N"
fi
# The sweep's labels: sweep-bare, sweep-cyradm, sweep-barK (K bare connections, K > 1),
# sweep-cK-dD (mboxsync, K connections, pipeline D).
if [[ -n ${SWEEP// /} ]]; then
  sweep_list=(sweep-bare sweep-cyradm)
  for k in $SWEEP_CONNS; do (( k == 1 )) || sweep_list+=("sweep-bar$k"); done
  for k in $SWEEP_CONNS; do for d in $SWEEP; do sweep_list+=("sweep-c$k-d$d"); done; done
  for (( r = 1; r <= SWEEP_RUNS; r++ )); do
    say "connections x pipeline sweep, round $r of $SWEEP_RUNS: $SWEEP_N users each"
    for c in $(rotated "$r" "${sweep_list[@]}"); do
      case $c in
        sweep-bare) run_one "$c" bare "$SWEEP_N" ;;
        sweep-cyradm) run_one "$c" cyradm "$SWEEP_N" ;;
        sweep-bar*) run_one "$c" parallel "$SWEEP_N" "" "${c#sweep-bar}" ;;
        *) k=${c#sweep-c}; k=${k%-d*}; run_one "$c" mboxsync "$SWEEP_N" "${c##*-d}" "$k" ;;
      esac
    done
  done
fi
bash "$CYRFIX" stop "$CYRDIR" >/dev/null 2>&1 || true   # (the cleanup's stop then finds nothing to do)
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
TOTAL_MIN=$(awk -v a="$T_START" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", (b - a) / 60 }')

# ---------------------------------------------------------------- figures

col() { cut -d' ' -f"$2" "$WORK/$1.times" | median; }             # median of a column
rates() { awk -v n="$2" '{ printf "%s%.1f", (NR > 1 ? " " : ""), n / $1 }' "$WORK/$1.times"; }
# Median rate: N over the median wall time (the same as the median of the rates).
mrate() { rate "$2" "$(col "$1" 1)"; }
row() {  # LABEL USERS DESCRIPTION
  local wall srv
  wall=$(col "$1" 1)
  srv=$(col "$1" 3)
  printf '| %s | %s | %s | %s | **%s** | %s | %s | %s | %s (%s + %s) | %s | %s / %s |\n' \
    "$3" "$(wc -l <"$WORK/$1.times")" "$2" "$wall" "$(mrate "$1" "$2")" "$(rates "$1" "$2")" \
    "$(awk -v n="$2" -v t="$wall" -v c="$CMDS_PER_USER" 'BEGIN { printf "%.0f", n * c / t }')" "$(col "$1" 2)" \
    "$srv" "$(awk -v a="$(col "$1" 4)" -v b="$(col "$1" 5)" 'BEGIN { printf "%.2f", a + b }')" "$(col "$1" 6)" \
    "$(ratio "$srv" "$wall")" "$(col "$1" 7)" "$(col "$1" 8)"
}
# bare_label K: the sweep's bare run on K connections.
bare_label() { if (( $1 == 1 )); then echo sweep-bare; else echo "sweep-bar$1"; fi; }
srow() {  # LABEL DESCRIPTION [K]: a row of the sweep table (K: connections, for "/ bare on K")
  local r rb rc same=- goals=-
  r=$(mrate "$1" "$SWEEP_N")
  rb=$(ratio "$r" "$(mrate sweep-bare "$SWEEP_N")")
  rc=$(ratio "$r" "$(mrate sweep-cyradm "$SWEEP_N")")
  if [[ -n ${3:-} ]]; then
    same=$(ratio "$r" "$(mrate "$(bare_label "$3")" "$SWEEP_N")")
    goals=$([[ $(verdict "$rb" 0.9) == PASS && $(verdict "$rc" 1.2) == PASS ]] && echo yes || echo no)
  fi
  printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s / %s |\n' "$2" "$(col "$1" 1)" "$r" \
    "$(rates "$1" "$SWEEP_N")" "$rb" "$same" "$rc" "$goals" "$(col "$1" 2)" \
    "$(ratio "$(col "$1" 3)" "$(col "$1" 1)")" "$(col "$1" 7)" "$(col "$1" 8)"
}
R_BARE=$(ratio "$(mrate mboxsync "$N")" "$(mrate bare "$N")")
R_CYRADM=$(ratio "$(mrate mboxsync "$N")" "$(mrate cyradm "$N")")
V_BARE=$(verdict "$R_BARE" 0.9)
V_CYRADM=$(verdict "$R_CYRADM" 1.2)
if [[ -z $PIPELINE && -z $CONNECTIONS ]]; then
  MB_LABEL="defaults (pipeline $EFF_PIPELINE, $EFF_CONNECTIONS connection(s) per back end)"
else
  MB_LABEL="pipeline $EFF_PIPELINE, $EFF_CONNECTIONS connection(s) per back end (not the defaults)"
fi

table=$(
  printf '| contender | runs | users | wall, median (s) | users/s | users/s, all runs | commands/s | client CPU (s) | server CPU: be + mupdate (s) | server CPU / wall | CPU / I/O pressure (%%) |\n'
  printf '|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|\n'
  row bare "$N" "bare pipelined IMAP (cyrus_imap.py), be1"
  row mboxsync "$N" "\`mboxsync bulk\`, $MB_LABEL, be1"
  row cyradm "$N" "cyradm (Cyrus::IMAP::Admin), be1"
  if [[ $BOTH == 1 ]]; then row both "$N" "\`mboxsync bulk\`, $MB_LABEL, be1 + be2 (total)"; fi
  printf '\n'
  printf -- '- mboxsync (%s) / bare pipelined (one connection): **%s** (goal >= 0.9: %s)\n' \
    "$MB_LABEL" "$R_BARE" "$(met "$V_BARE")"
  printf -- '- mboxsync (%s) / cyradm: **%s** (goal >= 1.2: %s)\n' "$MB_LABEL" "$R_CYRADM" "$(met "$V_CYRADM")"
  # The machine's other load moves every figure: say so when it differed between the contenders.
  spread=$(for l in bare mboxsync cyradm; do col "$l" 7; done | sort -g | awk 'NR == 1 { a = $1 } { b = $1 } END { print b - a }')
  if (( spread > 20 )); then
    printf -- '- **caution**: the CPU pressure of the machine differed between the contenders (bare %s %%, mboxsync %s %%,\n' \
      "$(col bare 7)" "$(col mboxsync 7)"
    printf '  cyradm %s %%): other loads, not only the contenders, make the difference; rerun on a quiet machine\n' \
      "$(col cyradm 7)"
    printf '  or with MBOXSYNC_BENCH_RUNS=3\n'
  fi
  # The sweep's rounds of short runs: the same ratios, steadier on a shared machine.
  if [[ " $SWEEP " == *" $EFF_PIPELINE "* && " $SWEEP_CONNS " == *" $EFF_CONNECTIONS "* ]]; then
    S_LABEL=sweep-c$EFF_CONNECTIONS-d$EFF_PIPELINE
    S_BARE=$(ratio "$(mrate "$S_LABEL" "$SWEEP_N")" "$(mrate sweep-bare "$SWEEP_N")")
    S_CYRADM=$(ratio "$(mrate "$S_LABEL" "$SWEEP_N")" "$(mrate sweep-cyradm "$SWEEP_N")")
    printf -- '- the same ratios in the sweep below (%s users, medians of %s rounds): mboxsync / bare **%s** (goal >= 0.9: %s),\n' \
      "$SWEEP_N" "$SWEEP_RUNS" "$S_BARE" "$(met "$(verdict "$S_BARE" 0.9)")"
    printf '  mboxsync / cyradm **%s** (goal >= 1.2: %s)\n' "$S_CYRADM" "$(met "$(verdict "$S_CYRADM" 1.2)")"
  fi
  if [[ $BOTH == 1 ]]; then
    printf -- '- both back ends: **%s** users/s in total, %s x mboxsync on be1 alone\n' \
      "$(mrate both "$N")" "$(ratio "$(mrate both "$N")" "$(mrate mboxsync "$N")")"
  fi
  if [[ -n ${SWEEP// /} ]]; then
    printf '\n'
    printf 'Sweep of connections per back end x pipeline depth (%s users, be1, fresh servers; medians of %s run(s) each;\n' \
      "$SWEEP_N" "$SWEEP_RUNS"
    printf '"/ bare": against the one-connection bare client, the goal'"'"'s bare pipelined rate; "/ bare on K": against\n'
    printf 'the bare client on as many connections; goals: >= 0.9 x bare and >= 1.2 x cyradm):\n\n'
    printf '| contender | wall (s) | users/s | users/s, all runs | / bare | / bare on K | / cyradm | goals | client CPU (s) | server CPU / wall | CPU / I/O pressure (%%) |\n'
    printf '|---|---:|---:|---|---:|---:|---:|---|---:|---:|---:|\n'
    srow sweep-bare "bare pipelined IMAP, 1 connection"
    for k in $SWEEP_CONNS; do (( k == 1 )) || srow "sweep-bar$k" "bare pipelined IMAP, $k connections at once"; done
    srow sweep-cyradm "cyradm (Cyrus::IMAP::Admin)"
    for k in $SWEEP_CONNS; do
      for d in $SWEEP; do
        srow "sweep-c$k-d$d" "\`mboxsync bulk\`, connections $k, pipeline $d" "$k"
      done
    done
  fi
)
printf '\n%s\n\n' "$table"

# ---------------------------------------------------------------- docs/benchmarks.md

if [[ ${MBOXSYNC_BENCH_NO_DOC:-0} != 1 ]]; then
  cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
  mem_gb=$(awk '/^MemTotal:/ { printf "%.1f", $2 / 1048576 }' /proc/meminfo)
  cyrus_version=$(dpkg-query -W -f '${Version}' cyrus-imapd 2>/dev/null || echo unknown)
  rev=$(git -C "$SRC" rev-parse --short HEAD 2>/dev/null || echo unknown)
  [[ -z $(git -C "$SRC" status --porcelain -- apps libmapsync schema 2>/dev/null) ]] || rev="$rev + uncommitted changes"
  env_part="MBOXSYNC_BENCH_USERS=$N"
  [[ $RUNS == 1 ]] || env_part+=" MBOXSYNC_BENCH_RUNS=$RUNS"
  [[ -z $PIPELINE ]] || env_part+=" MBOXSYNC_BENCH_PIPELINE=$PIPELINE"
  [[ -z $CONNECTIONS ]] || env_part+=" MBOXSYNC_BENCH_CONNECTIONS=$CONNECTIONS"
  [[ $BOTH == 1 ]] || env_part+=" MBOXSYNC_BENCH_BOTH=$BOTH"
  [[ $SWEEP == "8 32" ]] || env_part+=" MBOXSYNC_BENCH_SWEEP=\"$SWEEP\""
  [[ $SWEEP_CONNS == "1 2 4 8" ]] || env_part+=" MBOXSYNC_BENCH_SWEEP_CONNECTIONS=\"$SWEEP_CONNS\""
  [[ $SWEEP_N == 300 ]] || env_part+=" MBOXSYNC_BENCH_SWEEP_USERS=$SWEEP_N"
  [[ $SWEEP_RUNS == 3 ]] || env_part+=" MBOXSYNC_BENCH_SWEEP_RUNS=$SWEEP_RUNS"
  section=$(
    printf '## mboxsync (bench/bench_mboxsync.sh)\n\n'
    printf 'Written by bench/bench_mboxsync.sh; a new run replaces this section.\n\n'
    printf -- '- date: %s; the whole benchmark took %s min\n' "$(date -u '+%Y-%m-%d %H:%M UTC')" "$TOTAL_MIN"
    printf -- '- machine: %s CPUs (nproc), %s GB memory, %s; 4 KiB O_DSYNC write %s ms; load average %s at the\n' \
      "$(nproc)" "$mem_gb" "${cpu:-unknown CPU}" "${FSYNC_MS:-?}" "$LOAD_BEFORE"
    printf '  start, %s at the end (the machine is shared: other loads slow every contender)\n' "$LOAD_AFTER"
    printf -- '- software: mboxsync (tree at %s), %s build; Cyrus IMAP %s (Debian), Cyrus::IMAP::Admin of\n' \
      "$rev" "$BUILD_TYPE" "$cyrus_version"
    printf '  cyrus-admin; MariaDB %s (buffer pool 512M)\n' "$(q mysql 'SELECT VERSION()' 2>/dev/null || echo unknown)"
    printf -- '- command: `%s bench/bench_mboxsync.sh %s`\n' "$env_part" "$BUILD_ARG"
    printf -- '- servers: the Cyrus Murder of tests/fixtures/cyrus_murder.sh (mupdate master, back ends be1 and be2,\n'
    printf '  front end) in a network namespace on loopback, started afresh before every run, so each run\n'
    printf '  starts from empty back ends; every back-end CREATE also reserves and activates the mailbox on the\n'
    printf '  mupdate master; the fixture keeps Cyrus protocol telemetry for the admin (every contender pays it)\n'
    printf -- '- per user, on one connection as the admin over STARTTLS, 7 commands: `CREATE user.uNNNNN default`,\n'
    printf '  `SETQUOTA user.uNNNNN (STORAGE 102400)`, `SETACL user.uNNNNN anyone p`, `CREATE user.uNNNNN.Sent\n'
    printf '  (USE (\\Sent))` and the same for Drafts, Trash, Junk\n'
    printf -- '- bare: the fixture'"'"'s pipelined client (tests/fixtures/cyrus_imap.py imap) sends all 7N commands\n'
    printf '  without waiting and reads the replies concurrently: the server'"'"'s limit on one connection\n'
    printf -- '- mboxsync: `mboxsync -c CONF bulk` against a database with N accounts on be1 (time includes reading\n'
    printf '  the database and recording each result); cyradm: a Perl script making cyradm'"'"'s calls through\n'
    printf '  Cyrus::IMAP::Admin (createmailbox, setquota, setaclmailbox, createmailbox -specialuse; one command\n'
    printf '  at a time, STARTTLS as `cyradm -t ""`); cyradm itself takes its password from stdin, which then\n'
    printf '  swallows piped commands\n'
    printf -- '- %s round(s) of bare, mboxsync, cyradm (round r starts with the r-th, the order rotates); then\n' "$RUNS"
    printf '  mboxsync once with the accounts alternating be1/be2; then the sweep\n'
    printf -- '- wall time inside the namespace around the client process; users/s = N / wall; client CPU from\n'
    printf '  /usr/bin/time; server CPU = utime + stime (reaped children included) of the namespace'"'"'s Cyrus\n'
    printf '  processes (back-end imapd and master + mupdate master); pressure = /proc/pressure "some" share\n'
    printf '  of the run (whole machine)\n'
    printf -- '- checked after every run on the back ends: N inboxes and 4N folders (ctl_mboxlist), "anyone p" on\n'
    printf '  every inbox, N quota roots of 102400 KB (quota), N special-use annotations of each kind\n'
    printf '  (annotations.db); bare: 7N tagged OKs; mboxsync: N created and N accounts with provisioned_at\n\n'
    printf '%s\n' "$table"
  )
  update_doc '## mboxsync (bench/bench_mboxsync.sh)' "$section"
fi
exit 0
