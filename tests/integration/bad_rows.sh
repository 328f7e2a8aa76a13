#!/usr/bin/env bash
# bad_rows: rows that no Postfix map can hold as written, in every table the renderer
# reads, against the real MariaDB and the stock postmap/postalias (issue 11):
#  1. refused: keys and values with blanks, CR, LF, NUL, tabs, commas, a leading '#',
#     transports and next hops with injected lines or blanks, an empty smtp_nexthop,
#     invalid UTF-8 (when the database stores it at all), one of each in accounts,
#     addresses, account_forwards, group_aliases, group_members, mailing_lists,
#     canonical_rewrites, transport_overrides, system_aliases, domains and
#     delivery_targets: `check`, `check --json` and `build` each exit 65 and name every
#     row (table id=N) in one run; a line feed in a value forges no log line; the
#     published maps are byte-identical afterwards and no temp file is left.
#  2. rendered safely: commands with RFC 822 specials, a 1000-byte command, a quoted
#     target with a comma: `build` exits 0, and every map Postfix reads (postmap -s,
#     postalias -s) holds exactly the entries that stock postmap/postalias build from our
#     text source, as many as mapsync counted: no line was split or injected.
#  3. writer only: NULs that only the map writer used to notice (exit 70 at the first)
#     are both named, exit 65, and the published maps stay as they are.
TEST_NAME=bad_rows
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
: "${MAPSYNC_TEST_DBDIR:?}"
DBDIR=$MAPSYNC_TEST_DBDIR
export LC_ALL=C
MAPS_LIST="transport canonical relay_domains aliases virtual relay_recipients"

sql() { db_root "$DBDIR" "$1"; }  # sql DB <<< "statements"

tool_of() { [[ $1 == aliases ]] && echo postalias || echo postmap; }
# dump_map BASE MAP: every entry Postfix reads from hash:BASE (BASE.db), "key<TAB>value", sorted
# bytewise; postalias's "@" and NIS records aside.
dump_map() {
  "$(tool_of "$2")" -s "hash:$1" | grep -F "$(printf '\t')" | sed 's/^\([^\t]*\):\t/\1\t/' |
    awk -F'\t' '!($1 == "@" && $2 == "@") && $1 !~ /^YP_/' | sort
}

# Each refused row, as "TABLE id=N" the messages must name.
ROWS=(
  "accounts id=100" "accounts id=101" "accounts id=102" "accounts id=103"
  "addresses id=100" "addresses id=101" "addresses id=102" "addresses id=103"
  "account_forwards id=100" "group_aliases id=100" "group_members id=101"
  "mailing_lists id=100" "mailing_lists id=101" "mailing_lists id=102"
  "canonical_rewrites id=100" "transport_overrides id=100" "transport_overrides id=101"
  "system_aliases id=100" "system_aliases id=101" "domains id=100" "delivery_targets id=100"
)

# names_all FILE: every refused row is named on an error line of FILE.
names_all() {
  local row missing=()
  for row in "${ROWS[@]}"; do
    grep -F ': error: ' "$1" | grep -Fq -- "$row" || missing+=("$row")
  done
  (( ${#missing[@]} == 0 )) || { cat "$1" >&2; die "not named: ${missing[*]}"; }
}

# no_forged_lines FILE: the value with a line feed did not start a log line of its own.
no_forged_lines() {
  if grep -q '^mapsync: error: FORGED' "$1"; then cat "$1" >&2; die "a database value forged a log line"; fi
  grep -Fq 'bad\nmapsync: error: FORGED' "$1" || { cat "$1" >&2; die "the line feed is not shown as \\n"; }
}

step_setup() {
  for db in ms_badrows ms_badrows_safe; do
    write_config "$DBDIR" "$db" "$WS/maps-$db" > "$WS/$db.yaml"
    campus_db "$DBDIR" "$db" "$WS/$db.yaml"
    mkdir -p "$WS/maps-$db"
    expect_exit 0 "$MAPSYNC" -c "$WS/$db.yaml" build
  done
  map_fingerprint "$WS/maps-ms_badrows" > "$WS/stamp.before"
}
step setup step_setup

step_insert_bad_rows() {
  sql ms_badrows <<'SQL'
INSERT INTO accounts (id, uid, primary_address, status, delivery, backend_id, cyrus_partition, smtp_nexthop) VALUES
  (100, 'badnl', CONCAT('bad', CHAR(10), 'mapsync: error: FORGED@example.edu'), 'active', 'cyrus', 1, 'default', NULL),
  (101, 'emptyhop', 'emptyhop@example.edu', 'active', 'smtp', NULL, NULL, ''),
  (102, 'blankhop', 'blankhop@example.edu', 'active', 'smtp', NULL, NULL, '[exch ange.example.edu]'),
  (103, 'lfhop', 'lfhop@example.edu', 'active', 'smtp', NULL, NULL, CONCAT('[x.example.edu]', CHAR(10), 'evil@example.edu smtp:'));
INSERT INTO addresses (id, account_id, address) VALUES
  (100, 1, CONCAT('nul', CHAR(0), 'x@example.edu')),
  (101, 1, '#comment@example.edu'),
  (102, 1, 'sp ace@example.edu'),
  (103, 1, 'com,ma@example.edu');
INSERT INTO account_forwards (id, account_id, target) VALUES (100, 7, CONCAT('ed2@retired.example.org', CHAR(13)));
INSERT INTO group_aliases (id, address) VALUES (100, CONCAT('grp', CHAR(9), 'x@example.edu'));
INSERT INTO group_members (id, group_id, member_account_id, member_address) VALUES
  (100, 100, 1, NULL), (101, 1, NULL, CONCAT('x', CHAR(0), '@pager.example.net'));
INSERT INTO mailing_lists (id, address, manager, transport, local_name, pipe_command) VALUES
  (100, 'l1@example.edu', 'transport', CONCAT('smtp:[lists.example.edu]', CHAR(10), 'x'), NULL, NULL),
  (101, 'l2@example.edu', 'pipe', NULL, 'l2', CONCAT('/bin/x', CHAR(10), 'y')),
  (102, 'l3@example.edu', 'pipe', NULL, 'l3', CONCAT('/bin/x', CHAR(9), 'y'));
INSERT INTO canonical_rewrites (id, source, target) VALUES (100, CONCAT('a', CHAR(10), 'b@example.edu'), 'c@example.edu');
INSERT INTO transport_overrides (id, pattern, transport) VALUES
  (100, 'jdoe@example.edu', CONCAT('error:5.1.1 gone', CHAR(10), 'y')),
  (101, 'sp ace.example.edu', 'smtp:[a.example.edu]');
INSERT INTO system_aliases (id, name, targets) VALUES
  (100, 'badalias', CONCAT('|/bin/x', CHAR(0), 'y')),
  (101, CONCAT('na', CHAR(10), 'me'), 'root');
INSERT INTO domains (id, name, kind, transport) VALUES (100, 'r.example.org', 'relay', CONCAT('smtp:[r.example.org]', CHAR(10)));
INSERT INTO delivery_targets (id, name, transport, routing_domain) VALUES
  (100, 'badtarget', CONCAT('smtp:[t.example.org]', CHAR(10), 'x'), 'tgt.example.org');
SQL
  # Invalid UTF-8: a strict utf8mb4 server refuses it; if it stores it, we must refuse it.
  if sql ms_badrows <<< "INSERT INTO addresses (id, account_id, address) VALUES (104, 1, CONCAT('u', UNHEX('FF'), '@example.edu'));" 2>"$WS/utf8.err" &&
     [[ $(q ms_badrows "SELECT HEX(address) FROM addresses WHERE id = 104") == *FF* ]]; then
    note "   the database stored invalid UTF-8: it must be refused too"
    echo "addresses id=104" > "$WS/extra_rows"
  else
    note "   the database refuses invalid UTF-8 itself: $(tail -1 "$WS/utf8.err")"
    : > "$WS/extra_rows"
  fi
}
step --needs setup insert_bad_rows step_insert_bad_rows

load_rows() { while read -r r; do [[ -z $r ]] || ROWS+=("$r"); done < "$WS/extra_rows"; }

step_check_refuses() {
  load_rows
  expect_exit 65 "$MAPSYNC" -c "$WS/ms_badrows.yaml" check
  names_all "$WS/out"
  no_forged_lines "$WS/out"
  expect_output "error(s) in the database; nothing published"
  expect_json 65 "$MAPSYNC" -c "$WS/ms_badrows.yaml" check --json
  local row
  for row in "${ROWS[@]}"; do
    json_check "check --json does not name $row" '[.findings[] | select(.severity == "error") | .message | contains($r)] | any' --arg r "$row"
  done
  json_check "check --json: error count" '.errors >= ($n | tonumber) and .errors == ([.findings[] | select(.severity == "error")] | length)' --arg n "${#ROWS[@]}"
  json_check "check --json: a line feed in a message" '[.findings[].message | test("\n")] | any | not'
}
step --needs insert_bad_rows check_refuses step_check_refuses

step_build_refuses() {
  load_rows
  expect_exit 65 "$MAPSYNC" -c "$WS/ms_badrows.yaml" build
  names_all "$WS/out"
  no_forged_lines "$WS/out"
  expect_output "error(s) in the database; nothing published"
  if grep -q 'mapsync-tmp\|\.tmp' "$WS/out"; then cat "$WS/out" >&2; die "the build failed in the writer (a temp file is named)"; fi
  map_fingerprint "$WS/maps-ms_badrows" > "$WS/stamp.after"
  diff -u "$WS/stamp.before" "$WS/stamp.after" >&2 || die "a refused build changed the published maps"
  no_temp_files "$WS/maps-ms_badrows"
}
step --needs insert_bad_rows build_refuses step_build_refuses

step_insert_safe_rows() {
  sql ms_badrows_safe <<'SQL'
INSERT INTO mailing_lists (id, address, manager, local_name, pipe_command) VALUES
  (100, 'specials@example.edu', 'pipe', 'specials', '/bin/echo<x> (c) [y] a\\b "q"'),
  (101, 'long@example.edu', 'pipe', 'long', CONCAT('/bin/', REPEAT('x', 995)));
INSERT INTO system_aliases (id, name, targets) VALUES
  (100, 'quoted', '"|/usr/bin/logger -t a,b", root'),
  (101, 'file', '"/var/log/x<y>"');
SQL
}
step --needs setup insert_safe_rows step_insert_safe_rows

step_safe_rows_render() {
  local maps=$WS/maps-ms_badrows_safe m n
  expect_exit 0 "$MAPSYNC" -c "$WS/ms_badrows_safe.yaml" build
  dump_map "$maps/aliases" aliases > "$WS/aliases.ours"
  grep -Fxq "specials	\"|/bin/echo<x> (c) [y] a\\\\b \\\"q\\\"\"" "$WS/aliases.ours" || { cat "$WS/aliases.ours" >&2; die "specials: not quoted as postalias keeps it"; }
  grep -Fxq "long	|/bin/$(printf 'x%.0s' {1..995})" "$WS/aliases.ours" || die "long: the 1000-byte command is not there whole"
  grep -Fxq 'quoted	"|/usr/bin/logger -t a,b", root' "$WS/aliases.ours" || die "quoted: not as written"
  grep -Fxq 'file	"/var/log/x<y>"' "$WS/aliases.ours" || die "file: not quoted"
  expect_json 0 "$MAPSYNC" -c "$WS/ms_badrows_safe.yaml" status --json
  for m in $MAPS_LIST; do
    # What stock postmap/postalias build from our text source is what we published.
    cp "$maps/$m" "$WS/stock-$m"
    "$(tool_of "$m")" "hash:$WS/stock-$m" 2>"$WS/stock.err" || { cat "$WS/stock.err" >&2; die "$m: stock tool failed on our text"; }
    [[ ! -s $WS/stock.err ]] || { cat "$WS/stock.err" >&2; die "$m: stock tool warned about our text"; }
    dump_map "$maps/$m" "$m" > "$WS/ours.$m"
    dump_map "$WS/stock-$m" "$m" > "$WS/stock.$m"
    diff -u "$WS/stock.$m" "$WS/ours.$m" >&2 || die "$m: the published map differs from what stock tools build from its text"
    n=$(jq --arg m "$m" '.maps[] | select(.name == $m) | .entries' "$WS/json")
    [[ $(wc -l < "$WS/ours.$m") == "$n" ]] || die "$m: $(wc -l < "$WS/ours.$m") entries in the file, mapsync counted $n"
  done
}
step --needs insert_safe_rows safe_rows_render step_safe_rows_render

# Rows that only the writer used to notice (it exited 70 naming a temp file, at the
# first one): NULs in a command and in an alias target. Both named, exit 65, and the
# maps published by safe_rows_render stay as they are.
step_writer_only() {
  local maps=$WS/maps-ms_badrows_safe
  map_fingerprint "$maps" > "$WS/stamp.safe"
  sql ms_badrows_safe <<'SQL'
INSERT INTO mailing_lists (id, address, manager, local_name, pipe_command) VALUES
  (102, 'nul@example.edu', 'pipe', 'nul', CONCAT('/bin/x', CHAR(0), 'y'));
INSERT INTO system_aliases (id, name, targets) VALUES (102, 'nulalias', CONCAT('|/bin/x', CHAR(0), 'y'));
SQL
  expect_exit 65 "$MAPSYNC" -c "$WS/ms_badrows_safe.yaml" build
  ROWS=("mailing_lists id=102" "system_aliases id=102")
  names_all "$WS/out"
  expect_output 'x\\0y'  # the NUL shown as \0
  map_fingerprint "$maps" > "$WS/stamp.safe.after"
  diff -u "$WS/stamp.safe" "$WS/stamp.safe.after" >&2 || die "a refused build changed the published maps"
  no_temp_files "$maps"
}
step --needs safe_rows_render writer_only step_writer_only

finish
