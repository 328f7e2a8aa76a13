#!/usr/bin/env bash
# concurrent_readers (issue 3): while stock `postmap -q -` loops read a map, 200 publishes
# happen; every batch of answers comes from one complete generation.
#
# Two databases A and B hold the example campus plus 50 forwarding accounts and a marker
# account whose forward targets say gen-a in A and gen-b in B: 102 keys of the virtual
# map (each account's address in example.edu and in alias.edu) flip together, the other looked-up keys are the same in both. For each map type (hash,
# btree, lmdb, cdb) 200 publishes alternate A and B into one directory: odd ones with
# `build --full` (every file written anew), even ones as cron runs them (hash and btree:
# a copy of the published file patched with the delta). Meanwhile 3 reader loops run
# `postmap -q - TYPE:MAPS/virtual < keys` until the publisher is done; postmap opens the
# map once per run, so one run is one batch, and each batch must be exactly A's answers
# or exactly B's (compared with the answers from reference builds): never a mix, never a
# missing key. Each type must check at least 200 batches and see both generations.
# No sleeps: the readers report ready through a FIFO, and stop at a flag file.
TEST_NAME=concurrent_readers
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
: "${MAPSYNC_TEST_DBDIR:?}"
DBDIR=$MAPSYNC_TEST_DBDIR
export LC_ALL=C
PUBLISHES=${CONCURRENT_PUBLISHES:-200}
READERS=3
MIN_BATCHES=200

config() {  # config DB DIR TYPE > file: gates open (every publish changes 102 of 154 virtual keys)
  write_config "$DBDIR" "$1" "$2" "$3" | awk '
    { print }
    /^maps:$/ { print "  gates:\n    max_changed_percent: 100\n    max_removed_percent: 100" }'
}

for g in a b; do
  config "cr_$g" "$WS/ref-$g" hash > "$WS/ref-$g.yaml"
  campus_db "$DBDIR" "cr_$g" "$WS/ref-$g.yaml"
  db_root "$DBDIR" "cr_$g" <<SQL
INSERT INTO accounts (id, uid, primary_address, status, delivery, source)
  SELECT 100 + seq, CONCAT('flip', seq), CONCAT('flip.', seq, '@example.edu'), 'active', 'forward', 'manual' FROM seq_1_to_50;
INSERT INTO account_forwards (account_id, target)
  SELECT 100 + seq, CONCAT('flip', seq, '@gen-$g.example.net') FROM seq_1_to_50;
INSERT INTO accounts (id, uid, primary_address, status, delivery, source)
  VALUES (200, 'marker', 'marker@example.edu', 'active', 'forward', 'manual');
INSERT INTO account_forwards (account_id, target) VALUES (200, 'marker@gen-$g.example.org');
SQL
done
# The change serials must differ, or a plain build would rightly find "nothing changed"
# by serial when the other database is one with the same serial.
db_root "$DBDIR" cr_b <<< "UPDATE domains SET note = 'generation B' WHERE id = 1;"
serial() { db_root "$DBDIR" "$1" <<< "SELECT serial FROM change_serial" | tail -1; }
[[ $(serial cr_a) != "$(serial cr_b)" ]] || die "databases A and B have the same change serial"

# The keys: the flipping ones, the marker, and some that are the same in A and B.
{
  for i in $(seq 1 50); do
    printf 'flip.%s@example.edu\nflip.%s@alias.edu\n' "$i" "$i"
  done
  printf '%s\n' marker@example.edu marker@alias.edu john.doe@example.edu alice@alias.edu \
    staff-all@example.edu all-students@example.edu chess@example.edu postmaster@example.edu
} > "$WS/keys"
nkeys=$(wc -l < "$WS/keys")

suffix_of() { case $1 in hash|btree) echo .db ;; lmdb) echo .lmdb ;; cdb) echo .cdb ;; esac; }

# reader ID TYPE DIR: postmap -q - batches until $WS/stop exists; each batch must equal
# $WS/want-a.TYPE or $WS/want-b.TYPE. Writes "batches a b spanning bad" to $WS/count.ID.
reader() {
  local id=$1 type=$2 dir=$3 n=0 a=0 b=0 span=0 bad=0 before after out file
  out="$WS/batch.$id"
  file="$dir/virtual$(suffix_of "$type")"
  while [[ ! -e $WS/stop ]]; do
    before=$(stat -c %i "$file")
    postmap -q - "$type:$dir/virtual" < "$WS/keys" > "$out" 2> "$out.err" || true
    after=$(stat -c %i "$file")
    n=$((n + 1))
    [[ $before == "$after" ]] || span=$((span + 1))
    if cmp -s "$out" "$WS/want-a.$type"; then a=$((a + 1))
    elif cmp -s "$out" "$WS/want-b.$type"; then b=$((b + 1))
    else
      bad=$((bad + 1))
      cp "$out" "$WS/bad.$id.$bad"; cp "$out.err" "$WS/bad.$id.$bad.err"
    fi
    if (( n == 1 )); then echo "$id" > "$WS/ready"; fi
  done
  echo "$n $a $b $span $bad" > "$WS/count.$id"
}

# One step per map type: each has its own map directory and readers.
readers_type() {
  local type=$1
  note "type $type: $PUBLISHES publishes, $READERS readers"
  t0=$SECONDS
  # What one complete generation answers, from clean builds elsewhere.
  for g in a b; do
    config "cr_$g" "$WS/ref-$type-$g" "$type" > "$WS/ref-$type-$g.yaml"
    expect_exit 0 "$MAPSYNC" -c "$WS/ref-$type-$g.yaml" build
    postmap -q - "$type:$WS/ref-$type-$g/virtual" < "$WS/keys" > "$WS/want-$g.$type" || true
    [[ $(wc -l < "$WS/want-$g.$type") == "$nkeys" ]] || die "$type: generation $g answers $(wc -l < "$WS/want-$g.$type") of $nkeys keys"
  done
  [[ $(grep -c 'gen-a' "$WS/want-a.$type") == 102 && $(grep -c 'gen-b' "$WS/want-b.$type") == 102 ]] \
    || die "$type: the 102 flipping keys do not say their generation"
  diff <(grep -v gen- "$WS/want-a.$type") <(grep -v gen- "$WS/want-b.$type") >/dev/null \
    || die "$type: the stable keys differ between A and B"

  MAPS="$WS/maps-$type"
  config cr_a "$MAPS" "$type" > "$WS/a.yaml"
  config cr_b "$MAPS" "$type" > "$WS/b.yaml"
  expect_exit 0 "$MAPSYNC" -c "$WS/a.yaml" build

  rm -f "$WS/stop" "$WS/ready" "$WS"/count.* "$WS"/bad.*
  mkfifo "$WS/ready"
  exec 3<>"$WS/ready"   # read-write: neither side blocks on open
  pids=()
  # A check that fails while the readers run must not leave them looping.
  trap 'touch "$WS/stop"' EXIT
  for ((r = 1; r <= READERS; r++)); do
    reader "$r" "$type" "$MAPS" &
    pids+=($!)
  done
  for ((r = 1; r <= READERS; r++)); do
    read -r -t 120 -u 3 _ || { touch "$WS/stop"; die "$type: the readers did not start within 120 s"; }
  done

  patched=0 failed=""
  for ((i = 1; i <= PUBLISHES; i++)); do
    g=a; (( i % 2 )) && g=b   # A is published; odd publishes bring B
    full=(); (( i % 2 )) && full=(--full)
    rc=0
    "$MAPSYNC" -c "$WS/$g.yaml" -v build "${full[@]}" > "$WS/pub.out" 2>&1 || rc=$?
    if (( rc != 0 )); then failed="publish $i ($g) exited $rc: $(tail -3 "$WS/pub.out")"; break; fi
    if ! grep -q "generation $((i + 1)): " "$WS/pub.out"; then failed="publish $i ($g) did not publish generation $((i + 1)): $(tail -2 "$WS/pub.out")"; break; fi
    grep -q 'debug: write virtual (text and [a-z]*, patched with' "$WS/pub.out" && patched=$((patched + 1))
  done
  touch "$WS/stop"
  for p in "${pids[@]}"; do wait "$p" || failed="${failed:-a reader failed}"; done
  exec 3<&-
  [[ -z $failed ]] || die "$type: $failed"

  total=0 ta=0 tb=0 tspan=0 tbad=0
  for ((r = 1; r <= READERS; r++)); do
    read -r n a b span bad < "$WS/count.$r"
    total=$((total + n)); ta=$((ta + a)); tb=$((tb + b)); tspan=$((tspan + span)); tbad=$((tbad + bad))
  done
  if (( tbad )); then
    first="$WS/bad.1.1"; [[ -e $first ]] || first=$(find "$WS" -maxdepth 1 -name 'bad.*' ! -name '*.err' | head -1)
    echo "first bad batch ($first), against generation A:" >&2
    diff "$WS/want-a.$type" "$first" | head -20 >&2
    cat "$first.err" >&2
    die "$type: $tbad of $total batches were neither all generation A nor all generation B"
  fi
  (( total >= MIN_BATCHES )) || die "$type: only $total batches checked (want at least $MIN_BATCHES)"
  (( ta > 0 && tb > 0 )) || die "$type: the readers saw only one generation (A $ta, B $tb)"
  # The published map must be the last generation (B when PUBLISHES is odd, else A).
  postmap -q - "$type:$MAPS/virtual" < "$WS/keys" > "$WS/final"
  last=a; (( PUBLISHES % 2 )) && last=b
  cmp -s "$WS/final" "$WS/want-$last.$type" || die "$type: after the last publish the map is not generation $last"
  no_temp_files "$MAPS"
  line="$type: $PUBLISHES publishes ($patched patched), $total batches checked ($ta A, $tb B, $tspan across a rename), $((SECONDS - t0)) s"
  note "$line"
  echo "$line" >> "$WS/summary"
}

for type in hash btree lmdb cdb; do
  step "$type" readers_type "$type"
done
[[ ! -s $WS/summary ]] || cat "$WS/summary"
finish
