#!/usr/bin/env bash
# demo.sh - the main job end to end, against throwaway local services:
# builds mapsync, starts a private MariaDB on loopback, creates the schema with
# `mapsync migrate`, loads the example campus (examples/campus.sql), publishes the maps
# with `mapsync build`, and looks a few addresses up with the stock `postmap -q`.
# The database is stopped at the end; the published maps stay for you to look at.
# `examples/demo.sh --full` runs examples/demo-full.sh instead: the whole system (AD, adsync,
# mboxsync, a Cyrus Murder, two hubs, a private Postfix delivering two messages).
set -euo pipefail
if [[ ${1:-} == --full ]]; then exec bash "$(dirname "$0")/demo-full.sh"; fi
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build}
cmake -S "$ROOT" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD_DIR" -j "$(nproc)" --target mapsync mapadm
MAPSYNC="$BUILD_DIR/apps/mapsync/mapsync"
FIXTURE="$ROOT/tests/fixtures/mariadb.sh"

WORK=$(mktemp -d /tmp/mapsync-demo.XXXXXX)
trap 'bash "$FIXTURE" stop "$WORK/db" >/dev/null 2>&1 || true' EXIT
step() { printf '\n== %s\n' "$*"; }

step "start a throwaway MariaDB in $WORK/db (loopback only)"
bash "$FIXTURE" start "$WORK/db"
bash "$FIXTURE" config "$WORK/db" "$WORK/maps" > "$WORK/mapsync.yaml"
cat "$WORK/mapsync.yaml"

step "mapsync migrate: create the schema"
"$MAPSYNC" -c "$WORK/mapsync.yaml" migrate

step "load the example campus (examples/campus.sql)"
bash "$FIXTURE" sql "$WORK/db" < "$ROOT/examples/campus.sql"

step "mapsync build: one snapshot, render, validate, publish"
"$MAPSYNC" -c "$WORK/mapsync.yaml" build
ls -l "$WORK/maps"

step "lookups with the stock postmap -q"
mkdir -p "$WORK/postfix"
printf 'compatibility_level = 3.7\nmaillog_file = /dev/stdout\n' > "$WORK/postfix/main.cf"
touch -d '1 hour ago' "$WORK/postfix/main.cf"  # postfix waits for a main.cf written this second
export MAIL_CONFIG="$WORK/postfix"
q() {
  printf '%-44s %s\n' "postmap -q $1 $2:" "$(postmap -q "$1" "hash:$WORK/maps/$2" || echo '(not found)')"
}
q John.Doe@example.edu virtual
q jdoe@example.edu transport
q staff-all@example.edu virtual
q Jörg.Müller@ALIAS.edu virtual
q pat.professor@example.edu transport
q olaf.gone@example.edu relay_recipients
q jdoe@example.edu canonical
printf '%-44s %s\n' "postalias -q postmaster aliases:" "$(postalias -q postmaster "hash:$WORK/maps/aliases")"

step "mapadm: an admin change instead of raw SQL (validated like a build; --dry-run shows the map diff)"
MAPADM="$BUILD_DIR/apps/mapadm/mapadm"
"$MAPADM" -c "$WORK/mapsync.yaml" address add johnny.d@example.edu account=jdoe --dry-run
# The group it-team@example.edu has this address already (the build folds case): refused with
# the build's message, nothing written.
"$MAPADM" -c "$WORK/mapsync.yaml" address add IT-Team@example.edu account=asmith || echo "(refused, exit $?)"

printf '\nThe maps are in %s (text source beside each .db).\n' "$WORK/maps"
