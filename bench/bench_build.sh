#!/usr/bin/env bash
# NAME
#   bench_build.sh - time full `mapsync build` runs against the format's own limit (bare_writer)
# SUMMARY
#   bench/bench_build.sh [BUILD_DIR]          (default BUILD_DIR: build)
# DESCRIPTION
#   Starts a private MariaDB (tests/fixtures/mariadb.sh, buffer pool 512M), creates the schema
#   with `mapsync migrate` and loads a campus written by gen_userdb. Then, BENCH_RUNS times, for
#   each type of BENCH_TYPES (every map of that type: maps.default_type, one config and one maps
#   directory per type): a full `mapsync build` from an empty maps directory, and right after it
#   bench/bare_writer on the text sources that build wrote: the same files (text source and
#   indexed file of every map) written with nothing but libdb/liblmdb/tinycdb, with mapsync's
#   settings, in mapsync's order, by 2 threads (bare_writer.cpp says exactly what it does and
#   does not do). Types and sides are interleaved, so machine load hits both sides alike. The
#   bare writer reads its input into memory first; only its writing is timed (its own wall
#   clock, "write_seconds"); mapsync's time is the wall time of the whole process.
#   Once per run, before the builds: the read floor, the stock mariadb client (as the same user,
#   over TCP, --quick) reading in one consistent snapshot the columns and rows a full build reads
#   (maps/snapshot.cpp), output to /dev/null. A build must read before it can write, so beside the
#   ratio to the bare writer the table gives the ratio to read floor + bare writer.
#   With BENCH_POSTMAP=1 (default) stock postmap/postalias hash: also run once per run, one map
#   after the other, on copies of the hash build's text sources (the old comparison).
#   Wall time and peak RSS come from /usr/bin/time; figures are medians of the runs (RSS: the
#   maximum). Prints a table and replaces the "Build benchmark" section of docs/benchmarks.md
#   (BENCH_NO_DOC=1: leave it alone). Goals (issue 15): build <= 1.15 x bare writer for every
#   type, peak RSS <= 300 MB. postmap runs with MAIL_CONFIG set to a private directory.
#   Needs: BUILD_DIR/apps/mapsync/mapsync, BUILD_DIR/bench/gen_userdb and
#   BUILD_DIR/bench/bare_writer (cmake --build BUILD_DIR --target mapsync gen_userdb bare_writer),
#   MariaDB server and client, postfix.
# ENVIRONMENT
#   BENCH_ADDRESSES   addresses to generate (default 1000000)
#   BENCH_RUNS        runs per side and type (default 3)
#   BENCH_TYPES       map types (default "hash btree lmdb cdb")
#   BENCH_POSTMAP     1: also time stock postmap hash: (default 1)
#   BENCH_SEED        gen_userdb seed (default: gen_userdb's)
#   BENCH_BASELINE    a second build directory (mapsync and bare_writer from before a change): run
#                     too, in the same loop, and reported one line a type as the baseline
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
read -r -a TYPES <<<"${BENCH_TYPES:-hash btree lmdb cdb}"
readonly TYPES
readonly DO_POSTMAP=${BENCH_POSTMAP:-1}
BARE=$BUILD/bench/bare_writer
readonly BARE
[[ -x $BARE ]] || die "$BARE missing: cmake --build $BUILD --target bare_writer"
[[ $N =~ ^[0-9]+$ ]] || die "BENCH_ADDRESSES: not a number: $N"
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "BENCH_RUNS: not a positive number: $RUNS"

# ---------------------------------------------------------------- tools

need_gnu_time
[[ -n ${EPOCHREALTIME:-} ]] || die "bash 5 needed (EPOCHREALTIME)"
POSTMAP=$(command -v postmap || echo /usr/sbin/postmap)
POSTCONF=$(command -v postconf || echo /usr/sbin/postconf)
POSTALIAS=$(command -v postalias || echo /usr/sbin/postalias)
[[ -x $POSTMAP && -x $POSTALIAS ]] || die "postmap/postalias missing: apt-get install postfix"

# ---------------------------------------------------------------- work directory, cleanup

WORK_KEEP=${BENCH_KEEP:-0}
bench_work_dir mapsync-bench
at_cleanup "stop MariaDB in $WORK/db" "$FIXTURE" stop "$WORK/db"

# Runs "$@" under /usr/bin/time; appends "seconds kilobytes user system" to file $1 (after shifting).
# Returns the command's exit status.
timed() {
  local out=$1 rc=0
  shift
  /usr/bin/time -f '%e %M %U %S' -o "$WORK/time.last" "$@" || rc=$?
  # On failure time(1) writes "Command exited with non-zero status N" first: keep the figures line.
  tail -n 1 "$WORK/time.last" >>"$out"
  tail -n 1 "$WORK/time.last" >"$WORK/time.last.tmp" && mv -f "$WORK/time.last.tmp" "$WORK/time.last"
  return "$rc"
}

# ---------------------------------------------------------------- database

say "work directory $WORK"
load_campus %.1f

# ---------------------------------------------------------------- one config per type

suffix_of() { case $1 in hash|btree) echo .db ;; lmdb) echo .lmdb ;; cdb) echo .cdb ;; *) die "unknown type $1" ;; esac; }
declare -A conf
for t in "${TYPES[@]}"; do
  suffix_of "$t" >/dev/null
  mkdir -p "$WORK/maps-$t" "$WORK/bare-$t"
  conf[$t]=$WORK/mapsync-$t.yaml
  "$FIXTURE" config "$WORK/db" "$WORK/maps-$t" | sed "s/^  default_type: hash\$/  default_type: $t/" >"${conf[$t]}"
  grep -q "default_type: $t\$" "${conf[$t]}" || die "${conf[$t]}: could not set default_type $t"
done

# The maps a build wrote: every text source with its indexed file beside it.
maps_of() {
  local dir=$1 sfx=$2 f name
  for f in "$dir"/*"$sfx"; do
    name=${f##*/}
    name=${name%"$sfx"}
    [[ -f $dir/$name ]] || die "$dir/$name: mapsync wrote $name$sfx without its text source"
    printf '%s\n' "$name"
  done
}

# ---------------------------------------------------------------- builds and bare writers, interleaved

# Sides: "new" is BUILD_DIR; with BENCH_BASELINE, "base" is that build directory's mapsync and
# bare_writer (the same code before a change), run in the same loop so that both meet the
# same machine load.
sides=(new)
declare -A side_mapsync=([new]=$MAPSYNC) side_bare=([new]=$BARE)
if [[ -n ${BENCH_BASELINE:-} ]]; then
  base=$(cd "$BENCH_BASELINE" && pwd -P) || die "BENCH_BASELINE: $BENCH_BASELINE: no such directory"
  side_mapsync[base]=$base/apps/mapsync/mapsync
  side_bare[base]=$base/bench/bare_writer
  [[ -x ${side_mapsync[base]} && -x ${side_bare[base]} ]] || die "$base: needs apps/mapsync/mapsync and bench/bare_writer"
  sides=(base new)
fi

for s in "${sides[@]}"; do
  for t in "${TYPES[@]}"; do
    : >"$WORK/$s-mapsync-$t.times"; : >"$WORK/$s-mapsync-$t.cpu"; : >"$WORK/$s-bare-$t.times"; : >"$WORK/$s-bare-$t.rss"
  done
done
# The read floor: what maps/snapshot.cpp reads for a full build, by the stock client.
stock_client
read -r -d '' READ_SQL <<'EOF_SQL' || true
START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY;
SELECT id, name, kind, target_domain_id, transport, enabled FROM domains ORDER BY id;
SELECT id, name, lmtp_host, lmtp_port, imap_host, imap_port, partitions, enabled FROM backends ORDER BY id;
SELECT id, uid, given_name, surname, primary_address, status, delivery, backend_id, cyrus_partition, smtp_nexthop, delivery_target_id, routing_address, keep_copy, mailbox_moving FROM accounts ORDER BY id;
SELECT id, account_id, address FROM addresses ORDER BY id;
SELECT id, account_id, target FROM account_forwards ORDER BY id;
SELECT id, address, enabled FROM group_aliases ORDER BY id;
SELECT id, group_id, member_account_id, member_group_id, member_address FROM group_members ORDER BY id;
SELECT id, address, manager, transport, local_name, pipe_command, enabled FROM mailing_lists ORDER BY id;
SELECT id, source, target, enabled FROM canonical_rewrites ORDER BY id;
SELECT id, pattern, transport, enabled FROM transport_overrides ORDER BY id;
SELECT id, name, targets, all_domains FROM system_aliases ORDER BY id;
SELECT id, name, transport, routing_domain, address_template, enabled FROM delivery_targets ORDER BY id;
COMMIT;
EOF_SQL
: >"$WORK/read.times"
declare -A same_size
for (( run = 1; run <= RUNS; run++ )); do
  timed "$WORK/read.times" "$MARIADB_CLI" --defaults-file="$STOCK_CNF" --quick --batch --skip-column-names -e "$READ_SQL" \
    >/dev/null 2>"$WORK/read.err" || { cat "$WORK/read.err" >&2; die "the stock client's read failed (run $run)"; }
  say "run $run: stock client read $(cut -d' ' -f1 "$WORK/time.last") s"
  for t in "${TYPES[@]}"; do
    for s in "${sides[@]}"; do
      dir=$WORK/maps-$t
      # A full build every time: nothing left from the previous run to compare with or skip on.
      find "$dir" -mindepth 1 -delete
      timed "$WORK/$s-mapsync-$t.times" "${side_mapsync[$s]}" -c "${conf[$t]}" build >"$WORK/build-$t.$run.log" 2>&1 ||
        { tail -n 30 "$WORK/build-$t.$run.log" >&2; die "mapsync build ($s, $t) failed (run $run)"; }
      sfx=$(suffix_of "$t")
      [[ -s $dir/virtual$sfx ]] || die "mapsync build ($s, $t) wrote no $dir/virtual$sfx (run $run)"
      read -r b_wall b_kb b_user b_sys <"$WORK/time.last"

      mapfile -t maps < <(maps_of "$dir" "$sfx")
      find "$WORK/bare-$t" -mindepth 1 -delete
      timed "$WORK/$s-bare-$t.rss" "${side_bare[$s]}" --type "$t" --from "$dir" --to "$WORK/bare-$t" --threads 2 \
        --alias aliases "${maps[@]}" >"$WORK/bare-$t.$run.out" 2>&1 ||
        { cat "$WORK/bare-$t.$run.out" >&2; die "bare_writer ($s, $t) failed (run $run)"; }
      # "build_wall build_kb build_cpu": the time line; bare: "wall cpu" of its writing.
      awk -v w="$b_wall" -v k="$b_kb" -v c="$(awk -v u="$b_user" -v y="$b_sys" 'BEGIN { print u + y }')" \
        'BEGIN { printf "%s %s %.2f\n", w, k, c }' >>"$WORK/$s-mapsync-$t.cpu"
      awk '$1 == "write_seconds" { w = $2 } $1 == "write_cpu_seconds" { c = $2 } END { printf "%s %s\n", w, (c == "" ? "n/a" : c) }' \
        "$WORK/bare-$t.$run.out" >>"$WORK/$s-bare-$t.times"
      say "$s $t run $run: mapsync build $b_wall s ($b_kb KB), bare writer $(tail -n 1 "$WORK/$s-bare-$t.times" | cut -d' ' -f1) s"
      # The limit must write what the build wrote: the same files, the same sizes.
      [[ $s == new ]] || continue
      same_size[$t]=yes
      for m in "${maps[@]}"; do
        for f in "$m" "$m$sfx"; do
          [[ $(stat -c %s "$dir/$f") == $(stat -c %s "$WORK/bare-$t/$f") ]] || same_size[$t]="no ($f)"
        done
      done
    done
  done
done

# ---------------------------------------------------------------- stock postmap (hash)

pm_line=
if [[ $DO_POSTMAP == 1 && -d $WORK/maps-hash ]]; then
  PM=$WORK/postmap
  mkdir -p "$PM"
  private_postfix_config "$WORK/postfix"
  mapfile -t maps < <(maps_of "$WORK/maps-hash" .db)
  for m in "${maps[@]}"; do cp -p "$WORK/maps-hash/$m" "$PM/$m"; done
  : >"$WORK/postmap.sums"
  for (( run = 1; run <= RUNS; run++ )); do
    rm -f "$PM"/*.db
    : >"$WORK/postmap.run"
    for m in "${maps[@]}"; do
      tool=$POSTMAP
      [[ $m != aliases ]] || tool=$POSTALIAS
      timed "$WORK/postmap.run" "$tool" "hash:$PM/$m" >>"$WORK/postmap.log" 2>&1 ||
        { tail -n 20 "$WORK/postmap.log" >&2; die "${tool##*/} hash:$PM/$m failed"; }
    done
    awk '{ s += $1 } END { printf "%.2f\n", s }' "$WORK/postmap.run" >>"$WORK/postmap.sums"
    say "postmap run $run: $(tail -n 1 "$WORK/postmap.sums") s"
  done
  PM_TIME=$(median <"$WORK/postmap.sums")
  HASH_TIME=$(cut -d' ' -f1 "$WORK/new-mapsync-hash.times" | median)
  pm_line=$(awk -v a="$HASH_TIME" -v b="$PM_TIME" -v w="$(grep -c 'warning:' "$WORK/postmap.log" || true)" \
    'BEGIN { printf "- for reference, stock postmap/postalias hash: on the same text sources, one map after the other: %.2f s (median; mapsync hash build / postmap = %.2f; %d postmap warnings)", b, a / b, w }')
fi

# ---------------------------------------------------------------- figures

verdict() { awk -v v="$1" -v lim="$2" 'BEGIN { print (v <= lim) ? "met" : "NOT met" }'; }
# Per side and type: build and bare medians, the median of the paired ratios (run i's build
# over run i's bare writer, measured one right after the other), the CPU-time ratio, RSS.
figures() {
  local s=$1 t=$2
  FIG_MS=$(cut -d' ' -f1 "$WORK/$s-mapsync-$t.times" | median)
  FIG_BW=$(cut -d' ' -f1 "$WORK/$s-bare-$t.times" | median)
  FIG_RATIO=$(paste -d' ' "$WORK/$s-mapsync-$t.cpu" "$WORK/$s-bare-$t.times" |
    awk '$4 + 0 > 0 { printf "%.3f\n", $1 / $4 }' | { median || true; } | awk '{ printf "%.2f", $1 }')
  FIG_CPU=$(paste -d' ' "$WORK/$s-mapsync-$t.cpu" "$WORK/$s-bare-$t.times" |
    awk '$5 + 0 > 0 { printf "%.3f\n", $3 / $5 }' | { median || true; } | awk '{ printf "%.2f", $1 }')
  FIG_RSS=$(mb "$(cut -d' ' -f2 "$WORK/$s-mapsync-$t.times" | maximum)")
  FIG_RATIO=${FIG_RATIO:-n/a} FIG_CPU=${FIG_CPU:-n/a}  # n/a: a bare_writer that does not report it
  FIG_WITH_READ=$(awk -v m="$FIG_MS" -v b="$FIG_BW" -v r="$READ_TIME" 'BEGIN { if (b + r > 0) printf "%.2f", m / (b + r); else print "n/a" }')
}
READ_TIME=$(cut -d' ' -f1 "$WORK/read.times" | median)
table=$(
  printf '| type | mapsync build, median (s) | bare writer, median (s) | ratio (median of runs) | goal <= 1.15 | CPU-time ratio | build / (read floor + bare writer) | mapsync peak RSS (MB) | goal <= 300 MB | bare files same size |\n'
  printf '|---|---:|---:|---:|---|---:|---:|---:|---|---|\n'
  for t in "${TYPES[@]}"; do
    figures new "$t"
    printf '| %s | %s | %s | **%s** | %s | %s | %s | %s | %s | %s |\n' "$t" "$FIG_MS" "$FIG_BW" "$FIG_RATIO" \
      "$(verdict "$FIG_RATIO" 1.15)" "$FIG_CPU" "$FIG_WITH_READ" "$FIG_RSS" "$(verdict "$FIG_RSS" 300)" "${same_size[$t]}"
  done
  printf '\nRead floor (the stock client reading what a full build reads, see above), median of %s: **%s s** (all runs: %s)\n' \
    "$RUNS" "$READ_TIME" "$(cut -d' ' -f1 "$WORK/read.times" | paste -sd' ')"
  printf '\n| type | mapsync build, all runs (s) | bare writer, all runs (s) | bare writer peak RSS (MB, input in memory) |\n|---|---|---|---:|\n'
  for t in "${TYPES[@]}"; do
    printf '| %s | %s | %s | %s |\n' "$t" "$(cut -d' ' -f1 "$WORK/new-mapsync-$t.times" | paste -sd' ')" \
      "$(cut -d' ' -f1 "$WORK/new-bare-$t.times" | paste -sd' ')" "$(mb "$(cut -d' ' -f2 "$WORK/new-bare-$t.rss" | maximum)")"
  done
)
baseline=
if [[ ${sides[0]} == base ]]; then
  baseline=$(
    printf 'Baseline, measured in the same run (BENCH_BASELINE=%s: mapsync and bare_writer before the change), one line a type:\n\n' "$BENCH_BASELINE"
    for t in "${TYPES[@]}"; do
      figures base "$t"
      printf -- '- %s: build %s s, bare writer %s s, ratio **%s**, CPU-time ratio %s, peak RSS %s MB; all builds %s\n' "$t" \
        "$FIG_MS" "$FIG_BW" "$FIG_RATIO" "$FIG_CPU" "$FIG_RSS" "$(cut -d' ' -f1 "$WORK/base-mapsync-$t.times" | paste -sd' ')"
    done
  )
fi
entries_line=$(
  dir=$WORK/maps-${TYPES[0]}
  sep=
  while read -r m; do
    printf '%s%s %s' "$sep" "$m" "$(wc -l <"$dir/$m")"
    sep=', '
  done < <(maps_of "$dir" "$(suffix_of "${TYPES[0]}")")
)

printf '\n%s\n\n%s\n\n%s\n\n' "$table" "$baseline" "$pm_line"

# ---------------------------------------------------------------- docs/benchmarks.md

if [[ ${BENCH_NO_DOC:-0} != 1 ]]; then
  cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
  mem_gb=$(awk '/^MemTotal:/ { printf "%.1f", $2 / 1048576 }' /proc/meminfo)
  # Without /etc/postfix/main.cf postconf fails: ask with the private config (also without postmap runs).
  [[ -n ${MAIL_CONFIG:-} ]] || private_postfix_config "$WORK/postfix"
  postfix_version=$("$POSTCONF" -h mail_version 2>/dev/null || echo unknown)
  mariadb_version=$(echo 'SELECT VERSION()' | "$FIXTURE" sql "$WORK/db" -N 2>/dev/null || echo unknown)
  revision=$("$MAPSYNC" --version 2>/dev/null | head -n 1 || true)
  tree=$(git -C "$SRC" rev-parse --short HEAD 2>/dev/null || echo "unknown tree")
  [[ -z $(git -C "$SRC" status --porcelain --untracked-files=no 2>/dev/null) ]] || tree+=" + uncommitted changes"
  revision="${revision:-mapsync} ($tree)"
  command="BENCH_ADDRESSES=$N BENCH_RUNS=$RUNS${BENCH_TYPES:+ BENCH_TYPES=\"$BENCH_TYPES\"}${BENCH_SEED:+ BENCH_SEED=$BENCH_SEED}${BENCH_BASELINE:+ BENCH_BASELINE=$BENCH_BASELINE}${BENCH_POSTMAP:+ BENCH_POSTMAP=$BENCH_POSTMAP} nice -n 19 bench/bench_build.sh ${1:-build}"
  section=$(
    printf '## Build benchmark (bench/bench_build.sh)\n\n'
    printf 'Written by bench/bench_build.sh; a new run replaces this section.\n\n'
    printf -- '- date: %s\n' "$(date -u '+%Y-%m-%d %H:%M UTC')"
    printf -- '- machine: %s CPUs (nproc), %s GB memory, %s; load average at the end: %s (the machine is shared)\n' \
      "$(nproc)" "$mem_gb" "${cpu:-unknown CPU}" "$(cut -d' ' -f1-3 /proc/loadavg)"
    printf -- '- software: %s, Postfix %s, MariaDB %s (buffer pool 512M)\n' \
      "$revision" "$postfix_version" "$mariadb_version"
    # shellcheck disable=SC2016  # backquotes are Markdown
    printf -- '- command: `%s`\n' "$command"
    printf -- '- data: %s\n' "$(head -n 1 "$WORK/gen.log" | sed 's/^gen_userdb: //')"
    printf -- '- entries: %s\n' "$entries_line"
    printf -- '- load (LOAD DATA LOCAL INFILE, change_serial triggers per row): %s s\n' "$LOAD_SECONDS"
    # shellcheck disable=SC2016  # backquotes are Markdown
    printf -- '- mapsync: `mapsync build` with every map of the type (maps.default_type), from an empty\n'
    printf '  maps directory; wall time of the whole process (connect, read, render, write, publish)\n'
    printf -- '- bare writer: bench/bare_writer on the text sources that build wrote, right after it: the\n'
    printf '  same files (text source and indexed file of every map, the same bytes: sizes compared\n'
    printf '  in the last column), with mapsync'"'"'s library settings and insertion order, each file\n'
    printf '  fsynced; 2 threads, one map each at a time, largest first (a build writes at most two\n'
    printf '  outputs at a time: virtual and relay_recipients); input read into memory and sorted\n'
    printf '  into insertion order before the clock starts\n'
    printf -- '- read floor: the stock mariadb client, as mapsync'"'"'s user over TCP, `--quick --batch`, reading\n'
    printf '  in one consistent snapshot the columns and rows of a full build'"'"'s read (maps/snapshot.cpp) to\n'
    printf '  /dev/null, once per run before the builds\n'
    printf -- '- goals (issue 15): mapsync build <= 1.15 x bare writer for every type; peak RSS <= 300 MB\n\n'
    printf '%s\n' "$table"
    [[ -z $baseline ]] || printf '\n%s\n' "$baseline"
    [[ -z $pm_line ]] || printf '\n%s\n' "$pm_line"
  )
  update_doc '## Build benchmark (bench/bench_build.sh)' "$section"
fi
