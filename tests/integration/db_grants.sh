#!/usr/bin/env bash
# db_grants: the database accounts of docs/operations.md ("Database users and grants"),
# created from the SQL block of that page as written (so page and test cannot drift), are
# enough for each program, and one grant less fails clearly: exit 78 and the server's
# message naming the command and the table.
#  - mapsync: migrate as the migrate account (without TRIGGER: refused), build and status
#    as the hub account (without SELECT on accounts: refused; without the fleet tables: a
#    warning, the maps are published), hold/release --fleet (without fleet_control: refused),
#    prune-log as the migrate account (as the hub account: refused);
#  - mapadm: a change with its audit row (without INSERT on admin_audit: refused, nothing
#    written);
#  - mboxsync: `run` on an empty queue, its database phase only (the lease; without INSERT
#    on leases: refused). It needs no Cyrus for that; its IMAP side is mboxsync_provision's.
#  - adsync: not covered here (its database phase starts after the AD read, which needs
#    the Samba AD fixture; adsync_reconcile runs it with the fixture's full-rights user).
TEST_NAME=db_grants
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
: "${MAPSYNC_TEST_DBDIR:?}"
all_programs

DBN=db_grants
DB=$MAPSYNC_TEST_DBDIR
HOST=127.0.0.1  # the fixture's clients connect over TCP from here
ACCOUNTS=(mapsync_hub mapsync_migrate mapsync_adsync mapsync_mboxsync mapsync_admin)

# The page's SQL, one statement a line, the database and host pattern made this test's;
# each password a random one that goes to its account's password file (mode 0600) and,
# on stdin, to the server. grants_sql [-v] ACCOUNT: the statements for ACCOUNT (-v: all others).
page_sql() {
  local sql a pw
  sql=$(awk '/^## Database users and grants/ { s = 1 } s && /^```sql/ { p = 1; next } p && /^```/ { exit } p' \
        "$ROOT/docs/operations.md" | grep -v '^ *--' | tr '\n' ' ' | tr ';' '\n' | sed -e 's/^ *//' -e '/^$/d' -e 's/$/;/')
  [[ $sql == *"GRANT "* ]] || die "no GRANT statements under 'Database users and grants' in docs/operations.md"
  sql=${sql//mailusers./\`$DBN\`.}
  sql=${sql//\'10.1.%\'/\'$HOST\'}
  for a in "${ACCOUNTS[@]}"; do
    pw=$(openssl rand -hex 16)
    ( umask 077; printf '%s\n' "$pw" > "$WS/$a.password" )
    sql=${sql/"'$a'@'$HOST' IDENTIFIED BY '...'"/"'$a'@'$HOST' IDENTIFIED BY '$pw'"}
  done
  [[ $sql != *"IDENTIFIED BY '...'"* ]] || die "an account in docs/operations.md is not one of: ${ACCOUNTS[*]}"
  printf '%s\n' "$sql" > "$WS/grants.sql"
}
grants_sql() {
  if [[ $1 == -v ]]; then grep -vF "'$2'@" "$WS/grants.sql"; else grep -F "'$1'@" "$WS/grants.sql"; fi
}
drop_users() { local a; for a in "${ACCOUNTS[@]}"; do echo "DROP USER IF EXISTS '$a'@'$HOST';"; done | db_root "$DB"; }

# conf ACCOUNT: this test's config for the program run as ACCOUNT.
conf() {
  write_config "$DB" "$DBN" "$WS/maps" |
    sed -e "s|^  user: .*|  user: $1|" -e "s|^  password_file: .*|  password_file: $WS/$1.password|"
  # mboxsync needs its section; its password file is never used by an empty queue.
  cat <<YAML
cyrus:
  admin_user: cyrus
  password_file: $WS/cyrus.password
  tls: none
  allow_plaintext: true
YAML
}

# As a site does it: the migrate account first, `mapsync migrate`, then the others (a
# grant on a table needs the table).
new_db "$DB" "$DBN"
page_sql
drop_users
at_exit drop_users
db_root "$DB" < <(grants_sql mapsync_migrate) || die "docs/operations.md: the migrate account's statements fail"
( umask 077; echo unused > "$WS/cyrus.password" )
for a in "${ACCOUNTS[@]}"; do conf "$a" > "$WS/$a.yaml"; done
revoke() { db_root "$DB" <<< "REVOKE $1 FROM '$2'@'$HOST'"; }
grant() { db_root "$DB" <<< "GRANT $1 TO '$2'@'$HOST'"; }
# refused PRIV TABLE CMD...: CMD exits 78 and names the denied command and the table.
refused() {
  local priv=$1 table=$2; shift 2
  expect_exit 78 "$@"
  # MariaDB names the table as `db`.`table`.
  grep -Eqi "$priv command denied.*[\`']$table[\`']" "$WS/out" || { cat "$WS/out" >&2; die "the message does not name $priv on $table"; }
}

# Each step that takes a grant away gives it back in an EXIT trap (a step is a subshell),
# so that a failing step leaves the accounts as the page has them for the next.
migrate_without_trigger() {
  revoke "TRIGGER ON \`$DBN\`.*" mapsync_migrate
  trap 'grant "TRIGGER ON \`$DBN\`.*" mapsync_migrate' EXIT
  refused TRIGGER '[a-z_]*' "$MAPSYNC" -c "$WS/mapsync_migrate.yaml" migrate
  # A fresh database for the real migrate: the refused one may have left tables behind.
  db_root "$DB" <<< "DROP DATABASE \`$DBN\`; CREATE DATABASE \`$DBN\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;"
}

migrate() {
  expect_exit 0 "$MAPSYNC" -c "$WS/mapsync_migrate.yaml" migrate
  db_root "$DB" "$DBN" < "$ROOT/examples/campus.sql"
  db_root "$DB" < <(grants_sql -v mapsync_migrate) || die "docs/operations.md: the other accounts' statements fail"
}

hub_build() {
  expect_exit 0 "$MAPSYNC" -c "$WS/mapsync_hub.yaml" build
  [[ $(postmap -q bo.wong@example.edu "hash:$WS/maps/virtual") == bwong@example.edu ]] || die "the build published no virtual map"
  grep -qi "fleet_" "$WS/out" && { cat "$WS/out" >&2; die "a build with every grant warned about the fleet tables"; }
  expect_exit 0 "$MAPSYNC" -c "$WS/mapsync_hub.yaml" status
  expect_exit 0 "$MAPSYNC" -c "$WS/mapsync_hub.yaml" hold --fleet "db_grants test"
  expect_exit 0 "$MAPSYNC" -c "$WS/mapsync_hub.yaml" release --fleet
}

hub_without_select_on_accounts() {
  # Not local: the EXIT trap reads them after the function returned.
  tables=$(q "$DBN" "SELECT table_name FROM information_schema.tables WHERE table_schema = '$DBN' AND table_name <> 'accounts'")
  revoke "SELECT ON \`$DBN\`.*" mapsync_hub
  for t in $tables; do grant "SELECT ON \`$DBN\`.\`$t\`" mapsync_hub; done
  trap 'for t in $tables; do revoke "SELECT ON \`$DBN\`.\`$t\`" mapsync_hub; done; grant "SELECT ON \`$DBN\`.*" mapsync_hub' EXIT
  db_root "$DB" "$DBN" <<< "UPDATE change_serial SET serial = serial + 1"  # something to read
  refused SELECT accounts "$MAPSYNC" -c "$WS/mapsync_hub.yaml" build
}

hub_without_fleet_tables() {
  # The fleet report is best effort: the maps are published, the warning names the table.
  revoke "INSERT, UPDATE, DELETE ON \`$DBN\`.fleet_hubs" mapsync_hub
  revoke "INSERT, UPDATE, DELETE ON \`$DBN\`.fleet_control" mapsync_hub
  trap 'grant "INSERT, UPDATE, DELETE ON \`$DBN\`.fleet_hubs" mapsync_hub
        grant "INSERT, UPDATE, DELETE ON \`$DBN\`.fleet_control" mapsync_hub' EXIT
  db_root "$DB" "$DBN" <<< "UPDATE change_serial SET serial = serial + 1"
  expect_exit 0 "$MAPSYNC" -c "$WS/mapsync_hub.yaml" build
  grep -qi "warning.*fleet_hubs" "$WS/out" || { cat "$WS/out" >&2; die "no warning naming fleet_hubs"; }
  refused '(INSERT|DELETE|UPDATE)' fleet_control "$MAPSYNC" -c "$WS/mapsync_hub.yaml" hold --fleet "db_grants test"
}

# prune-log is the migrate account's (DELETE on change_log, UPDATE on change_log_start);
# the hub account, which may only read them, is refused.
prune_log() {
  db_root "$DB" "$DBN" <<< "UPDATE change_log SET changed_at = NOW(6) - INTERVAL 40 DAY;
                            UPDATE fleet_hubs SET reported_at = NOW(6) - INTERVAL 1 DAY;"
  refused UPDATE change_log_start "$MAPSYNC" -c "$WS/mapsync_hub.yaml" prune-log
  expect_exit 0 "$MAPSYNC" -c "$WS/mapsync_migrate.yaml" prune-log
  expect_output "deleted [1-9][0-9]* change-log row"
}

admin_change() {
  expect_exit 0 "$MAPADM" -c "$WS/mapsync_admin.yaml" account add kim primary_address=kim@example.edu delivery=cyrus backend=be1
  [[ $(q "$DBN" "SELECT COUNT(*) FROM admin_audit") -ge 1 ]] || die "no audit row"
}

admin_without_audit() {
  local before
  tables=$(q "$DBN" "SELECT table_name FROM information_schema.tables WHERE table_schema = '$DBN' AND table_name <> 'admin_audit'")
  revoke "SELECT, INSERT, UPDATE, DELETE ON \`$DBN\`.*" mapsync_admin
  for t in $tables; do grant "SELECT, INSERT, UPDATE, DELETE ON \`$DBN\`.\`$t\`" mapsync_admin; done
  grant "SELECT ON \`$DBN\`.admin_audit" mapsync_admin
  trap 'db_root "$DB" <<< "DROP USER IF EXISTS '"'"'mapsync_admin'"'"'@'"'"'$HOST'"'"'"
        db_root "$DB" < <(grants_sql mapsync_admin)' EXIT
  before=$(q "$DBN" "SELECT COUNT(*) FROM accounts")
  refused INSERT admin_audit "$MAPADM" -c "$WS/mapsync_admin.yaml" account add lee primary_address=lee@example.edu \
    delivery=cyrus backend=be1
  [[ $(q "$DBN" "SELECT COUNT(*) FROM accounts") == "$before" ]] || die "the refused change left an account behind"
}

mboxsync_queue() {
  # An empty queue (admin_change queued a mailbox for kim): the run needs no Cyrus.
  db_root "$DB" "$DBN" <<< "DELETE FROM provisioning_jobs"
  expect_exit 0 "$MBOXSYNC" -c "$WS/mapsync_mboxsync.yaml" run
  [[ $(q "$DBN" "SELECT COUNT(*) FROM leases WHERE name = 'mapsync.mboxsync'") == 1 ]] || die "mboxsync took no lease"
}

mboxsync_without_leases() {
  db_root "$DB" "$DBN" <<< "DELETE FROM leases"
  revoke "INSERT, UPDATE ON \`$DBN\`.leases" mapsync_mboxsync
  trap 'grant "INSERT, UPDATE ON \`$DBN\`.leases" mapsync_mboxsync' EXIT
  refused '(INSERT|UPDATE)' leases "$MBOXSYNC" -c "$WS/mapsync_mboxsync.yaml" run
}

step migrate_without_trigger migrate_without_trigger
step --needs migrate_without_trigger migrate migrate
step --needs migrate hub_build hub_build
step --needs hub_build hub_without_select_on_accounts hub_without_select_on_accounts
step --needs hub_build hub_without_fleet_tables hub_without_fleet_tables
step --needs hub_build prune_log prune_log
step --needs migrate admin_change admin_change
step --needs admin_change admin_without_audit admin_without_audit
step --needs migrate mboxsync_queue mboxsync_queue
step --needs mboxsync_queue mboxsync_without_leases mboxsync_without_leases
finish
