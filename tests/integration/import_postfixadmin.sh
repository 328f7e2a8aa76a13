#!/usr/bin/env bash
# import_postfixadmin: a real PostfixAdmin database (its schema made by the package's own
# public/upgrade.php, its data by postfixadmin-cli and VacationHandler, as
# /work/shared/notes/postfixadmin.md describes) in the fixture's MariaDB, a separate
# database; `mapadm import postfixadmin` dry run and --apply; the proof asks Postfix's
# mysql: tables with PostfixAdmin's own queries (POSTFIX_CONF.txt) and mapsync's rendered
# maps the same keys: all equal for what is representable, the rest listed.
TEST_NAME=import_postfixadmin
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
: "${MAPSYNC_TEST_DBDIR:?}" "${MAPADM:?}"
command -v php >/dev/null || die "php is not installed (.ci/install-deps.sh)"
[[ -d /usr/share/postfixadmin ]] || die "postfixadmin is not installed (.ci/install-deps.sh)"
postconf -m | grep -qx mysql || die "postfix-mysql is not installed (.ci/install-deps.sh)"
# shellcheck disable=SC1091
source "$MAPSYNC_TEST_DBDIR/env"
SOCK=$MARIADB_SOCKET PFADB=pfa_import DB=import_pfa
export WS

# PostfixAdmin's database and its two users (the app's, and Postfix's read-only one).
db_root "$MAPSYNC_TEST_DBDIR" <<SQL
DROP DATABASE IF EXISTS $PFADB;
CREATE DATABASE $PFADB CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci;
CREATE USER IF NOT EXISTS 'pfa_app'@'localhost' IDENTIFIED BY 'pfa-secret';
GRANT ALL ON $PFADB.* TO 'pfa_app'@'localhost';
CREATE USER IF NOT EXISTS 'pfa_postfix'@'localhost' IDENTIFIED BY 'pf-secret';
GRANT SELECT ON $PFADB.* TO 'pfa_postfix'@'localhost';
SQL

# A private copy of the app, so that /etc/postfixadmin stays as the package left it.
cp -a /usr/share/postfixadmin "$WS/app"
rm "$WS/app/config.inc.php" "$WS/app/config.local.php" "$WS/app/templates_c"
mkdir "$WS/app/templates_c"
cp /etc/postfixadmin/config.inc.php /etc/postfixadmin/dbconfig.inc.php "$WS/app/"
cat > "$WS/app/config.local.php" <<PHP
<?php
\$CONF['configured'] = true; \$CONF['database_type'] = 'mysqli'; \$CONF['database_host'] = 'localhost';
\$CONF['database_socket'] = '$SOCK'; \$CONF['database_name'] = '$PFADB';
\$CONF['database_user'] = 'pfa_app'; \$CONF['database_password'] = 'pfa-secret';
\$CONF['quota'] = 'YES'; \$CONF['default_aliases'] = array(); \$CONF['emailcheck_resolve_domain'] = 'NO';
\$CONF['vacation'] = 'YES'; \$CONF['vacation_domain'] = 'autoreply.example.com';
PHP
(cd "$WS/app/public" && php upgrade.php) > "$WS/upgrade.html" 2>&1 || true
# upgrade.php exits 0 on some failures: the version row is the proof.
[[ "$(q "$PFADB" "SELECT value FROM config WHERE name='version'")" =~ ^[0-9]+$ ]] || { tail -20 "$WS/upgrade.html"; die "upgrade.php made no schema"; }

P="$WS/app/scripts/postfixadmin-cli"
pfa() { "$P" "$@" > "$WS/cli.out" 2>&1 || { cat "$WS/cli.out" >&2; die "postfixadmin-cli $*"; }; }
for d in example.com example.net example.org; do
  pfa domain add $d --description $d --aliases 0 --mailboxes 0 --maxquota 0 --quota 0 --active 1 --default-aliases 0
done
pfa domain add old.example --description old --aliases 0 --mailboxes 0 --maxquota 0 --quota 0 --active 0 --default-aliases 0
pfa aliasdomain add example.org --target-domain example.com --active 1
pfa mailbox add alice@example.com --password Alice-pw12 --password2 Alice-pw12 --name Alice --quota 100 --active 1 --welcome-mail 0
pfa mailbox add bob@example.com --password Bob-pw12 --password2 Bob-pw12 --name Bob --quota 0 --active 1 --welcome-mail 0
pfa mailbox add carol@example.net --password Carol-pw12 --password2 Carol-pw12 --name Carol --quota 50 --active 0 --welcome-mail 0
pfa mailbox add dan@example.net --password Dan-pw12 --password2 Dan-pw12 --name Dan --quota 0 --active 1 --welcome-mail 0
pfa mailbox add alice@example.net --password Alice-pw12 --password2 Alice-pw12 --name Alice2 --quota 0 --active 1 --welcome-mail 0
pfa alias add info@example.com --goto alice@example.com,bob@example.com --active 1
pfa alias add sales@example.net --goto bob@example.com,dan@example.net,partner@partner.test --active 1
pfa alias add support@example.com --goto info@example.com --active 1
pfa alias add a.smith@example.com --goto alice@example.com --active 1
pfa alias add old@example.com --goto alice@example.com --active 0
pfa alias add @example.net --goto alice@example.com --active 1
pfa alias update bob@example.com --goto bob.private@elsewhere.test --goto-mailbox 1
pfa alias update dan@example.net --goto dan@home.test --goto-mailbox 0
php -r 'define("POSTFIXADMIN_CLI",1); require getenv("WS")."/app/common.php"; $v=new VacationHandler("alice@example.com");
  $v->set_away("Away","Back Monday",0,"2000-01-01","2037-12-31");' > "$WS/vacation.out" 2>&1 || { cat "$WS/vacation.out"; die "vacation"; }

# Postfix's mysql: tables, written by PostfixAdmin's own POSTFIX_CONF.txt (its sed breaks on
# a '/' in an answer: give 127.0.0.1 and point hosts at the socket afterwards).
zcat /usr/share/doc/postfixadmin/DOCUMENTS/POSTFIX_CONF.txt.gz | sed "s|^tmpdir=.*|tmpdir=$WS/sql; mkdir -p \$tmpdir|" > "$WS/pc.sh"
printf '127.0.0.1\n%s\npfa_postfix\npf-secret\n' "$PFADB" | sh "$WS/pc.sh" > "$WS/pc.out" 2>&1
sed -i "s|^hosts = .*|hosts = unix:$SOCK|" "$WS"/sql/*.cf
[[ "$(postmap -q info@example.org "mysql:$WS/sql/mysql_virtual_alias_domain_maps.cf")" == "alice@example.com,bob@example.com" ]] || die "mysql: lookups do not answer as PostfixAdmin documents"

# mapadm reads PostfixAdmin as Postfix does, with a password file.
printf 'pf-secret' > "$WS/pfa.password"; chmod 0600 "$WS/pfa.password"
printf 'database:\n  socket: %s\n  user: pfa_postfix\n  password_file: %s\n  database: %s\n' \
  "$SOCK" "$WS/pfa.password" "$PFADB" > "$WS/source.yaml"
write_config "$MAPSYNC_TEST_DBDIR" "$DB" "$WS/maps" hash > "$WS/mapsync.yaml"
new_db "$MAPSYNC_TEST_DBDIR" "$DB"
"$MAPSYNC" -c "$WS/mapsync.yaml" -q migrate
ARGS=(--source-config "$WS/source.yaml" --backend be1 --backend-host 10.0.0.11 --mysql-cf-dir "$WS/sql")
TABLES="domains, backends, accounts, addresses, account_forwards, group_aliases, group_members"

proof_all_equal() {
  json_check "differences" '.differences == 0'
  json_check "not all three maps compared" '.proof | keys == ["relay_domains","relay_recipients","virtual"]'
  json_check "virtual compared too few keys" '.proof.virtual.equal >= 10'
  json_check "catch-all not listed" '[.not_representable[] | select(.key == "@example.net")] | length == 1'
  json_check "vacation not listed" '[.not_representable[] | select(.why | startswith("vacation autoreply target alice#example.com@autoreply.example.com"))] | length == 1'
  json_check "inactive alias not listed" '[.not_representable[] | select(.key == "old@example.com")] | length == 1'
  json_check "inactive domain not listed" '[.not_representable[] | select(.key == "old.example")] | length == 1'
  json_check "uid collision not listed" '[.not_representable[] | select(.key == "alice@example.net" and (.why | contains("taken")))] | length == 1'
}

dry_run() {
  local before
  before=$(q "$DB" "CHECKSUM TABLE $TABLES")
  expect_json 0 "$MAPADM" -c "$WS/mapsync.yaml" import postfixadmin --json "${ARGS[@]}"
  proof_all_equal
  json_check "dry run applied" '.applied == false'
  [[ "$(q "$DB" "CHECKSUM TABLE $TABLES")" == "$before" ]] || die "the dry run wrote rows"
}

apply() {
  expect_json 0 "$MAPADM" -c "$WS/mapsync.yaml" import postfixadmin --apply --json "${ARGS[@]}"
  proof_all_equal
  json_check "not applied" '.applied == true'
  [[ "$(q "$DB" "SELECT delivery, keep_copy FROM accounts WHERE uid='bob'")" == $'forward\t1' ]] || die "bob: not a forward with a kept copy"
  [[ "$(q "$DB" "SELECT delivery, keep_copy FROM accounts WHERE uid='dan'")" == $'forward\t0' ]] || die "dan: not a plain forward"
  [[ "$(q "$DB" "SELECT status FROM accounts WHERE uid='carol'")" == disabled ]] || die "carol: not disabled"
  [[ "$(q "$DB" "SELECT quota_mb FROM accounts WHERE uid='alice'")" == 100 ]] || die "alice: quota"
  [[ "$(q "$DB" "SELECT d.kind, t.name FROM domains d JOIN domains t ON t.id = d.target_domain_id WHERE d.name='example.org'")" == $'alias\texample.com' ]] || die "alias domain"
  expect_exit 0 "$MAPSYNC" -c "$WS/mapsync.yaml" build
  [[ "$(postmap -q support@example.org "hash:$WS/maps/virtual" | tr -d ' ' | tr ',' '\n' | sort | paste -sd,)" == "alice@example.com,bob.private@elsewhere.test,bob@example.com" ]] || die "support@example.org"
}

step dry_run dry_run
step --needs dry_run apply apply
finish
