#!/usr/bin/env bash
# postfix_delivery: a real, private Postfix (started here, 127.0.0.1 only) runs on the maps
# that `mapsync build` publishes for the example campus, with exactly the main.cf block of
# docs/postfix-integration.md (tests/fixtures/postfix.sh copies it, map paths changed).
# Every next hop of the campus is pointed at SMTP/LMTP sinks on loopback
# (tests/fixtures/mail_sink.py) by SQL updates in this test's own database:
#   be1 lmtp 127.0.0.2, be2 lmtp 127.0.0.3, Exchange smtp 127.0.0.4 (accounts with
#   delivery smtp), the transport override for dana.chair smtp 127.0.0.6, the list server
#   smtp 127.0.0.7, the relay domain's server smtp 127.0.0.8, and the Internet
#   (default_transport, the only line this test adds to main.cf) smtp 127.0.0.5.
# Outside senders connect from 127.0.0.9 (not in mynetworks); campus hosts from 127.0.0.1.
# Checks:
#  - RCPT TO: unknown addresses (example.edu, alias.edu) and addresses of accounts that
#    must not receive mail are refused with 550 at RCPT time; a foreign domain gets
#    "Relay access denied" (554: docs/postfix-integration.md sets reject_unauth_destination); known
#    addresses, mixed case and UTF-8 (SMTPUTF8) ones, and any user of the relay domain
#    are accepted;
#  - each message lands at exactly the expected sinks with the expected envelope
#    (alias domain -> LMTP to be1, UTF-8 and ß addresses folded, Exchange, the transport
#    override, a nested group to four sinks, a forward, a list, postmaster through the
#    aliases map and local(8), the relay domain), the sender canonical map rewrites the
#    envelope sender; a domain with an error: transport is refused at RCPT time with its text;
#  - nothing stays in the queue, nothing deferred or bounced, the log has no warnings
#    (but one: see "The log" below);
#  - mapsync build while Postfix runs: a new address is refused before and accepted and
#    delivered after the publish (next connection); a mailbox moved to the other back end
#    is delivered there once trivial-rewrite has noticed the new transport map (it checks
#    every 10 s); no restart or reload of Postfix.
# No fixed sleeps: every wait is a bounded poll.
TEST_NAME=postfix_delivery
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=delivery_lib.sh
source "$(dirname "$0")/delivery_lib.sh"
DB=postfix_delivery

# --- sinks ----------------------------------------------------------------------------
start_sinks be1=lmtp:127.0.0.2:0 be2=lmtp:127.0.0.3:0 exchange=smtp:127.0.0.4:0 internet=smtp:127.0.0.5:0 \
  exchange2=smtp:127.0.0.6:0 lists=smtp:127.0.0.7:0 dept=smtp:127.0.0.8:0
# --- database and maps ------------------------------------------------------------------
note "example campus, next hops pointed at the sinks, mapsync build"
conf=$WS/mapsync.yaml
write_config "$MAPSYNC_TEST_DBDIR" "$DB" "$MAPS" > "$conf"
campus_db "$MAPSYNC_TEST_DBDIR" "$DB" "$conf"
db_root "$MAPSYNC_TEST_DBDIR" "$DB" <<SQL
UPDATE backends SET lmtp_host = '127.0.0.2', lmtp_port = ${PORT[be1]} WHERE name = 'be1';
UPDATE backends SET lmtp_host = '127.0.0.3', lmtp_port = ${PORT[be2]} WHERE name = 'be2';
UPDATE accounts SET smtp_nexthop = '[127.0.0.4]:${PORT[exchange]}' WHERE delivery = 'smtp';
UPDATE transport_overrides SET transport = 'smtp:[127.0.0.6]:${PORT[exchange2]}' WHERE id = 1;
UPDATE mailing_lists SET transport = 'smtp:[127.0.0.7]:${PORT[lists]}' WHERE id = 1;
UPDATE domains SET transport = 'smtp:[127.0.0.8]:${PORT[dept]}' WHERE name = 'dept.example.edu';
SQL
expect_exit 0 "$MAPSYNC" -c "$conf" build
cat "$WS/out"
# The published transport map says what the sinks expect (stock lookup client).
tq() { postmap -q "$1" "hash:$MAPS/transport"; }
step_transport_map() {
  [[ $(tq jdoe@example.edu) == "lmtp:[127.0.0.2]:${PORT[be1]}" ]] || die "transport of jdoe: $(tq jdoe@example.edu)"
  [[ $(tq jmueller@example.edu) == "lmtp:[127.0.0.3]:${PORT[be2]}" ]] || die "transport of jmueller: $(tq jmueller@example.edu)"
  [[ $(tq pat.professor@example.edu) == "smtp:[127.0.0.4]:${PORT[exchange]}" ]] || die "transport of pat.professor: $(tq pat.professor@example.edu)"
  [[ $(tq dana.chair@example.edu) == "smtp:[127.0.0.6]:${PORT[exchange2]}" ]] || die "transport of dana.chair: $(tq dana.chair@example.edu)"
  [[ $(tq announce@example.edu) == "smtp:[127.0.0.7]:${PORT[lists]}" ]] || die "transport of announce: $(tq announce@example.edu)"
  [[ $(tq dept.example.edu) == "smtp:[127.0.0.8]:${PORT[dept]}" ]] || die "transport of dept.example.edu: $(tq dept.example.edu)"
}
step transport_map step_transport_map

# --- Postfix ------------------------------------------------------------------------------
SMTPD_PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
note "starting Postfix on 127.0.0.1:$SMTPD_PORT"
bash "$PF" start "$PFDIR" "$MAPS" "$SMTPD_PORT" <<EOF
# The Internet: addresses outside the campus (forwards, off-campus group members).
default_transport = smtp:[127.0.0.5]:${PORT[internet]}
EOF
echo "main.cf as Postfix reads it (postconf -n):"
postconf -c "$PFDIR/etc" -n | sed 's/^/  /'
MASTER_PID=$(head -n1 "$PFDIR/queue/pid/master.pid" | tr -d ' ')
[[ -n $MASTER_PID ]] || die "no master pid"

# --- RCPT TO: what the hub accepts ----------------------------------------------------------
FROM_OUT=someone@outside.example.org
step_rcpt() {
  note "RCPT TO from the Internet ($OUTSIDE)"
  client rcpt "$OUTSIDE" "$SMTPD_PORT" 550 "User unknown in relay recipient table" "$FROM_OUT" \
    unknown@example.edu nobody@alias.edu olaf.gone@example.edu olaf@example.edu olaf.gone@alias.edu \
    lee.ving@example.edu noreply@example.edu \
    || die "unknown addresses, or addresses that must not receive mail, are not refused with 550 at RCPT time"
  client rcpt "$OUTSIDE" "$SMTPD_PORT" 554 "Relay access denied" "$FROM_OUT" someone@elsewhere.example.org \
    || die "a domain that is not ours is not refused"
  # The retired domain's transport is error:5.1.2 ...; smtpd already refuses it at RCPT
  # time with that text, for outsiders and campus hosts alike (no bounce is ever made).
  client rcpt "$OUTSIDE" "$SMTPD_PORT" 550 "5.1.2 <user@legacy.example.edu>: Recipient address rejected: legacy.example.edu no longer receives mail" \
    "$FROM_OUT" user@legacy.example.edu || die "the error: transport of legacy.example.edu does not refuse"
  client rcpt "$CAMPUS" "$SMTPD_PORT" 550 "legacy.example.edu no longer receives mail" jdoe@example.edu user@legacy.example.edu \
    || die "the error: transport of legacy.example.edu does not refuse a campus host"
  client rcpt "$OUTSIDE" "$SMTPD_PORT" 250 "Ok" "$FROM_OUT" \
    John.Doe@alias.edu JOHN.DOE@EXAMPLE.EDU Jörg.Müller@example.edu BO.STRASSE@alias.edu Bo.Straße@Example.EDU \
    staff-all@example.edu postmaster@example.edu anyone@dept.example.edu \
    || die "addresses in the maps are not accepted"
}
step rcpt step_rcpt

# --- Deliveries -----------------------------------------------------------------------------
# What each message must produce: sink|final recipient|envelope sender[|text in the message].
EXPECT[t-alias]="be1|jdoe@example.edu|$FROM_OUT"
EXPECT[t-utf8]="be2|jmueller@example.edu|$FROM_OUT"
EXPECT[t-sharp-s]="be1|bwong@example.edu|$FROM_OUT"
EXPECT[t-exchange]="exchange|pat.professor@example.edu|$FROM_OUT"
EXPECT[t-override]="exchange2|dana.chair@example.edu|$FROM_OUT"
EXPECT[t-group]="be1|jdoe@example.edu|$FROM_OUT exchange|helpdesk@example.edu|$FROM_OUT exchange|pat.professor@example.edu|$FROM_OUT exchange2|dana.chair@example.edu|$FROM_OUT internet|oncall@pager.example.net|$FROM_OUT"
EXPECT[t-forward]="internet|ed@retired.example.org|$FROM_OUT"
EXPECT[t-list]="lists|announce@example.edu|$FROM_OUT"
# postmaster -> postmaster@localhost (virtual) -> root -> it-team@example.edu (aliases,
# local(8)) -> helpdesk, jdoe, oncall (virtual again, in the forwarded copy).
EXPECT[t-postmaster]="be1|jdoe@example.edu|$FROM_OUT exchange|helpdesk@example.edu|$FROM_OUT internet|oncall@pager.example.net|$FROM_OUT"
EXPECT[t-relay]="dept|user@dept.example.edu|$FROM_OUT"
EXPECT[t-canonical]="exchange|pat.professor@example.edu|John.Doe@example.edu"
step_deliveries() {
  note "messages from the Internet and from a campus host"
  client send "$OUTSIDE" "$SMTPD_PORT" t-alias "$FROM_OUT" John.Doe@alias.edu || die "t-alias not accepted"
  client send "$OUTSIDE" "$SMTPD_PORT" t-utf8 "$FROM_OUT" Jörg.Müller@example.edu || die "t-utf8 not accepted"
  client send "$OUTSIDE" "$SMTPD_PORT" t-sharp-s "$FROM_OUT" Bo.Straße@ALIAS.edu || die "t-sharp-s not accepted"
  client send "$OUTSIDE" "$SMTPD_PORT" t-exchange "$FROM_OUT" pat.professor@example.edu || die "t-exchange not accepted"
  client send "$OUTSIDE" "$SMTPD_PORT" t-override "$FROM_OUT" dana.chair@example.edu || die "t-override not accepted"
  client send "$OUTSIDE" "$SMTPD_PORT" t-group "$FROM_OUT" staff-all@example.edu || die "t-group not accepted"
  client send "$OUTSIDE" "$SMTPD_PORT" t-forward "$FROM_OUT" ed.meritus@example.edu || die "t-forward not accepted"
  client send "$OUTSIDE" "$SMTPD_PORT" t-list "$FROM_OUT" announce@example.edu || die "t-list not accepted"
  client send "$OUTSIDE" "$SMTPD_PORT" t-postmaster "$FROM_OUT" postmaster@example.edu || die "t-postmaster not accepted"
  client send "$OUTSIDE" "$SMTPD_PORT" t-relay "$FROM_OUT" user@dept.example.edu || die "t-relay not accepted"
  # A campus host: the envelope sender is rewritten by sender_canonical_maps.
  client send "$CAMPUS" "$SMTPD_PORT" t-canonical jdoe@example.edu pat.professor@example.edu || die "t-canonical not accepted"

  note "waiting for the deliveries (at most $DELIVERY_TIMEOUT s)"
  t0=$SECONDS
  check_all t-alias t-utf8 t-sharp-s t-exchange t-override t-group t-forward t-list t-postmaster \
    t-relay t-canonical
  echo "all delivered, queue empty after $((SECONDS - t0)) s"
  # The sinks be1 and be2 speak only LMTP (LHLO): a delivery there was made over LMTP.
}
step deliveries step_deliveries

# --- Publishing while Postfix runs ---------------------------------------------------------
step_publish_while_running() {
  note "mapsync build while Postfix runs: a new address for jdoe, bwong moved to be2"
  client rcpt "$OUTSIDE" "$SMTPD_PORT" 550 "User unknown" "$FROM_OUT" jd.new@example.edu \
    || die "jd.new@example.edu is accepted before it exists"
  # trivial-rewrite processes of this instance that still hold a replaced map file open.
  stale_rewriters() {
    local pid n=0
    for pid in $(pgrep -x trivial-rewrite || true); do
      [[ $(readlink "/proc/$pid/cwd" 2>/dev/null) == "$PFDIR/queue" ]] || continue
      if find "/proc/$pid/fd" -lname "$MAPS/* (deleted)" 2>/dev/null | grep -q .; then n=$((n + 1)); fi
    done
    echo "$n"
  }
  db_root "$MAPSYNC_TEST_DBDIR" "$DB" <<'SQL'
INSERT INTO addresses (id, account_id, address, kind) VALUES (100, 1, 'jd.new@example.edu', 'alias');
UPDATE accounts SET backend_id = 2, cyrus_partition = 'default' WHERE uid = 'bwong';
SQL
  expect_exit 0 "$MAPSYNC" -c "$conf" build
  cat "$WS/out"
  t_pub=$SECONDS
  [[ $(tq bwong@example.edu) == "lmtp:[127.0.0.3]:${PORT[be2]}" ]] || die "transport of bwong after the move: $(tq bwong@example.edu)"

  # virtual and relay_recipients are read by smtpd and cleanup, which check their maps
  # before each new connection: the next connection sees the new address. (Retried, bounded,
  # only in case a daemon had accepted the connection just before the rename.)
  tries=0
  until client rcpt "$OUTSIDE" "$SMTPD_PORT" 250 "Ok" "$FROM_OUT" jd.new@example.edu; do
    tries=$((tries + 1))
    ((tries < 20)) || die "jd.new@example.edu is still refused after the republish"
  done
  ((tries == 0)) || echo "NOTE: jd.new@example.edu was accepted only on attempt $((tries + 1))"
  client send "$OUTSIDE" "$SMTPD_PORT" t-new "$FROM_OUT" jd.new@example.edu || die "t-new not accepted"
  EXPECT[t-new]="be1|jdoe@example.edu|$FROM_OUT"

  # transport_maps (and relay_domains) are read by trivial-rewrite, which serves long-lived
  # connections and checks its maps only every 10 s; its clients (qmgr, smtpd, cleanup)
  # also reuse their last answer for the same sender and address for up to 30 s. So a
  # mailbox move reaches the queue manager some seconds after the publish, not at the next
  # connection: a message sent right away may still go to the old back end (recorded, not
  # judged). Then: wait (bounded) until no trivial-rewrite process holds a replaced map
  # file, and a message from a new sender must reach the new back end.
  client send "$OUTSIDE" "$SMTPD_PORT" t-moved-early "early@outside.example.org" bo.wong@example.edu || die "t-moved-early not accepted"
  early=$(client where "$SPOOL" "$DELIVERY_TIMEOUT" t-moved-early) || die "t-moved-early was not delivered"
  [[ $early == be[12] ]] || die "t-moved-early went to $early"
  client exact "$SPOOL" t-moved-early "$early|bwong@example.edu|early@outside.example.org" >/dev/null \
    || die "t-moved-early: not delivered once to be1 or be2"
  echo "  right after the publish, mail for the moved mailbox went to $early"
  deadline=$((SECONDS + 40))
  until (($(stale_rewriters) == 0)); do
    ((SECONDS < deadline)) || die "trivial-rewrite still uses the replaced maps 40 s after the publish"
    sleep 0.1
  done
  echo "  trivial-rewrite uses the new maps $((SECONDS - t_pub)) s after the publish"
  client send "$OUTSIDE" "$SMTPD_PORT" t-moved "moved@outside.example.org" bo.wong@example.edu || die "t-moved not accepted"
  EXPECT[t-moved]="be2|bwong@example.edu|moved@outside.example.org"
  check_all t-new t-moved
  [[ $(head -n1 "$PFDIR/queue/pid/master.pid" | tr -d ' ') == "$MASTER_PID" ]] || die "the Postfix master was restarted"
  # Each daemon names the first replaced map it finds.
  grep -Eq "postfix/smtpd\[[0-9]+\]: table hash:$MAPS/(virtual|relay_recipients)\(.*\) has changed -- restarting" "$PFDIR/maillog" \
    || die "no smtpd logged that the maps changed"
  grep "has changed -- restarting" "$PFDIR/maillog" | sed 's/^/  /'
}
step publish_while_running step_publish_while_running

# --- The log ------------------------------------------------------------------------------
step_mail_log() {
  note "the mail log"
  # One warning is expected now and then: trivial-rewrite exits when its maps have changed,
  # and a client whose request was in flight then reads a reset instead of the reply
  # ("problem talking to service rewrite: Connection reset by peer"); the client retries
  # after a second (Postfix's trivial-rewrite.c accepts this race). Any other warning fails.
  grep -E 'postfix/[a-z-]+\[[0-9]+\]: (warning|error|fatal|panic):' "$PFDIR/maillog" >"$WS/warnings" || true
  if grep -v -E 'postfix/(smtpd|cleanup|qmgr|local)\[[0-9]+\]: warning: problem talking to service rewrite: ' "$WS/warnings" >"$WS/warnings.bad"; then
    cat "$WS/warnings.bad" >&2
    die "Postfix logged warnings or errors (above)"
  fi
  if [[ -s $WS/warnings ]]; then
    echo "NOTE: the expected race with a restarting trivial-rewrite:"
    sed 's/^/  /' "$WS/warnings"
  fi
  grep -q 'status=deferred' "$PFDIR/maillog" && die "some delivery was deferred: $(grep 'status=deferred' "$PFDIR/maillog")"
  grep -q 'status=bounced' "$PFDIR/maillog" && die "some delivery bounced: $(grep 'status=bounced' "$PFDIR/maillog")"
  [[ $(postqueue -c "$PFDIR/etc" -p) == "Mail queue is empty" ]] || die "queue not empty: $(postqueue -c "$PFDIR/etc" -p)"
  echo "$(grep -c 'status=sent' "$PFDIR/maillog") deliveries logged status=sent, none deferred or bounced, queue empty"

}
step mail_log step_mail_log
finish
