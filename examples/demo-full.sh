#!/usr/bin/env bash
# demo-full.sh - the whole system in one demo; run it as `examples/demo.sh --full` (root).
#
# Brings up, on loopback only and from the test fixtures (tests/fixtures/):
#   - a private MariaDB (the e-mail user database),
#   - a Samba AD DC in its own network namespace, with the fixture's seed users and a few
#     dozen more students and staff,
#   - a Cyrus Murder in its own network namespace: mupdate master, back ends be1 (127.0.0.2)
#     and be2 (127.0.0.3), a front end (127.0.0.1),
#   - in the Cyrus namespace: an SMTP sink standing in for Exchange (127.0.0.10) and a private
#     Postfix on hub 1's maps (delivering over LMTP to the back ends, over SMTP to the sink),
#   - two hubs: two mapsync configs (hub1, hub2) with their own map directories, one database;
# then tells the story: mapsync migrate, adsync plan and apply (the AD users become accounts),
# mboxsync bulk (their mailboxes), mapsync build on both hubs, a message to a student (read
# back from the Cyrus INBOX over IMAP) and one to a staff member on Exchange (found at the
# sink), and `mapsync status --fleet` with both hubs on the same generation.
#
# Everything started is stopped at the end, also on failure or Ctrl-C; the workspace in /tmp
# is removed, unless a step failed or KEEP_WS=1. A failed step ends the demo with a non-zero status and
# names the step. Secrets (database and Cyrus passwords, the AD keytab) stay in files of mode
# 0600 in the workspace, written by the fixtures: never on a command line or in an environment.
#   BUILD_DIR      build tree (default: build); an existing one keeps its configuration
#   DEMO_STUDENTS  students added to AD besides the seed's five (default 24)
#   DEMO_STAFF     staff added to AD besides the seed's four (default 8)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build}
FIX=$ROOT/tests/fixtures
N_STUDENTS=${DEMO_STUDENTS:-24}
N_STAFF=${DEMO_STAFF:-8}
[[ $N_STUDENTS =~ ^[1-9][0-9]*$ && $N_STAFF =~ ^[1-9][0-9]*$ ]] || { echo "demo: DEMO_STUDENTS and DEMO_STAFF must be positive numbers" >&2; exit 2; }
DELIVERY_TIMEOUT=60
PATH=$PATH:/usr/sbin:/sbin
T0=$SECONDS

CURRENT="prepare"
step() { CURRENT=$1; printf '\n== %s\n' "$*"; }
say() { printf '   %s\n' "$*"; }
die() { echo "demo: $*" >&2; exit 1; }

[[ $(id -u) == 0 ]] || die "must run as root (network namespaces, the Postfix master, Cyrus)"
for tool in cmake python3 postfix postmap mariadb samba-tool ip jq; do
  command -v "$tool" >/dev/null || die "$tool is not installed (bash .ci/install-deps.sh)"
done

# --- cleanup: stop what was started, newest first -------------------------------------------
WORK=
STARTERS=()   # pids of the service starts that run in parallel
SINK_PID=
cleanup() {
  local rc=$? pid
  trap - EXIT INT TERM
  set +e
  if (( rc != 0 )); then
    echo >&2
    case $rc in
      130|143) echo "demo: interrupted in step \"$CURRENT\" (exit $rc)" >&2 ;;
      *) echo "demo: FAILED in step \"$CURRENT\" (exit $rc)" >&2 ;;
    esac
  fi
  [[ -n $WORK ]] || exit "$rc"
  printf '\n== stop everything\n'
  for pid in "${STARTERS[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null; done
  for pid in "${STARTERS[@]}"; do wait "$pid" 2>/dev/null; done
  if (( rc != 0 )) && [[ -f $WORK/pf/maillog ]]; then
    echo "--- last lines of Postfix's log" >&2; tail -n 20 "$WORK/pf/maillog" >&2
  fi
  [[ ! -d $WORK/pf ]] || { bash "$FIX/postfix.sh" stop "$WORK/pf" >/dev/null 2>&1 && say "Postfix stopped"; }
  if [[ -n $SINK_PID ]]; then
    kill -TERM "$SINK_PID" 2>/dev/null && wait "$SINK_PID" 2>/dev/null
    say "Exchange sink stopped"
  fi
  [[ ! -e $WORK/cyrus ]] || bash "$FIX/cyrus_murder.sh" stop "$WORK/cyrus" 2>&1 | sed 's/^/   /'
  [[ ! -d $WORK/ad ]] || bash "$FIX/samba_ad.sh" stop "$WORK/ad" 2>&1 | sed 's/^/   /'
  [[ ! -d $WORK/db ]] || { bash "$FIX/mariadb.sh" stop "$WORK/db" >/dev/null 2>&1 && say "MariaDB stopped"; }
  if [[ -n ${KEEP_WS:-} ]] || (( rc != 0 && rc != 130 && rc != 143 )); then
    say "workspace kept for a look: $WORK (logs in $WORK/logs)"
  else
    rm -rf "$WORK"
    say "workspace $WORK removed (KEEP_WS=1 keeps it)"
  fi
  (( rc != 0 )) || printf '\nThe whole system, end to end, in %d s.\n' $((SECONDS - T0))
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- build -------------------------------------------------------------------------------------
step "build mapsync, adsync and mboxsync in $BUILD_DIR"
if [[ ! -f $BUILD_DIR/CMakeCache.txt ]]; then
  cmake -S "$ROOT" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
cmake --build "$BUILD_DIR" -j "$(nproc)" --target mapsync adsync mboxsync | tail -n 1
MAPSYNC=$BUILD_DIR/apps/mapsync/mapsync
ADSYNC=$BUILD_DIR/apps/adsync/adsync
MBOXSYNC=$BUILD_DIR/apps/mboxsync/mboxsync

# --- services ----------------------------------------------------------------------------------
WORK=$(mktemp -d /tmp/mapsync-demo-full.XXXXXX)
# Cyrus (user cyrus) and Postfix's unprivileged daemons must reach their files below it;
# nothing secret is readable: the fixtures write their secrets with mode 0600.
chmod 0711 "$WORK"
mkdir -p "$WORK/logs"
DB=$WORK/db AD=$WORK/ad CY=$WORK/cyrus

step "start MariaDB, a Samba AD DC and a Cyrus Murder (in parallel, loopback only)"
started() {  # NAME PID LOG: waits for one start; on failure shows its log
  if ! wait "$2"; then
    tail -n 25 "$3" | sed 's/^/   | /' >&2
    die "$1 did not start (log: $3)"
  fi
}
# Each start in its own process group (setsid), so that an interrupted one is ended whole.
setsid -w bash "$FIX/mariadb.sh" start "$DB" </dev/null >"$WORK/logs/mariadb.log" 2>&1 & STARTERS+=($!)
setsid -w bash "$FIX/samba_ad.sh" start "$AD" </dev/null >"$WORK/logs/samba_ad.log" 2>&1 & STARTERS+=($!)
setsid -w bash "$FIX/cyrus_murder.sh" start "$CY" </dev/null >"$WORK/logs/cyrus.log" 2>&1 & STARTERS+=($!)
started MariaDB "${STARTERS[0]}" "$WORK/logs/mariadb.log"
started "the Samba AD DC" "${STARTERS[1]}" "$WORK/logs/samba_ad.log"
started "the Cyrus Murder" "${STARTERS[2]}" "$WORK/logs/cyrus.log"
STARTERS=()
# shellcheck disable=SC1091
source "$DB/env"
# shellcheck disable=SC1091
source "$AD/env"
# shellcheck disable=SC1091
source "$CY/env"
say "MariaDB        socket $MARIADB_SOCKET (and 127.0.0.1:$MARIADB_PORT), database mailusers"
say "Samba AD DC    $AD_HOST, realm $AD_REALM, network namespace $AD_NETNS"
say "Cyrus Murder   mupdate 127.0.0.1:3905, be1 $CYRUS_BE1, be2 $CYRUS_BE2, front end $CYRUS_FRONTEND,"
say "               network namespace $CYRUS_NETNS"
say "(started in $((SECONDS - T0)) s)"

ad() { bash "$FIX/samba_ad.sh" "$1" "$AD" "${@:2}"; }
in_cyrus() { bash "$FIX/cyrus_murder.sh" exec "$CY" "$@"; }
sql() { bash "$FIX/mariadb.sh" sql "$DB" "$@"; }

step "add $N_STUDENTS students and $N_STAFF staff to AD (the seed has 5 students, 4 staff)"
# tests/fixtures/ad_bulk_ldif.py writes the users; ldbmodify adds records without changetype.
python3 "$FIX/ad_bulk_ldif.py" --count "$N_STUDENTS" --prefix student --ou "OU=Students,$AD_BASE" \
  --outdir "$WORK/ldif" 2>/dev/null
python3 "$FIX/ad_bulk_ldif.py" --count "$N_STAFF" --prefix staff --ou "OU=Staff,$AD_BASE" \
  --outdir "$WORK/ldif" 2>/dev/null
for f in "$WORK"/ldif/*.ldif; do
  sed -e 's/^givenName: Bulk$/givenName: Demo/' -e 's/^displayName: Bulk User /displayName: Demo User /' "$f" |
    ad ldbmodify >/dev/null
done
count_users() { ad search -b "$1,$AD_BASE" '(&(objectCategory=person)(objectClass=user))' dn 2>/dev/null | grep -c '^dn:'; }
say "OU=Students: $(count_users OU=Students) users, OU=Staff: $(count_users OU=Staff) users (carol is disabled)"

step "the Exchange stand-in: an SMTP sink on 127.0.0.10 (in the Cyrus namespace)"
mkdir -p "$WORK/sink"
in_cyrus python3 "$FIX/mail_sink.py" --spool "$WORK/sink" --ready "$WORK/sink.ready" \
  exchange=smtp:127.0.0.10:0 2>"$WORK/logs/sink.log" &
SINK_PID=$!   # the sink itself: the fixture's exec and ip netns exec exec into it
for _ in $(seq 200); do [[ -f $WORK/sink.ready ]] && break; sleep 0.05; done
[[ -f $WORK/sink.ready ]] || die "the mail sink is not ready after 10 s"
EXCHANGE_PORT=$(awk '$1 == "listener" && $2 == "exchange" {print $5}' "$WORK/sink.ready")
say "Exchange sink on 127.0.0.10:$EXCHANGE_PORT"

step "one config per hub: hub1 and hub2, one database, their own map directories"
# Every program reaches MariaDB over its unix socket: adsync runs in the AD namespace and
# mboxsync in the Cyrus namespace, where the host's 127.0.0.1 is not reachable.
hub_config() {  # NAME
  cat <<YAML
database:
  socket: $MARIADB_SOCKET
  user: mapsync
  password_file: $DB/mapsync.password
  database: mailusers
fleet:
  hub: $1
maps:
  directory: $WORK/$1/maps
logging:
  level: info
  syslog: false
YAML
}
# hub1 also runs the jobs (adsync, mboxsync): its config has their sections.
{
  hub_config hub1
  cat <<YAML
ad:
  uris: [$AD_URI]
  keytab: $AD_KEYTAB
  krb5_config: $AD_KRB5_CONFIG
  bases: ["OU=Staff,$AD_BASE", "OU=Students,$AD_BASE"]
  placement:
    - name: staff
      ou: OU=Staff,$AD_BASE
      delivery: smtp
      smtp_nexthop: "[127.0.0.10]:$EXCHANGE_PORT"
    - name: students
      ou: OU=Students,$AD_BASE
      delivery: cyrus
      backends: [be1, be2]
      quota_mb: 1024
cyrus:
  admin_user: $CYRUS_ADMIN_USER
  password_file: $CYRUS_ADMIN_PASSWORD_FILE
  tls: starttls
  ca_file: $CYRUS_CA
  quota_mb: 1024
YAML
} >"$WORK/hub1.yaml"
hub_config hub2 >"$WORK/hub2.yaml"
say "$WORK/hub1.yaml (hub1, with the ad: and cyrus: sections), $WORK/hub2.yaml (hub2)"
say "secrets in files only: $(cd "$WORK" && stat -c '%a %n' "${DB#"$WORK"/}/mapsync.password" \
  "${AD_KEYTAB#"$WORK"/}" "${CYRUS_ADMIN_PASSWORD_FILE#"$WORK"/}" | paste -sd, | sed 's/,/, /g')"
sed -n '/^ad:/,$p' "$WORK/hub1.yaml" | sed 's/^/   | /'

step "mapsync migrate: the schema; then the site's rows: the domain, postmaster, the two Cyrus back ends"
"$MAPSYNC" -c "$WORK/hub1.yaml" migrate
# LMTP straight to each back end's unauthenticated lmtpd (port 2003 in the fixture).
sql <<'SQL'
INSERT INTO domains (name, kind) VALUES ('example.test', 'local');
INSERT INTO system_aliases (name, targets, all_domains) VALUES ('postmaster', 'alice.smith@example.test', TRUE);
INSERT INTO backends (id, name, lmtp_host, lmtp_port, imap_host, partitions) VALUES
  (1, 'be1', '127.0.0.2', 2003, '127.0.0.2', 'default,archive'),
  (2, 'be2', '127.0.0.3', 2003, '127.0.0.3', 'default');
SQL
sql -t <<<"SELECT name, lmtp_host, lmtp_port, imap_host, partitions FROM backends" | sed 's/^/   /'

step "adsync plan: what AD has that the database does not (nothing is written)"
bash "$FIX/samba_ad.sh" exec "$AD" "$ADSYNC" -c "$WORK/hub1.yaml" plan >"$WORK/plan.out" 2>&1 ||
  { cat "$WORK/plan.out"; false; }
head -n 12 "$WORK/plan.out" | sed 's/^/   /'
(( $(wc -l <"$WORK/plan.out") <= 12 )) || say "... ($(wc -l <"$WORK/plan.out") lines; the last ones:)"
(( $(wc -l <"$WORK/plan.out") <= 12 )) || tail -n 4 "$WORK/plan.out" | sed 's/^/   /'

step "adsync apply: the AD users become accounts (students on Cyrus, staff on Exchange)"
bash "$FIX/samba_ad.sh" exec "$AD" "$ADSYNC" -c "$WORK/hub1.yaml" apply >"$WORK/apply.out" 2>&1 ||
  { cat "$WORK/apply.out"; false; }
grep -v '^create ' "$WORK/apply.out" | sed 's/^/   /'
sql -t <<'SQL' | sed 's/^/   /'
SELECT a.delivery, COALESCE(b.name, a.smtp_nexthop) AS next_hop, COUNT(*) AS accounts
FROM accounts a LEFT JOIN backends b ON b.id = a.backend_id
GROUP BY a.delivery, next_hop ORDER BY a.delivery, next_hop
SQL

step "mboxsync bulk: a mailbox for every student (progress bar on a terminal)"
bash "$FIX/cyrus_murder.sh" exec "$CY" "$MBOXSYNC" -c "$WORK/hub1.yaml" bulk --log "$WORK/bulk.log"
say "$(grep -c $'\tcreated\t' "$WORK/bulk.log") mailboxes created; the Murder's mupdate now lists:"
bash "$FIX/cyrus_murder.sh" mboxlist "$CY" | python3 -c '
import json, sys
by = {}
for name, e in json.load(sys.stdin).items():
    if name.startswith("user.") and name.count(".") == 1 and "d" not in e.get("mbtype", ""):
        by.setdefault(e["server"], []).append(name)
for server in sorted(by):
    print("   %s: %d INBOXes (%s ...)" % (server, len(by[server]), ", ".join(sorted(by[server])[:4])))'

step "mapsync build on hub1"
"$MAPSYNC" -c "$WORK/hub1.yaml" build
step "mapsync build on hub2"
"$MAPSYNC" -c "$WORK/hub2.yaml" build
mkdir -p "$WORK/postmap"
printf 'compatibility_level = 3.7\nmaillog_file = /dev/stdout\n' >"$WORK/postmap/main.cf"
touch -d '1 hour ago' "$WORK/postmap/main.cf"   # postfix waits for a main.cf written this second
lookup() { MAIL_CONFIG=$WORK/postmap postmap -q "$2" "hash:$WORK/hub1/maps/$1" || echo '(not found)'; }
STUDENT=dave STUDENT_ADDR=d.brown@example.test   # an smtp: proxyAddress of dave in AD
STAFF=alice STAFF_ADDR=asmith@example.test        # an smtp: proxyAddress of alice in AD
STUDENT_FINAL=$(lookup virtual "$STUDENT_ADDR")
STAFF_FINAL=$(lookup virtual "$STAFF_ADDR")
say "postmap -q $STUDENT_ADDR virtual:    $STUDENT_FINAL"
say "postmap -q $STUDENT_FINAL transport: $(lookup transport "$STUDENT_FINAL")"
say "postmap -q $STAFF_ADDR virtual:     $STAFF_FINAL"
say "postmap -q $STAFF_FINAL transport: $(lookup transport "$STAFF_FINAL")"

step "start a private Postfix on hub1's maps (smtpd on 127.0.0.1, in the Cyrus namespace)"
SMTPD_PORT=$(in_cyrus python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$WORK/pf"
in_cyrus bash "$FIX/postfix.sh" start "$WORK/pf" "$WORK/hub1/maps" "$SMTPD_PORT" </dev/null 2>&1 | sed 's/^/   /'

send() {  # SUBJECT RCPT: one message from outside (127.0.0.9) to Postfix; prints the queue id
  in_cyrus python3 - "$SMTPD_PORT" "$1" "$2" <<'PY'
import email.utils, smtplib, sys
port, subject, rcpt = sys.argv[1:]
sender = "someone@outside.example.org"
msg = (f"From: <{sender}>\r\nTo: <{rcpt}>\r\nSubject: {subject}\r\nDate: {email.utils.formatdate()}\r\n"
       f"Message-ID: {email.utils.make_msgid(domain='outside.example.org')}\r\n\r\nHello from the mapsync demo.\r\n")
with smtplib.SMTP("127.0.0.1", int(port), local_hostname="client.outside.example.org",
                  source_address=("127.0.0.9", 0), timeout=30) as s:
    for command in (lambda: s.mail(sender), lambda: s.rcpt(rcpt), lambda: s.data(msg.encode())):
        code, reply = command()
        if code != 250:
            sys.exit(f"   refused: {code} {reply.decode(errors='replace')}")
    print(f"   SMTP from 127.0.0.9: <{sender}> -> <{rcpt}>: {code} {reply.decode(errors='replace')}")
PY
}

step "a message to student $STUDENT ($STUDENT_ADDR): Postfix -> LMTP -> Cyrus; read back over IMAP"
SUBJECT_STUDENT="Welcome to campus mail, $STUDENT"
send "$SUBJECT_STUDENT" "$STUDENT_ADDR"
# Straight to the student's back end (the one the database and the transport map name): the
# front end's mupdate slave learns of a mailbox made on a back end only some seconds later.
STUDENT_BE=$(sql -N <<<"SELECT b.name FROM accounts a JOIN backends b ON b.id = a.backend_id WHERE a.uid = '$STUDENT'")
imap_as_student() { bash "$FIX/cyrus_murder.sh" imap "$CY" "$STUDENT_BE" --authzid "$STUDENT"; }
deadline=$((SECONDS + DELIVERY_TIMEOUT))
until printf 'a EXAMINE INBOX\n' | imap_as_student >"$WORK/imap.poll" 2>&1 && grep -q '^\* [1-9][0-9]* EXISTS' "$WORK/imap.poll"; do
  if (( SECONDS >= deadline )); then
    sed 's/^/   | /' "$WORK/imap.poll"
    die "nothing in user.$STUDENT's INBOX on $STUDENT_BE after $DELIVERY_TIMEOUT s"
  fi
  sleep 0.2
done
say "IMAP on $STUDENT_BE as $STUDENT (the Cyrus admin, authorised as the user):"
printf 'a EXAMINE INBOX\nb FETCH 1:* (BODY.PEEK[HEADER.FIELDS (FROM TO SUBJECT)])\nc LOGOUT\n' |
  imap_as_student | tr -d '\r' | grep -E '^(\* [0-9]+ EXISTS|From:|To:|Subject:|b OK)' | sed 's/^/   | /' |
  tee "$WORK/imap.out"
grep -qF "Subject: $SUBJECT_STUDENT" "$WORK/imap.out" || die "the message is not in user.$STUDENT's INBOX"
grep -F "status=sent" "$WORK/pf/maillog" | grep -F "to=<$STUDENT_FINAL>" | head -n 1 |
  sed -E 's/.*: (to=<[^>]*>, orig_to=<[^>]*>, relay=[^,]*).*(status=sent \([0-9.]+ [0-9.]+ [A-Za-z]+).*/   maillog: \1, \2)/'

step "a message to staff member $STAFF ($STAFF_ADDR): Postfix -> SMTP -> the Exchange sink"
SUBJECT_STAFF="Staff meeting moved, $STAFF"
send "$SUBJECT_STAFF" "$STAFF_ADDR"
deadline=$((SECONDS + DELIVERY_TIMEOUT))
until grep -lF "Subject: $SUBJECT_STAFF" "$WORK"/sink/*.json >/dev/null 2>&1; do
  (( SECONDS < deadline )) || die "nothing at the Exchange sink after $DELIVERY_TIMEOUT s"
  sleep 0.2
done
jq -r '"   | listener \(.listener) on \(.server) (\(.proto)): MAIL FROM:<\(.mail_from)> RCPT TO:<\(.rcpt_to | join(">, <"))>",
       (.data | split("\r\n")[] | select(test("^Subject: ")) | "   | \(.)")' \
  "$(grep -lF "Subject: $SUBJECT_STAFF" "$WORK"/sink/*.json)"
[[ $(jq -r '.rcpt_to[0]' "$(grep -lF "Subject: $SUBJECT_STAFF" "$WORK"/sink/*.json)") == "$STAFF_FINAL" ]] ||
  die "the sink did not receive the message for $STAFF_FINAL"

step "mapsync status --fleet: both hubs on the same generation"
"$MAPSYNC" -c "$WORK/hub1.yaml" status --fleet
"$MAPSYNC" -c "$WORK/hub1.yaml" -q status --fleet --json >"$WORK/fleet.json"
jq -e '[.hubs[] | select(.hub == "hub1" or .hub == "hub2")] | length == 2
       and (map(.generation) | unique | length == 1) and (map(.serial) | unique | length == 1)
       and (map(.digest) | unique | length == 1) and (map(.behind or .drift or .stale) | any | not)' \
  "$WORK/fleet.json" >/dev/null || { jq . "$WORK/fleet.json"; die "the hubs are not on the same generation"; }
say "hub1 and hub2: generation $(jq -r '.hubs[0].generation' "$WORK/fleet.json"), serial $(jq -r '.hubs[0].serial' "$WORK/fleet.json")"
CURRENT="stop everything"
