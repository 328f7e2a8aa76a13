#!/usr/bin/env bash
# NAME
#   admin_bulk.sh - time `mapadm bulk` (10,000 changes) against the same changes as raw SQL
# SUMMARY
#   bench/admin_bulk.sh [BUILD_DIR]          (default BUILD_DIR: build)
# DESCRIPTION
#   Starts a private MariaDB (tests/fixtures/mariadb.sh, buffer pool 512M), writes a campus with
#   gen_userdb (BENCH_ADDRESSES addresses, default 60000: about 30,000 accounts) and loads it into
#   two databases with the schema of `mapsync migrate`. Then, in the same run:
#     mapadm   `mapadm bulk FILE` of BENCH_CHANGES changes (default 10000): half
#              `account,set,UID,quota_mb=4096`, half `address,add,bulk-UID@example.edu,account=UID`,
#              on active Cyrus accounts: one transaction, each row locked, an admin_audit row
#              per change, the maps rendered before the first write and after the last;
#     raw SQL  the same changes as UPDATE / INSERT ... SELECT statements through the stock
#              `mariadb` client in one transaction (what an admin would type; no validation,
#              no audit): the stock reference.
#   Both are checked afterwards (rows changed, audit rows). Wall time and peak RSS from
#   /usr/bin/time; BENCH_RUNS runs each (default 3; each run on fresh databases), medians.
#   Prints a table and replaces the "Admin bulk benchmark" section of docs/benchmarks.md
#   (BENCH_NO_DOC=1: leave it alone).
#   Needs: BUILD_DIR/apps/mapsync/mapsync, BUILD_DIR/apps/mapadm/mapadm, BUILD_DIR/bench/gen_userdb.
# ENVIRONMENT
#   BENCH_ADDRESSES, BENCH_CHANGES, BENCH_RUNS, BENCH_SEED, BENCH_KEEP=1, BENCH_NO_DOC=1, TMPDIR
set -euo pipefail

readonly PROG=admin_bulk.sh
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
readonly SRC
# shellcheck source=bench/lib.sh
source "$SRC/bench/lib.sh"

campus_build_dir "${1:-build}"
MAPADM=$BUILD/apps/mapadm/mapadm
[[ -x $MAPADM ]] || die "$MAPADM missing: cmake --build $BUILD --target mapadm"
BUILD_TYPE=$(awk -F= '/^CMAKE_BUILD_TYPE:/ { print $2 }' "$BUILD/CMakeCache.txt")
readonly N=${BENCH_ADDRESSES:-60000}
readonly C=${BENCH_CHANGES:-10000}
readonly RUNS=${BENCH_RUNS:-3}
[[ $N =~ ^[0-9]+$ && $C =~ ^[0-9]+$ && $RUNS =~ ^[1-9][0-9]*$ ]] || die "BENCH_ADDRESSES, BENCH_CHANGES, BENCH_RUNS: numbers"
need_gnu_time

WORK_KEEP=${BENCH_KEEP:-0}
bench_work_dir mapadm-bench
write_timer_script "$WORK/timer"
start_mariadb

gen_args=(--addresses "$N" --out "$WORK/data")
if [[ -n ${BENCH_SEED:-} ]]; then gen_args+=(--seed "$BENCH_SEED"); fi
"$GEN" "${gen_args[@]}" >"$WORK/gen.log"
say "generated: $(head -n 1 "$WORK/gen.log")"

# fresh_db NAME: the schema and the generated campus in database NAME; config WORK/NAME.yaml.
fresh_db() {
  make_db "$1" </dev/null
  db_root --local-infile=1 "$1" <"$WORK/data/load.sql" >"$WORK/load-$1.log" 2>&1 ||
    { cat "$WORK/load-$1.log" >&2; die "loading the campus into $1 failed"; }
}

fresh_db pick
ACCOUNTS=$(q pick "SELECT COUNT(*) FROM accounts")
q pick "SELECT uid FROM accounts WHERE status = 'active' AND delivery = 'cyrus' ORDER BY id LIMIT $C" >"$WORK/uids"
(( $(wc -l <"$WORK/uids") == C )) || die "fewer than $C active Cyrus accounts: raise BENCH_ADDRESSES"
# The same changes twice: a mapadm bulk file, and SQL (uids are generated ASCII: safe to quote).
awk -v half=$((C / 2)) 'NR <= half { print "account,set," $1 ",quota_mb=4096"; next }
                         { print "address,add,bulk-" $1 "@example.edu,account=" $1 }' "$WORK/uids" >"$WORK/changes.csv"
awk -v half=$((C / 2)) 'BEGIN { print "START TRANSACTION;" }
  NR <= half { print "UPDATE accounts SET quota_mb = 4096 WHERE uid = '\''" $1 "'\'';"; next }
  { print "INSERT INTO addresses (account_id, address, kind) SELECT id, '\''bulk-" $1 "@example.edu'\'', '\''alias'\'' FROM accounts WHERE uid = '\''" $1 "'\'';" }
  END { print "COMMIT;" }' "$WORK/uids" >"$WORK/changes.sql"

: >"$WORK/mapadm.times"
: >"$WORK/sql.times"
: >"$WORK/one.times"
for (( run = 1; run <= RUNS; run++ )); do
  fresh_db "adm$run"
  fresh_db "raw$run"
  "$WORK/timer" "$WORK/res" "$WORK/mapadm.$run.out" "$MAPADM" -c "$WORK/adm$run.yaml" -q bulk "$WORK/changes.csv" ||
    { cat "$WORK/mapadm.$run.out" >&2; die "mapadm bulk failed (run $run)"; }
  cat "$WORK/res" >>"$WORK/mapadm.times"
  say "mapadm bulk run $run: $(cut -d' ' -f1 "$WORK/res") s"
  "$WORK/timer" "$WORK/res" - mariadb --no-defaults --default-character-set=utf8mb4 --socket="$MARIADB_SOCKET" -uroot \
    --batch "raw$run" <"$WORK/changes.sql" || die "raw SQL failed (run $run)"
  cat "$WORK/res" >>"$WORK/sql.times"
  say "raw SQL run $run: $(cut -d' ' -f1 "$WORK/res") s"
  for db in "adm$run" "raw$run"; do
    [[ $(q "$db" "SELECT COUNT(*) FROM addresses WHERE address LIKE 'bulk-%'") == $((C - C / 2)) ]] || die "$db: addresses not added"
    [[ $(q "$db" "SELECT COUNT(*) FROM accounts WHERE quota_mb = 4096") -ge $((C / 2)) ]] || die "$db: quotas not set"
  done
  [[ $(q "adm$run" "SELECT COUNT(*) FROM admin_audit") == "$C" ]] || die "adm$run: not one audit row per change"
  # The fixed cost of a run (connect, one render of every map, commit): a bulk of one change.
  head -n 1 "$WORK/changes.csv" | sed 's/quota_mb=4096/quota_mb=4097/' >"$WORK/one.csv"
  "$WORK/timer" "$WORK/res" - "$MAPADM" -c "$WORK/adm$run.yaml" -q bulk "$WORK/one.csv" >/dev/null || die "mapadm bulk of one change failed"
  cat "$WORK/res" >>"$WORK/one.times"
done

AD_TIME=$(cut -d' ' -f1 "$WORK/mapadm.times" | median)
AD_RSS=$(mb "$(cut -d' ' -f2 "$WORK/mapadm.times" | maximum)")
AD_CPU=$(cut -d' ' -f4 "$WORK/mapadm.times" | median)
SQL_TIME=$(cut -d' ' -f1 "$WORK/sql.times" | median)
ONE_TIME=$(cut -d' ' -f1 "$WORK/one.times" | median)
RATIO=$(awk -v a="$AD_TIME" -v b="$SQL_TIME" 'BEGIN { printf "%.1f", a / b }')
RATE=$(awk -v a="$AD_TIME" -v c="$C" 'BEGIN { printf "%.0f", c / a }')
say "mapadm bulk: $AD_TIME s ($RATE changes/s), raw SQL: $SQL_TIME s, ratio $RATIO"

COMMIT=$(git -C "$SRC" rev-parse --short HEAD 2>/dev/null || echo unknown)
DIRTY=$(git -C "$SRC" status --porcelain 2>/dev/null | grep -q . && echo " + uncommitted changes" || true)
SECTION="## Admin bulk benchmark (bench/admin_bulk.sh)

Written by bench/admin_bulk.sh; a new run replaces this section.

- date: $(date -u '+%Y-%m-%d %H:%M UTC')
- machine: $(nproc) CPUs (nproc), load average $(cut -d' ' -f1-3 /proc/loadavg) at the end (shared machine)
- software: mapsync 0.1.0 ($COMMIT$DIRTY, $BUILD_TYPE), $(mariadb --version | sed 's/.*Distrib \([^,]*\),.*/MariaDB \1/')
- command: \`BENCH_ADDRESSES=$N BENCH_CHANGES=$C BENCH_RUNS=$RUNS bench/admin_bulk.sh\`
- data: gen_userdb, $N addresses ($ACCOUNTS accounts); every run on two freshly loaded databases
- changes: $((C / 2)) \`account,set,UID,quota_mb=4096\` and $((C - C / 2)) \`address,add,bulk-UID@example.edu,account=UID\`
  on active Cyrus accounts, one transaction; raw SQL: the same UPDATE / INSERT ... SELECT
  statements through the stock \`mariadb\` client, one transaction, no validation, no audit

| | mapadm bulk | raw SQL (mariadb client) |
|---|---:|---:|
| wall time, median of $RUNS (s) | $AD_TIME | $SQL_TIME |
| all runs (s) | $(cut -d' ' -f1 "$WORK/mapadm.times" | tr '\n' ' ') | $(cut -d' ' -f1 "$WORK/sql.times" | tr '\n' ' ') |
| changes per second | $RATE | $(awk -v a="$SQL_TIME" -v c="$C" 'BEGIN { printf "%.0f", c / a }') |
| client CPU, median (s) | $AD_CPU | - |
| peak RSS (MB) | $AD_RSS | - |
| one change (\`mapadm bulk\` of 1 line: connect, render, commit), median (s) | $ONE_TIME | - |

- mapadm / raw SQL: **$RATIO x**. mapadm's extra work per change: the row locked and read
  (FOR UPDATE NOWAIT), references resolved (the account locked), the row read back after the
  write, the serial read and an admin_audit row written: 6 statements for a set, 7 for an add,
  each a round trip (prepared once per session, db/database.cpp), against one for raw SQL; plus, per run,
  two renders of every map from the transaction's rows, before the first write and after the
  last (most of the one-change row)."
echo "$SECTION"
[[ ${BENCH_NO_DOC:-0} == 1 ]] || update_doc "## Admin bulk benchmark" "$SECTION"
