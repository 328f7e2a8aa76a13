#!/usr/bin/env bash
# mapsync-plan.sh - a CI job: what would a proposed SQL change do to the Postfix maps?
#
# usage: mapsync-plan.sh CHANGE.sql
#
#   1. copies the real user database into a scratch database (mysqldump | mariadb),
#   2. applies CHANGE.sql to the copy (never to the real database),
#   3. runs `mapsync plan --check --json` against the copy, with the site's mapsync.yaml
#      (its database, logging and maps.directory settings replaced) and a copy of the
#      published maps, and `mapsync diff` for people,
#   4. writes the results to $MAPSYNC_CI_OUT: comment.md (post it on the merge request),
#      plan.txt (the diff), plan.json (the same for machines), plan.log (mapsync's
#      messages: warnings and errors, each naming its rows), status (the exit status).
#   The scratch database is dropped at the end.
#
# Exit status (for the pipeline):
#   0   the published maps would not change
#   1   the maps would change: not an error; post comment.md
#   64  usage error                 66  the published maps directory is missing
#   65  CHANGE.sql does not apply to the copy, switches databases, or leaves data that
#       mapsync refuses to publish (validation errors, named in comment.md)
#   75  the real or the scratch database could not be read or written (try again)
#   78  configuration error (the mapsync.yaml, or a variable below)
#   anything else: what `mapsync plan` exited with (see mapsync(8))
#
# Environment (only MAPSYNC_CONFIG is usually needed; the defaults come from it):
#   MAPSYNC                     the mapsync program (default: mapsync in PATH)
#   MAPSYNC_CONFIG              the site's mapsync.yaml (default /etc/mapsync/mapsync.yaml).
#                               Block-style YAML as in the shipped example; maps, types,
#                               owners and render settings are used as they are, so the
#                               owner/group names must exist on the CI host.
#   MAPSYNC_CI_MAPS             directory holding the published maps, or a copy of them
#                               (rsync'ed from a hub); default: maps.directory of the config.
#                               It is copied and only read. "none": diff against nothing.
#   MAPSYNC_CI_OUT              where the results go (default ./mapsync-plan-out)
#   MAPSYNC_CI_MAX_LINES        diff lines shown in comment.md (default 300); plan.txt has all
#   MAPSYNC_CI_KEEP             1: keep the scratch database and the work directory
#   The real database, read with mysqldump --single-transaction (needs SELECT; TRIGGER to
#   copy the triggers too, which the plan does not need). Default: the config's database
#   section (host, port, socket, user, password_file, database):
#   MAPSYNC_CI_SRC_HOST  MAPSYNC_CI_SRC_PORT  MAPSYNC_CI_SRC_SOCKET
#   MAPSYNC_CI_SRC_USER  MAPSYNC_CI_SRC_PASSWORD_FILE (first line is the password)
#   MAPSYNC_CI_SRC_DB
#   MAPSYNC_CI_SRC_CLIENT_OPTS  extra mysqldump options, e.g. TLS:
#                               "--ssl-ca=/etc/ssl/certs/campus-ca.pem --ssl-verify-server-cert"
#   The scratch server: default the real database's server, which then must have a
#   scratch database name other than the real one. Its user needs all privileges on the
#   scratch database, e.g. GRANT ALL ON `mapsync\_ci\_%`.* TO 'mapsync-ci'@'ci-host';
#   give that user no write privilege on the real database (CHANGE.sql runs as it):
#   MAPSYNC_CI_SCRATCH_HOST  MAPSYNC_CI_SCRATCH_PORT  MAPSYNC_CI_SCRATCH_SOCKET
#   MAPSYNC_CI_SCRATCH_USER  MAPSYNC_CI_SCRATCH_PASSWORD_FILE (mode 0600 or 0400: mapsync
#                               reads it too)
#   MAPSYNC_CI_SCRATCH_DB       scratch database name (default mapsync_ci_<pid>); dropped
#                               and created at the start, dropped at the end
#   MAPSYNC_CI_SCRATCH_CLIENT_OPTS  extra options for the mariadb client
#   MAPSYNC_CI_SCRATCH_TLS_MODE, MAPSYNC_CI_SCRATCH_TLS_CA  mapsync's database.tls mode and
#                               ca_file for the scratch server (default: the config's when
#                               the scratch server is the real one's, else disabled)
#
# Example (GitLab CI), with the maps rsync'ed from a hub beforehand:
#   mapsync-plan:
#     script:
#       - rsync -a hub1:/var/lib/mapsync/maps/ maps/
#       - MAPSYNC_CI_MAPS=maps examples/ci/mapsync-plan.sh changes/proposed.sql || rc=$?
#       - ... post mapsync-plan-out/comment.md; fail the job unless rc is 0 or 1
set -euo pipefail

PROG=${0##*/}
EX_USAGE=64 EX_DATAERR=65 EX_NOINPUT=66 EX_TEMPFAIL=75 EX_CONFIG=78

die() { local rc=$1; shift; printf '%s: %s\n' "$PROG" "$*" >&2; exit "$rc"; }
say() { printf '%s: %s\n' "$PROG" "$*" >&2; }

(( $# == 1 )) || die $EX_USAGE "usage: $PROG CHANGE.sql"
CHANGE=$1
[[ -f $CHANGE && -r $CHANGE ]] || die $EX_USAGE "$CHANGE: no such readable file"

MAPSYNC=${MAPSYNC:-mapsync}
CONFIG=${MAPSYNC_CONFIG:-/etc/mapsync/mapsync.yaml}
OUT=${MAPSYNC_CI_OUT:-./mapsync-plan-out}
MAX_LINES=${MAPSYNC_CI_MAX_LINES:-300}
[[ $MAX_LINES =~ ^[0-9]+$ ]] || die $EX_CONFIG "MAPSYNC_CI_MAX_LINES must be a number"
command -v "$MAPSYNC" >/dev/null || die $EX_CONFIG "$MAPSYNC: not found (set MAPSYNC)"
[[ -r $CONFIG ]] || die $EX_CONFIG "$CONFIG: cannot read the mapsync config (set MAPSYNC_CONFIG)"
client=$(command -v mariadb || command -v mysql) || die $EX_CONFIG "no mariadb/mysql client installed"
dumper=$(command -v mariadb-dump || command -v mysqldump) || die $EX_CONFIG "no mariadb-dump/mysqldump installed"

# yaml_get SECTION KEY [SUBSECTION]: a plain scalar from the config (block style, as the
# shipped example): SECTION.KEY or SECTION.SUBSECTION.KEY; empty when not set.
yaml_get() {
  awk -v sec="$1" -v key="$2" -v sub_="${3:-}" '
    function indent(s) { match(s, /^ */); return RLENGTH }
    function value(s) {
      sub(/^[^:]*:[ \t]*/, "", s)
      if (s ~ /^"/) { sub(/^"/, "", s); sub(/".*$/, "", s); return s }
      if (s ~ /^'\''/) { sub(/^'\''/, "", s); sub(/'\''.*$/, "", s); return s }
      sub(/[ \t]+#.*$/, "", s); sub(/[ \t]+$/, "", s); return s
    }
    /^[ \t]*(#.*)?$/ { next }
    indent($0) == 0 { insec = ($0 ~ "^" sec ":"); depth = -1; insub = (sub_ == ""); subdepth = -1; next }
    !insec { next }
    {
      d = indent($0)
      if (depth < 0) depth = d
      if (d == depth) {
        if (sub_ != "") { insub = ($0 ~ "^ *" sub_ ":"); subdepth = -1; next }
        if ($0 ~ "^ *" key ":") { print value($0); exit }
        next
      }
      if (sub_ != "" && insub && d > depth) {
        if (subdepth < 0) subdepth = d
        if (d == subdepth && $0 ~ "^ *" key ":") { print value($0); exit }
      }
    }' "$CONFIG"
}

SRC_HOST=${MAPSYNC_CI_SRC_HOST-$(yaml_get database host)}
SRC_PORT=${MAPSYNC_CI_SRC_PORT-$(yaml_get database port)}
SRC_SOCKET=${MAPSYNC_CI_SRC_SOCKET-$(yaml_get database socket)}
SRC_USER=${MAPSYNC_CI_SRC_USER-$(yaml_get database user)}
SRC_PASSWORD_FILE=${MAPSYNC_CI_SRC_PASSWORD_FILE-$(yaml_get database password_file)}
SRC_DB=${MAPSYNC_CI_SRC_DB-$(yaml_get database database)}
SRC_PORT=${SRC_PORT:-3306}
[[ -n $SRC_DB ]] || die $EX_CONFIG "no database name (database.database in $CONFIG, or MAPSYNC_CI_SRC_DB)"
[[ -n $SRC_HOST || -n $SRC_SOCKET ]] || die $EX_CONFIG "no database host or socket for the real database"
[[ -z $SRC_SOCKET ]] || SRC_HOST=""   # as mapsync: a socket wins

SCRATCH_HOST=${MAPSYNC_CI_SCRATCH_HOST-$SRC_HOST}
SCRATCH_PORT=${MAPSYNC_CI_SCRATCH_PORT-$SRC_PORT}
SCRATCH_SOCKET=${MAPSYNC_CI_SCRATCH_SOCKET-$SRC_SOCKET}
SCRATCH_USER=${MAPSYNC_CI_SCRATCH_USER-$SRC_USER}
SCRATCH_PASSWORD_FILE=${MAPSYNC_CI_SCRATCH_PASSWORD_FILE-$SRC_PASSWORD_FILE}
SCRATCH_DB=${MAPSYNC_CI_SCRATCH_DB:-mapsync_ci_$$}
SCRATCH_PORT=${SCRATCH_PORT:-3306}
[[ -z $SCRATCH_SOCKET ]] || SCRATCH_HOST=""
[[ -n $SCRATCH_HOST || -n $SCRATCH_SOCKET ]] || die $EX_CONFIG "no host or socket for the scratch server"
[[ $SCRATCH_DB =~ ^[A-Za-z0-9_]+$ ]] || die $EX_CONFIG "MAPSYNC_CI_SCRATCH_DB: letters, digits and _ only"
same_server=0
if [[ "$SRC_HOST|$SRC_PORT|$SRC_SOCKET" == "$SCRATCH_HOST|$SCRATCH_PORT|$SCRATCH_SOCKET" ]]; then same_server=1; fi
if (( same_server )) && [[ $SCRATCH_DB == "$SRC_DB" ]]; then
  die $EX_CONFIG "the scratch database would be the real one ($SRC_DB on the same server): set MAPSYNC_CI_SCRATCH_DB"
fi
if [[ -n ${MAPSYNC_CI_SCRATCH_TLS_MODE:-} ]]; then
  SCRATCH_TLS_MODE=$MAPSYNC_CI_SCRATCH_TLS_MODE
  SCRATCH_TLS_CA=${MAPSYNC_CI_SCRATCH_TLS_CA:-}
elif (( same_server )); then
  SCRATCH_TLS_MODE=$(yaml_get database mode tls)
  SCRATCH_TLS_CA=${MAPSYNC_CI_SCRATCH_TLS_CA-$(yaml_get database ca_file tls)}
else
  SCRATCH_TLS_MODE=disabled
  SCRATCH_TLS_CA=${MAPSYNC_CI_SCRATCH_TLS_CA:-}
fi

MAPS_SRC=${MAPSYNC_CI_MAPS:-$(yaml_get maps directory)}
if [[ $MAPS_SRC != none ]]; then
  [[ -n $MAPS_SRC ]] || die $EX_CONFIG "no maps directory (maps.directory, or MAPSYNC_CI_MAPS)"
  [[ -d $MAPS_SRC ]] || die $EX_NOINPUT "$MAPS_SRC: no published maps there (set MAPSYNC_CI_MAPS to a copy, or to none)"
fi

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
rm -f "$OUT/comment.md" "$OUT/plan.txt" "$OUT/plan.json" "$OUT/plan.log" "$OUT/status"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/mapsync-plan.XXXXXX")
scratch_made=0
# shellcheck disable=SC2317  # run by the EXIT trap
finish() {
  local rc=$?
  if (( scratch_made )) && [[ ${MAPSYNC_CI_KEEP:-} != 1 ]]; then
    scratch_sql -e "DROP DATABASE IF EXISTS \`$SCRATCH_DB\`" || say "could not drop the scratch database $SCRATCH_DB"
  fi
  if [[ ${MAPSYNC_CI_KEEP:-} == 1 ]]; then say "kept $WORK and the scratch database $SCRATCH_DB"; else rm -rf "$WORK"; fi
  echo "$rc" > "$OUT/status"
  exit "$rc"
}
trap finish EXIT
trap 'exit 75' INT TERM HUP

# client_cnf FILE HOST PORT SOCKET USER PASSWORD_FILE: a client option file, so that no
# password appears on a command line.
client_cnf() {
  local file=$1 host=$2 port=$3 socket=$4 user=$5 pwfile=$6 pw=""
  if [[ -n $pwfile ]]; then
    [[ -r $pwfile ]] || die $EX_CONFIG "$pwfile: cannot read the password file"
    IFS= read -r pw < "$pwfile" || [[ -n $pw ]] || true
  fi
  ( umask 077
    { echo "[client]"
      if [[ -n $socket ]]; then echo "socket=$socket"; else echo "host=$host"; echo "port=$port"; echo "protocol=tcp"; fi
      [[ -z $user ]] || echo "user=$user"
      if [[ -n $pw ]]; then
        pw=${pw//\\/\\\\}
        if [[ $pw == *\"* ]]; then echo "password='$pw'"; else echo "password=\"$pw\""; fi
      fi
      echo "default-character-set=utf8mb4"
    } > "$file" )
}
client_cnf "$WORK/src.cnf" "$SRC_HOST" "$SRC_PORT" "$SRC_SOCKET" "$SRC_USER" "$SRC_PASSWORD_FILE"
client_cnf "$WORK/scratch.cnf" "$SCRATCH_HOST" "$SCRATCH_PORT" "$SCRATCH_SOCKET" "$SCRATCH_USER" "$SCRATCH_PASSWORD_FILE"
# shellcheck disable=SC2086  # the *_CLIENT_OPTS are lists of options
scratch_sql() { "$client" --defaults-extra-file="$WORK/scratch.cnf" ${MAPSYNC_CI_SCRATCH_CLIENT_OPTS:-} --batch "$@"; }

# comment TEXT...: comment.md for the pipeline.
comment() { printf '%s\n' "$@" >> "$OUT/comment.md"; }
code_block() {  # code_block LANG FILE [MAX_LINES]
  local n
  n=$(wc -l < "$2")
  comment '```'"$1"
  if [[ -n ${3:-} ]] && (( n > $3 )); then
    head -n "$3" "$2" >> "$OUT/comment.md"
    comment "... $((n - $3)) more lines (the job's plan.txt has all $n)"
  else
    cat "$2" >> "$OUT/comment.md"
  fi
  comment '```'
}
change_name=${CHANGE##*/}

# Refuse a change that leaves the scratch database: it runs with a client connected to
# the scratch server, which may be the real one's.
if grep -Eiq '^[[:space:]]*(use|connect|\\u|\\r)([[:space:]]|;|$)' "$CHANGE"; then
  comment "### mapsync plan: \`$change_name\` refused" "" \
    "It switches databases (USE or CONNECT); a change file must name no database: it is applied to a scratch copy."
  die $EX_DATAERR "$CHANGE switches databases (USE/CONNECT): refused; name no database in a change file"
fi

say "copying $SRC_DB into the scratch database $SCRATCH_DB"
scratch_made=1
scratch_sql -e "DROP DATABASE IF EXISTS \`$SCRATCH_DB\`; CREATE DATABASE \`$SCRATCH_DB\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci" \
  2> "$WORK/err" || { cat "$WORK/err" >&2; scratch_made=0; die $EX_TEMPFAIL "cannot create the scratch database $SCRATCH_DB"; }
# Triggers keep their definer only if the loading user may act as it: drop the clause.
# shellcheck disable=SC2086,SC2016  # the options are a list; the backquotes are SQL's
if ! { "$dumper" --defaults-extra-file="$WORK/src.cnf" ${MAPSYNC_CI_SRC_CLIENT_OPTS:-} --single-transaction \
         --skip-lock-tables --no-tablespaces --hex-blob --triggers "$SRC_DB" 2> "$WORK/dump.err" |
       sed -E 's/DEFINER=`[^`]*`@`[^`]*`//g' | scratch_sql "$SCRATCH_DB" 2> "$WORK/load.err"; }; then
  cat "$WORK/dump.err" "$WORK/load.err" >&2
  die $EX_TEMPFAIL "copying $SRC_DB into $SCRATCH_DB failed"
fi

say "applying $change_name to the copy"
if ! scratch_sql "$SCRATCH_DB" < "$CHANGE" > "$WORK/change.out" 2> "$WORK/change.err"; then
  cat "$WORK/change.err" >&2
  comment "### mapsync plan: \`$change_name\` does not apply" "" "Applied to a copy of \`$SRC_DB\`, it fails:"
  code_block "" "$WORK/change.err"
  die $EX_DATAERR "$change_name does not apply to a copy of $SRC_DB"
fi

# The site's config with the scratch database, a copy of the maps, and plain logging.
mkdir -p "$WORK/maps"
if [[ $MAPS_SRC != none ]]; then
  find "$MAPS_SRC" -maxdepth 1 -type f ! -name '.*' -exec cp -p {} "$WORK/maps/" \;
fi
yq_scalar() { printf "'%s'" "${1//\'/\'\'}"; }
{
  echo "database:"
  if [[ -n $SCRATCH_SOCKET ]]; then echo "  socket: $(yq_scalar "$SCRATCH_SOCKET")"
  else echo "  host: $(yq_scalar "$SCRATCH_HOST")"; echo "  port: $SCRATCH_PORT"; fi
  echo "  user: $(yq_scalar "$SCRATCH_USER")"
  [[ -z $SCRATCH_PASSWORD_FILE ]] || echo "  password_file: $(yq_scalar "$SCRATCH_PASSWORD_FILE")"
  echo "  database: $SCRATCH_DB"
  if [[ -n $SCRATCH_TLS_MODE ]]; then
    echo "  tls:"
    echo "    mode: $SCRATCH_TLS_MODE"
    [[ -z $SCRATCH_TLS_CA ]] || echo "    ca_file: $(yq_scalar "$SCRATCH_TLS_CA")"
  fi
  echo "logging:"
  echo "  level: info"
  echo "  syslog: false"
  echo "  stderr: true"
  # Everything else as the site has it; maps.directory points at the copy.
  awk -v dir="$(yq_scalar "$WORK/maps")" '
    function indent(s) { match(s, /^ */); return RLENGTH }
    /^[ \t]*(#.*)?$/ { next }
    indent($0) == 0 { skip = ($0 ~ /^(database|logging|metrics):/); inmaps = ($0 ~ /^maps:/); depth = -1 }
    skip { next }
    inmaps && indent($0) > 0 {
      if (depth < 0) depth = indent($0)
      if (indent($0) == depth && $0 ~ /^ *directory:/) { printf "%*sdirectory: %s\n", depth, "", dir; next }
    }
    { print }' "$CONFIG"
} > "$WORK/mapsync.yaml"

say "mapsync plan --check"
rc=0
"$MAPSYNC" -c "$WORK/mapsync.yaml" plan --check --json --staging "$WORK/staging" > "$OUT/plan.json" 2> "$OUT/plan.log" || rc=$?
cat "$OUT/plan.log" >&2
if (( rc == 0 || rc == 1 )); then
  drc=0
  "$MAPSYNC" -c "$WORK/mapsync.yaml" diff "$WORK/maps" "$WORK/staging" > "$OUT/plan.txt" 2>> "$OUT/plan.log" || drc=$?
  (( drc == rc )) || die $EX_TEMPFAIL "mapsync diff exited $drc after plan --check exited $rc"
  grep -E '^[a-z_]+: \+[0-9]+ -[0-9]+ ~[0-9]+ ' "$OUT/plan.txt" > "$WORK/summary" || true
  grep -v -E '^[a-z_]+: \+[0-9]+ -[0-9]+ ~[0-9]+ ' "$OUT/plan.txt" > "$WORK/lines" || true
  if (( rc == 0 )); then
    comment "### mapsync plan: \`$change_name\` does not change the published maps" ""
    code_block "" "$WORK/summary"
  else
    comment "### mapsync plan: \`$change_name\` changes the published maps" ""
    code_block "" "$WORK/summary"
    comment "" "<details><summary>entries added (+), removed (-) and changed (~)</summary>" ""
    code_block diff "$WORK/lines" "$MAX_LINES"
    comment "" "</details>"
  fi
  # plan stages into an empty directory, so it cannot tell whether the hubs' change gates
  # (maps.gates) would refuse this change: a build into a second copy of the maps, without
  # a state file, compares with the published files as a hub does.
  if (( rc == 1 )) && [[ $MAPS_SRC != none ]]; then
    mkdir -p "$WORK/gates"
    cp -p "$WORK"/maps/* "$WORK/gates/" 2>/dev/null || true
    sed "s|^\( *directory: \).*|\1$(yq_scalar "$WORK/gates")|" "$WORK/mapsync.yaml" > "$WORK/gates.yaml"
    grc=0
    "$MAPSYNC" -c "$WORK/gates.yaml" -q build > "$WORK/gates.log" 2>&1 || grc=$?
    if (( grc != 0 )) && grep -q 'change gates tripped' "$WORK/gates.log"; then
      grep -E '^  [a-z_]+: ' "$WORK/gates.log" > "$WORK/gates.trips" || true
      comment "" "**A hub's \`mapsync build\` would refuse this change (change gates, exit 75) until someone runs \`mapsync build --force\`:**"
      code_block "" "$WORK/gates.trips"
      cat "$WORK/gates.trips" >> "$OUT/plan.log"
    elif (( grc != 0 )); then
      say "note: the trial build for the change gates exited $grc:"; cat "$WORK/gates.log" >&2
    fi
  fi
  if grep -q ': warning: ' "$OUT/plan.log"; then
    grep ': warning: ' "$OUT/plan.log" > "$WORK/warnings"
    comment "" "$(wc -l < "$WORK/warnings") warning(s):"
    code_block "" "$WORK/warnings" "$MAX_LINES"
  fi
  exit "$rc"
fi
comment "### mapsync plan: \`$change_name\` cannot be published (mapsync exit $rc)" ""
code_block "" "$OUT/plan.log" "$MAX_LINES"
exit "$rc"
