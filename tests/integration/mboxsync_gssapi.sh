#!/usr/bin/env bash
# mboxsync_gssapi - the Cyrus admin logs in with Kerberos (cyrus.auth: gssapi): a ticket
# from the keytab into this process's memory, SASL GSSAPI over STARTTLS to each back end
# named as in its service principal (imap/be1.cyrus.test), no password file at all. The
# fixture's MIT KDC (realm CYRUS.TEST) runs in the Murder's namespace. Also: an open
# keytab is refused (78); a principal the keytab has no key for, and the KDC down, are one
# clear line and 75 each, with nothing sent and the job left pending.
TEST_NAME=mboxsync_gssapi
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=cyrus_lib.sh
source "$(dirname "$0")/cyrus_lib.sh"
: "${CYRUS_ADMIN_KEYTAB:?the Cyrus fixture has no Kerberos (CYRUS_ADMIN_KEYTAB unset)}"
: "${CYRUS_KRB5_CONFIG:?the Cyrus fixture has no Kerberos (CYRUS_KRB5_CONFIG unset)}"

# gss_config NAME KEYTAB [YAML lines...]: cy_config without the password file, with auth: gssapi.
gss_config() {
  local name=$1 keytab=$2; shift 2
  cy_config "$name" 'auth: gssapi' "keytab: $keytab" "krb5_config: $CYRUS_KRB5_CONFIG" "$@" |
    grep -vxF "  password_file: $CYRUS_ADMIN_PASSWORD_FILE"
}

CONF=$WS/gss.yaml
gss_config mbgss "$CYRUS_ADMIN_KEYTAB" > "$CONF"
grep -qF "$CYRUS_ADMIN_PASSWORD_FILE" "$CONF" && die "the config still names the admin password file"
fixture_db mbgss "$CONF"
# Service principals carry host names: the back ends are written by name (the namespace's
# hosts file maps them to 127.0.0.2 and .3; the certificates name them too).
q mbgss "UPDATE backends SET imap_host = CONCAT(name, '.cyrus.test');
INSERT INTO accounts (uid, primary_address, delivery, backend_id, source) VALUES
  ('gss1', 'gss1@example.test', 'cyrus', 1, 'ad'), ('gss2', 'gss2@example.test', 'cyrus', 2, 'ad');
INSERT INTO provisioning_jobs (account_id, kind, new_uid) SELECT id, 'create', uid FROM accounts"

step_gssapi_run() {
  note "run with a Kerberos ticket from the keytab: both back ends, no password"
  expect_json 0 mboxsync -c "$CONF" -v run --json
  expect_output "Kerberos ticket for $CYRUS_ADMIN_PRINCIPAL"
  json_check "not 2 jobs, both created" '(.results | length) == 2 and all(.results[]; .outcome == "created")'
  [[ "$(server_of user.gss1)" == 127.0.0.2 && "$(server_of user.gss2)" == 127.0.0.3 ]] || die "gss1/gss2 not where the database says"
  [[ "$(server_of user.gss1.Sent)" == 127.0.0.2 ]] || die "user.gss1.Sent missing"
  [[ "$(q mbgss "SELECT COUNT(*) FROM provisioning_jobs WHERE state = 'done'")" == 2 ]] || die "jobs not done"
  # plan lists both back ends over GSSAPI too (other tests' mailboxes in the same Murder are
  # orphans to this database, so --check would say 1).
  expect_json 0 mboxsync -c "$CONF" plan --json
  json_check "plan disagrees after the run" '(.missing + .misplaced + .invalid) == []'
  json_check "plan does not count 2 accounts" '.expected == 2'
  # The KDC issued the service tickets: the sessions really were Kerberos ones.
  for host in be1 be2; do
    grep -qF "$CYRUS_ADMIN_PRINCIPAL for imap/$host.cyrus.test@$CYRUS_REALM" "$CYDIR/kdc/kdc.log" ||
      die "the KDC issued no ticket for imap/$host.cyrus.test"
  done
}
step gssapi_run step_gssapi_run

step_open_keytab() {
  note "a keytab readable by others is refused before anything is sent"
  install -m 0644 "$CYRUS_ADMIN_KEYTAB" "$WS/open.keytab"
  gss_config mbgss "$WS/open.keytab" > "$WS/open.yaml"
  q mbgss "INSERT INTO accounts (uid, primary_address, delivery, backend_id, source) VALUES ('gss3', 'gss3@example.test', 'cyrus', 1, 'ad');
  INSERT INTO provisioning_jobs (account_id, kind, new_uid) SELECT id, 'create', uid FROM accounts WHERE uid = 'gss3'"
  expect_exit 78 mboxsync -c "$WS/open.yaml" run
  expect_output "open.keytab"
}
step open_keytab step_open_keytab

step_unknown_principal() {
  note "a principal the keytab has no key for: 75, one line naming it"
  gss_config mbgss "$CYRUS_ADMIN_KEYTAB" "principal: nobody@$CYRUS_REALM" > "$WS/nobody.yaml"
  expect_exit 75 mboxsync -c "$WS/nobody.yaml" run
  expect_output "cannot get a ticket for nobody@$CYRUS_REALM"
  [[ "$(wc -l < "$WS/out")" == 1 ]] || { cat "$WS/out"; die "more than one line for a Kerberos failure"; }
  [[ "$(q mbgss "SELECT state FROM provisioning_jobs j JOIN accounts a ON a.id = j.account_id WHERE a.uid = 'gss3'")" == pending ]] ||
    die "the gss3 job changed without a login"
  [[ -z "$(server_of user.gss3)" ]] || die "user.gss3 was created"
}
step --needs open_keytab unknown_principal step_unknown_principal

step_kdc_down() {
  note "KDC down: 75, one line naming the cause, the job kept"
  cy stop-server kdc
  trap 'cy start-server kdc >/dev/null 2>&1 || true' EXIT
  expect_exit 75 mboxsync -c "$CONF" run
  expect_output "KDC"
  [[ "$(wc -l < "$WS/out")" == 1 ]] || { cat "$WS/out"; die "more than one line for the KDC being down"; }
  [[ "$(q mbgss "SELECT state FROM provisioning_jobs j JOIN accounts a ON a.id = j.account_id WHERE a.uid = 'gss3'")" == pending ]] ||
    die "the gss3 job changed while the KDC was down"
  trap - EXIT
  cy start-server kdc
}
step --needs open_keytab kdc_down step_kdc_down

step_job_goes_through() {
  note "and the job goes through with the right keytab"
  expect_json 0 mboxsync -c "$CONF" run --json
  json_check "not 1 job, created" '[.results[].outcome] == ["created"]'
}
step --needs open_keytab job_goes_through step_job_goes_through

finish
