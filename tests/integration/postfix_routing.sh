#!/usr/bin/env bash
# postfix_routing TYPE: the routes of schema 004 through a real, private Postfix that reads
# maps of TYPE (hash, btree, lmdb, cdb), landing at SMTP/LMTP sinks on loopback
# (tests/integration/delivery_lib.sh):
#  - a delivery target with a routing domain (Exchange coexistence): pprof's addresses are
#    rewritten to pprof@exchange.example.edu (the template), helpdesk's to its explicit
#    routing address, and both leave through the routing domain's route to the Exchange sink;
#  - a forward with a kept copy: kstud's mail goes to the forwards and to its own mailbox (LMTP);
#  - a list domain: the list and its companion addresses are accepted and routed to the
#    list server; any other local part, postmaster too, is refused at RCPT time;
#  - `mapsync plan --json` shows each of these changes before the build publishes them.
TYPE=${1:?usage: postfix_routing.sh hash|btree|lmdb|cdb}
TEST_NAME=postfix_routing_$TYPE
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=delivery_lib.sh
source "$(dirname "$0")/delivery_lib.sh"
DB=postfix_routing_$TYPE

start_sinks be1=lmtp:127.0.0.2:0 exchange=smtp:127.0.0.4:0 internet=smtp:127.0.0.5:0 lists=smtp:127.0.0.7:0

note "example campus on $TYPE maps, next hops pointed at the sinks"
conf=$WS/mapsync.yaml
write_config "$MAPSYNC_TEST_DBDIR" "$DB" "$MAPS" "$TYPE" > "$conf"
campus_db "$MAPSYNC_TEST_DBDIR" "$DB" "$conf"
db_root "$MAPSYNC_TEST_DBDIR" "$DB" <<SQL
UPDATE backends SET lmtp_host = '127.0.0.2', lmtp_port = ${PORT[be1]};
UPDATE accounts SET smtp_nexthop = '[127.0.0.4]:${PORT[exchange]}' WHERE delivery = 'smtp';
UPDATE mailing_lists SET transport = 'smtp:[127.0.0.7]:${PORT[lists]}' WHERE id = 1;
SQL
expect_exit 0 "$MAPSYNC" -c "$conf" build

note "the routes of schema 004"
EXCHANGE="smtp:[127.0.0.4]:${PORT[exchange]}"
LISTS="smtp:[127.0.0.7]:${PORT[lists]}"
db_root "$MAPSYNC_TEST_DBDIR" "$DB" <<SQL
INSERT INTO delivery_targets (id, name, transport, routing_domain, address_template)
  VALUES (1, 'exchange', '$EXCHANGE', 'exchange.example.edu', '{uid}@{domain}');
UPDATE accounts SET smtp_nexthop = NULL, delivery_target_id = 1 WHERE uid IN ('pprof', 'helpdesk');
UPDATE accounts SET routing_address = 'Help.Desk@exchange.example.edu' WHERE uid = 'helpdesk';
UPDATE accounts SET keep_copy = TRUE, backend_id = 1, cyrus_partition = 'default' WHERE uid = 'kstud';
INSERT INTO domains (name, kind, transport) VALUES ('lists.example.edu', 'list', '$LISTS');
INSERT INTO mailing_lists (address, manager, transport) VALUES ('Physics@lists.example.edu', 'transport', '$LISTS');
SQL

step_plan() {
  expect_json 0 "$MAPSYNC" -c "$conf" plan --json
  json_check "plan: virtual pat.professor -> the routing address" \
    '.maps[] | select(.map == "virtual") | .changed[] | select(.key == "pat.professor@example.edu") | .new == "pprof@exchange.example.edu"'
  json_check "plan: transport of the routing domain" \
    '.maps[] | select(.map == "transport") | .added[] | select(.key == "exchange.example.edu") | .value == $hop' --arg hop "$EXCHANGE"
  json_check "plan: the kept copy" \
    '.maps[] | select(.map == "virtual") | .changed[] | select(.key == "kim.student@example.edu") | .new | contains("kstud@example.edu")'
  json_check "plan: the list domain" \
    '.maps[] | select(.map == "relay_domains") | .added[] | select(.key == "lists.example.edu") | .value == "list"'
  json_check "plan: a companion address" \
    '[.maps[] | select(.map == "relay_recipients") | .added[] | .key] | index("physics-request@lists.example.edu") != null'
}
step plan step_plan

step_build() {
  expect_exit 0 "$MAPSYNC" -c "$conf" build
  local q="postmap -q"
  [[ $($q pprof@exchange.example.edu "$TYPE:$MAPS/virtual" || true) == "" ]] || die "the routing address must not be a virtual key"
  [[ $($q prof@example.edu "$TYPE:$MAPS/virtual") == "pprof@exchange.example.edu" ]] || die "virtual of prof@example.edu"
  [[ $($q exchange.example.edu "$TYPE:$MAPS/transport") == "$EXCHANGE" ]] || die "transport of the routing domain"
  [[ $($q lists.example.edu "$TYPE:$MAPS/transport") == "$LISTS" ]] || die "transport of the list domain"
}
step --needs plan build step_build

SMTPD_PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
note "starting Postfix on 127.0.0.1:$SMTPD_PORT with $TYPE: maps"
POSTFIX_MAP_TYPE=$TYPE bash "$PF" start "$PFDIR" "$MAPS" "$SMTPD_PORT" <<EOF
default_transport = smtp:[127.0.0.5]:${PORT[internet]}
EOF
postconf -c "$PFDIR/etc" -h virtual_alias_maps | grep -q "^$TYPE:" || die "main.cf does not read $TYPE: maps"

FROM_OUT=someone@outside.example.org
step_rcpt() {
  client rcpt "$OUTSIDE" "$SMTPD_PORT" 550 "User unknown in relay recipient table" "$FROM_OUT" \
    stranger@lists.example.edu postmaster@lists.example.edu physics-admin@lists.example.edu \
    || die "a list domain accepts what is not a list or a companion"
  client rcpt "$OUTSIDE" "$SMTPD_PORT" 250 "Ok" "$FROM_OUT" \
    physics@lists.example.edu PHYSICS-Request@lists.example.edu physics-owner@lists.example.edu \
    || die "a list or its companions are refused"
}
step --needs build rcpt step_rcpt

EXPECT[t-template]="exchange|pprof@exchange.example.edu|$FROM_OUT"
EXPECT[t-proxy]="exchange|pprof@exchange.example.edu|$FROM_OUT"
EXPECT[t-routing-address]="exchange|Help.Desk@exchange.example.edu|$FROM_OUT"
EXPECT[t-keep-copy]="be1|jdoe@example.edu|$FROM_OUT internet|kim@mail.example.net|$FROM_OUT be1|kstud@example.edu|$FROM_OUT"
# The list address as its row spells it: virtual keeps the local part, folds the domain.
EXPECT[t-list]="lists|Physics@lists.example.edu|$FROM_OUT"
EXPECT[t-companion]="lists|physics-request@lists.example.edu|$FROM_OUT"
step_deliveries() {
  client send "$OUTSIDE" "$SMTPD_PORT" t-template "$FROM_OUT" Pat.Professor@example.edu || die "t-template not accepted"
  client send "$OUTSIDE" "$SMTPD_PORT" t-proxy "$FROM_OUT" prof@alias.edu || die "t-proxy not accepted"
  client send "$OUTSIDE" "$SMTPD_PORT" t-routing-address "$FROM_OUT" helpdesk@example.edu || die "t-routing-address not accepted"
  client send "$OUTSIDE" "$SMTPD_PORT" t-keep-copy "$FROM_OUT" kim.student@example.edu || die "t-keep-copy not accepted"
  client send "$OUTSIDE" "$SMTPD_PORT" t-list "$FROM_OUT" physics@lists.example.edu || die "t-list not accepted"
  client send "$OUTSIDE" "$SMTPD_PORT" t-companion "$FROM_OUT" physics-request@lists.example.edu || die "t-companion not accepted"
  check_all t-template t-proxy t-routing-address t-keep-copy t-list t-companion
}
step --needs build deliveries step_deliveries

finish
