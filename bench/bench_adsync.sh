#!/usr/bin/env bash
# NAME
#   bench_adsync.sh - time `adsync apply` (full, no-change, incremental) against a bare paged
#   `ldapsearch -Y GSSAPI` of the same entries, on a Samba AD DC with 10,000 users
# SUMMARY
#   bench/bench_adsync.sh [BUILD_DIR]          (default BUILD_DIR: build-adsync-bench in the source tree)
# DESCRIPTION
#   Builds adsync and mapsync into BUILD_DIR (configured RelWithDebInfo when it has no
#   CMakeCache.txt yet; the build is a no-op when up to date). Starts a private Samba AD DC in a
#   network namespace (tests/fixtures/samba_ad.sh, with a keytab for svc-sync) and loads
#   ADSYNC_BENCH_USERS users into OU=Bulk (`samba_ad.sh bulk`: ldbadd, 250 users a file), and a
#   private MariaDB (tests/fixtures/mariadb.sh, buffer pool 512M). Every database gets the schema
#   from `mapsync migrate`, the local domain example.test and the back ends be1 and be2; adsync
#   reaches MariaDB over its unix socket. Then, in this one run:
#   0. warm-up: one bare search, not counted.
#   1. bare search, right before EVERY timed adsync run below (so 3 + 5 + 3 + 3 by default):
#        ldapsearch -N -Y GSSAPI -Q -o ldif-wrap=no -H ldap://dc1.example.test
#          -b OU=Bulk,DC=example,DC=test -E pr=1000/noprompt
#          '(&(objectCategory=person)(objectClass=user))' objectGUID sAMAccountName givenName sn
#          displayName mail proxyAddresses userAccountControl uSNChanged  > /dev/null
#      with the ticket from the keytab as adsync gets it (KRB5_CLIENT_KTNAME, KRB5CCNAME=MEMORY:,
#      no kinit; LDAPSASL_NOCANON=on), and also a "bind floor": the same bind reading only
#      the rootDSE (-s base highestCommittedUSN), the least any run has to pay. Each adsync run
#      is divided by the bare search made seconds before it; the goals are judged on the median
#      of these paired ratios (on a shared machine the load drifts within a run, and a ratio of
#      two runs made seconds apart is the fairer one). The ratio of the medians is printed too.
#   2. full: ADSYNC_BENCH_FULL_RUNS `adsync apply` runs, each into a fresh empty database (the
#      first run against the DC: a full run that creates every account, page_size 1000).
#      Checked: exit 0, "N entries",
#      accounts = N, one proxy address row per user at least, the audit row says full/N creates.
#   3. no-change: ADSYNC_BENCH_NOCHANGE_RUNS `adsync apply` runs on the last full database with
#      nothing changed in AD (incremental: uSNChanged above the USN of the last run). Checked:
#      "0 entries", "in step with AD", accounts and addresses unchanged (CHECKSUM TABLE).
#   4. incremental: ADSYNC_BENCH_INCR_RUNS rounds on that database; each round applies 100
#      fresh changes with ONE ldbmodify run (samba_ad.sh ldbmodify, an LDIF of 100
#      modifications on 100 users spread over OU=Bulk, other users each round):
#        50 users: displayName replaced by "Bulk User NNNNN bench TOKEN"
#        50 users: proxyAddresses replaced by their two bulk values plus
#                  smtp:bench-TOKEN.NNNNN@example.test
#      (TOKEN = run id + round, so every round and every run changes something), then times
#      `adsync apply`. Checked: "100 entries", "0 create, 100 update", and exactly those 50
#      display names and those 50 addresses (owner and value) in the database.
#   5. phases (informational, not in the medians): `adsync -v apply` into a fresh empty database
#      and `adsync -v apply` with nothing changed, stderr stamped line by line (EPOCHREALTIME),
#      which splits a run into bind, search, database; and ADSYNC_BENCH_FULL_RUNS
#      `adsync plan` runs against an empty database (search and plan, nothing written), each
#      paired with a bare search like the runs above.
#   Every client (ldapsearch and adsync) runs inside the namespace (`samba_ad.sh exec`), so both
#   pay the same network path and Kerberos costs. Wall time is taken inside the namespace by a
#   small wrapper (bash EPOCHREALTIME around /usr/bin/time, which gives the peak RSS), so the
#   fixture's own start-up is not counted; client CPU (user + system) comes from /usr/bin/time
#   too. Figures are medians. Goals (from the issue): full apply <= 1.3 x the bare search;
#   no-change run <= 0.3 x the bare search. Prints a table with
#   PASS/MISS and exits 0 either way when the runs themselves worked (benchmarks report, tests
#   assert); a failed run or a failed correctness check exits 1. Replaces the "adsync" section
#   of docs/benchmarks.md (ADSYNC_BENCH_NO_DOC=1: leave it alone). The DC and MariaDB are
#   stopped at the end.
#   Needs: root (ip netns), cmake and a compiler, the Samba AD packages of samba_ad.sh,
#   ldap-utils, libsasl2-modules-gssapi-mit, MariaDB server and client, GNU time, bash 5.
# ENVIRONMENT
#   ADSYNC_BENCH_USERS          users in OU=Bulk (default 10000; >= 100 x the incremental rounds)
#   ADSYNC_BENCH_AD_DIR         a DC directory to keep between runs (saves the bulk load, ~70 s
#                               for 10,000): made and loaded when it holds no DC yet, else started
#                               again (samba_ad.sh start-dc) and checked to hold exactly
#                               ADSYNC_BENCH_USERS users in OU=Bulk. The DC is stopped at the end,
#                               its data kept. The changes of step 4 stay in it (bounded: a
#                               displayName and at most one extra proxy address per user).
#   ADSYNC_BENCH_FULL_RUNS      full applies into fresh databases (default 3)
#   ADSYNC_BENCH_NOCHANGE_RUNS  no-change runs (default 5)
#   ADSYNC_BENCH_INCR_RUNS      incremental rounds of 100 changes (default 3)
#   ADSYNC_BENCH_PHASES=0       skip step 5
#   ADSYNC_BENCH_KEEP=1         keep the work directory (its path is printed); services are stopped anyway
#   ADSYNC_BENCH_NO_DOC=1       do not update docs/benchmarks.md
#   TMPDIR                      where the work directory goes (default /tmp)
# shellcheck disable=SC2016  # backquotes in the printf formats below are Markdown
set -euo pipefail
export LC_ALL=C

readonly PROG=bench_adsync.sh
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
readonly SRC
# shellcheck source=bench/lib.sh
source "$SRC/bench/lib.sh"

BUILD_ARG=${1:-build-adsync-bench}
if [[ $BUILD_ARG == /* ]]; then BUILD=$BUILD_ARG; else BUILD=$SRC/$BUILD_ARG; fi
readonly BUILD_ARG BUILD
readonly ADFIX=$SRC/tests/fixtures/samba_ad.sh
readonly N=${ADSYNC_BENCH_USERS:-10000}
readonly FULL_RUNS=${ADSYNC_BENCH_FULL_RUNS:-3}
readonly NOCHANGE_RUNS=${ADSYNC_BENCH_NOCHANGE_RUNS:-5}
readonly INCR_RUNS=${ADSYNC_BENCH_INCR_RUNS:-3}
readonly PHASES=${ADSYNC_BENCH_PHASES:-1}
readonly CHANGES=100   # per incremental round: half displayName, half proxyAddresses
for v in N FULL_RUNS NOCHANGE_RUNS INCR_RUNS; do
  [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v: not a positive number: ${!v}"
done
(( N >= CHANGES * INCR_RUNS )) ||
  die "ADSYNC_BENCH_USERS=$N: need at least $(( CHANGES * INCR_RUNS )) users for $INCR_RUNS rounds of $CHANGES changes"
readonly BULK_OU=OU=Bulk,DC=example,DC=test
readonly FILTER='(&(objectCategory=person)(objectClass=user))'
readonly ATTRS=(objectGUID sAMAccountName givenName sn displayName mail proxyAddresses userAccountControl uSNChanged)
# ad_bulk_ldif.py: user numbers have max(5, digits of the last) digits.
WIDTH=${#N}
(( WIDTH >= 5 )) || WIDTH=5
readonly WIDTH

# ---------------------------------------------------------------- tools, build

(( EUID == 0 )) || die "must run as root (the DC lives in a network namespace)"
[[ -n ${EPOCHREALTIME:-} ]] || die "bash 5 needed (EPOCHREALTIME)"
need_gnu_time
for p in cmake ldapsearch mariadb; do command -v "$p" >/dev/null || die "$p missing"; done

cmake_build adsync mapsync
readonly ADSYNC=$BUILD/apps/adsync/adsync
readonly MAPSYNC=$BUILD/apps/mapsync/mapsync
[[ -x $ADSYNC && -x $MAPSYNC ]] || die "$ADSYNC or $MAPSYNC missing after the build"

# ---------------------------------------------------------------- work directory, cleanup

WORK_KEEP=${ADSYNC_BENCH_KEEP:-0}
bench_work_dir adsync-bench
if [[ -n ${ADSYNC_BENCH_AD_DIR:-} ]]; then
  ADDIR=$(realpath -m -- "$ADSYNC_BENCH_AD_DIR")
  REUSE=1
else
  ADDIR=$WORK/ad
  REUSE=0
fi
readonly ADDIR REUSE

# timer.sh RESULT OUT CMD...: see write_timer_script (runs inside the namespace).
write_timer_script "$WORK/timer.sh"
# stamp.sh OUT CMD...: runs inside the namespace; CMD's stderr lines go to OUT, each prefixed with
# the seconds since the start; stdout goes to OUT.stdout; the last line is "T END EXIT".
cat >"$WORK/stamp.sh" <<'EOF'
#!/usr/bin/env bash
out=$1
shift
t0=$EPOCHREALTIME
{ "$@" 2>&1 >"$out.stdout"; echo "__rc $?"; } |
  while IFS= read -r l; do printf '%s %s\n' "$EPOCHREALTIME" "$l"; done >"$out.raw"
t1=$EPOCHREALTIME
rc=$(awk '$2 == "__rc" { print $3 }' "$out.raw")
awk -v t0="$t0" '$2 != "__rc" { l = $0; sub(/^[^ ]+ /, "", l); printf "%.3f %s\n", $1 - t0, l }' "$out.raw" >"$out"
awk -v a="$t0" -v b="$t1" -v c="$rc" 'BEGIN { printf "%.3f END %s\n", b - a, c }' >>"$out"
exit "${rc:-1}"
EOF
chmod 0755 "$WORK/stamp.sh"

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
verdict() { awk -v v="$1" -v lim="$2" 'BEGIN { print (v != "n/a" && v <= lim) ? "PASS" : "MISS" }'; }
num() { printf "%0${WIDTH}d" "$1"; }

# in_ns LOG RESULT CMD...: CMD inside the namespace under timer.sh, stdout+stderr to LOG
# (with IN_NS_STDOUT set: stdout there instead). Sets WALL, RSS_KB and CPU. Returns CMD's exit status.
in_ns() {
  local log=$1 res=$2 rc=0
  shift 2
  bash "$ADFIX" exec "$ADDIR" "$WORK/timer.sh" "$res" "${IN_NS_STDOUT:--}" "$@" >"$log" 2>&1 || rc=$?
  [[ -s $res ]] || { tail -n 20 "$log" >&2; die "no timing in $res (could not run $1 in the namespace?)"; }
  read -r WALL RSS_KB _ CPU <"$res"
  return "$rc"
}

# The ticket from the keytab, as adsync gets it: no kinit, no file cache.
ldap_env() {
  # shellcheck disable=SC1091
  source "$ADDIR/env"
  LDAP_ENV=(env KRB5_CLIENT_KTNAME="$AD_KEYTAB" KRB5CCNAME=MEMORY:bench LDAPSASL_NOCANON=on)
}

bare_search() {  # LOG RESULT: the entries go to /dev/null, ldapsearch's messages to LOG
  IN_NS_STDOUT=/dev/null in_ns "$1" "$2" "${LDAP_ENV[@]}" ldapsearch -N -Y GSSAPI -Q -o ldif-wrap=no \
    -H "ldap://$AD_HOST" -b "$BULK_OU" -E pr=1000/noprompt "$FILTER" "${ATTRS[@]}"
}

# ---------------------------------------------------------------- the DC

say "work directory $WORK"
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
count_bulk() {
  bash "$ADFIX" search "$ADDIR" -b "$BULK_OU" -E pr=1000/noprompt "$FILTER" sAMAccountName 2>/dev/null |
    grep -c '^sAMAccountName: bulk' || true
}
BULK_SECONDS=
at_cleanup "stop the DC in $ADDIR" bash "$ADFIX" stop "$ADDIR"
if (( REUSE )) && [[ -r $ADDIR/dc/etc/smb.conf && -f $ADDIR/env ]]; then
  say "reusing the DC in $ADDIR"
  bash "$ADFIX" start-dc "$ADDIR" 2>"$WORK/ad-start.log" || { cat "$WORK/ad-start.log" >&2; die "start-dc $ADDIR failed"; }
  have=$(count_bulk)
  [[ $have == "$N" ]] ||
    die "$ADDIR holds $have users in $BULK_OU, not $N (remove $ADDIR or set ADSYNC_BENCH_USERS=$have)"
  BULK_NOTE="reused DC directory (loaded earlier; earlier runs' changes are in it)"
else
  say "starting a DC in $ADDIR"
  bash "$ADFIX" start "$ADDIR" 2>"$WORK/ad-start.log" || { cat "$WORK/ad-start.log" >&2; die "samba_ad.sh start failed"; }
  say "loading $N users into $BULK_OU"
  t0=$EPOCHREALTIME
  bash "$ADFIX" bulk "$ADDIR" "$N" 2>"$WORK/bulk.log" || { cat "$WORK/bulk.log" >&2; die "samba_ad.sh bulk failed"; }
  BULK_SECONDS=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
  have=$(count_bulk)
  [[ $have == "$N" ]] || die "after the bulk load svc-sync sees $have users in $BULK_OU, not $N"
  BULK_NOTE="loaded in this run: samba_ad.sh bulk (ldbadd, 250 users a file) in $BULK_SECONDS s"
fi
ldap_env

# ---------------------------------------------------------------- MariaDB, databases

start_mariadb

# new_db NAME: an empty database with the schema, example.test and two back ends; writes WORK/NAME.yaml.
new_db() {
  make_db "$1" <<YAML
ad:
  uris: [$AD_URI]
  keytab: $AD_KEYTAB
  krb5_config: $AD_KRB5_CONFIG
  bases: ["$BULK_OU"]
  page_size: 1000
  placement:
    - {name: all, delivery: cyrus, backends: [be1, be2]}
YAML
  db_root "$1" <<'SQL'
INSERT INTO domains (name, kind) VALUES ('example.test', 'local');
INSERT INTO backends (name, lmtp_host, imap_host) VALUES ('be1', '127.0.0.2', '127.0.0.2'), ('be2', '127.0.0.3', '127.0.0.3');
SQL
}

# check LOG PATTERN WHAT: LOG must contain the fixed string PATTERN.
check() {
  grep -qF -- "$2" "$1" || { tail -n 20 "$1" >&2; die "$3: \"$2\" not in $1"; }
}

# ---------------------------------------------------------------- 0.-2. bare search and full applies

say "warm-up search"
bare_search "$WORK/warmup.log" "$WORK/t.warmup" || { cat "$WORK/warmup.log" >&2; die "the warm-up search failed"; }

: >"$WORK/search.times"
: >"$WORK/floor.times"
SEARCHES=0
# paired_search: one bare search (and one bind floor) right before a measured run; sets SEARCH_WALL.
paired_search() {
  local i=$(( ++SEARCHES ))
  bare_search "$WORK/search.$i.log" "$WORK/t.search.$i" || { cat "$WORK/search.$i.log" >&2; die "bare search $i failed"; }
  echo "$WALL $RSS_KB $CPU" >>"$WORK/search.times"
  SEARCH_WALL=$WALL
  in_ns "$WORK/floor.$i.log" "$WORK/t.floor.$i" "${LDAP_ENV[@]}" ldapsearch -N -Y GSSAPI -Q -o ldif-wrap=no \
    -H "ldap://$AD_HOST" -b '' -s base '(objectClass=*)' highestCommittedUSN ||
    { cat "$WORK/floor.$i.log" >&2; die "rootDSE search $i failed"; }
  check "$WORK/floor.$i.log" "highestCommittedUSN:" "rootDSE search $i"
  echo "$WALL $RSS_KB $CPU" >>"$WORK/floor.times"
}
# record KIND: appends the run's figures to KIND.times and its ratio to the paired search to KIND.ratios.
record() {
  echo "$WALL $RSS_KB $CPU" >>"$WORK/$1.times"
  awk -v a="$WALL" -v b="$SEARCH_WALL" 'BEGIN { printf "%.3f\n", a / b }' >>"$WORK/$1.ratios"
}
: >"$WORK/full.times"
: >"$WORK/full.ratios"
for (( r = 1; r <= FULL_RUNS; r++ )); do
  db=adbench_full$r
  new_db "$db"
  log=$WORK/full.$r.log
  paired_search
  in_ns "$log" "$WORK/t.full.$r" "$ADSYNC" -c "$WORK/$db.yaml" apply || { tail -n 30 "$log" >&2; die "full apply $r failed"; }
  record full
  check "$log" "full run (first run against this DC)" "full apply $r"
  check "$log" ": $N entries" "full apply $r"
  check "$log" "summary: $N create, 0 update" "full apply $r"
  accounts=$(q "$db" "SELECT COUNT(*) FROM accounts")
  [[ $accounts == "$N" ]] || die "full apply $r: $accounts accounts in $db, not $N"
  proxied=$(q "$db" "SELECT COUNT(DISTINCT account_id) FROM addresses WHERE kind = 'proxy'")
  [[ $proxied == "$N" ]] || die "full apply $r: $proxied accounts with proxy addresses in $db, not $N"
  audit=$(q "$db" "SELECT mode, result, entries, creates FROM ad_sync_runs ORDER BY id DESC LIMIT 1" | tr '\t' ' ')
  [[ $audit == "full applied $N $N" ]] || die "full apply $r: audit row \"$audit\""
  say "full apply $r: $WALL s (bare search before it: $SEARCH_WALL s), $(mb "$RSS_KB") MB ($accounts accounts)"
done
# The bare search returns every entry: the same search once more, untimed, into a file.
bash "$ADFIX" exec "$ADDIR" "${LDAP_ENV[@]}" ldapsearch -N -Y GSSAPI -Q -o ldif-wrap=no -H "ldap://$AD_HOST" \
  -b "$BULK_OU" -E pr=1000/noprompt "$FILTER" "${ATTRS[@]}" >"$WORK/search.ldif" 2>"$WORK/search.err" ||
  { cat "$WORK/search.err" >&2; die "the counting search failed"; }
SEARCH_ENTRIES=$(grep -c '^dn: ' "$WORK/search.ldif" || true)
[[ $SEARCH_ENTRIES == "$N" ]] || die "the bare search returns $SEARCH_ENTRIES entries, not $N"
SEARCH_BYTES=$(stat -c %s "$WORK/search.ldif")
MAIN=adbench_full$FULL_RUNS
MAIN_CONF=$WORK/$MAIN.yaml

# ---------------------------------------------------------------- 3. no-change runs

sums() { q "$MAIN" "CHECKSUM TABLE accounts, addresses, ad_account_state EXTENDED" | awk '{ print $2 }' | paste -sd' '; }
before=$(sums)
: >"$WORK/nochange.times"
: >"$WORK/nochange.ratios"
for (( r = 1; r <= NOCHANGE_RUNS; r++ )); do
  log=$WORK/nochange.$r.log
  paired_search
  in_ns "$log" "$WORK/t.nochange.$r" "$ADSYNC" -c "$MAIN_CONF" apply || { tail -n 30 "$log" >&2; die "no-change run $r failed"; }
  record nochange
  check "$log" "incremental run against" "no-change run $r"
  check "$log" ": 0 entries" "no-change run $r"
  check "$log" "in step with AD" "no-change run $r"
  say "no-change run $r: $WALL s (bare search before it: $SEARCH_WALL s)"
done
[[ $(sums) == "$before" ]] || die "the no-change runs changed accounts, addresses or ad_account_state"

# ---------------------------------------------------------------- 4. incremental rounds

RUN_ID=$(date +%s)
STEP=$(( N / CHANGES ))
: >"$WORK/incr.times"
: >"$WORK/incr.ratios"
: >"$WORK/ldbmodify.times"
for (( r = 1; r <= INCR_RUNS; r++ )); do
  paired_search
  token=${RUN_ID}r$r
  ldif=$WORK/incr.$r.ldif
  : >"$ldif"
  : >"$WORK/incr.$r.want-names"
  : >"$WORK/incr.$r.want-addresses"
  for (( k = 0; k < CHANGES; k++ )); do
    i=$(( k * STEP + r ))          # spread over OU=Bulk, other users each round
    n=$(num "$i")
    if (( k % 2 == 0 )); then
      printf 'dn: CN=bulk%s,%s\nchangetype: modify\nreplace: displayName\ndisplayName: Bulk User %s bench %s\n-\n\n' \
        "$n" "$BULK_OU" "$n" "$token" >>"$ldif"
      printf 'bulk%s\tBulk User %s bench %s\n' "$n" "$n" "$token" >>"$WORK/incr.$r.want-names"
    else
      printf 'dn: CN=bulk%s,%s\nchangetype: modify\nreplace: proxyAddresses\nproxyAddresses: SMTP:bulk%s@example.test\nproxyAddresses: smtp:bulk.%s@example.test\nproxyAddresses: smtp:bench-%s.%s@example.test\n-\n\n' \
        "$n" "$BULK_OU" "$n" "$n" "$token" "$n" >>"$ldif"
      printf 'bulk%s\tbench-%s.%s@example.test\n' "$n" "$token" "$n" >>"$WORK/incr.$r.want-addresses"
    fi
  done
  t0=$EPOCHREALTIME
  bash "$ADFIX" ldbmodify "$ADDIR" <"$ldif" >"$WORK/incr.$r.ldbmodify.log" 2>&1 ||
    { cat "$WORK/incr.$r.ldbmodify.log" >&2; die "ldbmodify of round $r failed"; }
  awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.3f\n", b - a }' >>"$WORK/ldbmodify.times"
  grep -q "Modified $CHANGES records successfully" "$WORK/incr.$r.ldbmodify.log" ||
    { cat "$WORK/incr.$r.ldbmodify.log" >&2; die "ldbmodify of round $r did not modify $CHANGES records"; }
  log=$WORK/incr.$r.log
  in_ns "$log" "$WORK/t.incr.$r" "$ADSYNC" -c "$MAIN_CONF" apply || { tail -n 30 "$log" >&2; die "incremental run $r failed"; }
  record incr
  check "$log" "incremental run against" "incremental run $r"
  check "$log" ": $CHANGES entries" "incremental run $r"
  check "$log" "summary: 0 create, $CHANGES update (0 rename, 0 enable), 0 disable" "incremental run $r"
  q "$MAIN" "SELECT uid, display_name FROM accounts WHERE display_name LIKE '% bench $token' ORDER BY uid" \
    >"$WORK/incr.$r.got-names"
  q "$MAIN" "SELECT a.uid, d.address FROM addresses d JOIN accounts a ON a.id = d.account_id
             WHERE d.address LIKE 'bench-$token.%' AND d.kind = 'proxy' ORDER BY a.uid" >"$WORK/incr.$r.got-addresses"
  for what in names addresses; do
    sort "$WORK/incr.$r.want-$what" | cmp -s - "$WORK/incr.$r.got-$what" ||
      { diff <(sort "$WORK/incr.$r.want-$what") "$WORK/incr.$r.got-$what" | head -n 10 >&2
        die "incremental run $r: the database does not hold the $((CHANGES / 2)) changed $what"; }
  done
  accounts=$(q "$MAIN" "SELECT COUNT(*) FROM accounts")
  [[ $accounts == "$N" ]] || die "incremental run $r: $accounts accounts, not $N"
  say "incremental run $r: $WALL s (bare search before it: $SEARCH_WALL s; $CHANGES changes in the database)"
done

# ---------------------------------------------------------------- 5. phases (informational)

# phase_at LOG REGEX: seconds of the first line of a stamped log matching REGEX (empty: none).
phase_at() { awk -v re="$2" '$0 ~ re { print $1; exit }' "$1"; }
span() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "") print "n/a"; else printf "%.3f", b - a }'; }
PH_FULL='' PH_NC='' PH_STREAMED=''
if [[ $PHASES == 1 ]]; then
  new_db adbench_phases
  bash "$ADFIX" exec "$ADDIR" "$WORK/stamp.sh" "$WORK/phases.full" "$ADSYNC" -v -c "$WORK/adbench_phases.yaml" apply ||
    { tail -n 20 "$WORK/phases.full" >&2; die "the -v full apply failed"; }
  bash "$ADFIX" exec "$ADDIR" "$WORK/stamp.sh" "$WORK/phases.nc" "$ADSYNC" -v -c "$WORK/adbench_phases.yaml" apply ||
    { tail -n 20 "$WORK/phases.nc" >&2; die "the -v no-change run failed"; }
  # start -> bound (kinit, connect, GSSAPI bind) -> run line (rootDSE, NTDS settings, DC state
  # row) -> user search done ("ldap: BASE: N entries"; a streamed full apply writes creates
  # during it) -> "N entries from AD" (after the probe of the bases in an incremental run that
  # found nothing; in a streamed full apply after planning the last page) ->
  # "planned" (database read, plan) -> "plan as JSON" -> "written" -> "committed" -> "applied
  # run" -> END (plan text printed, exit). A line the program does not log gives "n/a".
  phase_row() {
    local f=$1 b m s e p j w c a z
    b=$(phase_at "$f" 'bound as .*SASL SSF')
    m=$(phase_at "$f" 'adsync: (full|incremental) run')
    e=$(phase_at "$f" 'debug: [0-9]+ entries from AD')
    s=$(phase_at "$f" 'debug: ldap: .* entries for')
    s=${s:-$e}
    p=$(phase_at "$f" 'debug: planned$')
    j=$(phase_at "$f" 'debug: plan as JSON')
    w=$(phase_at "$f" 'debug: written$')
    c=$(phase_at "$f" 'debug: committed$')
    a=$(phase_at "$f" 'adsync: (audit: )?applied run')
    z=$(phase_at "$f" ' END ')
    printf '%s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s' "$b" "$(span "$b" "$m")" "$(span "$m" "$s")" \
      "$(span "$s" "$e")" "$(span "$e" "$p")" "$(span "$p" "$j")" "$(span "$j" "$w")" "$(span "$w" "$c")" \
      "$(span "$e" "$a")" "$(span "$a" "$z")" "$z"
  }
  PH_FULL=$(phase_row "$WORK/phases.full")
  PH_STREAMED=$(grep -o '[0-9]* entries from AD; [0-9]* creates written during the search' "$WORK/phases.full" || true)
  PH_NC=$(phase_row "$WORK/phases.nc")
  : >"$WORK/plan.times"
  : >"$WORK/plan.ratios"
  new_db adbench_plan
  for (( r = 1; r <= FULL_RUNS; r++ )); do
    paired_search
    in_ns "$WORK/plan.$r.log" "$WORK/t.plan.$r" "$ADSYNC" -c "$WORK/adbench_plan.yaml" plan ||
      { tail -n 20 "$WORK/plan.$r.log" >&2; die "plan run $r failed"; }
    check "$WORK/plan.$r.log" "summary: $N create" "plan run $r"
    record plan
  done
fi
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------- figures

med() { cut -d' ' -f1 "$1" | median; }
all() { cut -d' ' -f1 "$1" | paste -sd' '; }
rss() { mb "$(cut -d' ' -f2 "$1" | maximum)"; }
cpu() { cut -d' ' -f3 "$1" | median; }
SEARCH=$(med "$WORK/search.times")
FLOOR=$(med "$WORK/floor.times")
# paired KIND: median of the run / bare-search-before-it ratios, and "min-max" of them.
paired() { median <"$WORK/$1.ratios"; }
range() { sort -g "$WORK/$1.ratios" | sed -n '1p;$p' | paste -sd'-' | sed 's/-/ - /'; }
P_FULL=$(paired full)
P_NC=$(paired nochange)
V_FULL=$(verdict "$P_FULL" 1.3)
V_NC=$(verdict "$P_NC" 0.3)

# row LABEL KIND GOAL: one table row of a measured kind.
row() {
  local label=$1 kind=$2 goal=$3 n p
  n=$(wc -l <"$WORK/$kind.times")
  p=$(paired "$kind")
  [[ -n $goal ]] && p="**$p**"
  printf '| %s | %s | %s | %s | %s (%s) | %s | %s | %s | %s |\n' "$label" "$n" "$(med "$WORK/$kind.times")" \
    "$(all "$WORK/$kind.times")" "$p" "$(range "$kind")" "$(ratio "$(med "$WORK/$kind.times")" "$SEARCH")" "$goal" \
    "$(cpu "$WORK/$kind.times")" "$(rss "$WORK/$kind.times")"
}
table=$(
  printf '| run | runs | median (s) | all runs (s) | / bare search right before: median (range) | median / median of all bare searches | goal | client CPU, median (s) | peak RSS (MB) |\n'
  printf '|---|---:|---:|---|---:|---:|---|---:|---:|\n'
  printf '| bare paged ldapsearch (%s entries, %s KB LDIF) | %s | %s | %s | | 1.00 | | %s | %s |\n' \
    "$SEARCH_ENTRIES" "$(( SEARCH_BYTES / 1024 ))" "$SEARCHES" "$SEARCH" "$(all "$WORK/search.times")" \
    "$(cpu "$WORK/search.times")" "$(rss "$WORK/search.times")"
  printf '| bind floor: same bind, rootDSE only | %s | %s | %s | | %s | | %s | %s |\n' \
    "$SEARCHES" "$FLOOR" "$(all "$WORK/floor.times")" "$(ratio "$FLOOR" "$SEARCH")" "$(cpu "$WORK/floor.times")" \
    "$(rss "$WORK/floor.times")"
  row "adsync apply, full, empty database" full "<= 1.3: **$V_FULL**"
  row "adsync apply, no change" nochange "<= 0.3: **$V_NC**"
  row "adsync apply, incremental, $CHANGES changes" incr ""
  if [[ $PHASES == 1 ]]; then
    row "adsync plan, empty database (searches, plans $N creates, writes nothing)" plan ""
    printf '\n'
    printf 'Phases of one `adsync -v apply` each (seconds from the process start, stderr stamped line by line;\n'
    printf 'not part of the medians):\n\n'
    printf '| run | bound | DC info | user search | probe (incremental), last page (full) | read, plan | JSON | write | commit | database, all | output, exit | total |\n'
    printf '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n'
    printf '| full, empty database | %s |\n' "$PH_FULL"
    printf '| no change | %s |\n' "$PH_NC"
    if [[ -n $PH_STREAMED ]]; then
      printf '\nThe full apply wrote creates while the search went on ("%s"): its "user search" includes\n' "$PH_STREAMED"
      printf 'those writes, "database, all" is what was left after the search.\n'
    fi
  fi
  printf '\n'
  printf -- '- full apply / bare search right before it, median of %s pairs: **%s** (goal <= 1.3: %s)\n' \
    "$FULL_RUNS" "$P_FULL" "$(met "$V_FULL")"
  printf -- '- no-change run / bare search right before it, median of %s pairs: **%s** (goal <= 0.3: %s)\n' \
    "$NOCHANGE_RUNS" "$P_NC" "$(met "$V_NC")"
  printf -- '- incremental run (%s changes) / bare search right before it: %s; ldbmodify of the %s changes (not timed\n' \
    "$CHANGES" "$(paired incr)" "$CHANGES"
  printf '  with the run): median %s s\n' "$(median <"$WORK/ldbmodify.times")"
)
printf '\n%s\n\n' "$table"

# ---------------------------------------------------------------- docs/benchmarks.md

if [[ ${ADSYNC_BENCH_NO_DOC:-0} != 1 ]]; then
  cpu_model=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
  mem_gb=$(awk '/^MemTotal:/ { printf "%.1f", $2 / 1048576 }' /proc/meminfo)
  mariadb_version=$(q mysql 'SELECT VERSION()' 2>/dev/null || echo unknown)
  samba_version=$( { samba -V 2>/dev/null || /usr/sbin/samba -V 2>/dev/null || echo unknown; } | sed 's/^Version //')
  ldap_version=$(ldapsearch -VV 2>&1 | awk '/ldapsearch/ { sub(/.*ldapsearch /, ""); sub(/ \(.*/, ""); print; exit }')
  rev=$(git -C "$SRC" rev-parse --short HEAD 2>/dev/null || echo unknown)
  [[ -z $(git -C "$SRC" status --porcelain -- apps libmapsync schema 2>/dev/null) ]] || rev="$rev + uncommitted changes"
  env_part="ADSYNC_BENCH_USERS=$N"
  [[ $FULL_RUNS == 3 ]] || env_part+=" ADSYNC_BENCH_FULL_RUNS=$FULL_RUNS"
  [[ $NOCHANGE_RUNS == 5 ]] || env_part+=" ADSYNC_BENCH_NOCHANGE_RUNS=$NOCHANGE_RUNS"
  [[ $INCR_RUNS == 3 ]] || env_part+=" ADSYNC_BENCH_INCR_RUNS=$INCR_RUNS"
  (( REUSE )) && env_part+=" ADSYNC_BENCH_AD_DIR=..."
  section=$(
    printf '## adsync (bench/bench_adsync.sh)\n\n'
    printf 'Written by bench/bench_adsync.sh; a new run replaces this section.\n\n'
    printf -- '- date: %s\n' "$(date -u '+%Y-%m-%d %H:%M UTC')"
    printf -- '- machine: %s CPUs (nproc), %s GB memory, %s; load average %s at the start, %s at the end\n' \
      "$(nproc)" "$mem_gb" "${cpu_model:-unknown CPU}" "$LOAD_BEFORE" "$LOAD_AFTER"
    printf -- '- software: adsync (tree at %s), %s build; Samba %s; ldapsearch %s; MariaDB %s (buffer pool 512M)\n' \
      "$rev" "$BUILD_TYPE" "$samba_version" "${ldap_version:-unknown}" "$mariadb_version"
    # shellcheck disable=SC2016  # backquotes are Markdown
    printf -- '- command: `%s bench/bench_adsync.sh %s`\n' "$env_part" "$BUILD_ARG"
    printf -- '- directory: Samba AD DC (tests/fixtures/samba_ad.sh) in a network namespace on loopback, %s users\n' "$N"
    printf '  in %s (one mail, two proxyAddresses each), %s\n' "$BULK_OU" "$BULK_NOTE"
    printf -- '- every client runs inside the namespace and binds with GSSAPI from the svc-sync keytab\n'
    printf '  (ldapsearch: KRB5_CLIENT_KTNAME, KRB5CCNAME=MEMORY:; adsync: its own MEMORY cache), sealed;\n'
    printf '  wall time measured inside the namespace around the process, client CPU = user + system of the\n'
    printf '  client process (/usr/bin/time); DC, MariaDB and client share the machine; adsync reaches MariaDB\n'
    printf '  over the unix socket\n'
    printf -- '- bare search: `ldapsearch -Y GSSAPI -b %s -E pr=1000/noprompt "%s" %s > /dev/null`\n' \
      "$BULK_OU" "$FILTER" "${ATTRS[*]}"
    printf -- '- full: `adsync apply` into a fresh empty database each run (%s creates, one proxy alias each;\n' "$N"
    printf '  page_size 1000), interleaved with the bare searches; no change: `adsync apply` right after, nothing\n'
    printf '  changed in AD; incremental: per round one ldbmodify of %s users (50 displayName replaced,\n' "$CHANGES"
    printf '  50 proxyAddresses with one new address), then `adsync apply`\n'
    printf -- '- checked: accounts = %s after each full apply; no-change runs saw 0 entries and left accounts,\n' "$N"
    printf '  addresses and ad_account_state unchanged; each incremental run saw exactly the %s changed entries\n' "$CHANGES"
    printf '  and the database holds the 50 new display names and the 50 new addresses\n\n'
    printf '%s\n' "$table"
  )
  update_doc '## adsync (bench/bench_adsync.sh)' "$section"
fi
