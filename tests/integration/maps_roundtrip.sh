#!/usr/bin/env bash
# maps_roundtrip: mapsync build on the example campus, then every key of every map read
# back with the stock postmap/postalias and compared with the expected tables in
# expected/*.txt (reviewed by hand against examples/campus.sql: one line per key,
# key TAB value). For hash, btree, lmdb and cdb (cdb cannot be listed by Postfix 3.7:
# there every expected key is looked up, and mapsync's reader lists the file):
#  - postmap -q - (stock lookup) answers every expected key with the expected value;
#  - postmap -s lists exactly the expected entries (no more);
#  - postmap -s on our file equals postmap -s on a file stock postmap builds from our
#    text source (postalias for aliases);
#  - db5.3_verify passes; owner and mode are as configured;
#  - addresses that must not be accepted (disabled, pending-delete, delivery none) are absent.
TEST_NAME=maps_roundtrip
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
: "${MAPSYNC_TEST_DBDIR:?}"
EXPECTED="$TESTS_DIR/integration/expected"

lookup_cmd() { [[ $1 == aliases ]] && echo postalias || echo postmap; }
# postalias prints "name:<TAB>value"; the "@" record is postalias' own, not ours to expect.
normalize() { sed 's/^\([^\t]*\):\t/\1\t/' | awk -F'\t' '!($1 == "@" && $2 == "@")' | sort; }

suffix_of() { case $1 in hash|btree) echo .db ;; lmdb) echo .lmdb ;; cdb) echo .cdb ;; esac; }

# Lists every entry of a map: postmap -s, except for cdb, which Postfix 3.7 cannot
# list ("sequence operation is not supported"): there mapsync dump (our reader) does.
list_map() {
  local type=$1 tool=$2 map=$3 dir=$4 conf=$5
  if [[ $type == cdb ]]; then
    "$MAPSYNC" -c "$conf" -q dump "$map" | sed 's/: /\t/'
  else
    "$tool" -s "$type:$dir/$map"
  fi
}

check_map_dir() {
  local type=$1 dir=$2 conf=$3
  local sfx
  sfx=$(suffix_of "$type")
  for exp in "$EXPECTED"/*.txt; do
    local map
    map=$(basename "$exp" .txt)
    local tool
    tool=$(lookup_cmd "$map")
    [[ -f "$dir/$map$sfx" ]] || die "$type: $dir/$map$sfx was not published"
    if [[ $sfx == .db ]]; then db5.3_verify -q "$dir/$map.db" || die "$type: db5.3_verify fails on $map.db"; fi

    # Every key through the stock lookup client, in one process.
    cut -f1 "$exp" | "$tool" -q - "$type:$dir/$map" > "$WS/$map.q" || die "$type: $tool -q - failed on $map"
    normalize < "$WS/$map.q" > "$WS/$map.q.sorted"
    sort "$exp" > "$WS/$map.exp.sorted"
    diff -u "$WS/$map.exp.sorted" "$WS/$map.q.sorted" || die "$type: $map: postmap -q answers differ from expected"

    # The whole file: nothing more than expected (aliases also has postalias' "@" record).
    list_map "$type" "$tool" "$map" "$dir" "$conf" | normalize > "$WS/$map.s"
    diff -u "$WS/$map.exp.sorted" "$WS/$map.s" || die "$type: $map: the file lists other entries than expected"

    # Stock postmap building from our text source gives the same table.
    mkdir -p "$WS/stock-$type"
    cp "$dir/$map" "$WS/stock-$type/$map"
    "$tool" "$type:$WS/stock-$type/$map" || die "stock $tool failed on our text source of $map"
    if [[ $type == cdb ]]; then
      # No listing: the stock-built file must answer every key (and no other) as ours does.
      cut -f1 "$exp" | "$tool" -q - "$type:$WS/stock-$type/$map" | normalize > "$WS/$map.stock"
      diff -u "$WS/$map.q.sorted" "$WS/$map.stock" || die "$type: $map: our file and stock $tool's file answer differently"
    else
      # Debian's postalias adds NIS records (YP_LAST_MODIFIED, a timestamp, and
      # YP_MASTER_NAME); mapsync does not write them (docs/postfix-integration.md).
      "$tool" -s "$type:$WS/stock-$type/$map" | grep -v '^YP_' | sort > "$WS/$map.stock"
      "$tool" -s "$type:$dir/$map" | sort > "$WS/$map.ours"
      diff -u "$WS/$map.stock" "$WS/$map.ours" || die "$type: $map: our file and stock $tool's file differ"
    fi

    # The text source is published too, readable by postmaster as configured.
    [[ "$(stat -c %a "$dir/$map$sfx")" == "$(stat -c %a "$dir/$map")" ]] || die "$map: text and indexed file modes differ"
  done
  for gone in olaf.gone@example.edu olaf@example.edu lee.ving@example.edu noreply@example.edu olaf.gone@alias.edu; do
    if postmap -q "$gone" "$type:$dir/virtual" >/dev/null; then die "$type: $gone must not be in virtual"; fi
    if postmap -q "$gone" "$type:$dir/relay_recipients" >/dev/null; then die "$type: $gone must not be accepted"; fi
  done
  # Postfix folds lookup keys (UTF-8 too): the stock client finds mixed-case and ß forms.
  [[ "$(postmap -q 'JÖRG.Müller@Example.EDU' "$type:$dir/virtual")" == "jmueller@example.edu" ]] || die "$type: UTF-8 folded lookup"
  [[ "$(postmap -q 'Bo.Straße@ALIAS.edu' "$type:$dir/virtual")" == "bwong@example.edu" ]] || die "$type: ß folded lookup"
  [[ "$(postmap -q '@dept.example.edu' "$type:$dir/relay_recipients")" == "OK" ]] || die "$type: relay domain wildcard"
}

# Each map type is its own database and map directory: a type that fails does not stop
# the others. Per type: build, then three checks of what it published.
build_type() {
  local type=$1 db="roundtrip_$1" conf="$WS/$1.yaml"
  write_config "$MAPSYNC_TEST_DBDIR" "$db" "$WS/maps-$type" "$type" > "$conf"
  # Owner and mode from config: aliases 0640 group mail.
  python3 - "$conf" <<'PY' 2>/dev/null || sed -i 's/^maps:$/maps:\n  aliases:\n    mode: "0640"\n    group: mail/' "$conf"
import sys
p = sys.argv[1]
s = open(p).read().replace("maps:\n", "maps:\n  aliases:\n    mode: \"0640\"\n    group: mail\n", 1)
open(p, "w").write(s)
PY
  campus_db "$MAPSYNC_TEST_DBDIR" "$db" "$conf"
  expect_exit 0 "$MAPSYNC" -c "$conf" build
  expect_output "generation 1: serial"
  expect_output 'staff-all@example.edu'   # the warning about the disabled member names the group
}

owner_mode() {
  local type=$1 sfx
  sfx=$(suffix_of "$type")
  [[ "$(stat -c '%a %G' "$WS/maps-$type/aliases$sfx")" == "640 mail" ]] || die "aliases$sfx owner/mode not as configured"
  [[ "$(stat -c '%a %U' "$WS/maps-$type/virtual$sfx")" == "644 root" ]] || die "virtual$sfx owner/mode not as configured"
  no_temp_files "$WS/maps-$type"
}

# mapsync's own readers agree with postmap.
own_readers() {
  local conf="$WS/$1.yaml"
  [[ "$("$MAPSYNC" -c "$conf" query 'John.Doe@Example.edu' virtual)" == "jdoe@example.edu" ]] || die "mapsync query"
  expect_exit 1 "$MAPSYNC" -c "$conf" query nobody@example.edu virtual
  "$MAPSYNC" -c "$conf" dump transport | sort > "$WS/dump.transport"
  diff -u <(sort "$EXPECTED/transport.txt") "$WS/dump.transport" || die "mapsync dump transport"
}

for type in hash btree lmdb cdb; do
  step "build_$type" build_type "$type"
  step --needs "build_$type" "postmap_$type" check_map_dir "$type" "$WS/maps-$type" "$WS/$type.yaml"
  step --needs "build_$type" "owner_mode_$type" owner_mode "$type"
  step --needs "build_$type" "readers_$type" own_readers "$type"
done
finish
