#!/usr/bin/env bash
# noop_startup: the libraries that mapsync loads at first use (core/dynlib.h: ICU in
# core/casefold.cpp, libidn2 in core/address.cpp, Berkeley DB in maps/bdb_load.cpp) stay
# out of a run that does not need them, and come in when it does. Read from the dynamic
# loader's own trace (LD_DEBUG=files lists every object it maps, needed or dlopen'ed):
#  - control: a full build of the example campus (hash maps, Jörg.Müller's non-ASCII key)
#    shows libicuuc and libdb-5.3 loaded, so the trace does see a library loaded late;
#  - a no-op build ("nothing changed") maps none of ICU, libidn2, libunistring, Berkeley DB;
#  - `mapsync --version` maps none of them either.
# And what a no-op run asks the server, counted by the server itself (global status
# Questions; MariaDB 10.11 counts a prepared statement's prepare and its execution, as its
# general log shows them): at most 6, the connector's three statements at connect, the serial
# (which brings the schema version and the fleet hold along), the hub report's REPLACE
# (prepared). Each is a round trip that every hub pays on every run.
# It starts its own MariaDB, so that the server's counter sees no other test's statements.
# Issue 15: docs/benchmarks.md, "No-op start-up (issue 15)".
TEST_NAME=noop_startup
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
DBDIR="$WS/db"
own_mariadb "$DBDIR"

readonly LATE='libicu|libidn2|libunistring|libdb-5'
DB=noop_startup
CONF=$WS/mapsync.yaml
write_config "$DBDIR" "$DB" "$WS/maps" hash > "$CONF"
campus_db "$DBDIR" "$DB" "$CONF"
readonly MAX_NOOP_STATEMENTS=6

# loaded NAME ARGS...: runs mapsync ARGS with the loader's trace; WS/NAME.log has its
# output, WS/NAME.loaded the objects it mapped (one file name a line).
loaded() {
  local name=$1
  shift
  LD_DEBUG=files "$MAPSYNC" "$@" > "$WS/$name.log" 2>&1 || { tail -n 20 "$WS/$name.log"; die "mapsync $* failed"; }
  sed -n 's/.*[[:space:]]file=\([^ ]*\) \[[0-9]*\];  \(needed\|dynamically loaded\) by .*/\1/p' "$WS/$name.log" |
    sort -u > "$WS/$name.loaded"
  [[ -s $WS/$name.loaded ]] || die "$name: the loader's trace lists no object (LD_DEBUG ignored?)"
}

full_build_loads_them() {
  loaded full -c "$CONF" build
  grep -q 'published generation 1' "$WS/full.log" || die "the full build did not publish generation 1"
  grep -q '^libicuuc\.' "$WS/full.loaded" || die "a build with a non-ASCII key did not load ICU: $(tr '\n' ' ' < "$WS/full.loaded")"
  grep -q '^libdb-5' "$WS/full.loaded" || die "a build of hash maps did not load Berkeley DB: $(tr '\n' ' ' < "$WS/full.loaded")"
}

noop_build_does_not() {
  loaded noop -c "$CONF" build
  grep -q 'nothing changed' "$WS/noop.log" || die "the second build was not a no-op: $(tail -n 1 "$WS/noop.log")"
  if grep -E "^($LATE)" "$WS/noop.loaded"; then die "a no-op build loaded the libraries above"; fi
}

version_does_not() {
  loaded version --version
  if grep -E "^($LATE)" "$WS/version.loaded"; then die "mapsync --version loaded the libraries above"; fi
}

questions() { db_root "$DBDIR" -N <<< "SHOW GLOBAL STATUS LIKE 'Questions'" | cut -f2; }

noop_statements() {
  local a b c n
  # What reading the counter itself adds (the second SHOW counts itself).
  a=$(questions)
  b=$(questions)
  "$MAPSYNC" -c "$CONF" build > "$WS/count.log" 2>&1 || { cat "$WS/count.log"; die "the no-op build failed"; }
  c=$(questions)
  grep -q 'nothing changed' "$WS/count.log" || die "the build was not a no-op: $(tail -n 1 "$WS/count.log")"
  n=$(( c - b - (b - a) ))
  note "a no-op run: $n statements"
  (( n > 0 )) || die "the server counted no statement of the no-op run ($a $b $c): is Questions counted?"
  (( n <= MAX_NOOP_STATEMENTS )) ||
    die "a no-op run sent $n statements, at most $MAX_NOOP_STATEMENTS expected (the connector's 3 at connect, the serial, the hub report's prepare and execute)"
}

step full_build_loads_them full_build_loads_them
step --needs full_build_loads_them noop_build_does_not noop_build_does_not
step version_does_not version_does_not
step --needs full_build_loads_them noop_statements noop_statements
finish
