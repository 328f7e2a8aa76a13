# lib.sh - shared helpers for the integration tests (sourced, not run).
#
# The tests run against a real MariaDB started by tests/fixtures/mariadb.sh (the ctest
# fixture passes its directory in MAPSYNC_TEST_DBDIR) and read maps back with the stock
# postmap/postalias. A missing service or tool is a failure, never a skip.
set -euo pipefail

TESTS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ROOT=$(cd "$TESTS_DIR/.." && pwd)
: "${MAPSYNC:?MAPSYNC must point to the mapsync binary}"
FIXTURE="$ROOT/tests/fixtures/mariadb.sh"

die() { echo "FAIL: $*" >&2; exit 1; }
note() { echo "--- $*"; }

for tool in postmap postalias db5.3_verify mariadb; do
  command -v "$tool" >/dev/null || die "$tool is not installed (the test needs the real thing)"
done

# A private workspace, removed on exit.
WS=$(mktemp -d "/tmp/mapsync-${TEST_NAME:-test}.XXXXXX")
cleanup_ws() { [[ -n "${KEEP_WS:-}" ]] || rm -rf "$WS"; }
trap cleanup_ws EXIT

# postmap must not touch /etc/postfix: a private config directory.
mkdir -p "$WS/postfix"
printf 'compatibility_level = 3.7\nmaillog_file = /dev/stdout\n' > "$WS/postfix/main.cf"
# Postfix pauses when main.cf is younger than a second or so; ours is not about to change.
touch -d "1 hour ago" "$WS/postfix/main.cf"
export MAIL_CONFIG="$WS/postfix"

# db_root DBDIR: runs the mariadb client as root over the fixture's socket (SQL on stdin).
db_root() {
  local dir=$1; shift
  # shellcheck disable=SC1091
  ( source "$dir/env"; mariadb --no-defaults --socket="$MARIADB_SOCKET" -uroot --batch "$@" )
}

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
  printf '[client]\nuser=mapsync\npassword=%s\nsocket=%s\n' "$(cat "$MAPSYNC_TEST_DBDIR/mapsync.password")" "$MARIADB_SOCKET" > "$WS/my.cnf"
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
