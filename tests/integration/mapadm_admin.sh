#!/usr/bin/env bash
# mapadm_admin: the admin tool against the example campus (schema by mapsync migrate).
#  - every entity: add / show / set / list / remove, --json read with jq, and `mapsync
#    build` publishing maps that show the change (postmap -q);
#  - every refusal (duplicate after case folding across tables, IDN form collision, alias
#    loop, dangling target, expansion limit, adsync's fields, unknown references, syntax)
#    with its message, and the database unchanged: CHECKSUM TABLE of every table;
#  - --dry-run prints the diff and writes nothing; audit rows (SUDO_USER) and serial;
#  - bulk CSV: all applied, or (one bad line, named) nothing;
#  - two admins on one account: the first holds its transaction at the pause point
#    admin.before_commit, the second gets exit 75 at once, the first then commits.
TEST_NAME=mapadm_admin
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
: "${MAPSYNC_TEST_DBDIR:?}"
MAPADM=${MAPADM:-$(cd "$(dirname "$MAPSYNC")/../mapadm" && pwd)/mapadm}
[[ -x $MAPADM ]] || die "mapadm not found at $MAPADM"

DBN=mapadm_admin
CONF=$WS/mapadm.yaml
MAPS=$WS/maps
write_config "$MAPSYNC_TEST_DBDIR" "$DBN" "$MAPS" > "$CONF"
# The campus's widest address (all-students) expands to 5 recipients: one more is refused.
printf 'render:\n  expansion_limit: 5\n' >> "$CONF"
campus_db "$MAPSYNC_TEST_DBDIR" "$DBN" "$CONF"
"$MAPSYNC" -c "$CONF" -q build || die "the campus does not build"

A() { "$MAPADM" -c "$CONF" "$@"; }
TABLES="domains, backends, delivery_targets, accounts, addresses, account_forwards, group_aliases, group_members,
  mailing_lists, canonical_rewrites, transport_overrides, system_aliases, change_serial, admin_audit,
  ad_account_state, ad_dc_state, ad_sync_runs, provisioning_jobs, schema_version"
checksums() { q "$DBN" "CHECKSUM TABLE $TABLES;" > "$1"; }
# refused CODE MESSAGE ARGS...: mapadm ARGS exits CODE saying MESSAGE, and no table changed.
refused() {
  local code=$1 msg=$2; shift 2
  checksums "$WS/sum.before"
  expect_exit "$code" A "$@"
  expect_output "$msg"
  checksums "$WS/sum.after"
  diff -u "$WS/sum.before" "$WS/sum.after" || die "the database changed although mapadm refused: $*"
}
build() { "$MAPSYNC" -c "$CONF" -q build || die "mapsync build failed after the change"; }
lookup() { postmap -q "$1" "hash:$MAPS/$2"; }
aliases_lookup() { postalias -q "$1" "hash:$MAPS/aliases"; }

step_account() {
  expect_json 0 A account add newbie primary_address=New.Bie@example.edu delivery=cyrus backend=be1 partition=default \
    given_name=New surname=Bie quota_mb=1024 --json
  json_check "add result" '.committed and .changes[0].action == "create" and .changes[0].after.backend == "be1"'
  expect_json 0 A account show newbie --json
  json_check "show" '.rows[0].primary_address == "New.Bie@example.edu" and .rows[0].delivery == "cyrus" and .rows[0].quota_mb == 1024 and .rows[0].source == "manual" and .rows[0].keep_copy == false'
  [[ $(q "$DBN" "SELECT j.kind, j.state, j.new_uid FROM provisioning_jobs j JOIN accounts a ON a.id = j.account_id WHERE a.uid = 'newbie'") == $'create\tpending\tnewbie' ]] ||
    die "no mailbox job queued for the new Cyrus account"
  expect_exit 0 A account set newbie quota_mb=2048 display_name="New Bie"
  expect_json 0 A account list backend=be1 status=active --json
  json_check "list by back end" '.rows | map(.uid) | index("newbie") != null and index("asmith") == null'
  build
  [[ $(lookup new.bie@example.edu virtual) == newbie@example.edu || -n $(lookup new.bie@example.edu virtual) ]] || die "virtual lacks the new account"
  lookup new.bie@example.edu relay_recipients >/dev/null || die "relay_recipients lacks the new account"
  expect_exit 0 A account disable newbie
  [[ $(q "$DBN" "SELECT status FROM accounts WHERE uid='newbie'") == disabled ]] || die "not disabled"
  build
  if lookup new.bie@example.edu relay_recipients >/dev/null; then die "a disabled account is still accepted"; fi
  expect_exit 0 A account enable newbie
  build
  lookup new.bie@example.edu relay_recipients >/dev/null || die "enabled again but not accepted"
}
step account step_account

step_address() {
  expect_exit 0 A address add bie@example.edu account=newbie
  expect_json 0 A address list account=newbie --json
  json_check "address list" '(.rows | length) == 1 and .rows[0].kind == "alias"'
  build
  [[ -n $(lookup bie@example.edu virtual) ]] || die "virtual lacks the alias"
  expect_exit 0 A address set bie@example.edu account=emeritus
  build
  [[ $(lookup bie@example.edu virtual) == "$(lookup ed.meritus@example.edu virtual)" ]] || die "the alias did not move to emeritus"
  expect_exit 0 A address remove bie@example.edu
  build
  if lookup bie@example.edu virtual >/dev/null; then die "removed alias still in virtual"; fi
}
step --needs account address step_address

step_group() {
  expect_exit 0 A group add helpers@example.edu description="first-line helpers"
  expect_exit 0 A member add helpers@example.edu account:newbie
  expect_exit 0 A member add helpers@example.edu oncall@pager.example.net
  expect_json 0 A member list group=helpers@example.edu --json
  json_check "members" '.rows | map(.member) | sort == ["account:newbie", "oncall@pager.example.net"]'
  build
  lookup helpers@example.edu virtual | grep -q oncall@pager.example.net || die "virtual: group lacks the external member"
  expect_exit 0 A member remove helpers@example.edu oncall@pager.example.net
  expect_exit 0 A group set helpers@example.edu description=helpers
  build
  if lookup helpers@example.edu virtual | grep -q oncall; then die "removed member still expanded"; fi
  expect_exit 0 A group disable helpers@example.edu
  build
  if lookup helpers@example.edu virtual >/dev/null; then die "a disabled group is still in virtual"; fi
}
step --needs account group step_group

step_forward() {
  expect_exit 0 A forward add emeritus ed@second.example.org
  expect_json 0 A forward list account=emeritus --json
  json_check "forwards" '.rows | map(.target) | sort == ["ed@retired.example.org", "ed@second.example.org"]'
  build
  lookup ed.meritus@example.edu virtual | grep -q ed@second.example.org || die "virtual lacks the forward"
  expect_exit 0 A forward remove emeritus ed@second.example.org
  build
  if lookup ed.meritus@example.edu virtual | grep -q second; then die "removed forward still in virtual"; fi
}
step forward step_forward

step_domain() {
  expect_exit 0 A domain add newdept.example.edu kind=relay "transport=smtp:[mx.newdept.example.edu]"
  expect_exit 0 A domain add alias2.edu kind=alias target=example.edu
  expect_exit 0 A domain add bücher.example.edu kind=local
  expect_json 0 A domain show alias2.edu --json
  json_check "alias domain" '.rows[0].kind == "alias" and .rows[0].target == "example.edu"'
  build
  [[ -n $(lookup newdept.example.edu relay_domains) ]] || die "relay_domains lacks the new relay domain"
  [[ $(lookup newdept.example.edu transport) == "smtp:[mx.newdept.example.edu]" ]] || die "transport of the relay domain"
  [[ -n $(lookup john.doe@alias2.edu virtual) ]] || die "alias domain: no copy of john.doe"
  expect_exit 0 A domain set newdept.example.edu "transport=smtp:[mx2.newdept.example.edu]"
  expect_exit 0 A domain remove alias2.edu
  build
  [[ $(lookup newdept.example.edu transport) == "smtp:[mx2.newdept.example.edu]" ]] || die "changed transport"
  if lookup john.doe@alias2.edu virtual >/dev/null; then die "removed alias domain still in virtual"; fi
}
step domain step_domain

step_list_alias_canonical() {
  expect_exit 0 A list add talk@example.edu manager=transport "transport=smtp:[lists.example.edu]"
  expect_exit 0 A alias add security targets=it-team@example.edu
  expect_exit 0 A canonical add web@example.edu target=helpdesk@example.edu note="web team"
  expect_exit 0 A transport add pprof@example.edu "transport=smtp:[exchange3.example.edu]"
  expect_json 0 A list show talk@example.edu --json
  json_check "list" '.rows[0].manager == "transport" and .rows[0].enabled == true'
  build
  [[ $(lookup talk@example.edu transport) == "smtp:[lists.example.edu]" ]] || die "list transport"
  [[ $(aliases_lookup security) == it-team@example.edu ]] || die "aliases lacks security"
  [[ $(lookup web@example.edu canonical) == helpdesk@example.edu ]] || die "canonical lacks web"
  expect_exit 0 A alias set security "targets=it-team@example.edu, root"
  expect_exit 0 A canonical remove web@example.edu
  expect_exit 0 A list disable talk@example.edu
  expect_exit 0 A transport remove pprof@example.edu
  build
  [[ $(aliases_lookup security) == "it-team@example.edu, root" ]] || die "aliases: security not changed"
  if lookup web@example.edu canonical >/dev/null; then die "removed canonical rewrite still there"; fi
}
step list_alias_canonical step_list_alias_canonical

step_backend_target() {
  expect_exit 0 A backend add be3 lmtp_host=127.0.0.4 imap_host=127.0.0.4 partitions=default
  expect_exit 0 A account set newbie backend=be3
  expect_exit 0 A target add exo "transport=smtp:[exo.example.net]" routing_domain=exo.example.edu
  expect_exit 0 A account set helpdesk delivery=smtp delivery_target=exo smtp_nexthop=
  expect_json 0 A account show helpdesk --json
  json_check "target" '.rows[0].delivery_target == "exo" and .rows[0].smtp_nexthop == null'
  expect_json 0 A target list --json
  json_check "targets" '.rows | map(.name) == ["exo"]'
  build
  [[ $(lookup newbie@example.edu transport) == *127.0.0.4* ]] || die "transport: newbie not on be3: $(lookup newbie@example.edu transport)"
  # (the renderer reads delivery_targets but does not route by them yet: the build passing
  # with helpdesk on exo is what is checked here)
  [[ $(q "$DBN" "SELECT t.name FROM accounts a JOIN delivery_targets t ON t.id = a.delivery_target_id WHERE a.uid = 'helpdesk'") == exo ]] ||
    die "helpdesk is not on delivery target exo"
}
step --needs account backend_target step_backend_target

step_refuse_case_duplicate() {
  # the address of a group, in other case, as an alias of an account: two tables, one key
  refused 65 "it-team@example.edu" address add IT-Team@Example.EDU account=emeritus
  expect_output "nothing was written"
}
step refuse_case_duplicate step_refuse_case_duplicate

step_refuse_idn() {
  refused 65 "xn--bcher-kva.example.edu" domain add xn--bcher-kva.example.edu kind=local
}
step --needs domain refuse_idn step_refuse_idn

step_refuse_loop() {
  refused 65 "alias loop" member add it-team@example.edu group:staff-all@example.edu
}
step refuse_loop step_refuse_loop

step_refuse_dangling() {
  refused 65 "no valid recipient" forward add emeritus nobody-here@example.edu
}
step refuse_dangling step_refuse_dangling

step_refuse_expansion() {
  refused 65 "expands to 6" member add all-students@example.edu account:helpdesk
}
step refuse_expansion step_refuse_expansion

step_refuse_ad() {
  refused 65 "field surname is managed by adsync from Active Directory; change it in AD" account set jdoe surname=Smith
  refused 65 "field status is managed by adsync" account disable jdoe
  refused 65 "managed by adsync" account remove jdoe
  refused 65 "proxy address of account jdoe is managed by adsync" address remove j.doe@example.edu
  refused 65 "proxy addresses of account jdoe are managed by adsync" address add jd@example.edu account=jdoe kind=proxy
  # a provisioned mailbox is not moved by changing its record
  q "$DBN" "UPDATE accounts SET provisioned_at = NOW() WHERE uid = 'asmith'"
  refused 65 "field backend: the mailbox exists on back end be2" account set asmith backend=be1
  # what adsync does not manage is the admins': routing of an AD account
  expect_exit 0 A account set jdoe quota_mb=4096
  expect_exit 0 A address add jd@example.edu account=jdoe
}
step refuse_ad step_refuse_ad

step_refuse_input() {
  refused 65 'unknown account "ghost"' address add ghost@example.edu account=ghost
  refused 65 'unknown back end "be9"' account set newbie backend=be9
  refused 64 'address "not an address"' address add "not an address" account=newbie
  refused 64 'delivery "pigeon": is not one of' account set newbie delivery=pigeon
  refused 65 "no such account" account set nosuchuser quota_mb=1
  refused 65 "already exists" account add newbie primary_address=x@example.edu delivery=none
  refused 65 "still in use" backend remove be3
}
step --needs backend_target refuse_input step_refuse_input

step_dry_run() {
  checksums "$WS/sum.before"
  expect_exit 0 A address add kimmy@example.edu account=kstud --dry-run
  expect_output "+ kimmy@example.edu"
  expect_output "rolled back"
  expect_json 0 A account set emeritus delivery=none --dry-run --json
  json_check "dry diff" '.dry_run and (.committed | not) and ([.diff[] | select(.map == "virtual") | .removed[]?] | length > 0)'
  checksums "$WS/sum.after"
  diff -u "$WS/sum.before" "$WS/sum.after" || die "--dry-run wrote"
}
step dry_run step_dry_run

step_audit() {
  local serial0 serial1
  serial0=$(q "$DBN" "SELECT serial FROM change_serial")
  SUDO_USER=alice "$MAPADM" -c "$CONF" account set emeritus display_name="Ed M." >/dev/null 2>&1 || die "set as alice"
  serial1=$(q "$DBN" "SELECT serial FROM change_serial")
  (( serial1 > serial0 )) || die "change serial not bumped ($serial0 -> $serial1)"
  q "$DBN" "SELECT who, object_table, object_key, action, serial, command FROM admin_audit ORDER BY id DESC LIMIT 1" > "$WS/audit"
  IFS=$'\t' read -r who table key action serial command < "$WS/audit"
  [[ $who == alice && $table == accounts && $key == emeritus && $action == update ]] || die "audit row: $(cat "$WS/audit")"
  [[ $serial == "$serial1" ]] || die "audit serial $serial, change serial $serial1"
  [[ $command == "account set emeritus display_name=Ed M." ]] || die "audit command: $command"
  expect_json 0 A log --key emeritus --limit 1
  json_check "log" '.rows[0].who == "alice" and .rows[0].before.display_name == null and .rows[0].after.display_name == "Ed M."'
  (unset SUDO_USER; "$MAPADM" -c "$CONF" account set emeritus display_name="Ed" >/dev/null 2>&1) || die "set"
  [[ $(q "$DBN" "SELECT who FROM admin_audit ORDER BY id DESC LIMIT 1") == "$(id -un)" ]] || die "who without sudo"
}
step audit step_audit

step_bulk_good() {
  cat > "$WS/good.csv" <<'CSV'
# entity,verb,keys...,field=value...
account,add,bulk1,primary_address=bulk1@example.edu,delivery=cyrus,backend=be2
account,add,bulk2,primary_address=bulk2@example.edu,delivery=cyrus,backend=be2
address,add,b1@example.edu,account=bulk1

group,add,bulk@example.edu
member,add,bulk@example.edu,account:bulk1
member,add,bulk@example.edu,account:bulk2
alias,add,bulklog,"targets=root, ""|/usr/bin/logger -t bulk"""
CSV
  expect_json 0 A bulk "$WS/good.csv" --json
  json_check "bulk" '.committed and (.changes | length == 7) and ([.changes[].serial] | . == sort)'
  [[ $(q "$DBN" "SELECT COUNT(DISTINCT batch), COUNT(*) FROM admin_audit WHERE command LIKE 'bulk %'") == $'1\t7' ]] || die "one batch of 7 audit rows"
  build
  [[ $(lookup bulk@example.edu virtual) == *bulk1* ]] || die "bulk group not published"
  [[ $(aliases_lookup bulklog) == 'root, "|/usr/bin/logger -t bulk"' ]] || die "bulk alias: $(aliases_lookup bulklog)"
}
step --needs backend_target bulk_good step_bulk_good

step_bulk_bad() {
  printf 'account,set,bulk1,quota_mb=10\naccount,set,bulk2,quota_mb=20\naddress,add,x1@example.edu,account=ghost\n' > "$WS/bad.csv"
  refused 65 "$WS/bad.csv:3: address x1@example.edu: unknown account \"ghost\"" bulk "$WS/bad.csv"
  printf 'account,set,bulk1,quota_mb=10\naccount,set,bulk2,delivery=pigeon\n' > "$WS/bad2.csv"
  refused 65 "$WS/bad2.csv:2: account bulk2: delivery" bulk "$WS/bad2.csv"
  # a file that is fine line by line but breaks the maps as a whole
  printf 'account,set,bulk1,quota_mb=10\nforward,add,emeritus,nobody-here@example.edu\n' > "$WS/bad3.csv"
  refused 65 "no valid recipient" bulk "$WS/bad3.csv"
}
step --needs bulk_good bulk_bad step_bulk_bad

step_broken_database() {
  # Raw SQL makes a loop; a change that does not touch it goes through, saying so, and
  # mapadm can remove the member that closes the loop (a build then publishes again).
  q "$DBN" "INSERT INTO group_members (group_id, member_group_id) SELECT a.id, b.id FROM group_aliases a, group_aliases b
            WHERE a.address = 'it-team@example.edu' AND b.address = 'staff-all@example.edu'"
  if "$MAPSYNC" -c "$CONF" -q check >/dev/null 2>&1; then die "the raw SQL loop did not break the database"; fi
  expect_exit 0 A account set emeritus quota_mb=77
  expect_output "the database already has"
  expect_output "not caused by this change"
  # a new error is still refused while the old one is there
  refused 65 "1 new error" forward add emeritus nobody-here@example.edu
  expect_exit 0 A member remove it-team@example.edu group:staff-all@example.edu
  build
}
step broken_database step_broken_database

step_concurrent() {
  mkfifo "$WS/pause" "$WS/pause.resume"
  local before pid rc
  before=$(q "$DBN" "SELECT COUNT(*) FROM admin_audit")
  MAPSYNC_TEST_PAUSE="admin.before_commit:$WS/pause" "$MAPADM" -c "$CONF" account set emeritus quota_mb=111 >"$WS/first" 2>&1 &
  pid=$!
  read -r _ < "$WS/pause"   # the first run holds its transaction, rows locked
  checksums "$WS/sum.before"
  expect_exit 75 A account set emeritus quota_mb=222
  expect_output "account emeritus: another change is in progress"
  expect_output "nothing was written"
  echo go > "$WS/pause.resume"
  rc=0; wait "$pid" || rc=$?
  (( rc == 0 )) || { cat "$WS/first"; die "the first run failed: $rc"; }
  [[ $(q "$DBN" "SELECT quota_mb FROM accounts WHERE uid='emeritus'") == 111 ]] || die "the first change was lost"
  [[ $(q "$DBN" "SELECT COUNT(*) FROM admin_audit") == $((before + 1)) ]] || die "audit rows: want exactly the first run's"
}
step concurrent step_concurrent

finish
