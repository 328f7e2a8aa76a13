# cyrus_lib.sh - helpers for the mboxsync tests (sourced after lib.sh).
#
# The ctest fixture cyrus (tests/fixtures/cyrus_murder.sh) runs a Cyrus Murder (mupdate
# master, back ends be1 127.0.0.2 and be2 127.0.0.3, a front end) in a network
# namespace; its directory is MAPSYNC_TEST_CYRUSDIR. mboxsync runs inside it and reaches
# the fixture's MariaDB over its unix socket. A missing server is a failure.
: "${MBOXSYNC:?MBOXSYNC must point to the mboxsync binary}"
: "${MAPSYNC_TEST_CYRUSDIR:?MAPSYNC_TEST_CYRUSDIR must name the Cyrus fixture directory}"
: "${MAPSYNC_TEST_DBDIR:?MAPSYNC_TEST_DBDIR must name the MariaDB fixture directory}"
CYFIX="$ROOT/tests/fixtures/cyrus_murder.sh"
CYDIR=$MAPSYNC_TEST_CYRUSDIR
DB=$MAPSYNC_TEST_DBDIR
[[ -f "$CYDIR/env" ]] || die "the Cyrus fixture is not running ($CYDIR/env missing)"
# shellcheck disable=SC1091
source "$CYDIR/env"
# shellcheck disable=SC1091
source "$DB/env"

cy() { bash "$CYFIX" "$1" "$CYDIR" "${@:2}"; }                 # cy stop-server be2, cy mboxlist
mboxsync() { bash "$CYFIX" exec "$CYDIR" "$MBOXSYNC" "$@"; }
# imap NAME: raw IMAP as the admin (commands on stdin, replies on stdout).
imap() { bash "$CYFIX" imap "$CYDIR" "$1"; }

# cy_config NAME [YAML lines for the cyrus: section...] > file
cy_config() {
  local name=$1; shift
  socket_config "$name"
  cat <<YAML
cyrus:
  admin_user: $CYRUS_ADMIN_USER
  password_file: $CYRUS_ADMIN_PASSWORD_FILE
  tls: starttls
  ca_file: $CYRUS_CA
  quota_mb: 100
  acls: ["anyone p"]
  folders:
    - {name: Sent, special_use: "\\\\Sent"}
    - {name: Drafts, special_use: "\\\\Drafts"}
    - {name: Trash, special_use: "\\\\Trash"}
    - {name: Junk, special_use: "\\\\Junk"}
YAML
  local line
  for line in "$@"; do printf '  %s\n' "$line"; done
}


# server_of MAILBOX: the server mupdate knows for it ("" when none).
server_of() {
  cy mboxlist | /usr/bin/python3 -c '
import json, sys
name = sys.argv[1]
data = json.load(sys.stdin)
e = data.get(name)
print(e["server"] if e and "d" not in e.get("mbtype", "") else "")' "$1"
}

# inboxes: every user INBOX mupdate knows, "name server" per line, sorted.
inboxes() {
  cy mboxlist | /usr/bin/python3 -c '
import json, sys
for name, e in sorted(json.load(sys.stdin).items()):
    if name.startswith("user.") and name.count(".") == 1 and "d" not in e.get("mbtype", ""):
        print(name, e["server"])'
}
