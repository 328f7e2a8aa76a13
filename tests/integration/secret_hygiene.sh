#!/usr/bin/env bash
# secret_hygiene: the database password (and the AD and Cyrus passwords, a keytab's bytes)
# never leave their files. A distinctive random password is set on a test user of the
# database, and then, for mapsync, mapadm, adsync and mboxsync, success and failure runs
# with -v and --json must not show it in: stdout, stderr, syslog (captured on a private
# /dev/log in a mount namespace), the state, metrics and map files, the argv and
# environment of a running program and of its children (/proc/PID/cmdline, environ). A
# running program cannot dump core (/proc/PID/limits).
# Password files and configs that are symbolic links (config: allowed), FIFOs, empty,
# huge, or readable by group/others are refused with exit 78 and a message naming the
# file, and a FIFO does not block: `timeout` bounds each run, a hang fails the step.
# adsync and mboxsync run without their servers here (unreachable loopback ports): their
# secret files are read before any connection, the database's after a real login.
TEST_NAME=secret_hygiene
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
: "${MAPSYNC_TEST_DBDIR:?}"
all_programs
command -v unshare >/dev/null || die "unshare is not installed"

random_word() { od -An -tx1 -N12 /dev/urandom | tr -d ' \n'; }
DB_PW="DbPw$(random_word)Q"
AD_PW="AdPw$(random_word)Q"
CYRUS_PW="CyPw$(random_word)Q"
KEYTAB_BYTES="KtBy$(random_word)Q"
SECRETS=$WS/secrets
mkdir -m 700 "$SECRETS"
put_secret() { ( umask 077; printf '%s\n' "$2" > "$SECRETS/$1" ); }
put_secret db.password "$DB_PW"
put_secret ad.password "$AD_PW"
put_secret cyrus.password "$CYRUS_PW"
put_secret ad.keytab "$KEYTAB_BYTES"

DBN=secret_hygiene
new_db "$MAPSYNC_TEST_DBDIR" "$DBN"
db_root "$MAPSYNC_TEST_DBDIR" <<SQL
DROP USER IF EXISTS 'hygiene'@'127.0.0.1', 'hygiene'@'localhost';
CREATE USER 'hygiene'@'127.0.0.1' IDENTIFIED BY '$DB_PW';
CREATE USER 'hygiene'@'localhost' IDENTIFIED BY '$DB_PW';
GRANT ALL ON \`$DBN\`.* TO 'hygiene'@'127.0.0.1';
GRANT ALL ON \`$DBN\`.* TO 'hygiene'@'localhost';
SQL
at_exit "db_root \"\$MAPSYNC_TEST_DBDIR\" <<< \"DROP USER IF EXISTS 'hygiene'@'127.0.0.1', 'hygiene'@'localhost';\""

MAPS=$WS/maps
mkdir "$WS/metrics"
# config PASSWORD_FILE [DB_PORT]: mapsync, mapadm, adsync (simple bind) and mboxsync in one
# file, syslog on; AD and Cyrus are unreachable (port 1 of the loopback).
config() {
  local pwfile=$1 port
  # shellcheck disable=SC1091
  port=${2:-$(source "$MAPSYNC_TEST_DBDIR/env"; echo "$MARIADB_PORT")}
  cat <<YAML
database:
  host: 127.0.0.1
  port: $port
  user: hygiene
  password_file: $pwfile
  database: $DBN
  tls:
    mode: disabled
maps:
  directory: $MAPS
  default_type: hash
metrics:
  textfile: $WS/metrics/mapsync.prom
logging:
  level: info
  syslog: true
ad:
  uris: [ldaps://127.0.0.1:1]
  bind: simple
  bind_dn: CN=svc-mapsync,OU=Service,DC=example,DC=test
  password_file: ${AD_PWFILE:-$SECRETS/ad.password}
  bases: ["OU=Staff,DC=example,DC=test"]
  placement:
    - name: staff
      ou: OU=Staff,DC=example,DC=test
      delivery: smtp
      smtp_nexthop: "[exchange.example.test]"
cyrus:
  admin_user: cyrus
  password_file: ${CYRUS_PWFILE:-$SECRETS/cyrus.password}
  tls: starttls
YAML
}
CONF=$WS/hygiene.yaml
config "$SECRETS/db.password" > "$CONF"
"$MAPSYNC" -c "$CONF" -q migrate 2>"$WS/out" || { cat "$WS/out"; die "migrate failed"; }
db_root "$MAPSYNC_TEST_DBDIR" "$DBN" < "$ROOT/examples/campus.sql"

# --- syslog: a private /dev holding a log socket, in a mount namespace per run --------
source "$(dirname "$0")/syslog_lib.sh"
start_syslog_capture

SECRET_RE="$DB_PW|$AD_PW|$CYRUS_PW|$KEYTAB_BYTES"
# clean WHAT FILE...: no secret in FILE...
clean() {
  local what=$1; shift
  if grep -E -a -l -D skip -e "$SECRET_RE" "$@" >&2; then die "$what: a secret appears in the files above"; fi
}
# The check itself must see a secret where there is one.
( clean "self-check" "$SECRETS/db.password" "$SECRETS/ad.keytab" ) 2>/dev/null && die "clean does not find the password"

# run_logged CODE NAME CMD...: CMD (under logged) exits CODE; its stdout goes to
# $WS/runs/NAME.out and its stderr to $WS/runs/NAME.err, checked for secrets.
mkdir "$WS/runs"
run_logged() {
  local want=$1 name=$2 got=0; shift 2
  timeout 60 bash -c "$(declare -f logged); WS=\$1; shift; logged \"\$@\"" _ "$WS" "$@" \
    >"$WS/runs/$name.out" 2>"$WS/runs/$name.err" || got=$?
  cat "$WS/runs/$name.out" "$WS/runs/$name.err" > "$WS/out"
  [[ $got == "$want" ]] || { cat "$WS/out" >&2; die "$name: exit $got, want $want: $*"; }
  clean "$name" "$WS/runs/$name.out" "$WS/runs/$name.err"
}

step_mapsync_runs() {
  run_logged 0 mapsync-build "$MAPSYNC" -c "$CONF" -v build
  expect_output "published\|generation"
  run_logged 0 mapsync-status "$MAPSYNC" -c "$CONF" -v status --json
  jq -e . "$WS/runs/mapsync-status.out" >/dev/null || die "status --json is not JSON"
  run_logged 0 mapsync-plan "$MAPSYNC" -c "$CONF" -v plan --json
  # failures: a wrong password (its first line is a secret too), an unreachable server
  put_secret wrong.password "$DB_PW-wrong"
  config "$SECRETS/wrong.password" > "$WS/wrong.yaml"
  run_logged 78 mapsync-wrong-pw "$MAPSYNC" -c "$WS/wrong.yaml" -v build
  expect_output "Access denied"
  config "$SECRETS/db.password" 1 > "$WS/noserver.yaml"
  run_logged 75 mapsync-no-server "$MAPSYNC" -c "$WS/noserver.yaml" -v plan --json
  clean "state and metrics files" -r "$MAPS" "$WS/metrics"
  [[ -s $WS/metrics/mapsync.prom ]] || die "no metrics file was written (the check would prove nothing)"
}
step mapsync_runs step_mapsync_runs

step_mapadm_runs() {
  run_logged 0 mapadm-show "$MAPADM" -c "$CONF" -v account show emeritus --json
  jq -e . "$WS/runs/mapadm-show.out" >/dev/null || die "show --json is not JSON"
  run_logged 0 mapadm-set "$MAPADM" -c "$CONF" -v account set emeritus quota_mb=777 --json
  run_logged 78 mapadm-wrong-pw "$MAPADM" -c "$WS/wrong.yaml" -v account show emeritus --json
  run_logged 75 mapadm-no-server "$MAPADM" -c "$WS/noserver.yaml" -v account show emeritus --json
}
step --needs mapsync_runs mapadm_runs step_mapadm_runs

step_adsync_mboxsync_runs() {
  # Both log in to the database for real, then fail to reach AD / Cyrus.
  local rc
  for cmd in "plan --json" "apply --json"; do
    rc=0; timeout 60 "$ADSYNC" -c "$CONF" -v $cmd >/dev/null 2>&1 || rc=$?
    (( rc != 0 && rc != 124 )) || die "adsync $cmd: exit $rc (want a failure, not success or a hang)"
    run_logged "$rc" "adsync-${cmd%% *}" "$ADSYNC" -c "$CONF" -v $cmd
  done
  AD_PWFILE="" config "$SECRETS/db.password" | sed "s|bind: simple|bind: gssapi\n  keytab: $SECRETS/ad.keytab\n  principal: svc-mapsync@EXAMPLE.TEST|; /bind_dn:/d; /  password_file: .*ad.password/d" > "$WS/keytab.yaml"
  rc=0; timeout 60 "$ADSYNC" -c "$WS/keytab.yaml" -v plan --json >/dev/null 2>&1 || rc=$?
  (( rc != 0 && rc != 124 )) || die "adsync with a bad keytab: exit $rc"
  run_logged "$rc" adsync-keytab "$ADSYNC" -c "$WS/keytab.yaml" -v plan --json
  for cmd in "plan --json" "run --json"; do
    rc=0; timeout 60 "$MBOXSYNC" -c "$CONF" -v $cmd >/dev/null 2>&1 || rc=$?
    (( rc != 124 )) || die "mboxsync $cmd hung"
    run_logged "$rc" "mboxsync-${cmd%% *}" "$MBOXSYNC" -c "$CONF" -v $cmd
  done
  run_logged 78 adsync-wrong-pw "$ADSYNC" -c "$WS/wrong.yaml" -v plan --json
  run_logged 78 mboxsync-wrong-pw "$MBOXSYNC" -c "$WS/wrong.yaml" -v plan --json
}
step --needs mapsync_runs adsync_mboxsync_runs step_adsync_mboxsync_runs

step_syslog_captured() {
  syslog_sync  # every message sent before is written
  grep -q "mapsync\[" "$WS/syslog.txt" || die "nothing reached the captured syslog (the check would prove nothing)"
  grep -q "mapadm\[" "$WS/syslog.txt" || die "mapadm did not log to the captured syslog"
  clean "syslog" "$WS/syslog.txt"
}
step syslog_captured step_syslog_captured

# While a run waits at a pause point: its argv, environment and children's, core limit.
proc_clean() {
  local pid=$1 what=$2 child
  [[ -r /proc/$pid/cmdline ]] || die "$what: no /proc/$pid"
  clean "$what argv" "/proc/$pid/cmdline"
  clean "$what environment" "/proc/$pid/environ"
  grep -Eq '^Max core file size +0 +0 ' "/proc/$pid/limits" || { cat "/proc/$pid/limits" >&2; die "$what may dump core"; }
  for child in $(cat "/proc/$pid/task/"*/children 2>/dev/null); do
    clean "$what's child $child argv" "/proc/$child/cmdline"
    clean "$what's child $child environment" "/proc/$child/environ"
  done
}

step_running_processes() {
  mkfifo "$WS/pause" "$WS/pause.resume"
  # A failed check leaves the run waiting at its pause point: it goes with the step.
  pid=""
  trap '[[ -z $pid ]] || kill -KILL "$pid" 2>/dev/null || true' EXIT
  q "$DBN" "UPDATE change_serial SET serial = serial + 1;"
  MAPSYNC_TEST_PAUSE="source.after_accounts:$WS/pause" "$MAPSYNC" -c "$CONF" -v build >"$WS/out" 2>&1 &
  pid=$!
  read -r _ < "$WS/pause"
  proc_clean "$pid" "mapsync build"
  echo go > "$WS/pause.resume"
  wait "$pid" || { cat "$WS/out" >&2; die "the paused build failed"; }
  MAPSYNC_TEST_PAUSE="admin.before_commit:$WS/pause" "$MAPADM" -c "$CONF" -v account set emeritus quota_mb=778 >"$WS/out" 2>&1 &
  pid=$!
  read -r _ < "$WS/pause"
  proc_clean "$pid" "mapadm"
  echo go > "$WS/pause.resume"
  wait "$pid" || { cat "$WS/out" >&2; die "the paused mapadm failed"; }
  clean "output" "$WS/out"
}
step --needs mapsync_runs running_processes step_running_processes

# refused_by_all WHAT MESSAGE CONFIG: every program exits 78 within the bound, naming MESSAGE.
refused_by_all() {
  local what=$1 msg=$2 conf=$3 prog rc
  for prog in "$MAPSYNC plan" "$MAPADM account show emeritus" "$ADSYNC plan" "$MBOXSYNC plan"; do
    rc=0
    # shellcheck disable=SC2086  # the program and its subcommand
    timeout 20 $prog -c "$conf" >"$WS/out" 2>&1 || rc=$?
    [[ $rc != 124 ]] || die "$what: ${prog##*/} hung"
    [[ $rc == 78 ]] || { cat "$WS/out" >&2; die "$what: ${prog##*/}: exit $rc, want 78"; }
    expect_output "$msg"
    clean "$what" "$WS/out"
  done
}

step_bad_password_files() {
  local bad=$WS/bad rc
  mkdir -m 700 "$bad"
  ln -s "$SECRETS/db.password" "$bad/link"
  mkfifo -m 600 "$bad/fifo"
  ( umask 077; : > "$bad/empty"; head -c 5000 /dev/zero | tr '\0' p > "$bad/huge"; printf '%s\n' "$DB_PW" > "$bad/open" )
  chmod 640 "$bad/open"
  config "$bad/link" > "$WS/c.yaml";  refused_by_all "symlink" "$bad/link is a symbolic link" "$WS/c.yaml"
  config "$bad/fifo" > "$WS/c.yaml";  refused_by_all "FIFO" "$bad/fifo is not a regular file" "$WS/c.yaml"
  config "$bad/empty" > "$WS/c.yaml"; refused_by_all "empty" "$bad/empty is empty" "$WS/c.yaml"
  config "$bad/huge" > "$WS/c.yaml";  refused_by_all "huge" "$bad/huge is larger than 4096 bytes" "$WS/c.yaml"
  config "$bad/open" > "$WS/c.yaml";  refused_by_all "mode 0640" "$bad/open has permissions 0640" "$WS/c.yaml"
  # The AD and Cyrus password files, read before any connection is tried.
  AD_PWFILE=$bad/fifo config "$SECRETS/db.password" > "$WS/c.yaml"
  rc=0; timeout 20 "$ADSYNC" -c "$WS/c.yaml" plan >"$WS/out" 2>&1 || rc=$?
  [[ $rc == 78 ]] || { cat "$WS/out" >&2; die "adsync with a FIFO as ad.password_file: exit $rc, want 78"; }
  expect_output "ad.password_file: password file $bad/fifo is not a regular file"
  CYRUS_PWFILE=$bad/link config "$SECRETS/db.password" > "$WS/c.yaml"
  rc=0; timeout 20 "$MBOXSYNC" -c "$WS/c.yaml" plan >"$WS/out" 2>&1 || rc=$?
  [[ $rc == 78 ]] || { cat "$WS/out" >&2; die "mboxsync with a symlink as cyrus.password_file: exit $rc, want 78"; }
  expect_output "cyrus.password_file: password file $bad/link is a symbolic link"
}
step --needs mapsync_runs bad_password_files step_bad_password_files

step_bad_configs() {
  local c=$WS/cfg prog rc
  mkdir "$c"
  mkfifo "$c/fifo.yaml"
  # "Billion laughs": nine lines, 9^9 nodes once the aliases are expanded.
  local prev=a l refs
  { printf 'a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n'
    for l in b c d e f g h i; do
      refs=$(for _ in 1 2 3 4 5 6 7 8 9; do printf '*%s, ' "$prev"; done)
      printf '%s: &%s [%s]\n' "$l" "$l" "${refs%, }"
      prev=$l
    done; } > "$c/bomb.yaml"
  (( $(wc -l < "$c/bomb.yaml") == 9 )) || die "the alias bomb is not what it should be"
  ln -s "$CONF" "$c/link.yaml"
  # A bound on memory, so that a config read without a size limit fails fast instead of
  # filling the machine. ASan reserves terabytes of address space for its shadow memory
  # at start, so a sanitized build runs without it.
  local vmem=4000000
  if readelf -d "$MAPSYNC" | grep -q 'libasan\|libtsan'; then vmem=unlimited; fi
  for prog in "$MAPSYNC plan" "$MAPADM account show emeritus" "$ADSYNC plan" "$MBOXSYNC plan"; do
    for bad in "$c/fifo.yaml:is not a regular file" "/dev/zero:is not a regular file" "$c/bomb.yaml:YAML nodes"; do
      rc=0
      # shellcheck disable=SC2086
      (ulimit -v "$vmem"; timeout 20 $prog -c "${bad%%:*}" >"$WS/out" 2>&1) || rc=$?
      [[ $rc != 124 ]] || die "${prog##*/} -c ${bad%%:*} hung"
      [[ $rc == 78 ]] || { cat "$WS/out" >&2; die "${prog##*/} -c ${bad%%:*}: exit $rc, want 78"; }
      expect_output "${bad#*:}"
    done
  done
  # A config that is a symbolic link is fine (/etc/mapsync/mapsync.yaml often is one).
  expect_exit 0 "$MAPSYNC" -c "$c/link.yaml" plan
}
step bad_configs step_bad_configs

step_no_password_options() {
  local prog
  for prog in "$MAPSYNC" "$MAPADM" "$ADSYNC" "$MBOXSYNC"; do
    "$prog" --help > "$WS/out" 2>&1 || true
    if grep -i -- '--pass\|--secret\|password' "$WS/out" >&2; then die "${prog##*/} offers a password on the command line"; fi
  done
}
step no_password_options step_no_password_options

step_workspace_clean() {
  # Everything the runs left anywhere in the workspace: outputs, maps, state, metrics.
  clean "workspace" -r --exclude-dir=secrets --exclude-dir=bad "$WS"
}
step workspace_clean step_workspace_clean

finish
