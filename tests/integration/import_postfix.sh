#!/usr/bin/env bash
# import_postfix: `mapadm import postfix` on a realistic set of old text maps (comments,
# continuation lines, mixed case, IDN in both forms, a catch-all, a duplicate key, groups,
# forwards with and without a kept copy, lmtp and smtp routes, canonical, aliases):
#  - a dry run writes nothing (CHECKSUM TABLE) and its proof is all equal;
#  - --apply writes the rows; `mapsync build` then publishes hash, btree, lmdb and cdb,
#    and stock postmap -q agrees on spot checks;
#  - the proof can fail: a catch-all that swallows a final recipient (exit 1, nothing written);
#  - an import the renderer refuses (an alias loop): exit 65, nothing written.
TEST_NAME=import_postfix
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
: "${MAPSYNC_TEST_DBDIR:?}" "${MAPADM:?}"
SRC="$TESTS_DIR/integration/import_postfix"
DB=import_postfix

write_config "$MAPSYNC_TEST_DBDIR" "$DB" "$WS/maps-hash" hash > "$WS/hash.yaml"
new_db "$MAPSYNC_TEST_DBDIR" "$DB"
"$MAPSYNC" -c "$WS/hash.yaml" -q migrate

ALL=(--virtual "$SRC/virtual" --transport "$SRC/transport" --relay-domains "$SRC/relay_domains"
     --relay-recipients "$SRC/relay_recipients" --canonical "$SRC/canonical" --aliases "$SRC/aliases")
TABLES="domains, backends, accounts, addresses, account_forwards, group_aliases, group_members, canonical_rewrites, system_aliases, transport_overrides"
checksum() { q "$1" "CHECKSUM TABLE $TABLES"; }

proof_all_equal() {
  json_check "a map has differences" '.differences == 0 and ([.proof[] | .different] | add) == 0'
  json_check "virtual: not 12 equal keys" '.proof.virtual.equal == 12'
  json_check "every map compared" '.proof | keys == ["aliases","canonical","relay_domains","relay_recipients","transport","virtual"]'
  json_check "catch-all not listed" '[.not_representable[] | select(.key == "@example.net")] | length == 1'
  json_check "duplicate not listed" '[.not_representable[] | select(.why | startswith("duplicate of line 6"))] | length == 1'
  json_check "uid collision not listed" '[.not_representable[] | select(.key == "alice@example.net" and (.why | contains("uid alice is taken")))] | length == 1'
  json_check "parent-domain transport not listed" '[.not_representable[] | select(.key == ".sub.example.com")] | length == 1'
}

dry_run() {
  local before
  before=$(checksum "$DB")
  expect_json 0 "$MAPADM" -c "$WS/hash.yaml" import postfix --json "${ALL[@]}"
  json_check "dry run says applied" '.applied == false'
  proof_all_equal
  [[ "$(checksum "$DB")" == "$before" ]] || die "the dry run changed the database"
  # the text report: a table per map
  expect_exit 0 "$MAPADM" -c "$WS/hash.yaml" import postfix "${ALL[@]}"
  expect_output "virtual                    12          0                  3"
  expect_output "virtual:23: @example.net: catch-all"
}

apply() {
  expect_json 0 "$MAPADM" -c "$WS/hash.yaml" import postfix --apply --json "${ALL[@]}"
  json_check "not applied" '.applied == true'
  proof_all_equal
  [[ "$(q "$DB" "SELECT delivery, keep_copy, backend_id IS NOT NULL FROM accounts WHERE uid='carol'")" == $'forward\t1\t1' ]] || die "carol: not a forward with a kept copy"
  # a key with one external target and no route of its own is a group, not an account
  [[ "$(q "$DB" "SELECT m.member_address FROM group_aliases g JOIN group_members m ON m.group_id = g.id WHERE g.address='dave@example.com'")" == "dave@gmail.test" ]] || die "dave: not a group with one external member"
  [[ "$(q "$DB" "SELECT delivery, smtp_nexthop FROM accounts WHERE uid='erin'")" == $'smtp\t[exchange.example.com]' ]] || die "erin: not an smtp account"
  [[ "$(q "$DB" "SELECT GROUP_CONCAT(CONCAT(lmtp_host,':',lmtp_port) ORDER BY name) FROM backends")" == "10.0.0.11:24,10.0.0.12:2003" ]] || die "back ends"
  [[ "$(q "$DB" "SELECT kind, transport FROM domains WHERE name='dept.example.com'")" == $'relay\tsmtp:[mx.dept.example.com]' ]] || die "relay domain"
  [[ "$(q "$DB" "SELECT COUNT(*) FROM group_aliases")" == 4 ]] || die "not 4 groups (info, dave, staff, all)"
}

build_type() {
  local type=$1
  write_config "$MAPSYNC_TEST_DBDIR" "$DB" "$WS/maps-$type" "$type" > "$WS/$type.yaml"
  expect_exit 0 "$MAPSYNC" -c "$WS/$type.yaml" build
  local m="$type:$WS/maps-$type"
  [[ "$(postmap -q 'INFO@example.com' "$m/virtual" | tr -d ' ' | tr ',' '\n' | sort | paste -sd,)" == "alice@example.com,bob@example.com" ]] || die "$type: info@"
  [[ "$(postmap -q carol@example.com "$m/virtual" | tr -d ' ' | tr ',' '\n' | sort | paste -sd,)" == "carol.home@elsewhere.test,carol@example.com" ]] || die "$type: carol keeps a copy"
  [[ "$(postmap -q 'jörg@xn--bcher-kva.example' "$m/virtual")" == "jörg@bücher.example" ]] || die "$type: IDN A-label"
  [[ "$(postmap -q erin@example.com "$m/transport")" == "smtp:[exchange.example.com]" ]] || die "$type: erin's route"
  [[ "$(postmap -q alice@example.com "$m/transport")" == "lmtp:[10.0.0.11]:24" ]] || die "$type: alice's route"
  [[ "$(postmap -q root "$m/aliases")" == "admin@example.com, ops@example.com" ]] || die "$type: root alias"
  if postmap -q nobody@example.net "$m/relay_recipients" >/dev/null; then die "$type: catch-all accepted"; fi
}

difference_detected() {
  local db=import_postfix_diff before
  write_config "$MAPSYNC_TEST_DBDIR" "$db" "$WS/maps-diff" hash > "$WS/diff.yaml"
  new_db "$MAPSYNC_TEST_DBDIR" "$db"
  "$MAPSYNC" -c "$WS/diff.yaml" -q migrate
  # alice@example.org is no key: Postfix rewrites her through the catch-all, mapsync does not.
  printf 'info@example.org alice@example.org\n@example.org catchall@example.org\ncatchall@example.org catchall@example.org\n' > "$WS/v"
  printf 'example.org lmtp:[10.0.0.11]:24\n' > "$WS/t"
  before=$(checksum "$db")
  expect_json 1 "$MAPADM" -c "$WS/diff.yaml" import postfix --apply --json --virtual "$WS/v" --transport "$WS/t"
  json_check "difference not found" '.proof.virtual.differences == [{"key":"info@example.org","original":"catchall@example.org","mapsync":"alice@example.org"}]'
  json_check "applied despite a difference" '.applied == false'
  [[ "$(checksum "$db")" == "$before" ]] || die "rows written despite the difference"
}

renderer_refuses() {
  local db=import_postfix_refused before
  write_config "$MAPSYNC_TEST_DBDIR" "$db" "$WS/maps-refused" hash > "$WS/refused.yaml"
  new_db "$MAPSYNC_TEST_DBDIR" "$db"
  "$MAPSYNC" -c "$WS/refused.yaml" -q migrate
  printf 'a@example.org b@example.org, x@example.org\nb@example.org a@example.org, x@example.org\nx@example.org x@example.org\n' > "$WS/v2"
  printf 'example.org lmtp:[10.0.0.11]:24\n' > "$WS/t2"
  before=$(checksum "$db")
  expect_exit 65 "$MAPADM" -c "$WS/refused.yaml" import postfix --apply --virtual "$WS/v2" --transport "$WS/t2"
  expect_output "loop"
  [[ "$(checksum "$db")" == "$before" ]] || die "rows written although the renderer refused"
}

regexp_not_representable() {
  printf '/^(.*)@old\\.example$/ ${1}@example.com\n' > "$WS/vre"
  expect_json 0 "$MAPADM" -c "$WS/hash.yaml" import postfix --json --virtual "regexp:$WS/vre"
  json_check "regexp key not listed" '.not_representable == [{"map":"virtual","where":"'"$WS/vre"':1","key":"/^(.*)@old\\.example$/","why":"regexp: table is not a text map"}]'
  json_check "a regexp table was compared" '.proof == {}'
}

step dry_run dry_run
step --needs dry_run apply apply
for type in hash btree lmdb cdb; do step --needs apply "build_$type" build_type "$type"; done
step difference_detected difference_detected
step renderer_refuses renderer_refuses
step regexp_not_representable regexp_not_representable
finish
