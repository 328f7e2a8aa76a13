#!/usr/bin/env bash
# NAME
#   bench_fleet.sh - propagation through a fleet of three hubs, and the no-op build on a replica (issue 12)
# SUMMARY
#   bench/bench_fleet.sh [BUILD_DIR]          (default BUILD_DIR: build)
# DESCRIPTION
#   Starts the test fixtures of tests/integration/fleet_lib.sh in a private network namespace,
#   one topology after the other:
#     replication  p (primary) + r1, r2 (replicas); hub1 reads r1 then p, hub2 r2 then p, hub3 p
#     galera       g1 g2 g3; hub1 reads g1.., hub2 g2.., hub3 g3..; the change is written on g2
#   with the example campus (examples/campus.sql), and measures for each:
#   1. tight loop: every hub runs `mapsync build` back to back (three loops in parallel).
#      BENCH_ROUNDS times: one alias is committed on the primary (g2 for Galera); the clock
#      runs from the moment the commit returned until `postmap -q` of the new address answers
#      on each hub's virtual map (polled in a loop: one postmap per hub and pass).
#      Reported: per hub and for "all three", median and maximum.
#   2. scheduled builds every BENCH_PERIOD seconds (default 60): each hub builds on its own
#      schedule with a random phase (as cron on three machines would), BENCH_SCHEDULED_ROUNDS
#      commits at random moments, measured as in 1. Expected: about period/2 for one hub and
#      about 3/4 of the period until all three serve it (the latest of three uniform phases),
#      plus one build. Also printed: that expectation computed from the tight-loop figures
#      (period x 1/2 or 3/4 + the tight-loop median), which is what is reported when
#      BENCH_SCHEDULED_ROUNDS=0 (then the run takes a minute instead of ~2 x (rounds + 1) periods).
#   3. no-op cost: BENCH_NOOP_RUNS `mapsync build` runs of hub1 with nothing changed (replica r1
#      first; Galera: g1), timed one by one inside the namespace (EPOCHREALTIME around the
#      process: fork, exec, connect, read the serial, exit), median and max; hyperfine (-N)
#      as well when installed. Goal: median <= 20 ms.
#   Prints a markdown section and puts it into docs/benchmarks.md as "## Fleet propagation
#   (bench/bench_fleet.sh)" (BENCH_NO_DOC=1: leave the file alone).
#   Needs: root (network namespace), MariaDB server and client, galera-4, rsync, postfix
#   (postmap), jq, BUILD_DIR/apps/mapsync/mapsync (a build with fleet support, issue 12).
# ENVIRONMENT
#   BENCH_ROUNDS             tight-loop commits per topology (default 10)
#   BENCH_PERIOD             scheduled build period in seconds (default 60)
#   BENCH_SCHEDULED_ROUNDS   commits under the schedule per topology (default 3; 0: compute instead)
#   BENCH_NOOP_RUNS          timed no-op builds (default 30)
#   BENCH_TOPOLOGIES         "replication galera" (default) or one of them
#   BENCH_NO_DOC=1           do not update docs/benchmarks.md
#   KEEP_WS=1                keep the work directory
set -euo pipefail

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
readonly SRC
PROG=bench_fleet.sh
# shellcheck source=bench/lib.sh
source "$SRC/bench/lib.sh"

BUILD_DIR=${1:-build}
[[ -d $BUILD_DIR ]] || { echo "$PROG: $BUILD_DIR: no such build directory" >&2; exit 1; }
BUILD=$(cd "$BUILD_DIR" && pwd -P)
export MAPSYNC=${MAPSYNC:-$BUILD/apps/mapsync/mapsync}
[[ -x $MAPSYNC ]] || { echo "$PROG: $MAPSYNC missing: cmake --build $BUILD --target mapsync" >&2; exit 1; }
readonly ROUNDS=${BENCH_ROUNDS:-10} PERIOD=${BENCH_PERIOD:-60} SCHED=${BENCH_SCHEDULED_ROUNDS:-3}
readonly NOOP_RUNS=${BENCH_NOOP_RUNS:-30} TOPOLOGIES=${BENCH_TOPOLOGIES:-replication galera}
for v in ROUNDS PERIOD NOOP_RUNS; do [[ ${!v} =~ ^[1-9][0-9]*$ ]] || { echo "$PROG: BENCH_$v: not a positive number" >&2; exit 1; }; done
[[ $SCHED =~ ^[0-9]+$ ]] || { echo "$PROG: BENCH_SCHEDULED_ROUNDS: not a number" >&2; exit 1; }
[[ -n ${EPOCHREALTIME:-} ]] || { echo "$PROG: bash 5 needed (EPOCHREALTIME)" >&2; exit 1; }

# The test helpers: workspace $WS (removed at exit), private Postfix config, the fixtures.
TEST_NAME=bench_fleet
# shellcheck source=tests/integration/lib.sh
source "$SRC/tests/integration/lib.sh"
# shellcheck source=tests/integration/fleet_lib.sh
source "$SRC/tests/integration/fleet_lib.sh"
HYPERFINE=$(command -v hyperfine || true)
HUBS=(hub1 hub2 hub3)

ms() { awk -v s="$1" 'BEGIN { printf "%.0f", s * 1000 }'; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f\n", (b - a) / 1e6 }'; }

# ---------------------------------------------------------------- the hubs' build loops

# loop_start NAME MODE: hub NAME builds in the background until $WS/stop-NAME exists.
#   MODE tight: back to back. MODE P:PHASE: at start + PHASE + k*P (seconds).
loop_start() {
  local name=$1 mode=$2
  rm -f "$WS/stop-$name"
  in_ns bash -c '
    conf=$1 mode=$2 stop=$3 mapsync=$4 log=$5
    if [[ $mode == tight ]]; then
      until [[ -e $stop ]]; do "$mapsync" -c "$conf" -q build >> "$log" 2>&1 || true; done
    else
      p=${mode%%:*} phase=${mode#*:}
      next=$(( ${EPOCHREALTIME/[.,]/} + phase * 1000000 ))
      until [[ -e $stop ]]; do
        now=${EPOCHREALTIME/[.,]/}
        if (( now >= next )); then
          "$mapsync" -c "$conf" -q build >> "$log" 2>&1 || true
          next=$(( next + p * 1000000 ))
        else
          sleep 0.05
        fi
      done
    fi' _ "$WS/$name.yaml" "$mode" "$WS/stop-$name" "$MAPSYNC" "$WS/$name.loop.log" &
  echo $! > "$WS/loop-$name.pid"
}
loop_stop() {
  local name pid
  for name in "${HUBS[@]}"; do touch "$WS/stop-$name"; done
  for name in "${HUBS[@]}"; do
    [[ -f $WS/loop-$name.pid ]] || continue
    pid=$(<"$WS/loop-$name.pid")
    wait "$pid" 2>/dev/null || true
    rm -f "$WS/loop-$name.pid"
  done
}
at_exit loop_stop

# commit_and_wait WRITER ADDRESS TIMEOUT: commits a new alias on WRITER and prints the seconds
# from the commit's return until each hub serves it: "hub1 hub2 hub3 all".
commit_and_wait() {
  local writer=$1 addr=$2 limit=$3 t0 now h left=3
  declare -A seen=()
  nq "$writer" "INSERT INTO maildb.addresses (account_id, address) VALUES (1, '$addr')"
  t0=$(now_us)
  while (( left > 0 )); do
    for h in "${HUBS[@]}"; do
      [[ -z ${seen[$h]:-} ]] || continue
      if postmap -q "$addr" "hash:$WS/hub-$h/maps/virtual" > /dev/null 2>&1; then
        seen[$h]=$(secs "$t0" "$(now_us)"); left=$((left - 1))
      fi
    done
    now=$(now_us)
    (( now - t0 < limit * 1000000 )) || die "$addr not served by every hub after $limit s (seen: ${!seen[*]})"
  done
  printf '%s %s %s %s\n' "${seen[hub1]}" "${seen[hub2]}" "${seen[hub3]}" \
    "$(printf '%s\n' "${seen[@]}" | sort -g | tail -1)"
}

# col FILE N: median and max of column N as "median / max" in ms.
col() {
  local med max
  med=$(cut -d' ' -f"$2" "$1" | median); max=$(cut -d' ' -f"$2" "$1" | maximum)
  printf '%s / %s' "$(ms "$med")" "$(ms "$max")"
}

# expect_ms D N: PERIOD / D + the median of column N of the tight-loop figures, in ms (TOPO_FILE).
expect_ms() {
  local m
  m=$(cut -d' ' -f"$2" "$TOPO_FILE" | median)
  ms "$(awk -v p="$PERIOD" -v d="$1" -v m="$m" 'BEGIN { split(d, f, "/"); q = (2 in f) ? f[1] / f[2] : f[1]; print p / q + m }')"
}

# ---------------------------------------------------------------- one topology

# run_topology NAME WRITER: the three measurements; appends rows to $WS/rows.*.
run_topology() {
  local topo=$1 writer=$2 i h line
  for h in "${HUBS[@]}"; do expect_exit 0 hub "$h" build; done

  note "$topo: tight loop, $ROUNDS commits on $writer"
  for h in "${HUBS[@]}"; do loop_start "$h" tight; done
  : > "$WS/$topo.tight"
  for (( i = 1; i <= ROUNDS; i++ )); do
    line=$(commit_and_wait "$writer" "bench-tight-$i@example.edu" 60)
    echo "$line" >> "$WS/$topo.tight"
    note "  round $i: $line"
  done
  loop_stop
  TOPO_FILE=$WS/$topo.tight

  if (( SCHED > 0 )); then
    note "$topo: builds every $PERIOD s at random phases, $SCHED commits at random moments"
    for h in "${HUBS[@]}"; do loop_start "$h" "$PERIOD:$((RANDOM % PERIOD))"; done
    : > "$WS/$topo.sched"
    for (( i = 1; i <= SCHED; i++ )); do
      sleep "$((RANDOM % PERIOD)).$((RANDOM % 10))"   # a random moment in the schedule
      line=$(commit_and_wait "$writer" "bench-sched-$i@example.edu" $((2 * PERIOD + 30)))
      echo "$line" >> "$WS/$topo.sched"
      note "  round $i: $line"
    done
    loop_stop
    printf '| %s | every %s s, measured (%s commits) | %s | %s | %s | %s |\n' "$topo" "$PERIOD" "$SCHED" \
      "$(col "$WS/$topo.sched" 1)" "$(col "$WS/$topo.sched" 2)" "$(col "$WS/$topo.sched" 3)" "$(col "$WS/$topo.sched" 4)" >> "$WS/rows.prop"
  fi
  # Computed: period/2 + the hub's tight-loop median; all three: 3/4 period + the tight median.
  printf '| %s | every %s s, computed | %s | %s | %s | %s |\n' "$topo" "$PERIOD" \
    "$(expect_ms 2 1)" "$(expect_ms 2 2)" "$(expect_ms 2 3)" "$(expect_ms 4/3 4)" >> "$WS/rows.prop"
  printf '| %s | back to back (%s commits) | %s | %s | %s | %s |\n' "$topo" "$ROUNDS" \
    "$(col "$WS/$topo.tight" 1)" "$(col "$WS/$topo.tight" 2)" "$(col "$WS/$topo.tight" 3)" "$(col "$WS/$topo.tight" 4)" >> "$WS/rows.prop"

  note "$topo: $NOOP_RUNS no-op builds of hub1"
  expect_exit 0 hub hub1 build
  in_ns bash -c '
    for (( i = 0; i < $1; i++ )); do
      t0=${EPOCHREALTIME/[.,]/}
      "$2" -c "$3" -q build > /dev/null 2>&1 || { echo "build failed" >&2; exit 1; }
      t1=${EPOCHREALTIME/[.,]/}
      echo $(( t1 - t0 ))
    done' _ "$NOOP_RUNS" "$MAPSYNC" "$WS/hub1.yaml" > "$WS/$topo.noop" || die "a no-op build failed"
  local nmed nmax hf=""
  nmed=$(median < "$WS/$topo.noop"); nmax=$(maximum < "$WS/$topo.noop")
  if [[ -n $HYPERFINE ]]; then
    in_ns "$HYPERFINE" -N -w 3 -r "$NOOP_RUNS" --export-json "$WS/$topo.hf.json" \
      "$MAPSYNC -c $WS/hub1.yaml -q build" > /dev/null 2>&1 || die "hyperfine failed"
    hf=$(jq -r '.results[0] | "\(.mean * 1000 | . * 10 | round / 10) ± \(.stddev * 1000 | . * 10 | round / 10)"' "$WS/$topo.hf.json")
  fi
  printf '| %s | %s | %.1f | %.1f | %s | %s |\n' "$topo" "$(head -1 "$WS/$topo.reader")" \
    "$(awk -v u="$nmed" 'BEGIN { print u / 1000 }')" "$(awk -v u="$nmax" 'BEGIN { print u / 1000 }')" \
    "${hf:-not installed}" "$(awk -v u="$nmed" 'BEGIN { print (u <= 20000) ? "met" : "NOT met" }')" >> "$WS/rows.noop"
}

: > "$WS/rows.prop"; : > "$WS/rows.noop"
T_START=$SECONDS
for topo in $TOPOLOGIES; do
  case $topo in
    replication)
      repl_start
      fleet_db p
      hub_config hub1 tcp:127.0.0.22=replica tcp:127.0.0.21=primary > "$WS/hub1.yaml"
      hub_config hub2 tcp:127.0.0.23=replica tcp:127.0.0.21=primary > "$WS/hub2.yaml"
      hub_config hub3 tcp:127.0.0.21=primary > "$WS/hub3.yaml"
      echo "replica r1 (127.0.0.22)" > "$WS/$topo.reader"
      run_topology replication p
      for n in r2 r1 p; do node_stop "$n"; done
      ;;
    galera)
      galera_start
      fleet_db g1
      hub_config hub1 tcp:127.0.0.11 tcp:127.0.0.12 tcp:127.0.0.13 > "$WS/hub1.yaml"
      hub_config hub2 tcp:127.0.0.12 tcp:127.0.0.13 tcp:127.0.0.11 > "$WS/hub2.yaml"
      hub_config hub3 tcp:127.0.0.13 tcp:127.0.0.11 tcp:127.0.0.12 > "$WS/hub3.yaml"
      echo "Galera node g1 (127.0.0.11)" > "$WS/$topo.reader"
      run_topology galera g2
      for n in g3 g2 g1; do node_stop "$n"; done
      ;;
    *) die "BENCH_TOPOLOGIES: unknown topology $topo" ;;
  esac
  rm -rf "$WS"/hub-*
done

CPU=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
SECTION=$(cat <<EOF
## Fleet propagation (bench/bench_fleet.sh)

$(date -u +%Y-%m-%d), $(nproc) cores ($CPU), MariaDB $(mariadbd --version | awk '{ print $3 }'), galera-4
$(dpkg-query -W -f '${Version}' galera-4 2>/dev/null || echo '?'); $("$MAPSYNC" --version 2>/dev/null | head -1 || echo 'mapsync ?'); load average
at the end $(cut -d' ' -f1-3 /proc/loadavg).
All nodes and hubs on one machine (127.0.0.x in one network namespace), the example campus
(examples/campus.sql). Three hubs: on replication hub1 reads r1 then p, hub2 r2 then p, hub3 p;
on Galera each hub reads its own node first. A new alias is committed on the primary (Galera:
on g2), and the clock runs from the commit's return until \`postmap -q\` of that address
answers on the hub's virtual map (polled: one postmap per hub and pass). Figures are median / max in ms.

| topology | builds | hub1 | hub2 | hub3 | all three |
|---|---|---|---|---|---|
$(cat "$WS/rows.prop")

"Computed" is the expectation for independent schedules: a commit waits on average half a
period for one hub's next build and three quarters of a period for the last of three hubs
(uniform phases), plus the time a back-to-back build takes to serve it (the tight-loop median).
Scheduled rounds measure the same thing on real schedules, with few samples.

No-op \`mapsync build\` (nothing changed; fork, exec, connect, read the serial, exit), hub1,
$NOOP_RUNS runs timed one by one inside the namespace (ms):

| topology | reads from | median | max | hyperfine mean ± sd | goal median <= 20 ms |
|---|---|---|---|---|---|
$(cat "$WS/rows.noop")

Total run time: $((SECONDS - T_START)) s (cluster start-ups included).
EOF
)
printf '\n%s\n' "$SECTION"
if [[ ${BENCH_NO_DOC:-0} != 1 ]]; then update_doc "## Fleet propagation (bench/bench_fleet.sh)" "$SECTION"; fi
