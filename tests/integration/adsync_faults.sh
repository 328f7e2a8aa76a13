#!/usr/bin/env bash
# adsync_faults - adsync fails closed: DC and KDC down, stale or too-open keytab, clock
# skew, a search that returns nothing (a filter that matches nothing, a bind account
# that lost its read rights), a mass disable past the gate; each exits as documented and
# changes no row. Also: the injection value matches exactly one entry, the leader lock,
# URI failover, and the simple bind over LDAPS.
TEST_NAME=adsync_faults
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=ad_lib.sh
source "$(dirname "$0")/ad_lib.sh"

CONF=$WS/ad.yaml
ad_config adfault > "$CONF"
fixture_db adfault "$CONF"
expect_exit 0 adsync -c "$CONF" apply
expect_exit 0 adsync -c "$CONF" plan --check
# The database's fingerprint that the faults must leave alone, in a file: the gate step
# moves it on (it applies a change on purpose), and a step cannot set a variable for the next.
db_sum adfault > "$WS/base"
unchanged() {
  [[ "$(db_sum adfault)" == "$(<"$WS/base")" ]] || die "$1: the database changed"
}

step_dc_stopped() {
  note "DC (and its KDC) stopped: 75, one line naming the cause, nothing written"
  ad stop-dc
  # Restarted when the step ends, also when a check fails: the other steps need the DC.
  trap 'ad start-dc >/dev/null 2>&1 || true' EXIT
  expect_exit 75 adsync -c "$CONF" apply
  expect_output "Kerberos: cannot get a ticket for $AD_PRINCIPAL"
  expect_output "is the KDC up and reachable"
  unchanged "DC down"
  ad start-dc
  trap - EXIT
}
step dc_stopped step_dc_stopped

step_stale_keytab() {
  note "stale keytab (the account's password changed in AD): 75, says to export it again"
  ad stale-keytab
  trap 'ad refresh-keytab >/dev/null 2>&1 || true' EXIT
  expect_exit 75 adsync -c "$CONF" apply
  expect_output "export the keytab again"
  unchanged "stale keytab"
  ad refresh-keytab
  trap - EXIT
}
step stale_keytab step_stale_keytab

step_open_keytab() {
  note "keytab readable by others: refused as configuration (78)"
  cp "$AD_KEYTAB" "$WS/open.keytab"
  chmod 0644 "$WS/open.keytab"
  sed "s|keytab: .*|keytab: $WS/open.keytab|" "$CONF" > "$WS/open.yaml"
  expect_exit 78 adsync -c "$WS/open.yaml" apply
  expect_output "too open"
  unchanged "open keytab"
}
step open_keytab step_open_keytab

step_clock_skew() {
  note "clock skew of an hour: 75, names the clock"
  sed "s|krb5_config: .*|krb5_config: $AD_KRB5_CONFIG_NOTIMESYNC|" "$CONF" > "$WS/skew.yaml"
  expect_exit 75 bash "$ADFIX" skew-exec "$ADDIR" 3600 "$ADSYNC" -c "$WS/skew.yaml" apply
  expect_output "lock skew"
  unchanged "clock skew"
}
step clock_skew step_clock_skew

step_empty_filter() {
  note "a filter that matches nothing: 75, never 'everybody left'"
  sed 's|^  bases:|  filter: "(\&(objectClass=user)(sAMAccountName=nobody-by-this-name))"\n  bases:|' "$CONF" > "$WS/empty.yaml"
  grep -q 'nobody-by-this-name' "$WS/empty.yaml" || die "could not write the empty-filter config"
  expect_exit 75 adsync -c "$WS/empty.yaml" apply
  expect_output "returned no entries"
  unchanged "filter matching nothing"
}
step empty_filter step_empty_filter

step_lost_read_rights() {
  note "the bind account lost its read rights on one base: 75 (full and incremental runs)"
  ad deny-read "OU=Students,$AD_BASE"
  trap 'ad allow-read "OU=Students,$AD_BASE" >/dev/null 2>&1 || true' EXIT
  expect_exit 75 adsync -c "$CONF" apply --full
  expect_output "OU=Students,$AD_BASE"
  unchanged "lost read rights (full)"
  expect_exit 75 adsync -c "$CONF" apply
  expect_output "lost read rights"
  unchanged "lost read rights (incremental)"
  ad allow-read "OU=Students,$AD_BASE"
  trap - EXIT
  expect_exit 0 adsync -c "$CONF" plan --check
}
step lost_read_rights step_lost_read_rights

step_mass_disable_gate() {
  note "a mass disable trips the gate: 65 and nothing written; --force applies it"
  ad_config adfault 'lifecycle: {disable_after_misses: 1}' | sed 's/^    max_disables_percent: 60$/    max_disables: 2/' > "$WS/gate.yaml"
  for u in alice eve erin; do ad disable "$u"; done
  trap 'for u in alice eve erin; do ad enable "$u" >/dev/null 2>&1 || true; done' EXIT
  expect_exit 65 adsync -c "$WS/gate.yaml" apply
  expect_output "gate tripped: disables: 3 > max 2"
  expect_output "nothing applied"
  unchanged "mass disable"
  expect_exit 0 adsync -c "$WS/gate.yaml" apply --force
  [[ "$(q adfault "SELECT GROUP_CONCAT(uid ORDER BY uid) FROM accounts WHERE status = 'disabled'")" == "alice,erin,eve" ]] ||
    die "--force did not disable the three"
  for u in alice eve erin; do ad enable "$u"; done
  trap - EXIT
  expect_exit 0 adsync -c "$WS/gate.yaml" apply
  [[ "$(q adfault "SELECT COUNT(*) FROM accounts WHERE status = 'disabled'")" == 0 ]] || die "not re-enabled"
  db_sum adfault > "$WS/base"
}
step mass_disable_gate step_mass_disable_gate

step_injection() {
  note "the injection value: the group 'Mail *)(cn=*' matches exactly its one member"
  ad_config adinject 'member_of: "Mail *)(cn=*"' > "$WS/inject.yaml"
  fixture_db adinject "$WS/inject.yaml"
  expect_json 0 adsync -c "$WS/inject.yaml" plan --json
  json_check "the group scope did not give exactly eve" '.entries == 1 and [.creates[].uid] == ["eve"]'
  # The same group given as the DN the server returns for it.
  group_dn=$(ad search -b "OU=Groups,$AD_BASE" "(sAMAccountName=inject-group)" dn | sed -n 's/^dn: //p')
  [[ -n "$group_dn" ]] || die "cannot read the inject group's DN"
  ad_config adinject "member_of: '${group_dn//\'/\'\'}'" > "$WS/inject-dn.yaml"
  expect_json 0 adsync -c "$WS/inject-dn.yaml" plan --json
  json_check "the group given by DN did not give exactly eve" '.entries == 1 and [.creates[].uid] == ["eve"]'
  # A user name with filter specials is a literal: '*' matches nobody, not everybody.
  expect_json 0 adsync -c "$CONF" plan --json --user '*'
  json_check "--user '*' matched entries" '.entries == 0'
  expect_json 0 adsync -c "$CONF" plan --json --user 'alice)(sAMAccountName=*'
  json_check "--user 'alice)(sAMAccountName=*' matched entries" '.entries == 0'
}
step injection step_injection

step_nested_groups() {
  note "nested groups: scope 'members of Staff Mail' and a placement rule by group"
  # Staff Mail holds alice, bob and the group IT Team, which holds bob and dave (renamed
  # david by adsync_reconcile when that ran first).
  ad_config adgroup 'member_of: "Staff Mail"' > "$WS/group.yaml"
  fixture_db adgroup "$WS/group.yaml"
  expect_json 0 adsync -c "$WS/group.yaml" plan --json
  json_check "nested group scope" '[.creates[].uid] | sort | . == ["alice", "bob", "dave"] or . == ["alice", "bob", "david"]'
  ad_config adgroup > "$WS/place.yaml"
  python3 - "$WS/place.yaml" <<'PY'
import sys
p = sys.argv[1]
s = open(p).read()
s = s.replace("  placement:\n", "  placement:\n    - name: it-team\n      group: IT Team\n      delivery: cyrus\n      backends: [be2]\n", 1)
open(p, "w").write(s)
PY
  expect_json 0 adsync -c "$WS/place.yaml" plan --json
  # The IT Team's members by the rule it-team, on be2; alice by the OU rule staff.
  json_check "placement by nested group" '
    ([.creates[] | select(.rule == "it-team") | .uid] | sort | . == ["bob", "dave"] or . == ["bob", "david"])
    and all(.creates[] | select(.rule == "it-team"); .backend == "be2")
    and ([.creates[] | select(.uid == "alice") | .rule] == ["staff"])'
}
step nested_groups step_nested_groups

step_leader_lock() {
  note "leader lock: while another session holds it, apply exits 0 saying who, and writes nothing"
  hold_lease adfault mapsync.adsync
  expect_exit 0 adsync -c "$CONF" apply
  expect_output "another adsync holds the lease mapsync.adsync (owner otherhost:4242:1"
  unchanged "not the leader"
  release_lease adfault mapsync.adsync
}
step leader_lock step_leader_lock

step_uri_failover() {
  note "URI failover: an unreachable first DC, then the real one"
  sed "s|^  uris: .*|  uris: [ldap://127.0.0.9:3899, $AD_URI]|" "$CONF" > "$WS/failover.yaml"
  expect_exit 0 adsync -c "$WS/failover.yaml" plan --check
  expect_output "trying the next URI"
}
step uri_failover step_uri_failover

step_simple_bind() {
  note "simple bind over LDAPS with a password file; refused over plain ldap://"
  ad_config adfault > "$WS/simple.yaml"
  sed -i -e "s|^  uris: .*|  uris: [$AD_LDAPS_URI]|" -e "s|^  keytab: .*|  bind: simple\n  bind_dn: $AD_SVC_DN\n  password_file: $AD_SVC_PASSWORD_FILE\n  ca_file: $AD_CA|" "$WS/simple.yaml"
  expect_exit 0 adsync -c "$WS/simple.yaml" plan --check
  expect_output "bound as $AD_SVC_DN"
  sed "s|^  uris: .*|  uris: [$AD_URI]|" "$WS/simple.yaml" > "$WS/plain.yaml"
  expect_exit 78 adsync -c "$WS/plain.yaml" plan
  expect_output "needs ldaps:// or starttls: true"
  unchanged "plans"
}
step simple_bind step_simple_bind

finish
