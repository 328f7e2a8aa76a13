# bench/lib.sh - helpers shared by the benchmark scripts in bench/ (bench_build.sh,
# bench_incremental.sh, bench_adsync.sh, bench_mboxsync.sh,
# bench_moves.sh); sourced, not run. The caller runs
# under `set -euo pipefail` and sets PROG (its name in messages) and SRC (the source tree); the
# helpers that say so use more of the caller's globals (WORK, BUILD, MAPSYNC, ...).
#
# Files that may vanish are read with `read`, never with $(<file): under `set -e` a failed
# redirection in $(<file) ends the whole script, even before `||`.
# shellcheck shell=bash

die() { printf '%s: %s\n' "$PROG" "$*" >&2; exit 1; }
say() { printf '%s: %s\n' "$PROG" "$*" >&2; }

# Median (lower middle for an even count), minimum, maximum of the numbers on stdin.
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) exit 1; print v[int((NR + 1) / 2)] }'; }
minimum() { sort -g | head -n 1; }
maximum() { sort -g | tail -n 1; }
# Kilobytes $1 as megabytes, rounded up.
mb() { echo $(( ($1 + 1023) / 1024 )); }
# A PASS/MISS verdict as the prose of the result list says it.
met() { [[ $1 == PASS ]] && echo met || echo 'NOT met'; }
# Microseconds since the epoch, without a fork (EPOCHREALTIME, bash 5; any decimal separator).
now_us() { local t=${EPOCHREALTIME/[.,]/}; printf '%s\n' "$((10#$t))"; }

# need_gnu_time: installs the time package when /usr/bin/time is missing (as root only).
need_gnu_time() {
  if [[ -x /usr/bin/time ]]; then return 0; fi
  (( EUID == 0 )) || die "/usr/bin/time missing: apt-get install time"
  say "installing the time package"
  apt-get install -y --no-install-recommends time >/dev/null 2>&1 ||
    { apt-get update >/dev/null && apt-get install -y --no-install-recommends time >/dev/null; } ||
    die "could not install the time package"
}

# cmake_build TARGET...: configures BUILD from SRC (RelWithDebInfo, Ninja when installed) when it
# has no CMakeCache.txt yet, builds the TARGETs (a no-op when up to date) and sets BUILD_TYPE
# (read-only). The cmake output goes to TMPDIR/<PROG without .sh>.cmake.log and .build.log.
# shellcheck disable=SC2034  # BUILD_TYPE is for the caller
cmake_build() {
  local logs=${TMPDIR:-/tmp}/${PROG%.sh} what=$1 t gen=()
  for t in "${@:2}"; do what+=" and $t"; done
  if [[ ! -f $BUILD/CMakeCache.txt ]]; then
    say "configuring $BUILD (RelWithDebInfo)"
    if command -v ninja >/dev/null; then gen=(-G Ninja); fi
    cmake -S "$SRC" -B "$BUILD" "${gen[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$logs.cmake.log" 2>&1 ||
      { tail -n 30 "$logs.cmake.log" >&2; die "cmake configure failed"; }
  fi
  say "building $what in $BUILD"
  cmake --build "$BUILD" -j "$(nproc)" --target "$@" >"$logs.build.log" 2>&1 ||
    { tail -n 30 "$logs.build.log" >&2; die "build failed"; }
  BUILD_TYPE=$(awk -F= '/^CMAKE_BUILD_TYPE:/ { print $2 }' "$BUILD/CMakeCache.txt")
  readonly BUILD_TYPE
}

# bench_preflight WHY PROGRAM...: root (WHY: what needs it), bash 5 (EPOCHREALTIME), GNU time
# (need_gnu_time) and each PROGRAM on PATH.
bench_preflight() {
  local p
  (( EUID == 0 )) || die "must run as root ($1)"
  [[ -n ${EPOCHREALTIME:-} ]] || die "bash 5 needed (EPOCHREALTIME)"
  need_gnu_time
  for p in "${@:2}"; do command -v "$p" >/dev/null || die "$p missing"; done
}

# build_programs PROGRAM...: cmake_build PROGRAM...; then, for each, a read-only variable named
# like it in capitals holding its path (MBOXSYNC=BUILD/apps/mboxsync/mboxsync), checked.
build_programs() {
  local p var
  cmake_build "$@"
  for p in "$@"; do
    var=${p^^}
    declare -gr "$var=$BUILD/apps/$p/$p"
    [[ -x ${!var} ]] || die "${!var} missing after the build"
  done
}

# ---------------------------------------------------------------- work directory, cleanup

# Set WORK_KEEP=1 to keep the work directory after a successful run (a failed run keeps it anyway).
WORK_KEEP=0
CLEANUP_WHAT=()
CLEANUP_CMDS=()

# at_cleanup WHAT CMD...: CMD runs at exit (output discarded), the last one given first; when it
# fails the message is "could not WHAT". Giving the same WHAT again adds nothing.
at_cleanup() {
  local what=$1 cmd w
  shift
  for w in "${CLEANUP_WHAT[@]}"; do [[ $w != "$what" ]] || return 0; done
  printf -v cmd '%q ' "$@"
  CLEANUP_WHAT+=("$what")
  CLEANUP_CMDS+=("$cmd")
}

# The EXIT trap: the at_cleanup commands, then WORK removed or kept; exits with the script's status.
bench_cleanup() {
  local rc=$? i
  for (( i = ${#CLEANUP_CMDS[@]} - 1; i >= 0; i-- )); do
    eval "${CLEANUP_CMDS[i]}" >/dev/null 2>&1 || say "could not ${CLEANUP_WHAT[i]}"
  done
  if [[ $WORK_KEEP == 1 || $rc != 0 ]]; then
    say "work directory kept: $WORK"
  else
    rm -rf "$WORK"
  fi
  exit "$rc"
}

# bench_work_dir PREFIX: makes the work directory WORK (read-only), TMPDIR/PREFIX.XXXXXX, and
# installs the traps (EXIT: bench_cleanup; INT and TERM exit with 130 and 143, through it).
bench_work_dir() {
  WORK=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")
  readonly WORK
  trap bench_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}

# cyrus_work_dir PREFIX: bench_work_dir PREFIX, reachable by the Cyrus processes (user cyrus), with
# CYRDIR (read-only), WORK/cyr, for tests/fixtures/cyrus_murder.sh and the timer WORK/timer.sh.
cyrus_work_dir() {
  bench_work_dir "$1"
  chmod 0711 "$WORK"
  CYRDIR=$WORK/cyr
  readonly CYRDIR
  (( ${#CYRDIR} <= 60 )) || die "$CYRDIR: too long for Cyrus's unix socket paths; set a shorter TMPDIR"
  write_timer_script "$WORK/timer.sh"
}

# write_timer_script FILE: writes FILE (mode 0755), a timer for one client process, to be run
#   FILE RESULT OUT CMD...
# (inside a namespace too): CMD's stdout goes to OUT ("-": left alone); writes
# "WALL_SECONDS PEAK_RSS_KB EXIT CPU_SECONDS" (CPU: user + system of CMD) to RESULT; exits with
# CMD's status. Wall time is bash's EPOCHREALTIME around /usr/bin/time, which gives RSS and CPU.
write_timer_script() {
  cat >"$1" <<'EOF'
#!/usr/bin/env bash
res=$1
[[ $2 == - ]] || exec >"$2"
shift 2
rc=0
t0=$EPOCHREALTIME
/usr/bin/time -f '%M %U %S' -o "$res.rss" "$@" || rc=$?
t1=$EPOCHREALTIME
read -r rss user sys < <(tail -n 1 "$res.rss")
awk -v a="$t0" -v b="$t1" -v r="$rss" -v c="$rc" -v u="$user" -v s="$sys" \
  'BEGIN { printf "%.3f %s %s %.2f\n", b - a, r, c, u + s }' >"$res"
exit "$rc"
EOF
  chmod 0755 "$1"
}

# ---------------------------------------------------------------- Postfix, MariaDB, docs

# private_postfix_config DIR: a main.cf in DIR for postmap/postalias, exported as MAIL_CONFIG, so
# that /etc/postfix is neither read nor touched.
private_postfix_config() {
  mkdir -p "$1"
  printf 'compatibility_level = 3.7\nmaillog_file = /dev/stdout\n' >"$1/main.cf"
  # Postfix waits (up to ~2 s, in 0.3 s steps) while main.cf looks freshly modified: date it back.
  touch -d '-1 hour' "$1/main.cf"
  export MAIL_CONFIG=$1
}

# campus_build_dir DIR (bench_build.sh, bench_incremental.sh): the build directory BUILD (DIR made
# absolute), MAPSYNC and GEN (gen_userdb) built in it, FIXTURE the MariaDB fixture; all read-only.
campus_build_dir() {
  [[ -d $1 ]] || die "$1: no such build directory"
  BUILD=$(cd "$1" && pwd -P)
  MAPSYNC=$BUILD/apps/mapsync/mapsync
  GEN=$BUILD/bench/gen_userdb
  FIXTURE=$SRC/tests/fixtures/mariadb.sh
  readonly BUILD MAPSYNC GEN FIXTURE
  [[ -x $MAPSYNC ]] || die "$MAPSYNC missing: cmake --build $BUILD --target mapsync gen_userdb"
  [[ -x $GEN ]] || die "$GEN missing: cmake --build $BUILD --target mapsync gen_userdb"
}

# load_campus FORMAT (bench_build.sh, bench_incremental.sh): starts MariaDB (FIXTURE) in WORK/db,
# buffer pool 512M; writes its mapsync config WORK/mapsync.yaml (CONF) for the maps directory
# WORK/maps (MAPS); creates the schema (MAPSYNC migrate); writes a campus of N addresses with GEN
# (BENCH_SEED: its seed) into WORK/data and loads it. Sets LOAD_SECONDS, the load's wall time as
# awk's printf FORMAT prints it.
load_campus() {
  local gen_args=(--addresses "$N" --out "$WORK/data") t0
  MARIADB_BUFFER_POOL=512M "$FIXTURE" start "$WORK/db"
  CONF=$WORK/mapsync.yaml
  MAPS=$WORK/maps
  mkdir -p "$MAPS"
  "$FIXTURE" config "$WORK/db" "$MAPS" >"$CONF"

  "$MAPSYNC" -c "$CONF" migrate >"$WORK/migrate.log" 2>&1 ||
    { cat "$WORK/migrate.log" >&2; die "mapsync migrate failed"; }

  if [[ -n ${BENCH_SEED:-} ]]; then gen_args+=(--seed "$BENCH_SEED"); fi
  "$GEN" "${gen_args[@]}" >"$WORK/gen.log"
  say "generated: $(head -n 1 "$WORK/gen.log")"

  say "loading (LOAD DATA LOCAL INFILE; the change_serial triggers fire per row)"
  t0=$(now_us)
  "$FIXTURE" sql "$WORK/db" <"$WORK/data/load.sql" >"$WORK/load.log" 2>&1 ||
    { cat "$WORK/load.log" >&2; die "loading the generated data failed"; }
  LOAD_SECONDS=$(awk -v a="$t0" -v b="$(now_us)" -v f="$1" 'BEGIN { printf f, (b - a) / 1e6 }')
  say "loaded in ${LOAD_SECONDS} s"
}

# stock_client: the stock mariadb client as the application user 'mapsync' of load_campus's
# server, over TCP like mapsync: sets MARIADB_CLI and STOCK_CNF (WORK/client.cnf, mode 0600, the
# password in it: never on a command line). Run it as "$MARIADB_CLI" --defaults-file="$STOCK_CNF" ARGS.
stock_client() {
  local port
  MARIADB_CLI=$(command -v mariadb || command -v mysql || true)
  [[ -n $MARIADB_CLI ]] || die "mariadb client missing: apt-get install mariadb-client"
  port=$(MARIADB_PORT='' && source "$WORK/db/env" && printf '%s' "$MARIADB_PORT")
  STOCK_CNF=$WORK/client.cnf
  ( umask 077 && printf '[client]\nhost=127.0.0.1\nport=%s\nuser=mapsync\npassword=%s\ndatabase=mailusers\n' \
      "$port" "$(cat "$WORK/db/mapsync.password")" >"$STOCK_CNF" )
}

# start_mariadb (bench_adsync.sh, bench_mboxsync.sh, bench_moves.sh): a private MariaDB in WORK/db (buffer pool
# 512M), stopped at exit; sources its env (MARIADB_SOCKET, ...). Then:
#   db_root [ARGS...]   the mariadb client as root over the socket, batch mode
#   q DB SQL            one statement in DB, the result without column names
#   make_db NAME        an empty database NAME (for 'mapsync'@127.0.0.1 and @localhost) with the
#                       schema (MAPSYNC migrate); writes WORK/NAME.yaml: its database, maps and
#                       logging lines, then stdin
start_mariadb() {
  local dbfix=$SRC/tests/fixtures/mariadb.sh
  MARIADB_BUFFER_POOL=512M bash "$dbfix" start "$WORK/db" 2>"$WORK/db-start.log" ||
    { cat "$WORK/db-start.log" >&2; die "mariadb.sh start failed"; }
  at_cleanup "stop MariaDB in $WORK/db" bash "$dbfix" stop "$WORK/db"
  # shellcheck disable=SC1091
  source "$WORK/db/env"
}
make_db() {
  local name=$1 conf=$WORK/$1.yaml
  db_root <<SQL
DROP DATABASE IF EXISTS \`$name\`;
CREATE DATABASE \`$name\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
GRANT ALL ON \`$name\`.* TO 'mapsync'@'127.0.0.1';
GRANT ALL ON \`$name\`.* TO 'mapsync'@'localhost';
SQL
  {
    printf 'database: {socket: %s, user: mapsync, password_file: %s, database: %s}\n' \
      "$MARIADB_SOCKET" "$WORK/db/mapsync.password" "$name"
    printf 'maps: {directory: %s}\n' "$WORK/maps-$name"
    printf 'logging: {level: info, syslog: false}\n'
    cat
  } >"$conf"
  "$MAPSYNC" -c "$conf" -q migrate >"$WORK/migrate-$name.log" 2>&1 ||
    { cat "$WORK/migrate-$name.log" >&2; die "mapsync migrate ($name) failed"; }
}
# utf8mb4: with no UTF-8 locale the client would send and read text as latin1.
db_root() { mariadb --no-defaults --default-character-set=utf8mb4 --socket="$MARIADB_SOCKET" -uroot --batch "$@"; }
q() { db_root "$1" -N <<<"$2"; }

# update_doc HEADING SECTION: in docs/benchmarks.md, replaces the section that starts with the line
# HEADING (up to the next "## " heading) with SECTION, or appends SECTION at the end.
update_doc() {
  local doc=$SRC/docs/benchmarks.md tmp
  mkdir -p "$SRC/docs"
  [[ -f $doc ]] || printf '# Benchmarks\n\nFigures measured on the machines named in each section.\n' >"$doc"
  tmp=$(mktemp "$SRC/docs/.benchmarks.md.XXXXXX")
  HEADING=$1 SECTION=$2 awk '
    BEGIN { h = ENVIRON["HEADING"]; s = ENVIRON["SECTION"] }
    index($0, h) == 1 { print s; done = 1; skip = 1; next }
    skip && /^## / { skip = 0; print "" }
    !skip { print }
    { last = $0 }
    END { if (!done) { if (last != "") print ""; print s } }
  ' "$doc" >"$tmp"
  chmod 0644 "$tmp"
  mv -f "$tmp" "$doc"
  say "updated $doc"
}
