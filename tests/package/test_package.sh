#!/usr/bin/env bash
# test_package.sh - the Debian packages, built and installed as a site would (tests/run.sh
# stage `package`).
#
# Builds the packages with dpkg-buildpackage from a copy of the tree, runs lintian on them
# (errors and warnings fail, except the overrides in debian/*.lintian-overrides), installs
# them with apt-get on THIS machine, and checks what was installed: the file list, the
# user and modes of postinst, nothing enabled or started, the units (systemd-analyze
# verify, and security: every service at or below 3.0, "OK"), the shipped config, and a
# real `mapsync build` as the mapsync user against a private MariaDB. Then it purges the
# packages and checks that nothing is left behind.
#
# Run as root on a throwaway machine (CI). It refuses to start when mapsync is installed
# already or a mapsync user exists (it would remove them), and always purges what it
# installed, also when a step failed. The unit tests are not run by the package build
# (DEB_BUILD_OPTIONS=nocheck: tests/run.sh's main stage runs them); PACKAGE_CHECK=1 runs
# them there too. KEEP_WS=1 keeps the workspace (the .debs) under /tmp; PACKAGE_PREBUILT=DIR
# tests the .debs (and .changes) in DIR instead of building them.
set -euo pipefail
# lib.sh wants the program under test: here, the installed one.
export MAPSYNC=/usr/sbin/mapsync
source "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/integration/lib.sh"

PACKAGES=(mapsync-common mapsync mapsync-adsync mapsync-mboxsync mapsync-admin)
SERVICES=(mapsync-build adsync mboxsync)
MAX_EXPOSURE=3.0
export DEBIAN_FRONTEND=noninteractive

(( EUID == 0 )) || die "run as root on a throwaway machine: it installs and purges packages"
for tool in dpkg-buildpackage dh lintian systemd-analyze apt-get runuser; do
  command -v "$tool" >/dev/null || die "$tool is not installed (bash .ci/install-deps.sh)"
done
installed=$(dpkg-query -W -f='${Package} ${Status}\n' 'mapsync*' 2>/dev/null | grep -c ' installed$' || true)
(( installed == 0 )) || die "mapsync packages are installed already; this test would purge them"
for p in /etc/mapsync /var/lib/mapsync /usr/sbin/mapsync; do
  [[ ! -e $p ]] || die "$p exists already; this test would remove it"
done
! getent passwd mapsync >/dev/null || die "a mapsync user exists already; purge would remove it"

# Every path of ours outside the workspace, before and after: purge must leave the same.
our_paths() {
  find /etc /usr /lib /var -xdev \( -path /var/tmp -o -path /var/cache -o -path /var/log \) -prune -o \
    \( -name '*mapsync*' -o -name '*adsync*' -o -name '*mboxsync*' -o -name '*mapadm*' \) -print 2>/dev/null | sort
}
our_paths > "$WS/paths.before"

purge_all() {
  apt-get purge -y -qq "${PACKAGES[@]}" >"$WS/purge.log" 2>&1 || { cat "$WS/purge.log" >&2; return 1; }
}
at_exit 'dpkg-query -W "mapsync*" >/dev/null 2>&1 && purge_all'
if [[ -n ${KEEP_WS:-} ]]; then at_exit 'echo "workspace kept: $WS"'; fi

build_packages() {
  mkdir -p "$WS/src/mapsync"
  if [[ -n ${PACKAGE_PREBUILT:-} ]]; then
    # Packages built already (iterating on the checks); the build itself is then not tested.
    echo "--- PACKAGE_PREBUILT: taking the packages in $PACKAGE_PREBUILT, not building"
    cp "$PACKAGE_PREBUILT"/*.deb "$PACKAGE_PREBUILT"/*.changes "$PACKAGE_PREBUILT"/*.buildinfo "$WS/src/"
    return 0
  fi
  # The tree as it is (uncommitted changes included), without build trees.
  tar -C "$ROOT" --exclude='./build*' --exclude='./obj-*' --exclude='./.git' -cf - . | tar -C "$WS/src/mapsync" -xf -
  local opts="parallel=$(nproc)"
  [[ -n ${PACKAGE_CHECK:-} ]] || opts="nocheck $opts"
  (cd "$WS/src/mapsync" && DEB_BUILD_OPTIONS=$opts dpkg-buildpackage -us -uc -b) >"$WS/build.log" 2>&1 ||
    { tail -40 "$WS/build.log" >&2; die "dpkg-buildpackage failed (log above)"; }
  local p
  for p in "${PACKAGES[@]}"; do
    compgen -G "$WS/src/${p}_*.deb" >/dev/null || die "no ${p}_*.deb built"
  done
}

run_lintian() {
  # --fail-on: any error or warning that no override in debian/*.lintian-overrides covers.
  lintian --fail-on error,warning --display-info "$WS"/src/mapsync_*.changes >"$WS/lintian.log" 2>&1 ||
    { cat "$WS/lintian.log" >&2; die "lintian found errors or warnings"; }
  cat "$WS/lintian.log"
}

install_packages() {
  local debs=()
  for p in "${PACKAGES[@]}"; do debs+=("$WS"/src/"${p}"_*.deb); done
  apt-get install -y -qq "${debs[@]}" >"$WS/install.log" 2>&1 || { cat "$WS/install.log" >&2; die "apt-get install failed"; }
}

check_files() {
  local f want
  for want in /usr/sbin/mapsync /usr/sbin/adsync /usr/sbin/mboxsync /usr/sbin/mapadm \
      /etc/mapsync/mapsync.yaml /etc/cron.d/mapsync /etc/cron.d/adsync /etc/cron.d/mboxsync \
      /usr/share/mapsync/schema/001_initial.sql /usr/share/doc/mapsync-common/examples/mapsync.yaml; do
    [[ -e $want ]] || soft_fail "not installed: $want"
  done
  for f in "$ROOT"/README.md "$ROOT"/docs/*.md; do  # dh_compress compresses the larger ones
    f=/usr/share/doc/mapsync-common/$(basename "$f")
    [[ -e $f || -e $f.gz ]] || soft_fail "not installed: $f"
  done
  for f in "$ROOT"/docs/*.8; do
    f=$(basename "$f")
    [[ -e /usr/share/man/man8/$f.gz ]] || soft_fail "man page not installed: $f"
  done
  for f in "$ROOT"/schema/*.sql; do
    [[ -e /usr/share/mapsync/schema/$(basename "$f") ]] || soft_fail "schema not installed: $(basename "$f")"
  done
  for f in "${SERVICES[@]}"; do
    [[ -e /lib/systemd/system/$f.service && -e /lib/systemd/system/$f.timer ]] || soft_fail "unit not installed: $f"
    grep -q '^ExecStart=/usr/sbin/' "/lib/systemd/system/$f.service" || soft_fail "$f.service: ExecStart not in /usr/sbin"
  done
  # Debian's cron skips names with a dot; and the jobs are off until the admin says so.
  ls /etc/cron.d | grep -E '^(mapsync|adsync|mboxsync)\.' && soft_fail "a cron.d name with a dot"
  grep -Eq '^[^#].*(mapsync|adsync|mboxsync) ' /etc/cron.d/mapsync /etc/cron.d/adsync /etc/cron.d/mboxsync &&
    soft_fail "a cron.d job is active on install"
  dpkg-query -W -f='${Conffiles}\n' mapsync-common | grep -q '/etc/mapsync/mapsync.yaml' ||
    soft_fail "/etc/mapsync/mapsync.yaml is not a conffile"
  return 0
}

check_user_and_modes() {
  getent passwd mapsync >/dev/null || die "no mapsync user"
  getent group mapsync >/dev/null || die "no mapsync group"
  [[ $(getent passwd mapsync | cut -d: -f7) == /usr/sbin/nologin ]] || soft_fail "mapsync has a login shell"
  (( $(id -u mapsync) < 1000 )) || soft_fail "mapsync is not a system user"
  local got
  got=$(stat -c '%a %U:%G' /etc/mapsync/mapsync.yaml)
  [[ $got == "640 root:mapsync" ]] || soft_fail "/etc/mapsync/mapsync.yaml is $got, not 640 root:mapsync"
  got=$(stat -c '%a %U:%G' /etc/mapsync)
  [[ $got == "750 root:mapsync" ]] || soft_fail "/etc/mapsync is $got, not 750 root:mapsync"
  got=$(stat -c '%U:%G' /var/lib/mapsync)
  [[ $got == "mapsync:mapsync" ]] || soft_fail "/var/lib/mapsync is $got, not mapsync:mapsync"
  return 0
}

check_nothing_enabled() {
  # Enabling a unit links it under /etc/systemd/system (timers.target.wants/...); looked
  # for directly, as systemctl is-enabled cannot answer without systemd as PID 1.
  local left
  left=$(find /etc/systemd/system \( -name '*mapsync*' -o -name 'adsync*' -o -name 'mboxsync*' \) -print 2>/dev/null | head -5 || true)
  [[ -z $left ]] || die "enabled on install: $left"
}

verify_units() {
  local u
  for u in "${SERVICES[@]}"; do
    # --man=no: the Documentation= pages are checked as files above (man-db may be absent).
    systemd-analyze verify --man=no "/lib/systemd/system/$u.service" "/lib/systemd/system/$u.timer" \
      >"$WS/verify.log" 2>&1 || { cat "$WS/verify.log" >&2; soft_fail "systemd-analyze verify $u"; }
    if [[ -s $WS/verify.log ]]; then cat "$WS/verify.log" >&2; soft_fail "systemd-analyze verify $u: warnings"; fi
  done
  return 0
}

unit_security() {
  # --offline=yes reads the unit file and needs no running systemd (none runs here, nor
  # in a container); it scores the same settings as the online check.
  local u score
  for u in "${SERVICES[@]}"; do
    systemd-analyze security --offline=yes "/lib/systemd/system/$u.service" >"$WS/security.log" 2>&1 ||
      { cat "$WS/security.log" >&2; soft_fail "systemd-analyze security $u failed"; continue; }
    score=$(sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\) .*/\1/p' "$WS/security.log")
    [[ -n $score ]] || { cat "$WS/security.log" >&2; soft_fail "$u: no exposure level in the output"; continue; }
    echo "--- $u.service: exposure $score"
    awk -v s="$score" -v m="$MAX_EXPOSURE" 'BEGIN { exit !(s <= m) }' ||
      { grep '✗' "$WS/security.log" >&2; soft_fail "$u.service: exposure $score above $MAX_EXPOSURE"; }
  done
  return 0
}

shipped_config() {
  # The shipped config parses (owners resolve to the mapsync user) and stops, as the
  # mapsync user, at the first thing a site must provide: the database password file.
  local got=0
  runuser -u mapsync -- /usr/sbin/mapsync -c /etc/mapsync/mapsync.yaml check >"$WS/out" 2>&1 || got=$?
  cat "$WS/out"
  [[ $got == 78 ]] || die "expected exit 78 (no password file yet), got $got"
  grep -q '/etc/mapsync/db.password' "$WS/out" || die "the message does not name /etc/mapsync/db.password"
}

build_as_mapsync() {
  local db=$WS/db conf=/etc/mapsync/test.yaml
  mkdir -p "$db"
  bash "$ROOT/tests/fixtures/mariadb.sh" start "$db" >/dev/null
  # A step runs in a subshell: its own EXIT trap stops the server when the step ends.
  trap "bash '$ROOT/tests/fixtures/mariadb.sh' stop '$db' >/dev/null" EXIT
  # The schema from the installed program (migrate, run by root with the fixture's config),
  # then the example campus.
  write_config "$db" mailusers "$WS/unused-maps" > "$WS/admin.yaml"
  campus_db "$db" mailusers "$WS/admin.yaml"
  # The site's way: a password file of the mapsync user, mode 0600, in /etc/mapsync; the
  # config root:mapsync 0640; maps in the default place, owned by mapsync.
  install -o mapsync -g mapsync -m 0600 "$db/mapsync.password" /etc/mapsync/db.password
  write_config "$db" mailusers /var/lib/mapsync/maps |
    sed -e "s|password_file: .*|password_file: /etc/mapsync/db.password|" \
        -e 's|^  default_type: \(.*\)|  default_type: \1\n  owner: mapsync\n  group: mapsync|' > "$conf"
  chown root:mapsync "$conf"; chmod 0640 "$conf"
  expect_exit 0 runuser -u mapsync -- /usr/sbin/mapsync -c "$conf" build
  local got
  # The same answer as tests/integration/expected/virtual.txt, from the stock postmap.
  got=$(postmap -q bo.wong@example.edu hash:/var/lib/mapsync/maps/virtual || true)
  [[ $got == bwong@example.edu ]] || die "postmap -q bo.wong@example.edu in the published virtual map: '$got', not bwong@example.edu"
  got=$(stat -c '%U:%G' /var/lib/mapsync/maps/virtual.db)
  [[ $got == mapsync:mapsync ]] || die "virtual.db is $got"
  # status reads the state a build left, as the same user.
  expect_exit 0 runuser -u mapsync -- /usr/sbin/mapsync -c "$conf" status
}

purge_leaves_nothing() {
  local f left=()
  dpkg-query -L "${PACKAGES[@]}" 2>/dev/null | sort -u > "$WS/dpkg-L"
  purge_all || die "apt-get purge failed"
  while read -r f; do
    # Shared directories (/usr/sbin, /etc/cron.d, ...) stay; files of ours may not.
    if [[ -e $f || -L $f ]] && { [[ ! -d $f ]] || [[ $f == *mapsync* ]]; }; then left+=("$f"); fi
  done < "$WS/dpkg-L"
  for f in /etc/mapsync /var/lib/mapsync; do [[ ! -e $f ]] || left+=("$f"); done
  ((${#left[@]} == 0)) || die "left after purge: ${left[*]}"
  ! getent passwd mapsync >/dev/null || die "the mapsync user is left after purge"
  ! getent group mapsync >/dev/null || die "the mapsync group is left after purge"
  our_paths > "$WS/paths.after"
  diff "$WS/paths.before" "$WS/paths.after" >&2 || die "paths named like ours differ before install and after purge"
}

step build build_packages
step --needs build lintian run_lintian
step --needs build install install_packages
step --needs install files check_files
step --needs install user_and_modes check_user_and_modes
step --needs install nothing_enabled check_nothing_enabled
step --needs install verify_units verify_units
step --needs install unit_security unit_security
step --needs install shipped_config shipped_config
step --needs install build_as_mapsync build_as_mapsync
step --needs install purge purge_leaves_nothing
finish
