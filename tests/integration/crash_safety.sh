#!/usr/bin/env bash
# crash_safety: mapsync build killed with SIGKILL at every point of the publish.
#
# Two databases hold generations A and B of the campus; each run publishes the other
# generation into the same directory and is killed at crash point k (the library's
# testhooks: after creating a temp file, half-way through writing it, after writing,
# after fsync, after staging, before and after each rename, after the directory fsync).
# After every kill:
#   - each published map, read whole with the stock postmap -s, is exactly generation A
#     or exactly generation B (never a mix, never empty);
#   - db5.3_verify passes on every .db;
#   - the stock postmap -q answers a key;
# and a later clean run removes the temp files left by the killed ones.
TEST_NAME=crash_safety
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
: "${MAPSYNC_TEST_DBDIR:?}"
MAPS="$WS/maps"
MAPS_LIST="virtual transport canonical relay_recipients relay_domains aliases"

write_config "$MAPSYNC_TEST_DBDIR" crash_a "$MAPS" > "$WS/a.yaml"
write_config "$MAPSYNC_TEST_DBDIR" crash_b "$MAPS" > "$WS/b.yaml"
campus_db "$MAPSYNC_TEST_DBDIR" crash_a "$WS/a.yaml"
campus_db "$MAPSYNC_TEST_DBDIR" crash_b "$WS/b.yaml"
db_root "$MAPSYNC_TEST_DBDIR" crash_b < "$TESTS_DIR/integration/campus_b.sql"

dump_all() {  # dump_all DIR PREFIX: postmap -s of every map, sorted, into PREFIX.<map>
  local m tool
  for m in $MAPS_LIST; do
    tool=postmap; [[ $m == aliases ]] && tool=postalias
    "$tool" -s "hash:$1/$m" | sort > "$2.$m" || return 1
  done
}

# Reference dumps of each generation, from clean builds elsewhere.
references() {
  local g m
  for g in a b; do
    write_config "$MAPSYNC_TEST_DBDIR" "crash_$g" "$WS/ref-$g" > "$WS/ref-$g.yaml"
    expect_exit 0 "$MAPSYNC" -c "$WS/ref-$g.yaml" build
    dump_all "$WS/ref-$g" "$WS/ref-$g"
  done
  for m in $MAPS_LIST; do
    ! cmp -s "$WS/ref-a.$m" "$WS/ref-b.$m" || die "generations A and B do not differ in $m: the test would prove nothing"
  done
}

# How many crash points does one publish pass? (Into $WS/points for the passes.)
trace() {
  local points
  expect_exit 0 "$MAPSYNC" -c "$WS/a.yaml" build
  MAPSYNC_TEST_CRASH_TRACE="$WS/trace" "$MAPSYNC" -c "$WS/b.yaml" -q build
  points=$(wc -l < "$WS/trace")
  (( points >= 50 )) || die "only $points crash points traced"
  note "$points crash points per publish"
  echo "$points" > "$WS/points"
  echo b > "$WS/gen"   # the generation published last
  echo 0 > "$WS/runs"  # runs killed so far
}

# Pass 1 rewrites every map (--full), so every crash point is reached; pass 2 runs as
# cron does, where a run after a kill rewrites only what differs from the published maps.
# The generation last published and the count of killed runs carry over in $WS/gen, $WS/runs.
crash_pass() {
  local pass=$1 points gen runs k rc m full=()
  points=$(<"$WS/points") gen=$(<"$WS/gen") runs=$(<"$WS/runs")
  [[ $pass == 1 ]] && full=(--full)
  for ((k = 1; k <= points; k++)); do
    gen=$([[ $gen == a ]] && echo b || echo a)
    rc=0
    MAPSYNC_TEST_CRASH_AT=$k "$MAPSYNC" -c "$WS/$gen.yaml" -q build "${full[@]}" >"$WS/out" 2>&1 || rc=$?
    # A run after a kill may have less to write (maps already in the target generation
    # are left alone) and so finish before reaching point k: that is success, not a kill.
    [[ $rc == 137 || ($rc == 0 && $pass != 1) ]] || { cat "$WS/out"; die "run (crash point $k, gen $gen, pass $pass) exited $rc"; }
    [[ $rc == 137 ]] && runs=$((runs + 1))
    dump_all "$MAPS" "$WS/now" || die "crash point $k: a map cannot be read by postmap -s"
    for m in $MAPS_LIST; do
      cmp -s "$WS/now.$m" "$WS/ref-a.$m" || cmp -s "$WS/now.$m" "$WS/ref-b.$m" ||
        { diff "$WS/ref-a.$m" "$WS/now.$m" | head; die "crash point $k ($(sed -n "${k}p" "$WS/trace")): $m is neither generation A nor B"; }
      db5.3_verify -q "$MAPS/$m.db" || die "crash point $k: db5.3_verify fails on $m.db"
    done
    [[ -n "$(postmap -q postmaster@example.edu "hash:$MAPS/virtual")" ]] || die "crash point $k: lookup failed"
  done
  echo "$gen" > "$WS/gen"
  echo "$runs" > "$WS/runs"
  # After a full pass, a clean run completes the publish and sweeps the temp files.
  expect_exit 0 "$MAPSYNC" -c "$WS/$gen.yaml" build
  no_temp_files "$MAPS"
  dump_all "$MAPS" "$WS/now"
  for m in $MAPS_LIST; do cmp -s "$WS/now.$m" "$WS/ref-$gen.$m" || die "clean run after pass $pass: $m is not generation $gen"; done
}

killed_enough() {
  local runs
  runs=$(<"$WS/runs")
  (( runs >= 100 )) || die "only $runs killed runs"
  note "$runs runs killed with SIGKILL, $(<"$WS/points") crash points in a full publish"
}

step references references
step trace trace
step --needs references,trace pass_1 crash_pass 1
step --needs pass_1 pass_2 crash_pass 2
step --needs pass_1,pass_2 killed_runs killed_enough
finish
