# lib.sh - shared helpers for the integration tests (sourced, not run).
#
# The tests run against a real MariaDB started by tests/fixtures/mariadb.sh (the ctest
# fixture passes its directory in MAPSYNC_TEST_DBDIR) and read maps back with the stock
# postmap/postalias. A missing service or tool is a failure, never a skip.
#
# A test runs its parts as named steps (`step NAME FUNCTION`, below): each step reports
# ok or FAIL and the next one runs anyway, so that one broken part does not hide the
# others; `finish` prints the tally and fails the test when any step failed or was
# skipped. Setup that every step needs stays at top level, where a `die` ends the test.
set -euo pipefail

TESTS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ROOT=$(cd "$TESTS_DIR/.." && pwd)
: "${MAPSYNC:?MAPSYNC must point to the mapsync binary}"
FIXTURE="$ROOT/tests/fixtures/mariadb.sh"
TEST_NAME=${TEST_NAME:-$(basename "$0" .sh)}

# die MESSAGE: fails the current step (inside `step`) or the whole test (at top level).
# Inside a step the message is kept as the step's reason for the summary.
die() {
  echo "FAIL: $*" >&2
  if [[ -n ${_STEP_DIR:-} ]]; then printf '%s\n' "$*" > "$_STEP_DIR/die"; fi
  exit 1
}
note() { echo "--- $*"; }

for tool in postmap postalias db5.3_verify mariadb jq; do
  command -v "$tool" >/dev/null || die "$tool is not installed (the test needs the real thing)"
done

# A private workspace, removed on exit (kept with KEEP_WS=1).
WS=$(mktemp -d "/tmp/mapsync-$TEST_NAME.XXXXXX")
cleanup_ws() { [[ -n "${KEEP_WS:-}" ]] || rm -rf "$WS"; }

# at_exit COMMAND: run COMMAND (a string, eval'd) when the test exits, last registered
# first, before the workspace goes: stopping a private server, unmounting a tmpfs.
# Tests register here instead of replacing the EXIT trap, which also prints the summary.
# EXIT_STATUS holds the test's exit status meanwhile (diagnostics only on failure).
_AT_EXIT=()
at_exit() { _AT_EXIT=("$1" "${_AT_EXIT[@]}"); }
_on_exit() {
  local rc=$? cmd
  trap - EXIT
  # shellcheck disable=SC2034  # read by the at_exit commands
  EXIT_STATUS=$rc
  for cmd in "${_AT_EXIT[@]}"; do eval "$cmd" || true; done
  # Ended outside `finish`: a top-level die (setup failed), or steps ran and the script
  # exited before tallying them.
  if (( ! _FINISHED )) && (( rc != 0 || ${#_STEP_ORDER[@]} > 0 )); then
    (( rc != 0 )) || rc=1
    echo "$TEST_NAME: stopped early (exit $rc) after $(_step_tally)"
  fi
  cleanup_ws
  exit "$rc"
}
trap _on_exit EXIT

# --- named steps --------------------------------------------------------------------
# step [--needs A[,B...]] NAME FUNCTION [ARGS...]
#   Runs FUNCTION ARGS in a subshell with `set -e`: a die, an `exit 1` or a failing command
#   ends that step only. Prints "--- step NAME" before and "--- step NAME: ok (N s)" or
#   "--- step NAME: FAIL (reason)" after. A subshell cannot set variables for later steps:
#   keep shared state at top level or in files under $WS. A trap set inside a step
#   (restarting a server it stopped) runs when the step ends.
#   --needs: steps this one builds on (their database state, their files); when one of
#   them did not pass, this step does not run and is reported as skipped, which fails
#   the test like a failure does.
# soft_fail MESSAGE: an assertion that records a failure and lets the step go on (for a
#   check that leaves nothing later checks depend on); the step then reports FAIL.
# finish: the summary "NAME: P passed, F failed[, S skipped]"; exit 1 unless all passed.
declare -A _STEP_RESULT=()
_STEP_ORDER=()
_FINISHED=0
_step_tally() {
  local n p=0 f=0 s=0 failed_steps=() skipped_steps=()
  for n in "${_STEP_ORDER[@]}"; do
    case ${_STEP_RESULT[$n]} in
      ok) p=$((p + 1)) ;;
      skipped) s=$((s + 1)); skipped_steps+=("$n") ;;
      *) f=$((f + 1)); failed_steps+=("$n") ;;
    esac
  done
  printf '%d passed, %d failed' "$p" "$f"
  (( s == 0 )) || printf ', %d skipped' "$s"
  (( f == 0 )) || printf ' (failed: %s)' "${failed_steps[*]}"
  (( s == 0 )) || printf ' (skipped: %s)' "${skipped_steps[*]}"
  printf '\n'
}

soft_fail() {
  [[ -n ${_STEP_DIR:-} ]] || die "$*"
  echo "FAIL: $*" >&2
  printf '%s\n' "$*" >> "$_STEP_DIR/soft"
}

step() {
  local needs="" name fn rc t0 reason pre
  if [[ ${1:-} == --needs ]]; then needs=$2; shift 2; fi
  name=$1 fn=$2; shift 2
  [[ -z ${_STEP_RESULT[$name]+set} ]] || die "step $name defined twice"
  _STEP_ORDER+=("$name")
  for pre in ${needs//,/ }; do
    [[ -n ${_STEP_RESULT[$pre]+set} ]] || die "step $name needs $pre, which has not run"
    if [[ ${_STEP_RESULT[$pre]} != ok ]]; then
      _STEP_RESULT[$name]=skipped
      echo "--- step $name: SKIPPED (because $pre ${_STEP_RESULT[$pre]/fail/failed})"
      return 0
    fi
  done
  echo "--- step $name"
  t0=$SECONDS
  rm -rf "$WS/.step"; mkdir "$WS/.step"
  # Not `( ... ) || rc=$?`: in a condition bash ignores `set -e` inside the subshell, and a
  # failing command would not end the step.
  set +e
  (
    set -eE
    _STEP_DIR=$WS/.step
    # The command that failed under set -e, for the summary when no die said why (the last
    # one wins: a failure inside $(...) is then named by the script line that used it).
    # shellcheck disable=SC2154  # _rc is set by the trap itself
    trap '_rc=$?; printf "line %s: %s (exit %s)\n" "$LINENO" "$BASH_COMMAND" "$_rc" > "$_STEP_DIR/err"' ERR
    "$fn" "$@"
  )
  rc=$?
  set -e
  reason=""
  if [[ -s $WS/.step/die ]]; then reason=$(head -1 "$WS/.step/die")
  elif [[ -s $WS/.step/err ]]; then reason=$(head -1 "$WS/.step/err")
  fi
  if (( rc == 0 )) && [[ -s $WS/.step/soft ]]; then
    rc=1
    reason="$(wc -l < "$WS/.step/soft") soft failure(s): $(head -1 "$WS/.step/soft")"
  fi
  if (( rc == 0 )); then
    _STEP_RESULT[$name]=ok
    echo "--- step $name: ok ($((SECONDS - t0)) s)"
  else
    _STEP_RESULT[$name]=fail
    echo "--- step $name: FAIL (${reason:-exit $rc})"
  fi
  return 0
}

finish() {
  local line
  line=$(_step_tally)
  _FINISHED=1
  echo "$TEST_NAME: $line"
  [[ $line == "${#_STEP_ORDER[@]} passed, 0 failed" ]] || exit 1
  exit 0
}

# postmap must not touch /etc/postfix: a private config directory.
mkdir -p "$WS/postfix"
printf 'compatibility_level = 3.7\nmaillog_file = /dev/stdout\n' > "$WS/postfix/main.cf"
# Postfix pauses when main.cf is younger than a second or so; ours is not about to change.
touch -d "1 hour ago" "$WS/postfix/main.cf"
export MAIL_CONFIG="$WS/postfix"

# db_root DBDIR: runs the mariadb client as root over the fixture's socket (SQL on stdin).
db_root() {
  local dir=$1; shift
  # utf8mb4 always: without it the client takes its character set from the locale, and
  # with none (LANG unset: latin1) examples/campus.sql's Jörg.Müller is stored mangled.
  # shellcheck disable=SC1091
  ( source "$dir/env"; mariadb --no-defaults --default-character-set=utf8mb4 --socket="$MARIADB_SOCKET" -uroot --batch "$@" )
}

# own_mariadb DIR: a MariaDB of the test's own in DIR (tests/fixtures/mariadb.sh; MARIADB_TLS
# and the fixture's other variables pass through), for a test that stops its server or counts
# what the server was sent; stopped when the test exits. stop_mariadb DIR stops it before.
# At the top level only: a step runs in a subshell, and what it registers is lost.
own_mariadb() {
  at_exit "stop_mariadb $(printf '%q' "$1")"  # first: a start that fails half-way is stopped too
  bash "$FIXTURE" start "$1" >/dev/null
}
stop_mariadb() { bash "$FIXTURE" stop "$1" >/dev/null 2>&1 || true; }

# new_db DBDIR NAME: an empty database NAME that the fixture's mapsync user may use.
new_db() {
  local dir=$1 name=$2
  db_root "$dir" <<SQL
DROP DATABASE IF EXISTS \`$name\`;
CREATE DATABASE \`$name\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
GRANT ALL ON \`$name\`.* TO 'mapsync'@'127.0.0.1';
GRANT ALL ON \`$name\`.* TO 'mapsync'@'localhost';
SQL
}

# write_config DBDIR DBNAME MAPDIR [TYPE] > file: a mapsync config for this server.
write_config() {
  local dir=$1 name=$2 mapdir=$3 type=${4:-hash}
  # shellcheck disable=SC1091
  source "$dir/env"
  cat <<YAML
database:
  host: 127.0.0.1
  port: $MARIADB_PORT
  user: mapsync
  password_file: $dir/mapsync.password
  database: $name
  tls:
    mode: disabled
maps:
  directory: $mapdir
  default_type: $type
logging:
  level: info
  syslog: false
YAML
}

# fixture_db NAME CONF: an empty user database with the schema, the test domain and the two
# back ends of the Cyrus fixture (be1 127.0.0.2 with partitions default and archive, be2 127.0.0.3),
# in the MariaDB fixture DB (set by ad_lib.sh and cyrus_lib.sh).
fixture_db() {
  local name=$1 conf=$2
  new_db "$DB" "$name"
  "$MAPSYNC" -c "$conf" -q migrate
  db_root "$DB" "$name" <<'SQL'
INSERT INTO domains (name, kind) VALUES ('example.test', 'local');
INSERT INTO backends (id, name, lmtp_host, imap_host, partitions) VALUES
  (1, 'be1', '127.0.0.2', '127.0.0.2', 'default,archive'), (2, 'be2', '127.0.0.3', '127.0.0.3', 'default');
SQL
}

# campus_db DBDIR NAME CONFIG: a database with the example campus, schema by mapsync migrate.
campus_db() {
  local dir=$1 name=$2 conf=$3
  new_db "$dir" "$name"
  "$MAPSYNC" -c "$conf" -q migrate
  db_root "$dir" "$name" < "$ROOT/examples/campus.sql"
}

# Fingerprint of everything published in a map directory (the lock file aside).
# all_programs: MAPADM, ADSYNC, MBOXSYNC as ctest set them, or beside $MAPSYNC in the
# build tree; each must be there.
all_programs() {
  local bin p
  bin=$(cd "$(dirname "$MAPSYNC")/.." && pwd)
  MAPADM=${MAPADM:-$bin/mapadm/mapadm}
  ADSYNC=${ADSYNC:-$bin/adsync/adsync}
  MBOXSYNC=${MBOXSYNC:-$bin/mboxsync/mboxsync}
  for p in "$MAPADM" "$ADSYNC" "$MBOXSYNC"; do [[ -x $p ]] || die "not found: $p"; done
}

map_fingerprint() {
  ( cd "$1" && find . -maxdepth 1 -type f ! -name .mapsync.lock -printf '%f %i %s %T@\n' | sort
    find . -maxdepth 1 -type f ! -name .mapsync.lock -print0 | sort -z | xargs -0 -r sha256sum )
}

no_temp_files() {
  local left
  left=$(find "$1" -maxdepth 1 -name '.mapsync-tmp.*' | head -5)
  [[ -z "$left" ]] || die "temp files left behind in $1: $left"
}

# expect_exit CODE CMD...: runs CMD, output in $WS/out, and checks its exit status.
expect_exit() {
  local want=$1; shift
  local got=0
  "$@" >"$WS/out" 2>&1 || got=$?
  if [[ "$got" != "$want" ]]; then
    cat "$WS/out" >&2
    die "expected exit $want, got $got: $*"
  fi
}

# expect_json CODE CMD...: like expect_exit for a command run with --json: its stdout, which
# must be one JSON document, goes to $WS/json for json_check; its log (stderr) to $WS/out.
# The document must conform to the schema of its kind (docs/json.md): every test that
# reads JSON checks the format of what it read.
expect_json() {
  local want=$1; shift
  local got=0
  "$@" >"$WS/json" 2>"$WS/out" || got=$?
  if [[ "$got" != "$want" ]]; then
    cat "$WS/json" "$WS/out" >&2
    die "expected exit $want, got $got: $*"
  fi
  jq -e . "$WS/json" >/dev/null || { cat "$WS/json" >&2; die "stdout is not one JSON document: $*"; }
  python3 "$ROOT/tests/support/check_json.py" "$WS/json" || die "stdout does not conform to its schema (docs/json/): $*"
}

# json_check MESSAGE FILTER [JQ-OPTIONS...]: dies with MESSAGE unless the jq FILTER is true of
# $WS/json, or of the file named by JSON when set (e.g. json_check "not 7 creates"
# '.creates | length == 7'; JSON=$WS/plan.json json_check ...).
json_check() {
  local msg=$1 filter=$2 file=${JSON:-$WS/json}; shift 2
  jq -e "$@" "$filter" "$file" >/dev/null || { jq . "$file" | head -c 4000 >&2; die "$msg"; }
}

expect_output() {
  grep -q -- "$1" "$WS/out" || { cat "$WS/out" >&2; die "output does not mention: $1"; }
}

# q DBNAME SQL: the rows of one query, tab-separated, no header (as root over the socket).
q() { db_root "$MAPSYNC_TEST_DBDIR" "$1" -N <<< "$2"; }

# socket_config DBNAME: the database, maps and logging sections of a config for the
# fixture's MariaDB over its unix socket (reachable from the tests' network namespaces).
socket_config() {
  # shellcheck disable=SC1091
  source "$MAPSYNC_TEST_DBDIR/env"
  cat <<YAML
database:
  socket: $MARIADB_SOCKET
  user: mapsync
  password_file: $MAPSYNC_TEST_DBDIR/mapsync.password
  database: $1
maps:
  directory: $WS/maps-$1
logging:
  level: info
  syslog: false
YAML
}

# hold_lock DBNAME LOCK: takes the MySQL named lock LOCK in a background session of the
# mapsync user (as another host's job would: the server names a lock's holder only to the
# same user); release_lock ends that session.
hold_lock() {
  # shellcheck disable=SC1091
  source "$MAPSYNC_TEST_DBDIR/env"
  printf '[client]\nuser=mapsync\npassword=%s\nsocket=%s\ndefault-character-set=utf8mb4\n' "$(cat "$MAPSYNC_TEST_DBDIR/mapsync.password")" "$MARIADB_SOCKET" > "$WS/my.cnf"
  chmod 600 "$WS/my.cnf"
  coproc LOCK { mariadb --defaults-file="$WS/my.cnf" -N --batch --unbuffered "$1"; }
  echo "SELECT GET_LOCK('$2', 10);" >&"${LOCK[1]}"
  local got
  read -r got <&"${LOCK[0]}"
  [[ "$got" == 1 ]] || die "test could not take the lock $2"
}
release_lock() {
  exec {LOCK[1]}>&-
  wait "$LOCK_PID" || true
}

# hold_lease DBNAME LEASE: the leader lease LEASE (mapsync.adsync, mapsync.mboxsync) held
# by another host for an hour, as that host's running job would hold it; release_lease
# DBNAME LEASE lets it expire now.
hold_lease() {
  q "$1" "INSERT INTO leases (name, owner, token, expires_at) VALUES ('$2', 'otherhost:4242:1', 41, NOW(6) + INTERVAL 1 HOUR)
          ON DUPLICATE KEY UPDATE owner = VALUES(owner), token = token + 1, expires_at = VALUES(expires_at)"
}
release_lease() { q "$1" "UPDATE leases SET expires_at = NOW(6) - INTERVAL 1 SECOND WHERE name = '$2'"; }
