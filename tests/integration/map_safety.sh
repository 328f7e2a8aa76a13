#!/usr/bin/env bash
# map_safety: what a postmaster relies on before and after a publish (issue 3), each part
# in a database of its own with crafted rows, against the real MariaDB and the stock
# postmap:
#  1. plan/apply cycle: `plan --check` exits 1 before anything is published (and prints
#     the diff), `build` publishes, `plan --check` exits 0, a second `build` touches no
#     file (inode and mtime of every file kept, "nothing changed"); a change in the
#     database makes `plan --check` exit 1 with exactly the added/removed/changed keys
#     (human output and --json); `mapsync diff A B` exits 1/0; plan publishes nothing.
#  2. only changed maps are rewritten: a change that touches virtual/relay_recipients
#     leaves the other maps' files (inode, mtime) alone.
#  3. change gates: max_removed, max_removed_percent, max_changed, max_changed_percent,
#     min_entries and "would be empty where entries were published" each trip with
#     crafted rows: exit 65, the message names map, gate and numbers, the published
#     files are byte-identical (sha256, inode, mtime); `build --force` then publishes
#     and logs the override. Metrics textfile (entries, gates tripped, exit status, last
#     success kept by a refused run; generation and serial still the published ones) and
#     `status` / `status --json` (generation, serial, entries and digest per map).
#  4. validation: `mapsync check` exits 65 on an alias loop and on a key defined twice
#     (messages name the rows), 0 with the warnings counted otherwise; nothing published.
#  5. generations and rollback: maps.generations 2 keeps 2; `rollback` restores the
#     previous generation exactly (postmap -s), as new files; `build` then exits 69
#     (held) and `build --release` publishes the database again.
#  6. incremental publish: 10 addresses changed among 5000: the patched hash (and btree)
#     file answers exactly as a `build --full` elsewhere, db5.3_verify passes, and -v
#     says the patch path was taken.
#  7. examples/ci/mapsync-plan.sh: a change file that adds an address exits 1 and the
#     diff file shows it; an empty change exits 0; broken SQL exits 65 (not 1); a key
#     defined twice exits 65 naming the rows; a change past a gate says so; USE is
#     refused; the real database and the published maps are never touched.
# Each part runs as named steps (lib.sh); a step that builds on another's database or
# files names it with --needs. The human output (the diff, status) is checked as text,
# the --json output with jq.
TEST_NAME=map_safety
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
: "${MAPSYNC_TEST_DBDIR:?}"
DBDIR=$MAPSYNC_TEST_DBDIR
export LC_ALL=C
MAPS_LIST="transport canonical relay_domains aliases virtual relay_recipients"

sql() { db_root "$DBDIR" "$1"; }  # sql DB <<< "statements"

# make_config DB MAPDIR [MAPS_YAML [TOP_YAML]] > file: write_config's config with extra
# lines under maps: (indented two spaces already) and extra top-level sections.
make_config() {
  local db=$1 dir=$2 maps_yaml=${3:-} top_yaml=${4:-}
  write_config "$DBDIR" "$db" "$dir" | awk -v extra="$maps_yaml" '
    { print }
    /^maps:$/ && extra != "" { print extra }'
  if [[ -n $top_yaml ]]; then printf '%s\n' "$top_yaml"; fi
}

# Gates that never trip, so that each case below sets exactly one.
OPEN_GATES='  gates:
    max_removed_percent: 100
    max_changed_percent: 100'

# stamp DIR: name, inode, size, mtime (ns) and sha256 of every file a publish may touch
# (the lock file, rewritten with the pid by every run, aside), and the stored generations.
stamp() {
  ( cd "$1" || exit 1
    find . -maxdepth 1 -type f ! -name .mapsync.lock -printf '%f %i %s %T@\n' | sort
    find . -maxdepth 1 -type f ! -name .mapsync.lock -print0 | sort -z | xargs -0 -r sha256sum
    if [[ -d .generations ]]; then find .generations -printf '%P %y %i %s %T@\n' | sort; fi )
}
# The (inode, mtime) of one map's two files.
map_stamp() { ( cd "$1" && stat -c '%n %i %y' "$2" "$2.db" ); }

tool_of() { [[ $1 == aliases ]] && echo postalias || echo postmap; }
# dump_map TYPE DIR MAP: every entry Postfix reads, "key<TAB>value", sorted bytewise.
dump_map() {
  local tool
  tool=$(tool_of "$3")
  "$tool" -s "$1:$2/$3" | sed 's/^\([^\t]*\):\t/\1\t/' | awk -F'\t' '!($1 == "@" && $2 == "@")' | sort
}
dump_all() {  # dump_all DIR PREFIX
  local m
  for m in $MAPS_LIST; do dump_map hash "$1" "$m" > "$2.$m"; done
}
entries() { dump_map hash "$1" "$2" | wc -l; }

# run_split CODE STDOUT CMD...: like expect_exit, stdout apart (log in $WS/out).
run_split() {
  local want=$1 so=$2; shift 2
  local got=0
  "$@" >"$so" 2>"$WS/out" || got=$?
  if [[ $got != "$want" ]]; then
    cat "$so" "$WS/out" >&2
    die "expected exit $want, got $got: $*"
  fi
}
has_line() {  # has_line FILE LINE: FILE holds LINE exactly
  grep -Fxq -- "$2" "$1" || { cat "$1" >&2; die "$1 lacks the line: $2"; }
}
lacks() {
  if grep -Fq -- "$2" "$1"; then cat "$1" >&2; die "$1 must not mention: $2"; fi
}
pct() { awk -v n="$1" -v o="$2" 'BEGIN { printf "%.1f%%", 100 * n / o }'; }

# ------------------------------------------------------------------------------------
step_plan_cycle() {
  note "1. plan / build / plan / build: the cycle"
  MAPS="$WS/plan-maps"
  make_config ms_plan "$MAPS" > "$WS/plan.yaml"
  campus_db "$DBDIR" ms_plan "$WS/plan.yaml"
  M=("$MAPSYNC" -c "$WS/plan.yaml")

  run_split 1 "$WS/plan1" "${M[@]}" plan --check
  expect_output "plan: a build would change the published maps"
  has_line "$WS/plan1" "--- virtual"
  has_line "$WS/plan1" "  (no published file yet)"
  has_line "$WS/plan1" "+ john.doe@example.edu	jdoe@example.edu"
  has_line "$WS/plan1" "+ dept.example.edu	smtp:[mx.dept.example.edu]"
  has_line "$WS/plan1" "+ postmaster	root"
  n_virtual=$(grep -c '^+ [^ ]*@[^ ]*	' <(sed -n '/^--- virtual$/,/^--- /p' "$WS/plan1"))
  has_line "$WS/plan1" "virtual: +$n_virtual -0 ~0 (0 -> $n_virtual entries)"
  for m in $MAPS_LIST; do
    if [[ -e $MAPS/$m.db || -e $MAPS/$m ]]; then die "plan published $m"; fi
  done
  [[ ! -e $MAPS/.mapsync-state.json ]] && ! compgen -G "$MAPS/.plan*" >/dev/null || die "plan left a state file or its staging directory in $MAPS"

  expect_exit 0 "${M[@]}" build
  expect_output "generation 1: serial"
  [[ $(entries "$MAPS" virtual) == "$n_virtual" ]] || die "build published $(entries "$MAPS" virtual) virtual entries, the plan said $n_virtual"
  run_split 0 "$WS/plan2" "${M[@]}" plan --check
  expect_output "plan: the published maps are up to date"
  has_line "$WS/plan2" "virtual: +0 -0 ~0 ($n_virtual -> $n_virtual entries)"
  lacks "$WS/plan2" "--- "

  stamp "$MAPS" > "$WS/stamp.before"
  expect_exit 0 "${M[@]}" build
  expect_output "nothing changed (serial"
  stamp "$MAPS" > "$WS/stamp.after"
  diff -u "$WS/stamp.before" "$WS/stamp.after" >&2 || die "a build with nothing to do touched files"
  run_split 0 "$WS/plan3" "${M[@]}" plan --check
  stamp "$MAPS" > "$WS/stamp.after"
  diff -u "$WS/stamp.before" "$WS/stamp.after" >&2 || die "plan touched published files"

  echo "$n_virtual" > "$WS/n_virtual"   # for the next steps
}
step plan_cycle step_plan_cycle

step_plan_change() {
  MAPS="$WS/plan-maps"
  M=("$MAPSYNC" -c "$WS/plan.yaml")
  n_virtual=$(<"$WS/n_virtual")
  note "   a change: one address added, one removed, one forward changed"
  # Every address of ours is a key in example.edu and in the alias domain alias.edu.
  sql ms_plan <<'SQL'
INSERT INTO addresses (account_id, address, kind) VALUES (2, 'a.smith@example.edu', 'alias');
DELETE FROM addresses WHERE address = 'johnny@example.edu';
UPDATE account_forwards SET target = 'ed@emeritus.example.org' WHERE account_id = 7;
SQL
  run_split 1 "$WS/plan4" "${M[@]}" plan --check
  expect_output "plan: a build would change the published maps"
  for l in "--- virtual" \
           "+ a.smith@example.edu	asmith@example.edu" "+ a.smith@alias.edu	asmith@example.edu" \
           "- johnny@example.edu	jdoe@example.edu" "- johnny@alias.edu	jdoe@example.edu" \
           "~ ed.meritus@example.edu	ed@retired.example.org -> ed@emeritus.example.org" \
           "~ ed.meritus@alias.edu	ed@retired.example.org -> ed@emeritus.example.org" \
           "--- relay_recipients" "+ a.smith@example.edu	OK" "- johnny@alias.edu	OK" \
           "virtual: +2 -2 ~2 ($n_virtual -> $n_virtual entries)" \
           "transport: +0 -0 ~0 ($(entries "$MAPS" transport) -> $(entries "$MAPS" transport) entries)"; do
    has_line "$WS/plan4" "$l"
  done
  # Exactly these lines: 6 for virtual, 4 for relay_recipients, nothing for the others.
  [[ $(grep -c '^[-+~] ' "$WS/plan4") == 10 ]] || { cat "$WS/plan4" >&2; die "plan shows other changes than the 10 expected"; }
  for m in transport canonical relay_domains aliases; do lacks "$WS/plan4" "--- $m"; done
  # Sorted by key within a map: a.smith@alias.edu < a.smith@example.edu < ed.meritus... < johnny...
  sed -n '/^--- virtual$/,/^--- /p' "$WS/plan4" | grep '^[-+~] ' | cut -c3- | cut -f1 > "$WS/plan4.keys"
  sort -c "$WS/plan4.keys" 2>/dev/null || { cat "$WS/plan4.keys" >&2; die "plan lines are not sorted by key"; }

  expect_json 1 "${M[@]}" plan --check --json
  cp "$WS/json" "$WS/plan4.json"
  json_check "plan --json: not one diff for each of the six maps" '[.maps[].map] | sort == ["aliases", "canonical", "relay_domains", "relay_recipients", "transport", "virtual"]'
  json_check "plan --json: virtual's counts" \
    '.maps[] | select(.map == "virtual") | .old_exists and .new_exists and .old_entries == $n and .new_entries == $n' --argjson n "$n_virtual"
  json_check "plan --json: virtual's added, removed and changed keys" '.maps[] | select(.map == "virtual") |
    .added == [{key: "a.smith@alias.edu", value: "asmith@example.edu"}, {key: "a.smith@example.edu", value: "asmith@example.edu"}]
    and .removed == [{key: "johnny@alias.edu", value: "jdoe@example.edu"}, {key: "johnny@example.edu", value: "jdoe@example.edu"}]
    and .changed == [{key: "ed.meritus@alias.edu", old: "ed@retired.example.org", new: "ed@emeritus.example.org"},
                     {key: "ed.meritus@example.edu", old: "ed@retired.example.org", new: "ed@emeritus.example.org"}]'
  json_check "plan --json: relay_recipients' keys" '.maps[] | select(.map == "relay_recipients") |
    [.added[].key] == ["a.smith@alias.edu", "a.smith@example.edu"]
    and [.removed[].key] == ["johnny@alias.edu", "johnny@example.edu"] and .changed == []'
  json_check "plan --json: a change in a map that did not change" \
    'all(.maps[] | select(.map | IN("transport", "canonical", "relay_domains", "aliases"));
         .added == [] and .removed == [] and .changed == [] and .old_entries == .new_entries and .old_entries > 0)'
}
step --needs plan_cycle plan_change step_plan_change

step_diff_dirs() {
  MAPS="$WS/plan-maps"
  M=("$MAPSYNC" -c "$WS/plan.yaml")
  note "   mapsync diff between directories"
  cp -a "$MAPS" "$WS/copy-a"
  run_split 0 "$WS/diff0" "${M[@]}" diff "$MAPS" "$WS/copy-a"
  lacks "$WS/diff0" "--- "
  run_split 0 "$WS/stage.out" "${M[@]}" plan --staging "$WS/staged"
  [[ -f $WS/staged/virtual.db ]] || die "plan --staging did not keep its staging directory"
  run_split 1 "$WS/diff1" "${M[@]}" diff "$MAPS" "$WS/staged"
  cmp -s <(grep -v '^  ' "$WS/diff1") <(grep -v '^  ' "$WS/plan4") || { diff -u "$WS/plan4" "$WS/diff1" >&2; die "diff of the staged maps differs from the plan"; }
  run_split 1 "$WS/diff2" "${M[@]}" diff --map transport --map virtual "$WS/staged" "$MAPS"
  has_line "$WS/diff2" "+ johnny@example.edu	jdoe@example.edu"   # the other direction
  has_line "$WS/diff2" "~ ed.meritus@example.edu	ed@emeritus.example.org -> ed@retired.example.org"
  lacks "$WS/diff2" "relay_recipients:"
  expect_json 1 "${M[@]}" diff --json --map virtual "$MAPS" "$WS/staged"
  json_check "diff --json --map virtual" '[.maps[].map] == ["virtual"] and (.maps[0].added | length) == 2'
  stamp "$MAPS" > "$WS/stamp.after"
  diff -u "$WS/stamp.before" "$WS/stamp.after" >&2 || die "plan/diff touched published files"
}
step --needs plan_change diff_dirs step_diff_dirs

# ------------------------------------------------------------------------------------
step_only_changed() {
  MAPS="$WS/plan-maps"
  M=("$MAPSYNC" -c "$WS/plan.yaml")
  n_virtual=$(<"$WS/n_virtual")
  note "2. only the changed maps are rewritten"
  for m in $MAPS_LIST; do map_stamp "$MAPS" "$m" > "$WS/ms.$m"; done
  expect_exit 0 "${M[@]}" build
  expect_output "generation 2: "
  expect_output "written: virtual=$n_virtual relay_recipients="
  expect_output "; unchanged: transport=$(entries "$MAPS" transport) canonical=$(entries "$MAPS" canonical) relay_domains=$(entries "$MAPS" relay_domains) aliases=$(entries "$MAPS" aliases)$"
  for m in transport canonical relay_domains aliases; do
    map_stamp "$MAPS" "$m" | cmp -s - "$WS/ms.$m" || die "$m was rewritten, but nothing in it changed"
  done
  for m in virtual relay_recipients; do
    map_stamp "$MAPS" "$m" | cmp -s - "$WS/ms.$m" && die "$m was not rewritten"
  done
  [[ $(postmap -q a.smith@alias.edu "hash:$MAPS/virtual") == asmith@example.edu ]] || die "the change was not published"
  if postmap -q johnny@example.edu "hash:$MAPS/relay_recipients" >/dev/null; then die "johnny@ is still accepted"; fi
  expect_exit 0 "${M[@]}" plan --check
  no_temp_files "$MAPS"
}
step --needs plan_change only_changed step_only_changed

# ------------------------------------------------------------------------------------
# Section 3's map directory and metrics file, and its helpers: each gate is a step.
GATE_MAPS="$WS/gate-maps"
PROM="$WS/metrics/mapsync.prom"
TOP="metrics:
  textfile: $PROM"
metric() {  # metric NAME: its value in the textfile
  local v
  v=$(awk -v n="$1" '$1 == n { print $2 }' "$PROM")
  [[ -n $v ]] || { cat "$PROM" >&2; die "metric $1 missing from $PROM"; }
  printf '%s\n' "$v"
}

# trip CASE CONFIG_GATES SQL MESSAGE: the change trips exactly the gate named in MESSAGE;
# nothing published; then --force publishes it.
trip() {
  local name=$1 gates=$2 change=$3 message=$4 extra_top=${5:-}
  note "   gate $name"
  make_config ms_gates "$MAPS" "$OPEN_GATES${gates:+
$gates}" "$TOP$extra_top" > "$WS/gate-$name.yaml"
  # The config changed (its digest is in the state file): this run reads everything and
  # rewrites nothing, since no map's content changed.
  expect_exit 0 "$MAPSYNC" -c "$WS/gate-$name.yaml" build
  lacks "$WS/out" "written:"
  local success generation serial
  success=$(metric mapsync_last_success_timestamp_seconds)
  generation=$(metric mapsync_generation)
  serial=$(metric mapsync_database_serial)
  dump_all "$MAPS" "$WS/before"
  stamp "$MAPS" > "$WS/stamp.before"
  sql ms_gates <<< "$change"
  expect_exit 65 "$MAPSYNC" -c "$WS/gate-$name.yaml" build
  expect_output "change gates tripped, nothing published"
  grep -Fq -- "$message" "$WS/out" || { cat "$WS/out" >&2; die "gate $name: the message does not say: $message"; }
  [[ $(grep -c 'more than maps\.\|fewer than maps\.\|would be empty where' "$WS/out") == 1 ]] || { cat "$WS/out" >&2; die "gate $name: more than one gate tripped"; }
  stamp "$MAPS" > "$WS/stamp.after"
  diff -u "$WS/stamp.before" "$WS/stamp.after" >&2 || die "gate $name: published files changed"
  no_temp_files "$MAPS"
  [[ $(metric mapsync_gates_tripped) == 1 ]] || die "gate $name: metrics mapsync_gates_tripped is not 1"
  [[ $(metric mapsync_last_exit_status) == 65 ]] || die "gate $name: metrics mapsync_last_exit_status is not 65"
  [[ $(metric mapsync_last_success_timestamp_seconds) == "$success" ]] || die "gate $name: the last success time moved on a failed run"
  # "Published generation." and "Database change serial the maps reflect.": nothing was
  # published, so both stay what they were (checked once: the first gate).
  [[ $name != max_removed ]] || [[ $(metric mapsync_generation) == "$generation" ]] \
    || soft_fail "gate $name: metrics mapsync_generation is $(metric mapsync_generation) after a refused publish; generation $generation is still published"
  [[ $name != max_removed ]] || [[ $(metric mapsync_database_serial) == "$serial" ]] \
    || soft_fail "gate $name: metrics mapsync_database_serial is $(metric mapsync_database_serial) after a refused publish; the maps still reflect serial $serial"
  # Again: still refused (the override is once, by hand).
  expect_exit 65 "$MAPSYNC" -c "$WS/gate-$name.yaml" build
  expect_exit 0 "$MAPSYNC" -c "$WS/gate-$name.yaml" build --force
  expect_output "change gates overridden by --force:"
  grep -Fq -- "$message" "$WS/out" || { cat "$WS/out" >&2; die "gate $name: --force does not log the gate it overrides"; }
  [[ $(metric mapsync_last_exit_status) == 0 ]] || die "gate $name: exit status metric after --force"
  [[ $(metric mapsync_last_success_timestamp_seconds) != "$success" ]] || die "gate $name: no new success time after --force"
  dump_all "$MAPS" "$WS/after"
  expect_exit 0 "$MAPSYNC" -c "$WS/gate-$name.yaml" build
  expect_output "nothing changed"
}
# counts MAP: "removed changed old" between $WS/before.MAP and $WS/after.MAP.
counts() {
  local removed changed
  removed=$(join -t $'\t' -v1 <(cut -f1 "$WS/before.$1") <(cut -f1 "$WS/after.$1") | wc -l)
  changed=$(join -t $'\t' "$WS/before.$1" "$WS/after.$1" | awk -F'\t' '$2 != $3' | wc -l)
  echo "$removed $changed $(wc -l < "$WS/before.$1")"
}

step_gates_setup() {
  note "3. change gates, status and metrics"
  MAPS=$GATE_MAPS
  mkdir -p "$WS/metrics"
  make_config ms_gates "$MAPS" "$OPEN_GATES" "$TOP" > "$WS/gates.yaml"
  campus_db "$DBDIR" ms_gates "$WS/gates.yaml"
  # 40 more addresses of asmith: each one is a key in example.edu and in alias.edu.
  sql ms_gates <<'SQL'
INSERT INTO addresses (account_id, address, kind)
  SELECT 2, CONCAT('gate-', LPAD(seq, 2, '0'), '@example.edu'), 'alias' FROM seq_1_to_40;
SQL
  expect_exit 0 "$MAPSYNC" -c "$WS/gates.yaml" build
  expect_output "generation 1: "
  n_virtual=$(entries "$MAPS" virtual)
  serial=$(sql ms_gates <<< "SELECT serial FROM change_serial" | tail -1)
  [[ $(metric 'mapsync_map_entries{map="virtual"}') == "$n_virtual" ]] || die "metrics: virtual entries, want $n_virtual"
  [[ $(metric 'mapsync_map_entries{map="relay_recipients"}') == "$(entries "$MAPS" relay_recipients)" ]] || die "metrics: relay_recipients entries"
  [[ $(metric mapsync_last_exit_status) == 0 && $(metric mapsync_gates_tripped) == 0 ]] || die "metrics after a good run"
  [[ $(metric mapsync_generation) == 1 && $(metric mapsync_database_serial) == "$serial" ]] || die "metrics: generation/serial"
  metric mapsync_build_duration_seconds >/dev/null
  echo "$serial" > "$WS/gate-serial"
}
step gates_setup step_gates_setup

step_status() {
  MAPS=$GATE_MAPS
  serial=$(<"$WS/gate-serial")
  note "   status and status --json"
  expect_exit 0 "$MAPSYNC" -c "$WS/gates.yaml" status
  expect_output "^generation:   1$"
  expect_output "^serial:       $serial$"
  for m in $MAPS_LIST; do
    digest=$(dump_map hash "$MAPS" "$m" | sha256sum | cut -c1-64)
    expect_output "^  $m: $(entries "$MAPS" "$m") entries, generation 1, sha256 ${digest:0:16}$"
  done
  expect_json 0 "$MAPSYNC" -c "$WS/gates.yaml" status --json
  json_check "status --json: generation, serial, held, times" \
    '.generation == 1 and .serial == $serial and (.held | not) and .published_at > 0 and .duration_seconds > 0' --argjson serial "$serial"
  # The digest is the sha256 of the sorted "key TAB value" lines Postfix reads.
  for m in $MAPS_LIST; do
    json_check "status --json: entries or digest of $m" '.maps[] | select(.name == $m) | .entries == $n and .digest == $d' \
      --arg m "$m" --argjson n "$(entries "$MAPS" "$m")" --arg d "$(dump_map hash "$MAPS" "$m" | sha256sum | cut -c1-64)"
  done
}
step --needs gates_setup status step_status

step_gate_max_removed() {
  MAPS=$GATE_MAPS
  old=$(entries "$MAPS" virtual)   # the entries published before this change
  trip max_removed "  virtual:
    gates:
      max_removed: 5" \
    "DELETE FROM addresses WHERE address IN ('gate-01@example.edu', 'gate-02@example.edu', 'gate-03@example.edu');" \
    "virtual: 6 keys removed ($(pct 6 "$old") of $old), more than maps.virtual.gates.max_removed (5)"
  [[ $(counts virtual) == "6 0 $old" ]] || die "max_removed: the forced publish removed $(counts virtual), want 6 0 $old"
  [[ $(metric 'mapsync_map_entries{map="virtual"}') == $((old - 6)) ]] || die "metrics: virtual entries after the forced publish"
}
step --needs gates_setup gate_max_removed step_gate_max_removed

step_gate_max_removed_percent() {
  MAPS=$GATE_MAPS
  old=$(entries "$MAPS" virtual)   # the entries published before this change
  trip max_removed_percent "  virtual:
    gates:
      max_removed_percent: 10" \
    "DELETE FROM addresses WHERE address LIKE 'gate-0%' OR address = 'gate-10@example.edu';" \
    "virtual: 14 keys removed ($(pct 14 "$old") of $old), more than maps.virtual.gates.max_removed_percent (10.0%)"
  [[ $(counts virtual) == "14 0 $old" ]] || die "max_removed_percent: the forced publish: $(counts virtual)"
}
step --needs gate_max_removed gate_max_removed_percent step_gate_max_removed_percent

step_gate_max_changed() {
  MAPS=$GATE_MAPS
  old=$(entries "$MAPS" virtual)   # the entries published before this change
  trip max_changed "  virtual:
    gates:
      max_changed: 3" \
    "UPDATE addresses SET account_id = 1 WHERE address IN ('gate-11@example.edu', 'gate-12@example.edu');" \
    "virtual: 4 values changed ($(pct 4 "$old") of $old), more than maps.virtual.gates.max_changed (3)"
  [[ $(counts virtual) == "0 4 $old" ]] || die "max_changed: the forced publish: $(counts virtual)"
  [[ $(postmap -q gate-11@alias.edu "hash:$MAPS/virtual") == jdoe@example.edu ]] || die "max_changed: change not published by --force"
}
step --needs gate_max_removed_percent gate_max_changed step_gate_max_changed

step_gate_max_changed_percent() {
  MAPS=$GATE_MAPS
  old=$(entries "$MAPS" virtual)   # the entries published before this change
  trip max_changed_percent "  virtual:
    gates:
      max_changed_percent: 5" \
    "UPDATE addresses SET account_id = 1 WHERE address IN ('gate-13@example.edu', 'gate-14@example.edu', 'gate-15@example.edu');" \
    "virtual: 6 values changed ($(pct 6 "$old") of $old), more than maps.virtual.gates.max_changed_percent (5.0%)"
  [[ $(counts virtual) == "0 6 $old" ]] || die "max_changed_percent: the forced publish: $(counts virtual)"
}
step --needs gate_max_changed gate_max_changed_percent step_gate_max_changed_percent

step_gate_min_entries() {
  MAPS=$GATE_MAPS
  old=$(entries "$MAPS" virtual)   # the entries published before this change
  min=$((old - 2))
  trip min_entries "  virtual:
    gates:
      min_entries: $min" \
    "DELETE FROM addresses WHERE address IN ('gate-16@example.edu', 'gate-17@example.edu');" \
    "virtual: $((old - 4)) entries, fewer than maps.virtual.gates.min_entries ($min)"
  [[ $(counts virtual) == "4 0 $old" ]] || die "min_entries: the forced publish: $(counts virtual)"
}
step --needs gate_max_changed_percent gate_min_entries step_gate_min_entries

step_gate_empty() {
  MAPS=$GATE_MAPS
  # A canonical map that renders empty while the database still has its active accounts
  # (render.min_accounts is satisfied): no generated rewrites, the explicit ones disabled.
  EMPTY_TOP="
render:
  canonical:
    generate: false"
  make_config ms_gates "$MAPS" "$OPEN_GATES" "$TOP$EMPTY_TOP" > "$WS/nogen.yaml"
  expect_exit 0 "$MAPSYNC" -c "$WS/nogen.yaml" build  # only the explicit rewrites are left
  n_canonical=$(entries "$MAPS" canonical)
  (( n_canonical > 0 )) || die "no explicit canonical rewrites left to remove"
  trip empty "" \
    "UPDATE canonical_rewrites SET enabled = FALSE;" \
    "canonical: would be empty where $n_canonical entries are published (a failed or empty read is not an empty map)" \
    "$EMPTY_TOP"
  [[ $(wc -l < "$WS/after.canonical") == 0 ]] || die "empty: --force did not publish the empty canonical map"
  # The metrics follow the published (now empty) map.
  metric 'mapsync_map_entries{map="canonical"}' | grep -qx 0 || die "metrics: canonical entries after the forced empty publish"
}
step --needs gate_min_entries gate_empty step_gate_empty


# ------------------------------------------------------------------------------------
# names_rows TEXT ROW...: one error line holds TEXT and names every ROW (in any order).
names_rows() {
  local text=$1 line; shift
  line=$(grep -F -- "$text" "$WS/out" | grep -F 'error: ' | head -1)
  [[ -n $line ]] || { cat "$WS/out" >&2; die "no error says: $text"; }
  for row in "$@"; do
    [[ $line == *"$row"[^0-9]* || $line == *"$row" ]] || die "the error does not name $row: $line"
  done
}

step_check_setup() {
  note "4. validation: mapsync check"
  MAPS="$WS/check-maps"
  make_config ms_check "$MAPS" > "$WS/check.yaml"
  campus_db "$DBDIR" ms_check "$WS/check.yaml"
  C=("$MAPSYNC" -c "$WS/check.yaml")
  expect_exit 0 "${C[@]}" check
  warnings=$(grep -c ': warning: ' "$WS/out") || true
  (( warnings > 0 )) || die "the campus has warnings (a disabled group member); check reported none"
  expect_output "check: no errors, $warnings warning(s);"
  expect_output "virtual="
  expect_exit 0 "${C[@]}" build
  stamp "$MAPS" > "$WS/stamp.before"

  echo "$warnings" > "$WS/warnings"
}
step check_setup step_check_setup

step_alias_loop() {
  MAPS="$WS/check-maps"
  C=("$MAPSYNC" -c "$WS/check.yaml")
  note "   alias loop"
  sql ms_check <<'SQL'
INSERT INTO group_aliases (id, address) VALUES (10, 'loop-a@example.edu'), (11, 'loop-b@example.edu'), (12, 'loop-c@example.edu');
INSERT INTO group_members (group_id, member_group_id) VALUES (10, 11), (11, 12), (12, 10);
SQL
  expect_exit 65 "${C[@]}" check
  expect_output "error: virtual: alias loop: group loop-"
  for g in "group loop-a@example.edu (group_aliases id=10)" "group loop-b@example.edu (group_aliases id=11)" \
           "group loop-c@example.edu (group_aliases id=12)"; do
    grep 'alias loop: ' "$WS/out" | grep -Fq -- "$g" || { cat "$WS/out" >&2; die "the loop message does not name $g"; }
  done
  expect_output "error(s) in the database; nothing published"
  expect_exit 65 "${C[@]}" build
  expect_output "alias loop: "
  stamp "$MAPS" > "$WS/stamp.after"
  diff -u "$WS/stamp.before" "$WS/stamp.after" >&2 || die "alias loop: published files changed"
  no_temp_files "$MAPS"
  sql ms_check <<< "DELETE FROM group_aliases WHERE id IN (10, 11, 12);"
  expect_exit 0 "${C[@]}" check
}
step --needs check_setup alias_loop step_alias_loop

step_key_twice() {
  MAPS="$WS/check-maps"
  C=("$MAPSYNC" -c "$WS/check.yaml")
  warnings=$(<"$WS/warnings")
  note "   a key defined twice"
  # it-team@example.edu is a group; the same address as an alias of asmith is a second
  # definition the database's unique keys cannot see (another table): spelt the same, and
  # spelt so that only case folding makes it the same key.
  sql ms_check <<'SQL'
INSERT INTO addresses (id, account_id, address, kind) VALUES (100, 2, 'it-team@example.edu', 'alias');
SQL
  expect_exit 65 "${C[@]}" check
  names_rows 'address "it-team@example.edu" is defined twice: ' "addresses id=100" "group_aliases id=1"
  expect_exit 65 "${C[@]}" build
  sql ms_check <<< "UPDATE addresses SET address = 'IT-Team@Example.EDU' WHERE id = 100;"
  expect_exit 65 "${C[@]}" check
  names_rows 'are the same key "it-team@example.edu" after case folding' '"IT-Team@Example.EDU" (addresses id=100)' '"it-team@example.edu" (group_aliases id=1)'
  expect_exit 65 "${C[@]}" build
  stamp "$MAPS" > "$WS/stamp.after"
  diff -u "$WS/stamp.before" "$WS/stamp.after" >&2 || die "duplicate key: published files changed"
  sql ms_check <<< "DELETE FROM addresses WHERE id = 100;"
  expect_exit 0 "${C[@]}" check
  expect_output "check: no errors, $warnings warning(s);"
  stamp "$MAPS" > "$WS/stamp.after"
  diff -u "$WS/stamp.before" "$WS/stamp.after" >&2 || die "check touched published files"
}
step --needs check_setup key_twice step_key_twice

# ------------------------------------------------------------------------------------
step_generations() {
  note "5. generations and rollback"
  MAPS="$WS/gen-maps"
  make_config ms_gen "$MAPS" "  generations: 2
$OPEN_GATES" > "$WS/gen.yaml"
  campus_db "$DBDIR" ms_gen "$WS/gen.yaml"
  G=("$MAPSYNC" -c "$WS/gen.yaml")
  # Three publishes of different data; each map's content and file inodes remembered.
  changes=(
    ""
    "INSERT INTO addresses (account_id, address) VALUES (3, 'gen2@example.edu'); UPDATE system_aliases SET targets = 'jdoe@example.edu' WHERE name = 'root';"
    "DELETE FROM addresses WHERE address = 'gen2@example.edu'; INSERT INTO addresses (account_id, address) VALUES (1, 'gen3@example.edu'); UPDATE account_forwards SET target = 'ed@gen3.example.org' WHERE account_id = 7;"
  )
  for g in 1 2 3; do
    if [[ -n ${changes[g - 1]} ]]; then sql ms_gen <<< "${changes[g - 1]}"; fi
    expect_exit 0 "${G[@]}" build
    expect_output "generation $g: "
    dump_all "$MAPS" "$WS/gen$g"
    # shellcheck disable=SC2086  # a list of names
    ( cd "$MAPS" && stat -c '%n %i' $MAPS_LIST ./*.db ) > "$WS/gen$g.inodes"
  done
  ! cmp -s "$WS/gen2.virtual" "$WS/gen3.virtual" || die "generations 2 and 3 do not differ"
  [[ "$(ls "$MAPS/.generations")" == "$(printf '2\n3')" ]] || { ls -la "$MAPS/.generations" >&2; die "maps.generations 2: want generations 2 and 3 stored"; }
  expect_json 0 "${G[@]}" status --json
  json_check "status: not generation 3" '.generation == 3'
}
step generations step_generations

step_rollback() {
  MAPS="$WS/gen-maps"
  G=("$MAPSYNC" -c "$WS/gen.yaml")
  expect_exit 0 "${G[@]}" rollback
  expect_output "rolled back to generation 2 as generation 4; builds are held until \`mapsync build --release\`"
  for m in $MAPS_LIST; do
    dump_map hash "$MAPS" "$m" | cmp -s - "$WS/gen2.$m" || { diff -u "$WS/gen2.$m" <(dump_map hash "$MAPS" "$m") >&2; die "rollback: $m is not generation 2"; }
    db5.3_verify -q "$MAPS/$m.db" || die "rollback: db5.3_verify fails on $m.db"
  done
  while read -r f ino; do
    [[ $(stat -c %i "$MAPS/$f") != "$ino" ]] || die "rollback rewrote $f in place (same inode $ino): a reader could see it half-written"
  done < "$WS/gen3.inodes"
  [[ $(postmap -q gen2@example.edu "hash:$MAPS/virtual") == bwong@example.edu ]] || die "rollback: gen2@ not back"
  if postmap -q gen3@example.edu "hash:$MAPS/relay_recipients" >/dev/null; then die "rollback: gen3@ still accepted"; fi
  no_temp_files "$MAPS"
  expect_exit 0 "${G[@]}" status
  expect_output "^generation:   4  (HELD after rollback: builds do not publish)$"
  [[ "$(ls "$MAPS/.generations")" == "$(printf '3\n4')" ]] || { ls -la "$MAPS/.generations" >&2; die "after the rollback: want generations 3 and 4 stored"; }
}
step --needs generations rollback step_rollback

step_held_release() {
  MAPS="$WS/gen-maps"
  G=("$MAPSYNC" -c "$WS/gen.yaml")
  stamp "$MAPS" > "$WS/stamp.before"
  expect_exit 69 "${G[@]}" build
  expect_output "are held at generation 4 (a rollback to generation 2); fix the database, then publish it again with \`mapsync build --release\`"
  expect_exit 69 "${G[@]}" build --full
  stamp "$MAPS" > "$WS/stamp.after"
  diff -u "$WS/stamp.before" "$WS/stamp.after" >&2 || die "a held build changed published files"

  expect_exit 0 "${G[@]}" build --release
  expect_output "generation 5: "
  for m in $MAPS_LIST; do
    dump_map hash "$MAPS" "$m" | cmp -s - "$WS/gen3.$m" || die "build --release: $m is not what the database says (generation 3's content)"
  done
  expect_json 0 "${G[@]}" status --json
  json_check "status: not generation 5" '.generation == 5'
  expect_exit 0 "${G[@]}" build
  expect_output "nothing changed"
  [[ "$(ls "$MAPS/.generations")" == "$(printf '4\n5')" ]] || { ls -la "$MAPS/.generations" >&2; die "after the release: want generations 4 and 5 stored"; }
  expect_exit 0 "${G[@]}" rollback 4
  expect_json 0 "${G[@]}" status --json
  json_check "status: not held after rollback 4" '.held'
  expect_exit 64 "${G[@]}" rollback 1
  expect_output "generation 1 is not stored (stored: "
}
step --needs rollback held_release step_held_release

# ------------------------------------------------------------------------------------
step_incr_setup() {
  note "6. incremental publish: a few changes in a big map patch a copy of the published file"
  for type in hash btree; do
    make_config ms_incr "$WS/incr-$type" "" > "$WS/incr-$type.yaml"
    sed -i "s/^  default_type: hash$/  default_type: $type/" "$WS/incr-$type.yaml"
    make_config ms_incr "$WS/incr-full-$type" "" > "$WS/incr-full-$type.yaml"
    sed -i "s/^  default_type: hash$/  default_type: $type/" "$WS/incr-full-$type.yaml"
  done
  campus_db "$DBDIR" ms_incr "$WS/incr-hash.yaml"
  sql ms_incr <<'SQL'
INSERT INTO addresses (account_id, address, kind)
  SELECT 1 + seq % 4, CONCAT('bulk', seq, '@example.edu'), 'alias' FROM seq_1_to_5000;
SQL
  for type in hash btree; do
    expect_exit 0 "$MAPSYNC" -c "$WS/incr-$type.yaml" build
  done
  n_big=$(entries "$WS/incr-hash" virtual)
  (( n_big > 10000 )) || die "the big virtual map has only $n_big entries"
  # 10 addresses: 4 change owner, 3 go, 3 are new.
  sql ms_incr <<'SQL'
UPDATE addresses SET account_id = 7 WHERE address IN ('bulk1@example.edu', 'bulk2@example.edu', 'bulk3@example.edu', 'bulk4@example.edu');
DELETE FROM addresses WHERE address IN ('bulk100@example.edu', 'bulk200@example.edu', 'bulk300@example.edu');
INSERT INTO addresses (account_id, address) VALUES (2, 'new1@example.edu'), (3, 'new2@example.edu'), (4, 'new3@example.edu');
SQL
  echo "$n_big" > "$WS/n_big"
}
step incr_setup step_incr_setup

# incr TYPE: the patched TYPE map answers as a full build does.
incr() {
  local type=$1 dir m n_big
  n_big=$(<"$WS/n_big")
  note "   $type"
  dir="$WS/incr-$type"
  map_stamp "$dir" virtual > "$WS/incr.before"
  expect_exit 0 "$MAPSYNC" -c "$WS/incr-$type.yaml" -v build
  # 20 keys of virtual (10 addresses in example.edu and alias.edu); relay_recipients: 12.
  grep -q "debug: write virtual (text and $type, patched with 20 changes): " "$WS/out" \
    || { cat "$WS/out" >&2; die "$type: the virtual map was not published by patching a copy (no 'patched with 20 changes' in the -v log)"; }
  grep -q "debug: write relay_recipients (text and $type, patched with 12 changes): " "$WS/out" \
    || { cat "$WS/out" >&2; die "$type: relay_recipients was not patched"; }
  map_stamp "$dir" virtual | cmp -s - "$WS/incr.before" && die "$type: virtual was not republished"
  expect_exit 0 "$MAPSYNC" -c "$WS/incr-full-$type.yaml" build --full
  for m in virtual relay_recipients; do
    db5.3_verify -q "$dir/$m.db" || die "$type: db5.3_verify fails on the patched $m.db"
    dump_map "$type" "$dir" "$m" > "$WS/patched.$m"
    dump_map "$type" "$WS/incr-full-$type" "$m" > "$WS/full.$m"
    cmp -s "$WS/patched.$m" "$WS/full.$m" || { diff -u "$WS/full.$m" "$WS/patched.$m" | head -20 >&2; die "$type: the patched $m differs from a full build"; }
    # ... and from its own text source, which stock postmap turns into the same table.
    cut -f1 "$dir/$m" | postmap -q - "$type:$dir/$m" | sort | cmp -s - <(sort "$dir/$m") || die "$type: $m answers differ from its text source"
  done
  [[ $(postmap -q bulk1@alias.edu "$type:$dir/virtual") == ed@retired.example.org ]] || die "$type: changed key"
  [[ $(postmap -q new3@example.edu "$type:$dir/virtual") == jmueller@example.edu ]] || die "$type: added key"
  if postmap -q bulk200@example.edu "$type:$dir/virtual" >/dev/null; then die "$type: removed key still there"; fi
  [[ $(wc -l < "$WS/patched.virtual") == "$n_big" ]] || die "$type: entry count: 3 removed and 3 added should leave $n_big"
  no_temp_files "$dir"
}
for type in hash btree; do
  step --needs incr_setup "incr_$type" incr "$type"
done

# ------------------------------------------------------------------------------------
CI="$ROOT/examples/ci/mapsync-plan.sh"
CI_MAPS="$WS/ci-maps"
real_state() {  # the real database's serial and row counts
  sql ms_ci <<< "SELECT (SELECT serial FROM change_serial), (SELECT COUNT(*) FROM addresses), (SELECT COUNT(*) FROM accounts)"
}
ci() {  # ci CODE CHANGE_FILE: runs the job, results in $WS/ci-out
  local want=$1 got=0
  MAPSYNC_CONFIG="$WS/ci.yaml" MAPSYNC_CI_OUT="$WS/ci-out" MAPSYNC_CI_SCRATCH_DB=mapsync_ci_map_safety \
    bash "$CI" "$2" > "$WS/out" 2>&1 || got=$?
  [[ $got == "$want" ]] || { cat "$WS/out" >&2; die "mapsync-plan.sh $(basename "$2"): exit $got, want $want"; }
  [[ $(cat "$WS/ci-out/status") == "$want" ]] || die "mapsync-plan.sh: status file says $(cat "$WS/ci-out/status")"
  [[ -z $(db_root "$DBDIR" <<< "SHOW DATABASES LIKE 'mapsync\\_ci\\_%'") ]] || die "mapsync-plan.sh left its scratch database"
  real_state | cmp -s - "$WS/real.before" || die "mapsync-plan.sh changed the real database"
  stamp "$CI_MAPS" > "$WS/stamp.after"
  diff -u "$WS/stamp.before" "$WS/stamp.after" >&2 || die "mapsync-plan.sh changed the published maps"
}

step_ci_setup() {
  note "7. examples/ci/mapsync-plan.sh against the test MariaDB"
  MAPS=$CI_MAPS
  make_config ms_ci "$MAPS" > "$WS/ci.yaml"
  campus_db "$DBDIR" ms_ci "$WS/ci.yaml"
  expect_exit 0 "$MAPSYNC" -c "$WS/ci.yaml" build
  # The CI user may create scratch databases named mapsync_ci_*.
  db_root "$DBDIR" <<'SQL'
GRANT ALL ON `mapsync\_ci\_%`.* TO 'mapsync'@'127.0.0.1';
GRANT ALL ON `mapsync\_ci\_%`.* TO 'mapsync'@'localhost';
SQL
  real_state > "$WS/real.before"
  stamp "$MAPS" > "$WS/stamp.before"
}
step ci_setup step_ci_setup

step_ci_add() {
  MAPS=$CI_MAPS
  printf '%s\n' "-- a new alias for John" "INSERT INTO addresses (account_id, address) VALUES (1, 'ci-new@example.edu');" > "$WS/add.sql"
  ci 1 "$WS/add.sql"
  has_line "$WS/ci-out/plan.txt" "+ ci-new@example.edu	jdoe@example.edu"
  has_line "$WS/ci-out/plan.txt" "+ ci-new@alias.edu	jdoe@example.edu"
  has_line "$WS/ci-out/plan.txt" "relay_recipients: +2 -0 ~0 ($(entries "$MAPS" relay_recipients) -> $(( $(entries "$MAPS" relay_recipients) + 2 )) entries)"
  [[ $(grep -c '^[-+~] ' "$WS/ci-out/plan.txt") == 4 ]] || { cat "$WS/ci-out/plan.txt" >&2; die "the CI diff shows more than the 4 new keys"; }
  has_line "$WS/ci-out/comment.md" "+ ci-new@example.edu	jdoe@example.edu"
  grep -q "changes the published maps" "$WS/ci-out/comment.md" || die "comment.md does not say the maps change"
  JSON=$WS/ci-out/plan.json json_check "plan.json of the CI job" \
    '[.maps[] | select(.map == "virtual") | .added[].key] == ["ci-new@alias.edu", "ci-new@example.edu"]'
}
step --needs ci_setup ci_add step_ci_add

step_ci_empty() {
  MAPS=$CI_MAPS
  : > "$WS/empty.sql"
  ci 0 "$WS/empty.sql"
  lacks "$WS/ci-out/plan.txt" "--- "
  grep -q "does not change the published maps" "$WS/ci-out/comment.md" || die "comment.md for an empty change"
}
step --needs ci_setup ci_empty step_ci_empty

step_ci_broken_sql() {
  MAPS=$CI_MAPS
  printf '%s\n' "INSERT INTO addresses (account_id, address) VALUES (1, 'ok@example.edu');" "INSERT INTO no_such_table VALUES (1);" > "$WS/broken.sql"
  ci 65 "$WS/broken.sql"
  grep -q "no_such_table' doesn't exist" "$WS/ci-out/comment.md" || { cat "$WS/ci-out/comment.md" >&2; die "comment.md does not show the SQL error"; }
  printf 'SELEC garbage;\n' > "$WS/syntax.sql"
  ci 65 "$WS/syntax.sql"
}
step --needs ci_setup ci_broken_sql step_ci_broken_sql

step_ci_key_twice() {
  MAPS=$CI_MAPS
  # Data mapsync refuses: the rows are named in the comment.
  printf '%s\n' "INSERT INTO addresses (id, account_id, address) VALUES (300, 2, 'it-team@example.edu');" > "$WS/dup.sql"
  ci 65 "$WS/dup.sql"
  grep -q 'is defined twice: .*addresses id=300' "$WS/ci-out/comment.md" || { cat "$WS/ci-out/comment.md" >&2; die "comment.md does not name the duplicate rows"; }
}
step --needs ci_setup ci_key_twice step_ci_key_twice

step_ci_gate() {
  MAPS=$CI_MAPS
  # A change a hub would refuse: more than half of the canonical map (default gate) goes.
  printf '%s\n' "UPDATE accounts SET status = 'disabled' WHERE uid NOT IN ('jdoe', 'asmith');" > "$WS/big.sql"
  ci 1 "$WS/big.sql"
  grep -q "would refuse this change" "$WS/ci-out/comment.md" || { cat "$WS/ci-out/comment.md" >&2; die "comment.md does not warn about the change gates"; }
  grep -q "more than maps.canonical.gates.max_removed_percent (50.0%)" "$WS/ci-out/comment.md" || die "comment.md: which gate"
}
step --needs ci_setup ci_gate step_ci_gate

step_ci_use() {
  MAPS=$CI_MAPS
  printf '%s\n' "USE ms_ci;" "DELETE FROM addresses;" > "$WS/use.sql"
  ci 65 "$WS/use.sql"
}
step --needs ci_setup ci_use step_ci_use

finish
