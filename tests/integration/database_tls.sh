#!/usr/bin/env bash
# database_tls: database.tls against a real MariaDB that speaks TLS (tests/fixtures/mariadb.sh with
# MARIADB_TLS=1: a private CA and a server certificate for 127.0.0.1 and localhost), through the
# mapsync binary (migrate, examples/campus.sql, build). The mapsync user is REQUIRE SSL, so the
# server itself refuses it any plaintext session: every build that succeeds here was encrypted.
#   verify_identity + the test CA                         -> builds (server-side: REQUIRE SSL user)
#   verify_identity + a CA that did not sign the cert     -> 78, names TLS and the certificate
#   verify_identity, certificate without 127.0.0.1        -> 78 (the same certificate passes the
#                                                            chain check with required + ca_file)
#   disabled against the REQUIRE SSL user                 -> 78, access denied
#   verify_ca                                             -> 78, refused by the config
#   required without ca_file                              -> builds (encrypted, unverified)
#   preferred                                             -> builds, encrypted when offered
# and against a second server without TLS (the client library would quietly fall back to
# plaintext): required and verify_identity -> 78, preferred -> builds in plaintext.
# Every failure leaves the published maps byte-identical and no temp file.
# It starts its own servers, because it swaps the server's certificate.
TEST_NAME=database_tls
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
command -v openssl >/dev/null || die "openssl is not installed (the test needs the real thing)"
DB="$WS/db"
PLAIN="$WS/plain"
MARIADB_TLS=1 own_mariadb "$DB"
at_exit "stop_mariadb $(printf '%q' "$PLAIN")"  # started by step_plain_server, a subshell
CA="$DB/tls/ca.pem"
[[ -s $CA && -s $DB/tls/server.pem && -s $DB/tls/ca.key ]] || die "the fixture made no TLS files in $DB/tls"
grep -qx "MARIADB_TLS_CA=$CA" "$DB/env" || die "$DB/env does not name the CA"
# Evidence on the server side: this user may not log in without TLS.
db_root "$DB" <<< "ALTER USER 'mapsync'@'127.0.0.1' REQUIRE SSL; ALTER USER 'mapsync'@'localhost' REQUIRE SSL;"
[[ $(db_root "$DB" -N <<< "SELECT @@have_ssl, @@require_secure_transport") == $'YES\t0' ]] ||
  die "the server does not offer TLS, or requires it of everyone"

# tls_config DBDIR DBNAME MAPDIR MODE [CA_FILE] > file
tls_config() {
  local dir=$1 name=$2 mapdir=$3 mode=$4 ca=${5:-}
  write_config "$dir" "$name" "$mapdir" | awk -v mode="$mode" -v ca="$ca" '
    $0 == "    mode: disabled" { print "    mode: " mode; if (ca != "") print "    ca_file: " ca; next }
    { print }'
}

MAPS="$WS/maps"
tls_config "$DB" tls "$MAPS" verify_identity "$CA" > "$WS/identity.yaml"
grep -q "ca_file: $CA" "$WS/identity.yaml" || die "tls_config wrote no ca_file"

unchanged() {
  map_fingerprint "$MAPS" > "$WS/after"
  diff -u "$WS/before" "$WS/after" >&2 || die "$1: published maps changed"
  no_temp_files "$MAPS"
}

step_verify_identity() {
  note "verify_identity with the CA that signed the server's certificate"
  campus_db "$DB" tls "$WS/identity.yaml"
  expect_exit 0 "$MAPSYNC" -c "$WS/identity.yaml" build
  [[ -f $MAPS/virtual.db ]] || die "verify_identity: nothing published"
  # From here on the database differs from what is published: any publish would show.
  db_root "$DB" tls < "$TESTS_DIR/integration/campus_b.sql"
  map_fingerprint "$MAPS" > "$WS/before"
}
step verify_identity step_verify_identity

step_other_ca() {
  note "verify_identity with a CA that did not sign the server's certificate"
  mkdir -p "$WS/other"
  openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 \
    -keyout "$WS/other/ca.key" -out "$WS/other/ca.pem" -subj "/CN=some other CA" 2>"$WS/openssl.log" ||
    { cat "$WS/openssl.log" >&2; die "openssl could not make the other CA"; }
  tls_config "$DB" tls "$MAPS" verify_identity "$WS/other/ca.pem" > "$WS/otherca.yaml"
  expect_exit 78 "$MAPSYNC" -c "$WS/otherca.yaml" build
  expect_output "TLS"
  expect_output "certificate"
  expect_output "$WS/other/ca.pem"
  unchanged "CA that did not sign the certificate"
}
step --needs verify_identity other_ca step_other_ca

step_verify_ca() {
  note "verify_ca is refused by the config"
  tls_config "$DB" tls "$MAPS" verify_ca "$CA" > "$WS/verifyca.yaml"
  expect_exit 78 "$MAPSYNC" -c "$WS/verifyca.yaml" build
  expect_output "database.tls.mode: verify_ca is not supported"
  unchanged "verify_ca"
}
step --needs verify_identity verify_ca step_verify_ca

step_disabled() {
  note "mode disabled: the REQUIRE SSL user is refused in plaintext"
  tls_config "$DB" tls "$MAPS" disabled > "$WS/disabled.yaml"
  expect_exit 78 "$MAPSYNC" -c "$WS/disabled.yaml" build
  expect_output "Access denied"
  expect_output "without TLS"
  unchanged "disabled"
  # Even with a ca_file (which would turn TLS on in the client library), disabled means plaintext.
  tls_config "$DB" tls "$MAPS" disabled "$CA" > "$WS/disabled_ca.yaml"
  expect_exit 78 "$MAPSYNC" -c "$WS/disabled_ca.yaml" build
  expect_output "Access denied"
  unchanged "disabled with a ca_file"
}
step --needs verify_identity disabled step_disabled

step_wrong_name() {
  note "verify_identity, server certificate (same CA) that names another host"
  mkdir -p "$WS/other"
  cp "$DB/tls/server.pem" "$WS/good.pem"
  cp "$DB/tls/server.key" "$WS/good.key"
  (
    cd "$WS/other"
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
      -keyout wrong.key -out wrong.csr -subj /CN=db.example.invalid
    printf '%s\n' 'basicConstraints = critical, CA:FALSE' 'extendedKeyUsage = serverAuth' \
      'subjectAltName = DNS:db.example.invalid' > wrong.ext
    openssl x509 -req -in wrong.csr -CA "$CA" -CAkey "$DB/tls/ca.key" -set_serial 0x4242 -days 30 \
      -extfile wrong.ext -out wrong.pem
  ) >"$WS/openssl.log" 2>&1 || { cat "$WS/openssl.log" >&2; die "openssl could not make the wrong-name certificate"; }
  openssl verify -CAfile "$CA" "$WS/other/wrong.pem" >/dev/null || die "the wrong-name certificate does not chain to the test CA"
  serve_cert() {  # serve_cert PEM KEY: the running server presents this certificate from now on
    cp "$1" "$DB/tls/server.pem"
    cp "$2" "$DB/tls/server.key"
    db_root "$DB" <<< "FLUSH SSL;"
  }
  serve_cert "$WS/other/wrong.pem" "$WS/other/wrong.key"
  # The later steps need the right certificate back, also when a check here fails.
  trap 'serve_cert "$WS/good.pem" "$WS/good.key"' EXIT
  expect_exit 78 "$MAPSYNC" -c "$WS/identity.yaml" build
  expect_output "TLS"
  expect_output "certificate"
  expect_output "name 127.0.0.1"
  unchanged "certificate for another host"
  # Control: the chain of that certificate is good; only its name is wrong. required checks a
  # ca_file but not the name, so it connects (migrate: reads, publishes nothing).
  tls_config "$DB" tls "$MAPS" required "$CA" > "$WS/required_ca.yaml"
  expect_exit 0 "$MAPSYNC" -c "$WS/required_ca.yaml" migrate
  unchanged "required + ca_file, certificate for another host"
  trap - EXIT
  serve_cert "$WS/good.pem" "$WS/good.key"
  expect_exit 0 "$MAPSYNC" -c "$WS/identity.yaml" migrate
}
step --needs verify_identity wrong_name step_wrong_name

step_required_no_ca() {
  note "required without ca_file: encrypted (the user is REQUIRE SSL), not verified"
  tls_config "$DB" tls "$MAPS" required > "$WS/required.yaml"
  grep -q ca_file "$WS/required.yaml" && die "required.yaml has a ca_file"
  expect_exit 0 "$MAPSYNC" -c "$WS/required.yaml" build
  map_fingerprint "$MAPS" > "$WS/after"
  if diff -q "$WS/before" "$WS/after" >/dev/null; then die "required: the build published nothing new"; fi
  postmap -q nia@example.edu "hash:$MAPS/virtual" >/dev/null || die "required: generation B is not published"
}
step --needs verify_identity required_no_ca step_required_no_ca

step_preferred() {
  note "preferred (the default): encrypted when the server offers TLS"
  tls_config "$DB" tls "$MAPS" preferred > "$WS/preferred.yaml"
  expect_exit 0 "$MAPSYNC" -c "$WS/preferred.yaml" build
  # The same config without the tls section at all means preferred too.
  grep -v -e '^  tls:$' -e '^    mode: preferred$' "$WS/preferred.yaml" > "$WS/default.yaml"
  grep -q 'mode:' "$WS/default.yaml" && die "default.yaml still has a tls mode"
  expect_exit 0 "$MAPSYNC" -c "$WS/default.yaml" build
}
step --needs verify_identity preferred step_preferred

step_plain_server() {
  # A server without TLS: the client library would quietly go on in plaintext where TLS is required.
  note "a server without TLS: required and verify_identity refuse it, preferred goes on"
  bash "$FIXTURE" start "$PLAIN" >/dev/null
  [[ $(db_root "$PLAIN" -N <<< "SELECT @@have_ssl") != YES ]] || die "the server started without MARIADB_TLS has TLS"
  PMAPS="$WS/plain-maps"
  tls_config "$PLAIN" plain "$PMAPS" preferred > "$WS/plain_preferred.yaml"
  campus_db "$PLAIN" plain "$WS/plain_preferred.yaml"
  expect_exit 0 "$MAPSYNC" -c "$WS/plain_preferred.yaml" build
  map_fingerprint "$PMAPS" > "$WS/plain.before"
  db_root "$PLAIN" plain < "$TESTS_DIR/integration/campus_b.sql"
  tls_config "$PLAIN" plain "$PMAPS" required > "$WS/plain_required.yaml"
  expect_exit 78 "$MAPSYNC" -c "$WS/plain_required.yaml" build
  expect_output "not encrypted"
  tls_config "$PLAIN" plain "$PMAPS" verify_identity "$CA" > "$WS/plain_identity.yaml"
  expect_exit 78 "$MAPSYNC" -c "$WS/plain_identity.yaml" build
  expect_output "TLS"
  map_fingerprint "$PMAPS" > "$WS/plain.after"
  diff -u "$WS/plain.before" "$WS/plain.after" >&2 || die "server without TLS: published maps changed"
  no_temp_files "$PMAPS"
}
step plain_server step_plain_server

finish
