#!/usr/bin/env bash
# NAME
#   bench_build.sh - time `mapsync build` against stock postmap/postalias on a synthetic campus
# SUMMARY
#   bench/bench_build.sh [BUILD_DIR]          (default BUILD_DIR: build)
# DESCRIPTION
#   Starts a private MariaDB (tests/fixtures/mariadb.sh, buffer pool 512M), creates the schema
#   with `mapsync migrate`, loads a campus written by gen_userdb, then times BENCH_RUNS full
#   `mapsync build` runs (the published maps are removed before each run) and BENCH_RUNS rounds
#   of stock `postmap hash:` (postalias for aliases) over copies of the text files that mapsync
#   wrote, one map after the other. Wall time and peak RSS come from /usr/bin/time; the
#   figures are medians. Prints a table and replaces the "Build benchmark" section of
#   docs/benchmarks.md (BENCH_NO_DOC=1: leave it alone). postmap runs with MAIL_CONFIG set to
#   a private directory, so /etc/postfix is neither read nor touched.
#   Needs: BUILD_DIR/apps/mapsync/mapsync and BUILD_DIR/bench/gen_userdb built
#   (cmake --build BUILD_DIR --target mapsync gen_userdb), MariaDB server and client, postfix.
# ENVIRONMENT
#   BENCH_ADDRESSES   addresses to generate (default 1000000)
#   BENCH_RUNS        runs per side (default 3)
#   BENCH_SEED        gen_userdb seed (default: gen_userdb's)
#   BENCH_KEEP=1      keep the work directory (its path is printed); MariaDB is stopped anyway
#   BENCH_NO_DOC=1    do not update docs/benchmarks.md
#   TMPDIR            where the work directory goes (default /tmp)
set -euo pipefail

readonly PROG=bench_build.sh
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
readonly SRC
# shellcheck source=bench/lib.sh
source "$SRC/bench/lib.sh"

campus_build_dir "${1:-build}"
readonly N=${BENCH_ADDRESSES:-1000000}
readonly RUNS=${BENCH_RUNS:-3}
[[ $N =~ ^[0-9]+$ ]] || die "BENCH_ADDRESSES: not a number: $N"
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "BENCH_RUNS: not a positive number: $RUNS"

# ---------------------------------------------------------------- tools

need_gnu_time
[[ -n ${EPOCHREALTIME:-} ]] || die "bash 5 needed (EPOCHREALTIME)"
POSTMAP=$(command -v postmap || echo /usr/sbin/postmap)
POSTALIAS=$(command -v postalias || echo /usr/sbin/postalias)
[[ -x $POSTMAP && -x $POSTALIAS ]] || die "postmap/postalias missing: apt-get install postfix"

# ---------------------------------------------------------------- work directory, cleanup

WORK_KEEP=${BENCH_KEEP:-0}
bench_work_dir mapsync-bench
at_cleanup "stop MariaDB in $WORK/db" "$FIXTURE" stop "$WORK/db"

# Runs "$@" under /usr/bin/time; appends "seconds kilobytes" to file $1 (after shifting).
# Returns the command's exit status.
timed() {
  local out=$1 rc=0
  shift
  /usr/bin/time -f '%e %M' -o "$WORK/time.last" "$@" || rc=$?
  # On failure time(1) writes "Command exited with non-zero status N" first: keep the figures line.
  tail -n 1 "$WORK/time.last" >>"$out"
  tail -n 1 "$WORK/time.last" >"$WORK/time.last.tmp" && mv -f "$WORK/time.last.tmp" "$WORK/time.last"
  return "$rc"
}

# ---------------------------------------------------------------- database

say "work directory $WORK"
load_campus %.1f

# ---------------------------------------------------------------- mapsync build

: >"$WORK/mapsync.times"
for (( run = 1; run <= RUNS; run++ )); do
  # A full build every time: nothing left from the previous run to compare with or skip on.
  find "$MAPS" -mindepth 1 -delete
  timed "$WORK/mapsync.times" "$MAPSYNC" -c "$CONF" build >"$WORK/build.$run.log" 2>&1 ||
    { cat "$WORK/build.$run.log" >&2; die "mapsync build failed (run $run)"; }
  [[ -s $MAPS/virtual.db ]] || die "mapsync build wrote no $MAPS/virtual.db (run $run)"
  say "mapsync build run $run: $(cut -d' ' -f1 "$WORK/time.last") s, $(cut -d' ' -f2 "$WORK/time.last") KB"
done

# The maps: every text source with a .db beside it.
maps=()
for f in "$MAPS"/*.db; do
  name=${f##*/}
  name=${name%.db}
  [[ -f $MAPS/$name ]] || die "$MAPS/$name: mapsync wrote $name.db without its text source"
  maps+=("$name")
done
(( ${#maps[@]} > 0 )) || die "no maps in $MAPS"

# Entries: text lines that start a record (not comments, blanks or continuation lines).
declare -A entries
total_entries=0
for m in "${maps[@]}"; do
  entries[$m]=$(grep -c '^[^#[:space:]]' "$MAPS/$m" || true)
  total_entries=$(( total_entries + entries[$m] ))
done

# ---------------------------------------------------------------- stock postmap

PM=$WORK/postmap
mkdir -p "$PM"
private_postfix_config "$WORK/postfix"
for m in "${maps[@]}"; do cp -p "$MAPS/$m" "$PM/$m"; done

: >"$WORK/postmap.sums"
: >"$WORK/postmap.rss"
declare -A pm_times
for (( run = 1; run <= RUNS; run++ )); do
  rm -f "$PM"/*.db
  : >"$WORK/postmap.run"
  for m in "${maps[@]}"; do
    if [[ $m == aliases ]]; then
      timed "$WORK/postmap.run" "$POSTALIAS" "hash:$PM/$m" >>"$WORK/postmap.log" 2>&1 ||
        { tail -n 20 "$WORK/postmap.log" >&2; die "postalias hash:$PM/$m failed"; }
    else
      timed "$WORK/postmap.run" "$POSTMAP" "hash:$PM/$m" >>"$WORK/postmap.log" 2>&1 ||
        { tail -n 20 "$WORK/postmap.log" >&2; die "postmap hash:$PM/$m failed"; }
    fi
    pm_times[$m]+="$(cut -d' ' -f1 "$WORK/time.last") "
  done
  awk '{ s += $1 } END { printf "%.2f\n", s }' "$WORK/postmap.run" >>"$WORK/postmap.sums"
  cut -d' ' -f2 "$WORK/postmap.run" >>"$WORK/postmap.rss"
  say "postmap run $run: $(tail -n 1 "$WORK/postmap.sums") s"
done
postmap_warnings=$(grep -c 'warning:' "$WORK/postmap.log" || true)

# ---------------------------------------------------------------- figures

MS_TIME=$(cut -d' ' -f1 "$WORK/mapsync.times" | median)
MS_RSS_KB=$(cut -d' ' -f2 "$WORK/mapsync.times" | maximum)
PM_TIME=$(median <"$WORK/postmap.sums")
PM_RSS_KB=$(maximum <"$WORK/postmap.rss")
RATIO=$(awk -v a="$MS_TIME" -v b="$PM_TIME" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }')
MS_RSS_MB=$(( (MS_RSS_KB + 1023) / 1024 ))
PM_RSS_MB=$(( (PM_RSS_KB + 1023) / 1024 ))
verdict() { awk -v v="$1" -v lim="$2" 'BEGIN { print (v <= lim) ? "met" : "NOT met" }'; }
RATIO_VERDICT=$(verdict "$RATIO" 0.5)
RSS_VERDICT=$(verdict "$MS_RSS_MB" 300)

table=$(
  printf '| map | entries | postmap median (s) |\n|---|---:|---:|\n'
  for m in "${maps[@]}"; do
    printf '| %s | %s | %s |\n' "$m" "${entries[$m]}" "$(tr ' ' '\n' <<<"${pm_times[$m]}" | grep . | median)"
  done
  printf '| **all** | %s | %s |\n' "$total_entries" "$PM_TIME"
  printf '\n'
  printf '| | mapsync build | postmap/postalias (sum) |\n|---|---:|---:|\n'
  printf '| wall time, median of %s (s) | %s | %s |\n' "$RUNS" "$MS_TIME" "$PM_TIME"
  printf '| all runs (s) | %s | %s |\n' "$(cut -d' ' -f1 "$WORK/mapsync.times" | paste -sd' ')" \
    "$(paste -sd' ' "$WORK/postmap.sums")"
  printf '| peak RSS, max of runs (MB) | %s | %s (largest single map) |\n' "$MS_RSS_MB" "$PM_RSS_MB"
  printf '\n'
  printf -- '- ratio mapsync / postmap: **%s** (goal <= 0.5: %s)\n' "$RATIO" "$RATIO_VERDICT"
  printf -- '- mapsync peak RSS: **%s MB** (goal <= 300 MB: %s)\n' "$MS_RSS_MB" "$RSS_VERDICT"
)

printf '\n%s\n\n' "$table"

# ---------------------------------------------------------------- docs/benchmarks.md

if [[ ${BENCH_NO_DOC:-0} != 1 ]]; then
  cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
  mem_gb=$(awk '/^MemTotal:/ { printf "%.1f", $2 / 1048576 }' /proc/meminfo)
  postfix_version=$(postconf -h mail_version 2>/dev/null || echo unknown)
  mariadb_version=$(echo 'SELECT VERSION()' | "$FIXTURE" sql "$WORK/db" -N 2>/dev/null || echo unknown)
  revision=$("$MAPSYNC" --version 2>/dev/null | head -n 1 || true)
  revision="${revision:-mapsync} ($(git -C "$SRC" rev-parse --short HEAD 2>/dev/null || echo "uncommitted tree"))"
  command="BENCH_ADDRESSES=$N BENCH_RUNS=$RUNS${BENCH_SEED:+ BENCH_SEED=$BENCH_SEED} bench/bench_build.sh ${1:-build}"
  section=$(
    printf '## Build benchmark (bench/bench_build.sh)\n\n'
    printf 'Written by bench/bench_build.sh; a new run replaces this section.\n\n'
    printf -- '- date: %s\n' "$(date -u '+%Y-%m-%d %H:%M UTC')"
    printf -- '- machine: %s CPUs (nproc), %s GB memory, %s\n' "$(nproc)" "$mem_gb" "${cpu:-unknown CPU}"
    printf -- '- software: %s, Postfix %s, MariaDB %s (buffer pool 512M)\n' \
      "$revision" "$postfix_version" "$mariadb_version"
    # shellcheck disable=SC2016  # backquotes are Markdown
    printf -- '- command: `%s`\n' "$command"
    printf -- '- data: %s\n' "$(head -n 1 "$WORK/gen.log" | sed 's/^gen_userdb: //')"
    printf -- '- load (LOAD DATA LOCAL INFILE, change_serial triggers per row): %s s\n' "$LOAD_SECONDS"
    printf -- '- each mapsync build starts from an empty maps directory; postmap/postalias run with\n'
    printf '  stock settings on copies of the text files mapsync wrote, one map after the other\n'
    printf '  (%s postmap warnings)\n\n' "$postmap_warnings"
    printf '%s\n' "$table"
  )
  update_doc '## Build benchmark (bench/bench_build.sh)' "$section"
fi
