#!/usr/bin/env bash
# incremental_builds: a build after a change reads and renders only what changed, and
# publishes exactly what a full build publishes.
#
# One database (the example campus) and, for each map type (hash, btree, lmdb, cdb), two
# map directories: one published by plain `mapsync build` after every change (incremental
# when it can), one by `mapsync build --full`. Random edits (seeded: INCR_SEED, INCR_STEPS)
# add, rename and delete aliases and accounts, disable and enable accounts, retarget
# forwards, build groups nested in groups with members by account, by group and by our
# own addresses, add lists, rewrites and alias domains. After every edit both directories
# must hold the same maps, key for key (postmap -s / postalias -s) and byte for byte (text
# sources), and most runs must have been incremental. Then incremental runs are killed
# with SIGKILL at every crash point of their publish: each map stays wholly old or wholly
# new, and the next run publishes what a full build does. A change of more than 1000 keys
# rewrites the hash file from the merged entries instead of patching it, still incremental.
# A periodic full build (its time come) proves the maps and changes nothing.
TEST_NAME=incremental_builds
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
: "${MAPSYNC_TEST_DBDIR:?}"
DBN=incremental
TYPES="hash btree lmdb cdb"
MAPS_LIST="virtual transport canonical relay_recipients relay_domains aliases"
SEED=${INCR_SEED:-20261203}
STEPS=${INCR_STEPS:-40}
RANDOM=$SEED

config() {  # config DIR TYPE: the test's config (no change gates: random edits may remove much)
  write_config "$MAPSYNC_TEST_DBDIR" "$DBN" "$1" "$2" |
    sed '/^  default_type:/a\  gates:\n    max_removed_percent: 100\n    max_changed_percent: 100'
}
for t in $TYPES; do
  config "$WS/inc-$t" "$t" > "$WS/inc-$t.yaml"
  config "$WS/ref-$t" "$t" > "$WS/ref-$t.yaml"
done
campus_db "$MAPSYNC_TEST_DBDIR" "$DBN" "$WS/inc-hash.yaml"

sql() { db_root "$MAPSYNC_TEST_DBDIR" "$DBN" -N; }

# dump NAME TYPE PREFIX: every map of directory NAME (inc-TYPE, ref-TYPE) read back, sorted,
# into PREFIX.<map>: by the stock postmap -s / postalias -s, except for cdb, which Postfix
# 3.7 cannot list: there by mapsync dump (our reader; maps_roundtrip proves it against postmap -q).
dump() {
  local m tool
  for m in $MAPS_LIST; do
    tool=postmap; [[ $m == aliases ]] && tool=postalias
    if [[ $2 == cdb ]]; then
      "$MAPSYNC" -c "$WS/$1.yaml" -q dump "$m" | LC_ALL=C sort > "$3.$m" || die "mapsync dump $m ($1) failed"
    else
      "$tool" -s "$2:$WS/$1/$m" | LC_ALL=C sort > "$3.$m" || die "$tool -s $2:$WS/$1/$m failed"
    fi
  done
}

# same TYPE WHAT: the incremental and the full directory of TYPE publish the same maps.
same() {
  local t=$1 what=$2 m
  dump "inc-$t" "$t" "$WS/d-inc"
  dump "ref-$t" "$t" "$WS/d-ref"
  for m in $MAPS_LIST; do
    cmp -s "$WS/d-inc.$m" "$WS/d-ref.$m" ||
      { diff "$WS/d-ref.$m" "$WS/d-inc.$m" | head -20 >&2; die "$what: $t map $m differs from a full build"; }
    cmp -s "$WS/inc-$t/$m" "$WS/ref-$t/$m" || die "$what: text source of $t map $m differs from a full build's"
  done
}

# build_both TYPE WHAT: publish into both directories of TYPE; counts incremental runs.
INCREMENTAL=0 RUNS=0
build_both() {
  local t=$1 what=$2
  "$MAPSYNC" -c "$WS/ref-$t.yaml" -q build --full > "$WS/ref.out" 2>&1 || { cat "$WS/ref.out" >&2; die "$what: full build failed (the edit made a bad database)"; }
  "$MAPSYNC" -c "$WS/inc-$t.yaml" -v build > "$WS/inc.out" 2>&1 || { cat "$WS/inc.out" >&2; die "$what: incremental build failed"; }
  RUNS=$((RUNS + 1))
  if grep -q 'incremental read and render' "$WS/inc.out"; then INCREMENTAL=$((INCREMENTAL + 1)); fi
}

# The edits. $1 makes names unique; RANDOM picks rows (ORDER BY RAND(seed)).
UNREF_ADDR="NOT EXISTS (SELECT 1 FROM account_forwards f WHERE f.target = a.address)
            AND NOT EXISTS (SELECT 1 FROM group_members m WHERE m.member_address = a.address)"
edit() {
  local n=$1 r=$RANDOM op=$((RANDOM % 17))
  case $op in
    0|1) echo "add alias"
       echo "INSERT INTO addresses (account_id, address) SELECT id, CONCAT('A$n.', uid, '@example.edu') FROM accounts
             WHERE status = 'active' ORDER BY RAND($r) LIMIT 1;" ;;
    2) echo "delete alias"
       echo "SELECT a.id INTO @x FROM addresses a WHERE $UNREF_ADDR ORDER BY RAND($r) LIMIT 1; DELETE FROM addresses WHERE id = @x;" ;;
    3) echo "rename alias"
       echo "SELECT a.id INTO @x FROM addresses a WHERE $UNREF_ADDR ORDER BY RAND($r) LIMIT 1;
             UPDATE addresses SET address = CONCAT('r$n.', address) WHERE id = @x;" ;;
    4) echo "forward to one of ours"
       echo "SELECT primary_address INTO @t FROM accounts WHERE status = 'active' AND delivery = 'cyrus' ORDER BY RAND($r) LIMIT 1;
             UPDATE IGNORE account_forwards SET target = @t ORDER BY RAND($r) LIMIT 1;" ;;
    5) echo "forward outside"
       echo "UPDATE IGNORE account_forwards SET target = 'x$n@mail.example.net' ORDER BY RAND($r) LIMIT 1;" ;;
    6) echo "new account"
       echo "INSERT INTO accounts (uid, given_name, surname, primary_address, delivery, backend_id)
             VALUES ('u$n', 'Given$n', 'Sür$n', 'U$n.Sür@example.edu', 'cyrus', $((r % 2 + 1)));" ;;
    7) echo "disable or enable an account"
       # Not olaf (id 8): his alias olaf@ is his login address too, which a full build rightly
       # refuses once he is active.
       echo "UPDATE accounts SET status = IF(status = 'active', 'disabled', 'active') WHERE status <> 'pending-delete' AND id <> 8
             ORDER BY RAND($r) LIMIT 1;" ;;
    8) echo "new group of accounts, a group and an outside address"
       echo "INSERT INTO group_aliases (address) VALUES ('g$n@example.edu'); SET @g = LAST_INSERT_ID();
             INSERT INTO group_members (group_id, member_account_id) SELECT @g, id FROM accounts ORDER BY RAND($r) LIMIT 2;
             INSERT INTO group_members (group_id, member_group_id) SELECT @g, id FROM group_aliases WHERE id < @g ORDER BY RAND($r) LIMIT 1;
             INSERT INTO group_members (group_id, member_address) VALUES (@g, 'ext$n@mail.example.net');" ;;
    9) echo "nest a group"
       echo "INSERT INTO group_members (group_id, member_group_id) SELECT g.id, s.id FROM group_aliases g JOIN group_aliases s
             ON s.id < g.id ORDER BY RAND($r) LIMIT 1;" ;;
    10) echo "group member by one of our addresses"
        echo "SELECT address INTO @t FROM addresses ORDER BY RAND($r) LIMIT 1;
              INSERT INTO group_members (group_id, member_address) SELECT id, @t FROM group_aliases ORDER BY RAND($r) LIMIT 1;" ;;
    11) echo "remove a group member"
        echo "DELETE FROM group_members ORDER BY RAND($r) LIMIT 1;" ;;
    12) echo "delete a group"
        echo "DELETE FROM group_aliases WHERE id > 3 ORDER BY RAND($r) LIMIT 1;" ;;
    13) echo "delete an account nobody names by address"
        echo "SELECT a.id INTO @x FROM accounts a WHERE a.id > 12
                AND NOT EXISTS (SELECT 1 FROM account_forwards f WHERE f.target = a.primary_address)
                AND NOT EXISTS (SELECT 1 FROM group_members m WHERE m.member_address = a.primary_address)
                AND NOT EXISTS (SELECT 1 FROM addresses d JOIN account_forwards f ON f.target = d.address WHERE d.account_id = a.id)
                AND NOT EXISTS (SELECT 1 FROM addresses d JOIN group_members m ON m.member_address = d.address WHERE d.account_id = a.id)
              ORDER BY RAND($r) LIMIT 1;
              DELETE FROM accounts WHERE id = @x;" ;;
    14) echo "forwarding account"
        echo "INSERT INTO accounts (uid, primary_address, delivery) VALUES ('f$n', 'f$n@example.edu', 'forward'); SET @a = LAST_INSERT_ID();
              SELECT primary_address INTO @t FROM accounts WHERE status = 'active' AND delivery = 'cyrus' ORDER BY RAND($r) LIMIT 1;
              INSERT INTO account_forwards (account_id, target) VALUES (@a, 'f$n@mail.example.net'), (@a, @t);" ;;
    15) echo "list and rewrite"
        echo "INSERT INTO mailing_lists (address, manager, transport) VALUES ('l$n@example.edu', 'transport', 'smtp:[lists.example.edu]');
              INSERT INTO canonical_rewrites (source, target) VALUES ('c$n@example.edu', 'helpdesk@example.edu');" ;;
    16) echo "uid renamed"
        echo "UPDATE accounts SET uid = CONCAT(uid, 'x') WHERE id > 12 ORDER BY RAND($r) LIMIT 1;" ;;
  esac
}

first_builds() {
  local t
  for t in $TYPES; do
    build_both "$t" "first build"
    same "$t" "first build"
  done
}

random_edits() {
  local i t out what
  for ((i = 1; i <= STEPS; i++)); do
    edit "$i" > "$WS/edit"  # not $(...): RANDOM must advance in this shell
    out=$(<"$WS/edit")
    what="step $i ($(head -1 <<< "$out"))"
    # Every tenth step also changes a domain: a full build, and alias-domain copies after.
    if (( i % 10 == 5 )); then
      what="$what + new alias domain"
      out="$out
INSERT INTO domains (name, kind, target_domain_id) VALUES ('alias$i.edu', 'alias', 1);"
    fi
    tail -n +2 <<< "$out" | sql || die "$what: the edit failed"
    for t in $TYPES; do
      build_both "$t" "$what"
      same "$t" "$what"
    done
  done
  note "$INCREMENTAL of $RUNS runs were incremental"
  (( INCREMENTAL * 10 >= RUNS * 6 )) || die "only $INCREMENTAL of $RUNS runs were incremental: the test proves little"
}

# Kills incremental runs of the hash directory at every crash point of their publish.
killed_runs() {
  local points k rc m i=1000
  cp -a "$WS/inc-hash" "$WS/before"
  # The change of every kill below (a new alias: virtual and relay_recipients are written).
  # An active Cyrus account: the random edits may have disabled any given one.
  ACTIVE=$(sql <<< "SELECT id FROM accounts WHERE status = 'active' AND delivery = 'cyrus' ORDER BY id LIMIT 1;")
  [[ -n $ACTIVE ]] || die "no active Cyrus account left"
  sql <<< "INSERT INTO addresses (account_id, address) VALUES ($ACTIVE, 'traced@example.edu');"
  "$MAPSYNC" -c "$WS/ref-hash.yaml" -q build --full > /dev/null 2>&1
  MAPSYNC_TEST_CRASH_TRACE="$WS/trace" "$MAPSYNC" -c "$WS/inc-hash.yaml" -v build > "$WS/inc.out" 2>&1
  grep -q 'incremental read and render' "$WS/inc.out" || die "the traced run was not incremental"
  points=$(wc -l < "$WS/trace")
  (( points >= 10 )) || die "only $points crash points in an incremental publish"
  same hash "traced run"
  for ((k = 1; k <= points; k++)); do
    i=$((i + 1))
    rm -rf "$WS/before"; cp -a "$WS/inc-hash" "$WS/before"
    # An edit every build sees: a new alias of an active account (virtual, relay_recipients).
    sql <<< "INSERT INTO addresses (account_id, address) VALUES ($ACTIVE, 'kill$k@example.edu');"
    "$MAPSYNC" -c "$WS/ref-hash.yaml" -q build --full > /dev/null 2>&1
    rc=0
    MAPSYNC_TEST_CRASH_AT=$k "$MAPSYNC" -c "$WS/inc-hash.yaml" -v build > "$WS/inc.out" 2>&1 || rc=$?
    [[ $rc == 137 || $rc == 0 ]] || { cat "$WS/inc.out" >&2; die "crash point $k: exit $rc"; }
    grep -q 'incremental read and render' "$WS/inc.out" || die "crash point $k: the run was not incremental"
    for m in $MAPS_LIST; do
      cmp -s "$WS/inc-hash/$m" "$WS/before/$m" || cmp -s "$WS/inc-hash/$m" "$WS/ref-hash/$m" ||
        die "crash point $k ($(sed -n "${k}p" "$WS/trace")): text source $m is neither the old nor the new one"
      postmap -s "hash:$WS/inc-hash/$m" > /dev/null 2>&1 || postalias -s "hash:$WS/inc-hash/$m" > /dev/null ||
        die "crash point $k: $m.db cannot be read"
      db5.3_verify -q "$WS/inc-hash/$m.db" || die "crash point $k: db5.3_verify fails on $m.db"
    done
    expect_exit 0 "$MAPSYNC" -c "$WS/inc-hash.yaml" build
    no_temp_files "$WS/inc-hash"
    same hash "run after a kill at crash point $k"
  done
  note "$points crash points of an incremental publish, each killed once"
}

# A change too large to patch the hash file (more than 1000 changed keys) rewrites it in
# bucket order from the merged entries (IncrementalBuild::stage_whole): still incremental,
# still what a full build publishes. Then the same keys removed again.
bulk_change() {
  local active t
  active=$(sql <<< "SELECT id FROM accounts WHERE status = 'active' AND delivery = 'cyrus' ORDER BY id LIMIT 1;")
  [[ -n $active ]] || die "no active Cyrus account left"
  for what in "INSERT INTO addresses (account_id, address) SELECT $active, CONCAT('bulk', seq, '@example.edu') FROM seq_1_to_1200;" \
              "DELETE FROM addresses WHERE address LIKE 'bulk%@example.edu';"; do
    sql <<< "$what" || die "the bulk edit failed: $what"
    for t in $TYPES; do
      build_both "$t" "bulk: ${what%% *}"
      grep -q 'incremental read and render' "$WS/inc.out" || { cat "$WS/inc.out" >&2; die "bulk ${what%% *} ($t): not incremental"; }
      if [[ $t == hash ]]; then
        grep -Eq 'write virtual \(text and hash, rewritten for [0-9]+ changes\)' "$WS/inc.out" ||
          { cat "$WS/inc.out" >&2; die "bulk ${what%% *}: virtual.db was not rewritten from the merged entries"; }
      fi
      same "$t" "bulk: ${what%% *}"
    done
  done
}

# The periodic full build, once due, renders everything and finds the maps as they are.
periodic_proof() {
  local state=$WS/inc-hash/.mapsync-state.json before
  # Not jq: it reads integers as doubles, and the files' nanosecond stamps would not survive.
  sed -E 's/"full_at": *[0-9]+/"full_at": 0/' "$state" > "$state.new" && mv "$state.new" "$state"
  grep -q '"full_at": *0[,}]' "$state" || die "could not set full_at in $state"
  before=$(map_fingerprint "$WS/inc-hash" | grep -v -e mapsync-state -e mapsync-graph)
  expect_exit 0 "$MAPSYNC" -c "$WS/inc-hash.yaml" -v build
  expect_output "periodic full build"
  ! grep -q "renders other content" "$WS/out" || die "the proof found a difference"
  map_fingerprint "$WS/inc-hash" | grep -v -e mapsync-state -e mapsync-graph > "$WS/after"
  diff <(echo "$before") "$WS/after" >&2 || die "the proving full build rewrote maps that were right"
  jq -e '.full_at > 0' "$state" > /dev/null || die "the proving build did not record itself"
}

step first_builds first_builds
step --needs first_builds random_edits random_edits
step --needs random_edits killed_runs killed_runs
step --needs first_builds bulk_change bulk_change
step --needs first_builds periodic_proof periodic_proof
finish
