# shellcheck shell=bash
# fleet_lib.sh - a fleet of hubs on MariaDB replication and Galera (issue 12); sourced after lib.sh.
#
# Each test gets a private network namespace (msf-PID) in which only lo exists, and runs its
# database nodes there on 127.0.0.x, with every node's files in $WS/NODE (owned by mysql:
# an rsync SST fails when the servers run as root: its rsync daemon drops to nobody).
#   galera_start   g1 g2 g3 on 127.0.0.11..13:3306, one Galera cluster, all Synced
#   repl_start     p 127.0.0.21 (primary), r1 .22 and r2 .23 (read_only replicas, GTID)
# Every node also listens on its unix socket $WS/NODE/sock (reachable from any namespace:
# adsync and mboxsync run in the Samba AD and Cyrus namespaces and use these sockets).
#   nq NODE [SQL]          root over the node's socket, -N -B, utf8mb4 (SQL on stdin when omitted)
#   nstat NODE VAR         one GLOBAL_STATUS value (wsrep_local_state_comment, ...)
#   node_kill NODE         kill -9 by PID, returns once it is gone
#   node_stop NODE         SIGTERM by PID, returns once it is gone (clean shutdown)
#   node_start NODE        starts it again and waits until usable (Galera: Synced; IST when it can)
#   galera_wait_size N     until wsrep_cluster_size = N on every running Galera node
#   galera_sync            until every running Galera node has applied g1..g3's last commit
#   repl_stop_sql R / repl_start_sql R    STOP / START SLAVE SQL_THREAD on replica R
#   repl_sync [R...]       MASTER_GTID_WAIT on the replicas (default r1 r2) for p's gtid_binlog_pos
#   fleet_db NODE [SQL]    database maildb + user mapsync (password in $WS/mapsync.password),
#                          mapsync migrate, examples/campus.sql (or SQL); waits until every node has it
#   hub_config NAME ENDPOINT... > FILE   a hub's mapsync config (below)
#   in_ns CMD...           CMD inside the namespace (TCP endpoints are reachable only there)
#   hub NAME ARGS...       mapsync -c $WS/NAME.yaml ARGS in the namespace (hub_config NAME ... > $WS/NAME.yaml)
#   lookup NAME KEY        postmap -q KEY on hub NAME's virtual map
#   pause_wait FIFO [S]    the line a MAPSYNC_TEST_PAUSE point wrote to FIFO (dies after S s, default 60)
#   pause_resume FIFO      the resume line to FIFO.resume
#   read_from HUB S E      the build just run (log in $WS/out) read serial S from endpoint E
#   wait_for SECONDS WHAT CMD...         polls CMD every 0.1 s; dies naming WHAT on timeout
# The teardown (registered with at_exit) stops every node by PID and deletes the namespace.
# Node PIDs live in $WS/NODE/pid (mariadbd's pid file), so the helpers work from inside `step`.
: "${MAPSYNC:?MAPSYNC must point to the mapsync binary}"

FLEET_NS=msf-$$
FLEET_TIMEOUT=${FLEET_TIMEOUT:-90}        # seconds for a node or a cluster to become usable
FLEET_PASSWORD_FILE=$WS/mapsync.password
GALERA_NODES=(g1 g2 g3)
REPL_NODES=(p r1 r2)
_FLEET_LOG=$WS/fleet.log                  # what the fixture did, with timings (kept for the report)

for _tool in mariadbd mariadb-install-db ip rsync; do
  command -v "$_tool" >/dev/null || [[ -x /usr/sbin/$_tool ]] || die "$_tool is not installed"
done
[[ -f /usr/lib/galera/libgalera_smm.so ]] || die "galera-4 is not installed (/usr/lib/galera/libgalera_smm.so)"
id mysql >/dev/null 2>&1 || die "no mysql user (mariadb-server's package makes it)"
PATH=$PATH:/usr/sbin

flog() { printf '%s %s\n' "$(date -u +%T.%N | cut -c1-12)" "$*" >> "$_FLEET_LOG"; }

# The servers run as mysql and must reach their directories under $WS (mktemp made it 0700).
chmod 0711 "$WS"

ip netns add "$FLEET_NS" || die "cannot create the network namespace $FLEET_NS"
ip netns exec "$FLEET_NS" ip link set lo up

in_ns() { ip netns exec "$FLEET_NS" "$@"; }

# wait_for SECONDS WHAT CMD...: true once CMD succeeds; dies after SECONDS.
wait_for() {
  local secs=$1 what=$2 end; shift 2
  end=$(( $(date +%s%N) + secs * 1000000000 ))
  until "$@" >/dev/null 2>&1; do
    (( $(date +%s%N) < end )) || die "timed out after $secs s waiting for: $what"
    sleep 0.1
  done
}

node_ip() {
  case $1 in
    g1) echo 127.0.0.11 ;; g2) echo 127.0.0.12 ;; g3) echo 127.0.0.13 ;;
    p) echo 127.0.0.21 ;; r1) echo 127.0.0.22 ;; r2) echo 127.0.0.23 ;;
    *) die "unknown node $1" ;;
  esac
}
is_galera() { [[ $1 == g[123] ]]; }

nq() {
  local n=$1; shift
  local args=(--no-defaults --default-character-set=utf8mb4 -S "$WS/$n/sock" -uroot -N -B)
  if (( $# )); then mariadb "${args[@]}" -e "$1"; else mariadb "${args[@]}"; fi
}
nstat() { nq "$1" "SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME='$2'"; }

# node_pid NODE: the PID of NODE's running mariadbd (its pid file, checked against the
# process's command line so that a recycled PID is never ours); fails when not running.
node_pid() {
  local pid
  { read -r pid < "$WS/$1/pid"; } 2>/dev/null || return 1
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  _alive "$pid" || return 1
  tr '\0' '\n' < "/proc/$pid/cmdline" 2>/dev/null | grep -Fxq -- "--defaults-file=$WS/$1/my.cnf"
  echo "$pid"
}
_alive() {
  local stat
  { read -r stat < "/proc/$1/stat"; } 2>/dev/null || return 1
  stat=${stat##*) }
  [[ ${stat%% *} != Z ]]
}
_gone() { ! _alive "$1"; }

# _node_init NODE KIND: my.cnf and an empty data directory (mariadb-install-db).
_node_init() {
  local n=$1 d=$WS/$1 ip
  ip=$(node_ip "$n")
  mkdir -p "$d"
  cat > "$d/my.cnf" <<CNF
[mariadbd]
user=mysql
datadir=$d/data
socket=$d/sock
pid-file=$d/pid
log-error=$d/error.log
bind-address=$ip
port=3306
skip-name-resolve
innodb_buffer_pool_size=64M
innodb_log_file_size=16M
skip-performance-schema
character-set-server=utf8mb4
collation-server=utf8mb4_unicode_ci
binlog_format=ROW
default_storage_engine=InnoDB
# mapsync migrate creates triggers as a non-SUPER user (binlog on: p/r1/r2; Galera writes sets)
log_bin_trust_function_creators=ON
CNF
  if is_galera "$n"; then
    # Galera's default failure detection (a new view 5-6 s after a kill -9): shorter
    # evs timeouts made loaded machines drop a joining node from the view.
    cat >> "$d/my.cnf" <<CNF
innodb_autoinc_lock_mode=2
wsrep_on=ON
wsrep_provider=/usr/lib/galera/libgalera_smm.so
wsrep_cluster_name=msf$$
wsrep_cluster_address=gcomm://127.0.0.11:4567,127.0.0.12:4567,127.0.0.13:4567
wsrep_node_name=$n
wsrep_node_address=$ip
wsrep_provider_options="gmcast.listen_addr=tcp://$ip:4567;ist.recv_addr=$ip:4568;gcache.size=16M"
wsrep_sst_method=rsync
wsrep_sst_receive_address=$ip:4444
CNF
  else
    local id
    case $n in p) id=1 ;; r1) id=2 ;; r2) id=3 ;; esac
    cat >> "$d/my.cnf" <<CNF
server_id=$id
log_bin=$d/data/binlog
relay_log=$d/data/relay
log_slave_updates=ON
gtid_strict_mode=ON
CNF
    [[ $n == p ]] || echo "read_only=ON" >> "$d/my.cnf"
  fi
  # A private tmpdir each: installs running side by side in /tmp clashed on a temporary table.
  mkdir -p "$d/tmp"
  chown mysql:mysql "$d" "$d/tmp"
  echo "tmpdir=$d/tmp" >> "$d/my.cnf"
  TMPDIR=$d/tmp mariadb-install-db --no-defaults --user=mysql --datadir="$d/data" --auth-root-authentication-method=socket \
    --skip-test-db --skip-name-resolve > "$d/install.log" 2>&1 || { tail -20 "$d/install.log" >&2; return 1; }
}

# _init_nodes NODE...: _node_init in parallel (waiting on those PIDs only: a bare `wait`
# would also wait for the servers).
_init_nodes() {
  local n pids=() pid rc=0
  for n in "$@"; do _node_init "$n" & pids+=($!); done
  for pid in "${pids[@]}"; do wait "$pid" || rc=1; done
  (( rc == 0 )) || die "mariadb-install-db failed (see $WS/NODE/install.log)"
}

# _launch NODE [mariadbd options]: starts the server in the namespace, in its own session.
_launch() {
  local n=$1; shift
  rm -f "$WS/$n/pid"
  flog "start $n $*"
  # In a subshell: not a job of this shell (no "Killed" notice, no zombie to reap).
  ( setsid ip netns exec "$FLEET_NS" mariadbd --defaults-file="$WS/$n/my.cnf" "$@" \
      >> "$WS/$n/stderr.log" 2>&1 < /dev/null & )
}

_answers() { nq "$1" "SELECT 1" >/dev/null 2>&1; }
# Usable for writes: Synced, ready and in the primary component (SELECT 1 alone is not enough).
_synced() {
  [[ $(nq "$1" "SELECT GROUP_CONCAT(VARIABLE_VALUE ORDER BY VARIABLE_NAME) FROM information_schema.GLOBAL_STATUS
      WHERE VARIABLE_NAME IN ('wsrep_cluster_status','wsrep_local_state_comment','wsrep_ready')" 2>/dev/null) == Primary,Synced,ON ]]
}
_wait_usable() {
  local n=$1
  if is_galera "$n"; then
    wait_for "$FLEET_TIMEOUT" "$n Synced (see $WS/$n/error.log)" _synced "$n"
  else
    wait_for "$FLEET_TIMEOUT" "$n answering (see $WS/$n/error.log)" _answers "$n"
  fi
  node_pid "$n" >/dev/null || die "$n answers but its pid file does not name it"
  flog "$n usable"
}

galera_start() {
  local t0=$SECONDS
  _init_nodes "${GALERA_NODES[@]}"
  flog "galera: initialised in $((SECONDS - t0)) s"
  _launch g1 --wsrep-new-cluster
  _wait_usable g1
  _launch g2
  _launch g3
  _wait_usable g2
  _wait_usable g3
  galera_wait_size 3
  flog "galera: 3 nodes Synced in $((SECONDS - t0)) s"
  note "galera: g1..g3 Synced in $((SECONDS - t0)) s"
}

repl_start() {
  local t0=$SECONDS r
  _init_nodes "${REPL_NODES[@]}"
  for r in "${REPL_NODES[@]}"; do _launch "$r"; done
  for r in "${REPL_NODES[@]}"; do _wait_usable "$r"; done
  # The replication user's password is no secret worth keeping (127.0.0.x in a private
  # namespace), but it still stays off command lines.
  head -c 18 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' > "$WS/repl.password"
  chmod 600 "$WS/repl.password"
  nq p <<SQL
CREATE USER repl@'127.0.0.%' IDENTIFIED BY '$(cat "$WS/repl.password")';
GRANT REPLICATION SLAVE ON *.* TO repl@'127.0.0.%';
SQL
  for r in r1 r2; do
    nq "$r" <<SQL
CHANGE MASTER TO MASTER_HOST='127.0.0.21', MASTER_PORT=3306, MASTER_USER='repl',
  MASTER_PASSWORD='$(cat "$WS/repl.password")', MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1;
START SLAVE;
SQL
  done
  repl_sync
  flog "replication: p r1 r2 running and caught up in $((SECONDS - t0)) s"
  note "replication: p, r1, r2 caught up in $((SECONDS - t0)) s"
}

node_kill() {
  local n=$1 pid
  pid=$(node_pid "$n") || die "node_kill: $n is not running"
  flog "kill -9 $n ($pid)"
  kill -KILL "$pid"
  wait_for 30 "$n (pid $pid) gone after SIGKILL" _gone "$pid"
}

node_stop() {
  local n=$1 pid
  pid=$(node_pid "$n") || return 0
  flog "stop $n ($pid)"
  kill -TERM "$pid"
  wait_for 60 "$n (pid $pid) gone after SIGTERM" _gone "$pid"
  flog "$n stopped"
}

# node_start NODE: a stopped or killed node back. A Galera node killed with -9 has no
# position in grastate.dat (seqno -1): --wsrep-recover finds it, so that it rejoins by IST.
node_start() {
  local n=$1 pos
  ! node_pid "$n" >/dev/null || die "node_start: $n is already running"
  if is_galera "$n" && grep -q '^seqno: *-1' "$WS/$n/data/grastate.dat" 2>/dev/null; then
    in_ns mariadbd --defaults-file="$WS/$n/my.cnf" --wsrep-recover > /dev/null 2>&1 || true
    pos=$(sed -n 's/.*WSREP: Recovered position: //p' "$WS/$n/error.log" | tail -1)
    if [[ -n $pos ]]; then _launch "$n" --wsrep-start-position="$pos"; else _launch "$n"; fi
  else
    _launch "$n"
  fi
  _wait_usable "$n"
}

_galera_running() { local n; for n in "${GALERA_NODES[@]}"; do node_pid "$n" >/dev/null && echo "$n"; done; return 0; }
_size_is() {
  local want=$1 n
  for n in $(_galera_running); do [[ $(nstat "$n" wsrep_cluster_size 2>/dev/null) == "$want" ]] && _synced "$n" || return 1; done
}
galera_wait_size() { wait_for "$FLEET_TIMEOUT" "wsrep_cluster_size $1 on every running node" _size_is "$1"; }

# galera_sync: returns once every running node has applied what any node committed before
# (a causal read, wsrep_sync_wait=1, on each).
galera_sync() {
  local n
  for n in $(_galera_running); do
    nq "$n" "SET SESSION wsrep_sync_wait=1; SELECT 1" >/dev/null || die "causal read on $n failed"
  done
}

repl_stop_sql() { nq "$1" "STOP SLAVE SQL_THREAD"; }
repl_start_sql() { nq "$1" "START SLAVE SQL_THREAD"; }

repl_sync() {
  local pos r got
  pos=$(nq p "SELECT @@gtid_binlog_pos")
  (( $# )) || set -- r1 r2
  for r in "$@"; do
    got=$(nq "$r" "SELECT MASTER_GTID_WAIT('$pos', $FLEET_TIMEOUT)")
    [[ $got == 0 ]] || die "$r did not reach p's position $pos within $FLEET_TIMEOUT s (at $(nq "$r" "SELECT @@gtid_slave_pos"))"
  done
}

# _ep_yaml ENDPOINT: one endpoints: item. tcp:HOST[:PORT][=ROLE] or sock:PATH[=ROLE].
_ep_yaml() {
  local ep=$1 role="" addr port=3306
  if [[ $ep == *=* ]]; then role=${ep##*=}; ep=${ep%=*}; fi
  case $ep in
    tcp:*)
      addr=${ep#tcp:}
      if [[ $addr == *:* ]]; then port=${addr##*:}; addr=${addr%:*}; fi
      printf '    - host: %s\n      port: %s\n' "$addr" "$port" ;;
    sock:*) printf '    - socket: %s\n' "${ep#sock:}" ;;
    *) die "hub_config: endpoint $ep is neither tcp:HOST nor sock:PATH" ;;
  esac
  [[ -z $role ]] || printf '      role: %s\n' "$role"
}

# hub_config NAME ENDPOINT... > FILE: hub NAME reading from the endpoints in that order.
# Maps in $WS/hub-NAME/maps, metrics in $WS/hub-NAME/mapsync.prom. Optional environment:
#   HUB_MAX_LAG (30), HUB_LEASE (10), HUB_PERIOD (60), HUB_STALE (3), HUB_LEVEL (info).
hub_config() {
  local name=$1 ep; shift
  (( $# )) || die "hub_config $name: no endpoint"
  mkdir -p "$WS/hub-$name"
  cat <<YAML
database:
  user: mapsync
  password_file: $FLEET_PASSWORD_FILE
  database: maildb
  connect_timeout: 3
  read_timeout: 30
  tls: {mode: disabled}
  endpoints:
YAML
  for ep in "$@"; do _ep_yaml "$ep"; done
  cat <<YAML
  max_lag: ${HUB_MAX_LAG:-30}
  lease_seconds: ${HUB_LEASE:-10}
fleet:
  hub: $name
  period: ${HUB_PERIOD:-60}
  stale_periods: ${HUB_STALE:-3}
maps:
  directory: $WS/hub-$name/maps
metrics:
  textfile: $WS/hub-$name/mapsync.prom
logging:
  level: ${HUB_LEVEL:-info}
  syslog: false
YAML
}

hub() { local name=$1; shift; in_ns "$MAPSYNC" -c "$WS/$name.yaml" "$@"; }
lookup() { postmap -q "$2" "hash:$WS/hub-$1/maps/virtual"; }

# read_from HUB SERIAL ENDPOINT: hub HUB's build (its log in $WS/out) read serial SERIAL from
# ENDPOINT (127.0.0.22:3306, a socket path). A build that reads the data logs "read serial N
# from E"; one that finds nothing changed logs "nothing changed (serial N from E, ...)"; the
# fleet status (read with $WS/$STATUS_HUB.yaml, default hub1: a config whose first endpoint
# has the hubs' reports) must name ENDPOINT as HUB's reader too, unless the hub could not
# write its report.
read_from() {
  local h=$1 s=$2 e=$3
  grep -qF "read serial $s from $e" "$WS/out" && return 0
  grep -qF "nothing changed (serial $s from $e," "$WS/out" || { cat "$WS/out" >&2; die "$h did not read serial $s from $e"; }
  # A hub whose only endpoint is a replica cannot write its report: the log is the record.
  grep -qF "not written: no writable database endpoint" "$WS/out" && return 0
  in_ns "$MAPSYNC" -c "$WS/${STATUS_HUB:-hub1}.yaml" status --fleet --json > "$WS/read_from.json" 2> "$WS/read_from.err" ||
    { cat "$WS/read_from.err" >&2; die "status --fleet failed"; }
  jq -e --arg h "$h" --arg e "$e" --argjson s "$s" '.hubs[] | select(.hub == $h) | .reader == $e and .serial == $s' \
    "$WS/read_from.json" > /dev/null || { cat "$WS/out" "$WS/read_from.json" >&2; die "$h did not read serial $s from $e"; }
}

# pause_wait FIFO [SECONDS]: the info line of a pause point. Opened read-write, so that the
# open does not block when the process died before it reached the point.
pause_wait() {
  local fifo=$1 secs=${2:-60} fd line
  exec {fd}<> "$fifo"
  if ! read -r -t "$secs" -u "$fd" line; then exec {fd}<&-; die "no pause point reached within $secs s ($fifo)"; fi
  exec {fd}<&-
  printf '%s\n' "$line"
}

# pause_resume FIFO: lets the paused process go on (the line goes to FIFO.resume; bounded, so
# that a process that is gone cannot hang the test).
pause_resume() {
  # shellcheck disable=SC2016  # $1 of the inner shell
  timeout 30 bash -c 'echo go > "$1"' _ "$1.resume" || die "the paused process did not take the resume line"
}

# _plain_config NODE > FILE: a one-server config in the pre-fleet form (socket:), for migrate.
_plain_config() {
  cat <<YAML
database:
  socket: $WS/$1/sock
  user: mapsync
  password_file: $FLEET_PASSWORD_FILE
  database: maildb
maps:
  directory: $WS/admin-maps
logging:
  level: info
  syslog: false
YAML
}

# fleet_db NODE [SQLFILE]: on the writable node NODE (g1..g3 or p); SQLFILE (default
# examples/campus.sql) is loaded after the schema.
fleet_db() {
  local n=$1 data=${2:-$ROOT/examples/campus.sql} pw t0=$SECONDS
  ( umask 077; head -c 24 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' > "$FLEET_PASSWORD_FILE" )
  chmod 0600 "$FLEET_PASSWORD_FILE"
  pw=$(cat "$FLEET_PASSWORD_FILE")
  # On stdin, never on a command line. SLAVE MONITOR: SHOW SLAVE STATUS for the lag checks.
  nq "$n" <<SQL
CREATE DATABASE maildb CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
CREATE USER 'mapsync'@'127.0.0.%' IDENTIFIED BY '$pw';
CREATE USER 'mapsync'@'localhost' IDENTIFIED BY '$pw';
GRANT ALL ON maildb.* TO 'mapsync'@'127.0.0.%';
GRANT ALL ON maildb.* TO 'mapsync'@'localhost';
GRANT SLAVE MONITOR ON *.* TO 'mapsync'@'127.0.0.%';
GRANT SLAVE MONITOR ON *.* TO 'mapsync'@'localhost';
SQL
  _plain_config "$n" > "$WS/admin.yaml"
  "$MAPSYNC" -c "$WS/admin.yaml" -q migrate > "$WS/migrate.log" 2>&1 || { cat "$WS/migrate.log" >&2; die "mapsync migrate on $n failed"; }
  nq "$n" < <(echo "USE maildb;"; cat "$data") || die "loading $data on $n failed"
  if is_galera "$n"; then galera_sync; else repl_sync; fi
  flog "fleet_db on $n in $((SECONDS - t0)) s"
}

# serial NODE: change_serial.serial as NODE sees it (Galera: a causal read).
serial() {
  if is_galera "$1"; then nq "$1" "SET SESSION wsrep_sync_wait=1; SELECT serial FROM maildb.change_serial WHERE id=1"
  else nq "$1" "SELECT serial FROM maildb.change_serial WHERE id=1"; fi
}

fleet_teardown() {
  local n pid
  for n in r2 r1 p g3 g2 g1; do
    pid=$(node_pid "$n") || continue
    kill -TERM "$pid" 2>/dev/null || true
    local i
    for (( i = 0; i < 600; i++ )); do _alive "$pid" || break; sleep 0.1; done
    if _alive "$pid"; then echo "fleet: $n (pid $pid) still running after 60 s; SIGKILL" >&2; kill -KILL "$pid" 2>/dev/null || true; fi
  done
  if [[ -e /run/netns/$FLEET_NS ]]; then
    for pid in $(ip netns pids "$FLEET_NS" 2>/dev/null); do
      echo "fleet: pid $pid ($(tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null)) left in $FLEET_NS; SIGKILL" >&2
      kill -KILL "$pid" 2>/dev/null || true
    done
    for (( i = 0; i < 50; i++ )); do [[ -z $(ip netns pids "$FLEET_NS" 2>/dev/null) ]] && break; sleep 0.1; done
    ip netns del "$FLEET_NS" || echo "fleet: ip netns del $FLEET_NS failed" >&2
  fi
  if [[ ${EXIT_STATUS:-0} != 0 && -s $_FLEET_LOG ]]; then
    echo "--- fleet log:"; cat "$_FLEET_LOG"
    for n in g1 g2 g3 p r1 r2; do
      [[ -s $WS/$n/error.log ]] || continue
      echo "--- $n/error.log (last 25 lines):"; tail -n 25 "$WS/$n/error.log"
    done
  fi
}
at_exit fleet_teardown
