# ad_lib.sh - helpers for the adsync tests (sourced after lib.sh).
#
# The ctest fixture samba_ad (tests/fixtures/samba_ad.sh) runs a Samba AD DC in a network
# namespace; its directory is MAPSYNC_TEST_ADDIR. adsync runs inside that namespace
# and reaches the fixture's MariaDB over its unix socket. A missing DC is a failure.
: "${ADSYNC:?ADSYNC must point to the adsync binary}"
: "${MAPSYNC_TEST_ADDIR:?MAPSYNC_TEST_ADDIR must name the Samba AD fixture directory}"
: "${MAPSYNC_TEST_DBDIR:?MAPSYNC_TEST_DBDIR must name the MariaDB fixture directory}"
ADFIX="$ROOT/tests/fixtures/samba_ad.sh"
ADDIR=$MAPSYNC_TEST_ADDIR
DB=$MAPSYNC_TEST_DBDIR
[[ -f "$ADDIR/env" ]] || die "the Samba AD fixture is not running ($ADDIR/env missing)"
# shellcheck disable=SC1091
source "$ADDIR/env"
# shellcheck disable=SC1091
source "$DB/env"

ad() { bash "$ADFIX" "$1" "$ADDIR" "${@:2}"; }                 # ad disable erin, ad move bob OU=...
adsync() { bash "$ADFIX" exec "$ADDIR" "$ADSYNC" "$@"; }       # adsync -c CONF apply

# ad_config NAME DBNAME [YAML lines for the ad: section...] > file
ad_config() {
  local name=$1; shift
  socket_config "$name"
  cat <<YAML
ad:
  uris: [$AD_URI]
  keytab: $AD_KEYTAB
  krb5_config: $AD_KRB5_CONFIG
  bases: ["OU=Staff,$AD_BASE", "OU=Students,$AD_BASE"]
  gates:
    max_disables_percent: 60
    max_deletes_percent: 60
  placement:
    - name: staff
      ou: OU=Staff,$AD_BASE
      delivery: smtp
      smtp_nexthop: "[exchange.example.test]"
    - name: students
      ou: OU=Students,$AD_BASE
      delivery: cyrus
      backends: [be1, be2]
      quota_mb: 1024
YAML
  local line
  for line in "$@"; do printf '  %s\n' "$line"; done
}

# db_sum NAME: a fingerprint of every table adsync writes; equal before and after = nothing changed.
db_sum() {
  q "$1" "CHECKSUM TABLE accounts, addresses, ad_account_state, ad_dc_state, ad_sync_runs, provisioning_jobs, change_serial EXTENDED" |
    awk '{print $2}' | tr '\n' ' '
}
