#!/usr/bin/env bash
# NAME
#   bench_moves.sh - mailbox moves between Cyrus back ends: `mboxsync move` against a bare
#   sequential loop of XFER commands on the same servers, moving the same users
# SUMMARY
#   bench/bench_moves.sh [BUILD_DIR]          (default BUILD_DIR: build-bench in the source tree)
# DESCRIPTION
#   Builds mboxsync and mapsync into BUILD_DIR (configured RelWithDebInfo when it has no
#   CMakeCache.txt yet; a no-op when up to date). Starts a private MariaDB
#   (tests/fixtures/mariadb.sh, buffer pool 512M) and one Cyrus Murder for the whole run
#   (tests/fixtures/cyrus_murder.sh start, then `join be3`: mupdate master, back ends be1
#   127.0.0.2, be2 127.0.0.3, be3 127.0.0.5, front end 127.0.0.1), in the work directory, so
#   the fixture's namespace is private to this run.
#   Users u0001..uN are made on be1 once, untimed, by a small client in the namespace: the admin
#   creates user.uNNNN with a quota of 500 MB; then, logged in as the admin acting for the user
#   (AUTHENTICATE PLAIN with the user as authorisation id), 10 messages of 1.5-12 KB are
#   APPENDed to INBOX and COPY doubles them on the server up to the user's INBOX size, 10..200
#   messages (varied by user number), and INBOX.Sent (a fifth of them) and INBOX.Archive (a
#   third) are filled by COPY; half of INBOX is \Seen. Recorded: messages (STATUS as the user)
#   and bytes (the quota root's STORAGE usage) per user, and their totals.
#   The two contenders move all N users between be1 and be3, one user at a time:
#   1. bare: one IMAP session (STARTTLS, LOGIN as the admin) to the source back end sending
#      `XFER user.uNNNN <target>` for each user in turn, each waiting for its reply; a user
#      counts as moved on the untagged `* OK USER uNNNN` (the tagged reply does not say). XFER
#      holds the user's lock for the whole transfer and the server does one at a time per
#      session, so this is the servers' own limit for sequential moves.
#   2. mboxsync: `mboxsync -c CONF move u0001 ... uN --to TARGET --json` against a database with
#      the N accounts recorded on the back end where they are now (set untimed before the run),
#      cyrus.frontend 127.0.0.1 (mupdate is asked through it), cyrus.moves.wait_for_hubs:
#      false (a benchmark has no mail hubs, and waiting for hubs to publish the deferral is not
#      server work) and the default cyrus.moves.parallel (3 moves at once). Per user it reads
#      the tree on source and target, the snapshot (LIST, GETACL, STATUS as the owner,
#      GETQUOTAROOT), sends the XFER, checks the target and mupdate, and records the account;
#      its time includes all of that.
#   3. serial (informational; MOVES_BENCH_SERIAL=0: none): the same with cyrus.moves.parallel: 1,
#      one move at a time like the bare loop, so that its wall time less its XFER time is
#      mboxsync's own per-user work.
#   Each run moves all users to the other back end: round r starts with contender r and goes on
#   in turn (round 1: bare, mboxsync, serial), each run moving the users back from where the one
#   before left them, so the direction alternates from run to run; the tables name each run's
#   direction (with two contenders and an even MOVES_BENCH_RUNS both go each way equally often).
#   Cyrus keeps the trees a user left as deleted mailboxes (cyrus-imapd #4370); a user moving
#   back reuses them, for every contender alike.
#   Checked after every run: mupdate (ctl_mboxlist on the master) names the target for the N
#   inboxes and their 2N folders, and none of them is left on the source; bare: N `OK USER`
#   replies; mboxsync: exit 0, N results "moved" in its JSON and N accounts on the target in
#   the database. A failed run or check exits 1.
#   Wall time is taken inside the namespace around the client process (bash EPOCHREALTIME,
#   /usr/bin/time for its CPU). Moves/s = N / wall, MB/s = the users' bytes / wall; figures are
#   medians over the runs. Per user: the wall time / N, and the XFER time (bare: its round trip;
#   mboxsync: its per-user "seconds", the XFER on its kept session). After the rounds,
#   MOVES_BENCH_TRACE users move once more with mboxsync under `strace -e trace=connect`
#   (informational): its connections per user by server (source, target, front end, database).
#   Goal (from the issue): mboxsync >= 0.9 x
#   the bare loop. Prints a table with PASS/MISS and exits 0 either way when the runs worked.
#   Replaces the "Mailbox moves" section of docs/benchmarks.md, or appends it
#   (MOVES_BENCH_NO_DOC=1: leave the file alone). Cyrus and MariaDB are stopped at the end.
#   Needs: root (ip netns), cmake and a compiler, the packages of cyrus_murder.sh, MariaDB
#   server and client, GNU time, bash 5, python3.
# ENVIRONMENT
#   MOVES_BENCH_USERS     users (default 300; a quick check: 20)
#   MOVES_BENCH_RUNS      rounds; each moves the users once per contender (default 1: at 300 users
#                         the default run takes ~5 min on a 2-core machine)
#   MOVES_BENCH_SERIAL=0  no run with cyrus.moves.parallel: 1
#   MOVES_BENCH_TRACE     users of the traced run (default 10; 0: none)
#   MOVES_BENCH_KEEP=1    keep the work directory (its path is printed); services are stopped anyway
#   MOVES_BENCH_NO_DOC=1  do not update docs/benchmarks.md
#   TMPDIR                where the work directory goes (default /tmp)
# shellcheck disable=SC2016  # backquotes in the printf formats below are Markdown
set -euo pipefail
export LC_ALL=C

readonly PROG=bench_moves.sh
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
readonly SRC
# shellcheck source=bench/lib.sh
source "$SRC/bench/lib.sh"

BUILD_ARG=${1:-build-bench}
if [[ $BUILD_ARG == /* ]]; then BUILD=$BUILD_ARG; else BUILD=$SRC/$BUILD_ARG; fi
readonly BUILD_ARG BUILD
readonly CYRFIX=$SRC/tests/fixtures/cyrus_murder.sh
readonly FIXTURES=$SRC/tests/fixtures
readonly N=${MOVES_BENCH_USERS:-300}
readonly RUNS=${MOVES_BENCH_RUNS:-1}
readonly TRACE=${MOVES_BENCH_TRACE:-10}
readonly SERIAL=${MOVES_BENCH_SERIAL:-1}
readonly QUOTA_MB=500
for v in N RUNS; do
  [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v: not a positive number: ${!v}"
done
if [[ ! $TRACE =~ ^[0-9]+$ ]] || (( TRACE > N )); then die "MOVES_BENCH_TRACE: not a number up to $N: $TRACE"; fi
(( N <= 9999 )) || die "at most 9999 users (names u0001..u9999)"

# ---------------------------------------------------------------- tools, build

bench_preflight "Cyrus lives in a network namespace" cmake mariadb python3 ip jq
(( TRACE == 0 )) || command -v strace >/dev/null || die "strace missing (or set MOVES_BENCH_TRACE=0)"
[[ -x /usr/lib/cyrus/bin/ctl_mboxlist ]] || die "Cyrus missing (apt-get install cyrus-imapd cyrus-murder cyrus-admin)"

build_programs mboxsync mapsync

# ---------------------------------------------------------------- work directory, scripts

WORK_KEEP=${MOVES_BENCH_KEEP:-0}
cyrus_work_dir moves-bench

# make_users.py HOST PASSWORD_FILE N QUOTA_KB: the users on HOST (plain IMAP on loopback: setup,
# not timed); prints "uNNNN MESSAGES KB" per user.
cat >"$WORK/make_users.py" <<'EOF'
import asyncio, random, re, sys
sys.path.insert(0, sys.argv[1])
import cyrus_imap as ci

host, pwfile, n, quota_kb = sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
WORDS = ("mail quota folder server campus student lecture exam library meeting notes draft report "
         "budget schedule project thesis lab seminar grade invoice travel room").split()

def message(rnd, user, k):
    size = rnd.randint(1500, 12000)
    lines, total = [], 0
    while total < size:
        line = " ".join(rnd.choice(WORDS) for _ in range(12))
        lines.append(line)
        total += len(line) + 2
    head = (f"From: sender{k}@example.org\r\nTo: {user}@example.test\r\nSubject: bench {user} {k}\r\n"
            f"Date: Wed, 02 Dec 2026 12:{k:02d}:00 +0000\r\nMessage-ID: <bench-{user}-{k}@test>\r\n"
            "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n")
    return (head + "\r\n".join(lines) + "\r\n").encode()

async def ok(s, tag, text):
    resp, untagged = await s.command_responses(tag, text)
    if not resp.startswith(tag + b" OK"):
        raise SystemExit(f"make_users: {text[:60]!r}: {resp!r}")
    return untagged

async def main():
    pw = ci.read_password(pwfile)
    adm = await ci.open_session(host, 143, "none", None, None, 60, False)
    await ci.login(adm, "cyrus", pw, 60)
    for i in range(1, n + 1):
        u = f"u{i:04d}"
        await ok(adm, b"c", f"CREATE user.{u}".encode())
        await ok(adm, b"q", f"SETQUOTA user.{u} (STORAGE {quota_kb})".encode())
        s = await ci.open_session(host, 143, "none", None, None, 60, False)
        await ci.login(s, "cyrus", pw, 60, authzid=u)
        rnd = random.Random(i)
        for k in range(10):
            body = message(rnd, u, k)
            await ok(s, b"a", b"APPEND INBOX {%d+}\r\n" % len(body) + body)
        m = 10 + (i * 7919) % 191
        await ok(s, b"s", b"SELECT INBOX")
        have = 10
        while have < m:
            k = min(have, m - have)
            await ok(s, b"p", f"COPY 1:{k} INBOX".encode())
            have += k
        counts = {"INBOX": m}
        for f, share in (("Sent", 5), ("Archive", 3)):
            k = max(1, m // share)
            await ok(s, b"f", f"CREATE INBOX.{f}".encode())
            await ok(s, b"p", f"COPY 1:{k} INBOX.{f}".encode())
            counts[f] = k
        await ok(s, b"e", f"STORE 1:{max(1, m // 2)} +FLAGS.SILENT (\\Seen)".encode())
        msgs = 0
        for f in counts:
            name = "INBOX" if f == "INBOX" else "INBOX." + f
            for line in await ok(s, b"t", f"STATUS {name} (MESSAGES)".encode()):
                mm = re.search(rb"MESSAGES (\d+)", line)
                if mm:
                    msgs += int(mm.group(1))
        kb = None
        for line in await ok(s, b"g", b"GETQUOTAROOT INBOX"):
            mm = re.match(rb"\* QUOTA \S+ \(STORAGE (\d+) ", line)
            if mm:
                kb = int(mm.group(1))
        if kb is None or msgs != sum(counts.values()):
            raise SystemExit(f"make_users: {u}: {msgs} messages (want {sum(counts.values())}), usage {kb}")
        await ok(s, b"z", b"LOGOUT")
        s.writer.close()
        print(u, msgs, kb, flush=True)
    await ok(adm, b"z", b"LOGOUT")

asyncio.run(main())
EOF

# xfer_loop.py FIXTURES HOST SERVER_NAME CA PASSWORD_FILE TARGET N: the bare contender. One
# session (STARTTLS, LOGIN as the admin) to the source; `XFER user.uNNNN TARGET` one after the
# other, each waiting for its reply. Prints "uNNNN OK|NO SECONDS [reply]" per user; exit 1 when
# any user did not move.
cat >"$WORK/xfer_loop.py" <<'EOF'
import asyncio, sys, time
sys.path.insert(0, sys.argv[1])
import cyrus_imap as ci

host, name, ca, pwfile, target, n = sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6], int(sys.argv[7])

async def main():
    s = await ci.open_session(host, 143, "starttls", ca, name, 60, False)
    await ci.login(s, "cyrus", ci.read_password(pwfile), 60)
    bad = 0
    for i in range(1, n + 1):
        u = f"u{i:04d}"
        t0 = time.monotonic()
        resp, untagged = await asyncio.wait_for(s.command_responses(b"x%d" % i, f"XFER user.{u} {target}".encode()), 600)
        t = time.monotonic() - t0
        if any(line.split()[:4] == [b"*", b"OK", b"USER", u.encode()] for line in untagged) and resp.split()[1:2] == [b"OK"]:
            print(u, "OK", f"{t:.3f}", flush=True)
        else:
            bad += 1
            print(u, "NO", f"{t:.3f}", b" ".join(x.rstrip() for x in untagged + [resp]).decode("utf-8", "replace"), flush=True)
    await s.command(b"z", b"LOGOUT")
    return 1 if bad else 0

sys.exit(asyncio.run(main()))
EOF

rate() { awk -v n="$1" -v t="$2" 'BEGIN { printf "%.2f", n / t }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
verdict() { awk -v v="$1" -v lim="$2" 'BEGIN { print (v != "n/a" && v >= lim) ? "PASS" : "MISS" }'; }

# ---------------------------------------------------------------- MariaDB, Cyrus, users

say "work directory $WORK"
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
T_START=$EPOCHREALTIME
start_mariadb

at_cleanup "stop Cyrus in $CYRDIR" bash "$CYRFIX" stop "$CYRDIR"
bash "$CYRFIX" start "$CYRDIR" 2>"$WORK/cyr-start.log" || { cat "$WORK/cyr-start.log" >&2; die "cyrus_murder.sh start failed"; }
bash "$CYRFIX" join "$CYRDIR" be3 2>"$WORK/cyr-join.log" || { cat "$WORK/cyr-join.log" >&2; die "cyrus_murder.sh join be3 failed"; }
# shellcheck disable=SC1091
source "$CYRDIR/env"
declare -A ADDR=([be1]=$CYRUS_BE1 [be3]=$CYRUS_BE3)
declare -A TLSNAME=([be1]=$CYRUS_TLSNAME_BE1 [be3]=$CYRUS_TLSNAME_BE3)
declare -A BE_ID=([be1]=1 [be3]=3)

say "making $N users on be1 (10..200 INBOX messages each, Sent and Archive)"
t0=$(now_us)
bash "$CYRFIX" exec "$CYRDIR" /usr/bin/python3 "$WORK/make_users.py" "$FIXTURES" "$CYRUS_BE1" \
  "$CYRUS_ADMIN_PASSWORD_FILE" "$N" $(( QUOTA_MB * 1024 )) >"$WORK/users.txt" 2>"$WORK/users.err" ||
  { tail -n 5 "$WORK/users.err" >&2; die "making the users failed"; }
[[ $(wc -l <"$WORK/users.txt") == "$N" ]] || die "made $(wc -l <"$WORK/users.txt") users, not $N"
read -r MSGS KB < <(awk '{ m += $2; k += $3 } END { print m, k }' "$WORK/users.txt")
MB_TOTAL=$(awk -v k="$KB" 'BEGIN { printf "%.1f", k / 1024 }')
read -r KB_MIN KB_MED KB_MAX < <(cut -d' ' -f3 "$WORK/users.txt" | sort -n |
  awk '{ v[NR] = $1 } END { print v[1], v[int((NR + 1) / 2)], v[NR] }')
say "made in $(awk -v a="$t0" -v b="$(now_us)" 'BEGIN { printf "%.0f", (b - a) / 1e6 }') s: $MSGS messages, $MB_TOTAL MB (quota usage)"

make_db moves <<YAML
cyrus:
  admin_user: $CYRUS_ADMIN_USER
  password_file: $CYRUS_ADMIN_PASSWORD_FILE
  tls: starttls
  ca_file: $CYRUS_CA
  quota_mb: $QUOTA_MB
  frontend: {host: $CYRUS_FRONTEND}
  moves: {wait_for_hubs: false}
YAML
{
  printf '%s\n' "START TRANSACTION;" \
    "INSERT INTO domains (name, kind) VALUES ('example.test', 'local');" \
    "INSERT INTO backends (id, name, lmtp_host, imap_host, partitions) VALUES (1, 'be1', '$CYRUS_BE1', '$CYRUS_BE1', 'default,archive'), (2, 'be2', '$CYRUS_BE2', '$CYRUS_BE2', 'default'), (3, 'be3', '$CYRUS_BE3', '$CYRUS_BE3', 'default');"
  printf 'INSERT INTO accounts (uid, primary_address, delivery, backend_id, source, provisioned_at) VALUES\n'
  awk -v n="$N" 'BEGIN {
    for (i = 1; i <= n; i++)
      printf "%s(\047u%04d\047, \047u%04d@example.test\047, \047cyrus\047, 1, \047ad\047, NOW())\n", (i > 1 ? "," : ""), i, i
    print ";"
  }'
  printf 'COMMIT;\n'
} | db_root moves || die "loading the accounts failed"
# The same database and settings, one move at a time.
mv "$WORK/moves.yaml" "$WORK/mboxsync.yaml"
sed 's/^  moves: {wait_for_hubs: false}$/  moves: {wait_for_hubs: false, parallel: 1}/' "$WORK/mboxsync.yaml" >"$WORK/serial.yaml"
grep -q 'parallel: 1' "$WORK/serial.yaml" || die "serial.yaml: cyrus.moves.parallel not set"
mapfile -t UIDS < <(cut -d' ' -f1 "$WORK/users.txt")

# ---------------------------------------------------------------- runs

# check_on TARGET SOURCE LABEL: mupdate names TARGET for every inbox and folder of the users,
# and SOURCE for none (deleted left-overs, mbtype with "d", are not counted).
check_on() {
  local list bad
  list=$(bash "$CYRFIX" mboxlist "$CYRDIR") || die "$3: mboxlist failed"
  bad=$(/usr/bin/python3 -c '
import json, sys
n, want = int(sys.argv[1]), sys.argv[2]
d = json.loads(sys.stdin.read())
bad = []
for i in range(1, n + 1):
    for f in ("", ".Sent", ".Archive"):
        e = d.get("user.u%04d%s" % (i, f))
        if not e or "d" in e.get("mbtype", "") or e.get("server") != want:
            bad.append("user.u%04d%s: %s" % (i, f, e and (e.get("server"), e.get("mbtype"))))
print(len(bad), "; ".join(bad[:3]))' "$N" "${ADDR[$1]}" <<<"$list")
  [[ $bad == "0 " ]] || die "$3: mupdate does not name $1 for every folder: $bad"
}

RUNCOUNT=0
# run_one KIND FROM TO: one timed run; appends "WALL CLIENT_CPU XFER_SECONDS REST_SECONDS" to
# WORK/KIND.times (XFER_SECONDS: the sum of the per-user XFER times the client reports; REST: the
# wall time less that).
run_one() {
  local kind=$1 from=$2 to=$3 log res rc=0 wall client xfer n1
  RUNCOUNT=$(( RUNCOUNT + 1 ))
  log=$WORK/run.$RUNCOUNT.$kind.log
  res=$WORK/t.$RUNCOUNT
  say "run $RUNCOUNT: $kind moves $N users $from -> $to"
  case $kind in
    bare)
      bash "$CYRFIX" exec "$CYRDIR" "$WORK/timer.sh" "$res" "$log.out" /usr/bin/python3 "$WORK/xfer_loop.py" \
        "$FIXTURES" "${ADDR[$from]}" "${TLSNAME[$from]}" "$CYRUS_CA" "$CYRUS_ADMIN_PASSWORD_FILE" "${ADDR[$to]}" "$N" \
        >"$log" 2>&1 </dev/null || rc=$? ;;
    mboxsync|serial)
      # The database says where the users are now (the bare loop moved them behind its back).
      q moves "UPDATE accounts SET backend_id = ${BE_ID[$from]}" >/dev/null
      bash "$CYRFIX" exec "$CYRDIR" "$WORK/timer.sh" "$res" "$log.out" "$MBOXSYNC" -c "$WORK/$kind.yaml" \
        move "${UIDS[@]}" --to "$to" --json >"$log" 2>&1 </dev/null || rc=$? ;;
  esac
  [[ -s $res ]] || { tail -n 20 "$log" >&2; die "$kind: no timing in $res (could not run the client in the namespace?)"; }
  read -r wall _ _ client <"$res"
  (( rc == 0 )) || { tail -n 5 "$log" "$log.out" >&2; die "$kind: the client exited with $rc (log $log)"; }
  case $kind in
    bare)
      n1=$(grep -c '^u[0-9]* OK ' "$log.out" || true)
      [[ $n1 == "$N" ]] || die "$kind: $n1 users moved (OK USER), not $N"
      xfer=$(awk '{ s += $3 } END { printf "%.3f", s }' "$log.out") ;;
    mboxsync|serial)
      n1=$(jq '[.results[] | select(.outcome == "moved")] | length' "$log.out")
      [[ $n1 == "$N" ]] || { jq -c '.results[] | select(.outcome != "moved")' "$log.out" | head -n 3 >&2;
        die "$kind: $n1 results \"moved\", not $N"; }
      xfer=$(jq '[.results[].seconds] | add' "$log.out")
      n1=$(q moves "SELECT COUNT(*) FROM accounts WHERE backend_id = ${BE_ID[$to]}")
      [[ $n1 == "$N" ]] || die "$kind: $n1 accounts recorded on $to, not $N" ;;
  esac
  check_on "$to" "$from" "$kind"
  printf '%s %s %s %s %s>%s\n' "$wall" "$client" "$xfer" "$(awk -v a="$wall" -v b="$xfer" 'BEGIN { printf "%.3f", a - b }')" \
    "$from" "$to" >>"$WORK/$kind.times"
  say "$kind: $N moves in $wall s = $(rate "$N" "$wall") moves/s, $(rate "$MB_TOTAL" "$wall") MB/s (XFER time $xfer s, client CPU $client s)"
}

# rotated R LIST...: LIST rotated left by R-1 places.
rotated() {
  local r=$1
  shift
  local -a l=("$@")
  local i n=${#l[@]}
  for (( i = 0; i < n; i++ )); do printf '%s\n' "${l[( (r - 1 + i) % n )]}"; done
}
CONTENDERS=(bare mboxsync)
(( SERIAL == 0 )) || CONTENDERS+=(serial)
where=be1
for (( r = 1; r <= RUNS; r++ )); do
  for c in $(rotated "$r" "${CONTENDERS[@]}"); do
    if [[ $where == be1 ]]; then to=be3; else to=be1; fi
    run_one "$c" "$where" "$to"
    where=$to
  done
done

# The traced run (informational): the first TRACE users once more, with strace on mboxsync.
TRACE_LINE=
if (( TRACE > 0 )); then
  if [[ $where == be1 ]]; then to=be3; else to=be1; fi
  say "traced run: mboxsync moves $TRACE users $where -> $to under strace"
  q moves "UPDATE accounts SET backend_id = ${BE_ID[$where]}" >/dev/null
  bash "$CYRFIX" exec "$CYRDIR" strace -f -tt -e trace=connect -o "$WORK/trace.txt" "$MBOXSYNC" -c "$WORK/mboxsync.yaml" \
    move "${UIDS[@]:0:TRACE}" --to "$to" --json >"$WORK/trace.json" 2>"$WORK/trace.log" </dev/null ||
    { tail -n 5 "$WORK/trace.log" >&2; die "the traced run failed"; }
  n1=$(jq '[.results[] | select(.outcome == "moved")] | length' "$WORK/trace.json")
  [[ $n1 == "$TRACE" ]] || die "traced run: $n1 results \"moved\", not $TRACE"
  TRACE_LINE=$(/usr/bin/python3 - "$WORK/trace.txt" "$TRACE" "${ADDR[$where]}" "${ADDR[$to]}" "$CYRUS_FRONTEND" <<'PY'
import re, sys
path, k, src, tgt, fe = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
count = {}
for line in open(path):
    m = re.match(r"\d+ +\S+ connect\((.*)", line)
    if not m:
        continue
    a = re.search(r'inet_addr\("([^"]+)"\)', m.group(1))
    kind = {src: "src", tgt: "tgt", fe: "fe"}.get(a.group(1), "other") if a else ("db" if "mysqld.sock" in m.group(1) else "other")
    count[kind] = count.get(kind, 0) + 1
per = lambda kind: "%.1f" % (count.get(kind, 0) / k)
print("connections per user (%d users traced): source %s, target %s, front end %s, database %s"
      % (k, per("src"), per("tgt"), per("fe"), per("db")))
PY
  ) || die "reading the trace failed"
  say "$TRACE_LINE"
fi
bash "$CYRFIX" stop "$CYRDIR" >/dev/null 2>&1 || true
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
TOTAL_MIN=$(awk -v a="$T_START" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", (b - a) / 60 }')

# ---------------------------------------------------------------- figures

col() { cut -d' ' -f"$2" "$WORK/$1.times" | median; }
all_rates() { awk -v n="$2" '{ d = $5; sub(/>/, " -> ", d); printf "%s%.2f (%s)", (NR > 1 ? ", " : ""), n / $1, d }' "$WORK/$1.times"; }
W_BARE=$(col bare 1)
W_MB=$(col mboxsync 1)
R=$(ratio "$(rate "$N" "$W_MB")" "$(rate "$N" "$W_BARE")")
V=$(verdict "$R" 0.9)
# Per user, in ms: the wall time / N, and the XFER itself (bare: its round trip; mboxsync: its
# per-user "seconds", the XFER on its kept session).
per_user() { awk -v t="$1" -v n="$N" 'BEGIN { printf "%.0f", t * 1000 / n }'; }

row() {  # KIND DESCRIPTION
  local wall
  wall=$(col "$1" 1)
  printf '| %s | %s | %s | **%s** | %s | %s | %s | %s | %s |\n' "$2" "$(wc -l <"$WORK/$1.times")" "$wall" \
    "$(rate "$N" "$wall")" "$(rate "$MB_TOTAL" "$wall")" "$(all_rates "$1" "$N")" \
    "$(per_user "$wall")" "$(per_user "$(col "$1" 3)")" \
    "$(col "$1" 2)"
}
table=$(
  printf '| contender | runs | wall, median (s) | moves/s | MB/s | moves/s, all runs | wall per user (ms) | XFER per user (ms) | client CPU (s) |\n'
  printf '|---|---:|---:|---:|---:|---|---:|---:|---:|\n'
  row bare "bare loop: \`XFER user.uNNNN TARGET\` on one session, one at a time"
  row mboxsync "\`mboxsync move u0001 ... --to TARGET\` (cyrus.moves.parallel 3, the default)"
  if (( SERIAL == 1 )); then row serial "the same, cyrus.moves.parallel: 1 (one move at a time; informational)"; fi
  printf '\n'
  printf -- '- mboxsync / bare loop: **%s** (goal >= 0.9: %s)\n' "$R" "$(met "$V")"
  if (( SERIAL == 1 )); then
    printf -- '- one move at a time: %s x the bare loop; its own per-user work (wall less XFER per user) is %s ms:\n' \
      "$(ratio "$(rate "$N" "$(col serial 1)")" "$(rate "$N" "$W_BARE")")" \
      "$(( $(per_user "$(col serial 1)") - $(per_user "$(col serial 3)") ))"
    printf '  listing the tree on source and target, the snapshot before and after (LIST, GETACL, STATUS as\n'
    printf '  the owner on a session of its own, GETQUOTAROOT), mupdate asked through the front end, the\n'
    printf '  database; with three moves at once that work overlaps the other moves'"'"' XFERs\n'
  fi
  if [[ -n $TRACE_LINE ]]; then printf -- '- traced run (strace on mboxsync), %s\n' "$TRACE_LINE"; fi
)
printf '\n%s\n\n' "$table"

# ---------------------------------------------------------------- docs/benchmarks.md

if [[ ${MOVES_BENCH_NO_DOC:-0} != 1 ]]; then
  cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
  mem_gb=$(awk '/^MemTotal:/ { printf "%.1f", $2 / 1048576 }' /proc/meminfo)
  cyrus_version=$(dpkg-query -W -f '${Version}' cyrus-imapd 2>/dev/null || echo unknown)
  rev=$(git -C "$SRC" rev-parse --short HEAD 2>/dev/null || echo unknown)
  [[ -z $(git -C "$SRC" status --porcelain -- apps libmapsync schema 2>/dev/null) ]] || rev="$rev + uncommitted changes"
  env_part="MOVES_BENCH_USERS=$N"
  [[ $RUNS == 1 ]] || env_part+=" MOVES_BENCH_RUNS=$RUNS"
  [[ $SERIAL == 1 ]] || env_part+=" MOVES_BENCH_SERIAL=$SERIAL"
  section=$(
    printf '## Mailbox moves (bench/bench_moves.sh)\n\n'
    printf 'Written by bench/bench_moves.sh; a new run replaces this section.\n\n'
    printf -- '- date: %s; the whole benchmark took %s min\n' "$(date -u '+%Y-%m-%d %H:%M UTC')" "$TOTAL_MIN"
    printf -- '- machine: %s CPUs (nproc), %s GB memory, %s; load average %s at the start, %s at the end\n' \
      "$(nproc)" "$mem_gb" "${cpu:-unknown CPU}" "$LOAD_BEFORE" "$LOAD_AFTER"
    printf '  (the machine is shared: other loads slow both contenders)\n'
    printf -- '- software: mboxsync (tree at %s), %s build; Cyrus IMAP %s (Debian); MariaDB %s\n' \
      "$rev" "$BUILD_TYPE" "$cyrus_version" "$(q mysql 'SELECT VERSION()' 2>/dev/null || echo unknown)"
    printf -- '- command: `%s bench/bench_moves.sh %s`\n' "$env_part" "$BUILD_ARG"
    printf -- '- servers: the Cyrus Murder of tests/fixtures/cyrus_murder.sh with be3 joined, in a network namespace on\n'
    printf '  loopback; the users move between be1 (127.0.0.2) and be3 (127.0.0.5) on the same disk\n'
    printf -- '- users: %s, made on be1 by APPEND (10 messages of 1.5-12 KB as the user, by proxy authorisation) and\n' "$N"
    printf '  server-side COPY doubling to 10..200 INBOX messages, plus INBOX.Sent (1/5) and INBOX.Archive (1/3),\n'
    printf '  half \\Seen; in all %s messages, %s MB of quota usage (per user: %s KB min, %s KB median, %s KB max)\n' \
      "$MSGS" "$MB_TOTAL" "$KB_MIN" "$KB_MED" "$KB_MAX"
    printf -- '- bare: one STARTTLS session to the source back end as the admin, `XFER user.uNNNN TARGET` per user,\n'
    printf '  each waiting for its reply (XFER holds the user'"'"'s lock; the server moves one user at a time per\n'
    printf '  session): the servers'"'"' own limit for sequential moves\n'
    printf -- '- mboxsync: `mboxsync move u0001 ... --to TARGET --json`, the accounts recorded where they are;\n'
    printf '  cyrus.frontend set (mupdate is asked through it), cyrus.moves.wait_for_hubs: false (no mail hubs in\n'
    printf '  a benchmark: waiting for hubs to publish the deferral is not server work, and in production it is\n'
    printf '  paid once per batch, not per user), cyrus.moves.parallel 3 (the default: three moves at once, each\n'
    printf '  thread with its kept admin sessions); informational: the same with parallel 1\n'
    printf -- '- %s round(s) of the contenders in turn (the order rotates per round); each run moves all users\n' "$RUNS"
    printf '  from where the run before left them to the other back end (directions in the table)\n'
    printf -- '- wall time inside the namespace around the client process; moves/s = N / wall, MB/s = quota usage /\n'
    printf '  wall; medians over the runs; XFER per user: bare, its XFER round trip; mboxsync, its per-user\n'
    printf '  "seconds" (the XFER on its kept session; with moves at once their sum exceeds the wall time)\n'
    printf -- '- checked after every run: mupdate names the target for every inbox and folder; bare: N `OK USER`\n'
    printf '  replies; mboxsync: N results "moved" and N accounts on the target in the database\n\n'
    printf '%s\n' "$table"
  )
  update_doc '## Mailbox moves (bench/bench_moves.sh)' "$section"
fi
exit 0
