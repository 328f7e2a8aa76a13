# delivery_lib.sh - what the delivery tests share: a private Postfix (tests/fixtures/postfix.sh)
# on mapsync's maps, SMTP/LMTP sinks (tests/fixtures/mail_sink.py), the SMTP client and
# the checks on what the sinks received (tests/fixtures/smtp_client.py), and the
# diagnostics printed when a test fails. Sourced after lib.sh; sets WS-relative paths.
#   start_sinks NAME=PROTO:IP:0...   starts the sinks; PORT[NAME] is each one's port
#   client CMD ARGS...               tests/fixtures/smtp_client.py (rcpt, send, wait, exact, where)
#   check_all ID...                  each message ID arrived exactly as EXPECT[ID] says, queue empty
: "${MAPSYNC_TEST_DBDIR:?}"
PATH=$PATH:/usr/sbin:/sbin
for tool in postfix postconf postqueue python3; do
  command -v "$tool" >/dev/null || die "$tool is not installed (the test needs the real thing)"
done
[[ $(id -u) == 0 ]] || die "must run as root (the Postfix master runs as root)"

PF=$ROOT/tests/fixtures/postfix.sh
SINK=$ROOT/tests/fixtures/mail_sink.py
DELIVERY_TIMEOUT=${DELIVERY_TIMEOUT:-60}
# Postfix's unprivileged daemons and the map files live under $WS.
chmod 0755 "$WS"
PFDIR=$WS/pf
MAPS=$WS/maps
SPOOL=$WS/spool
SINK_PID=
OUTSIDE=127.0.0.9   # source address of Internet clients
CAMPUS=127.0.0.1    # source address of campus hosts (mynetworks)
declare -A PORT EXPECT

diagnostics() {
  echo "=== diagnostics ===" >&2
  if [[ -f $PFDIR/etc/main.cf ]]; then
    echo "--- postqueue -p" >&2
    postqueue -c "$PFDIR/etc" -p >&2 2>&1 || true
  fi
  if [[ -f $PFDIR/maillog ]]; then
    echo "--- $PFDIR/maillog (last 80 lines)" >&2
    tail -n 80 "$PFDIR/maillog" >&2
  fi
  if [[ -f $WS/sink.log ]]; then
    echo "--- sink log (last 40 lines)" >&2
    tail -n 40 "$WS/sink.log" >&2
  fi
}

stop_all() {
  ((EXIT_STATUS == 0)) || diagnostics
  bash "$PF" stop "$PFDIR" || echo "could not stop Postfix in $PFDIR" >&2
  if [[ -n $SINK_PID ]] && kill -0 "$SINK_PID" 2>/dev/null; then
    kill -TERM "$SINK_PID" 2>/dev/null || true
    local deadline=$((SECONDS + 10))
    while kill -0 "$SINK_PID" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.05; done
    kill -KILL "$SINK_PID" 2>/dev/null || true
    wait "$SINK_PID" 2>/dev/null || true
  fi
}
at_exit stop_all

client() { python3 "$ROOT/tests/fixtures/smtp_client.py" "$@"; }

start_sinks() {
  note "starting the sinks"
  mkdir -p "$SPOOL"
  python3 "$SINK" --spool "$SPOOL" --ready "$WS/sink.ready" "$@" 2>"$WS/sink.log" &
  SINK_PID=$!
  local deadline=$((SECONDS + 20)) kind name _proto _host port spec
  until [[ -f $WS/sink.ready ]]; do
    kill -0 "$SINK_PID" 2>/dev/null || { cat "$WS/sink.log" >&2; die "the mail sink exited"; }
    ((SECONDS < deadline)) || die "the mail sink is not ready after 20 s"
    sleep 0.05
  done
  while read -r kind name _proto _host port; do
    [[ $kind == listener ]] && PORT[$name]=$port
  done <"$WS/sink.ready"
  for spec in "$@"; do
    [[ -n ${PORT[${spec%%=*}]:-} ]] || die "sink ${spec%%=*} has no port"
  done
  cat "$WS/sink.ready"
}

# Bounded poll until nothing is queued (active, incoming, deferred, hold, maildrop).
queue_files() { find "$PFDIR/queue/"{incoming,active,deferred,hold,maildrop} -type f 2>/dev/null | wc -l; }
wait_queue_empty() {
  local deadline=$((SECONDS + DELIVERY_TIMEOUT))
  while (($(queue_files) > 0)); do
    # Deferred mail would wait minutes for its retry: no point in waiting for it.
    [[ -z $(find "$PFDIR/queue/deferred" -type f 2>/dev/null) ]] || die "mail was deferred: $(postqueue -c "$PFDIR/etc" -p)"
    ((SECONDS < deadline)) || die "the queue is not empty after $DELIVERY_TIMEOUT s: $(postqueue -c "$PFDIR/etc" -p)"
    sleep 0.05
  done
}

check_all() {
  local id
  for id in "$@"; do
    # shellcheck disable=SC2086 # EXPECT holds space-separated items
    client wait "$SPOOL" "$DELIVERY_TIMEOUT" "$id" ${EXPECT[$id]} || die "$id: not delivered as expected"
  done
  wait_queue_empty
  for id in "$@"; do
    # shellcheck disable=SC2086
    client exact "$SPOOL" "$id" ${EXPECT[$id]} || die "$id: delivered otherwise than expected"
  done
}
