#!/usr/bin/env bash
# install-deps.sh - every Debian 12 package mapsync needs to build, test and benchmark.
# Used by the README's commands and by .ci/run; safe to run again.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
packages=(
  # build
  build-essential cmake ninja-build pkg-config
  libmysqlcppconn-dev libdb5.3-dev liblmdb-dev libcdb-dev libicu-dev libidn2-dev
  libyaml-cpp-dev libcli11-dev nlohmann-json3-dev doctest-dev libssl-dev
  libldap-dev libsasl2-dev libkrb5-dev
  # the real services the tests start, and the stock tools they compare with
  mariadb-server mariadb-client postfix postfix-lmdb postfix-cdb db5.3-util lmdb-utils
  # Samba AD DC (the test directory) and the client side of GSSAPI: the SASL plugin is
  # what adsync loads at run time, krb5-user/ldap-utils give the benchmark's bare ldapsearch
  samba samba-ad-dc samba-ad-provision samba-dsdb-modules samba-vfs-modules winbind
  krb5-user ldap-utils libsasl2-modules-gssapi-mit ldb-tools iproute2
  # Cyrus IMAP 3.6 (standalone and Murder) for the mailbox provisioning tests: saslpasswd2 from
  # sasl2-bin, the PLAIN/LOGIN plugins, imtest/lmtptest from cyrus-clients, openssl for the test CA
  cyrus-imapd cyrus-murder cyrus-admin cyrus-clients sasl2-bin libsasl2-modules openssl
  # the Cyrus fixture's own MIT KDC (realm CYRUS.TEST) for GSSAPI logins: krb5kdc and kdb5_util
  # from krb5-kdc, kadmin.local from krb5-admin-server (no system KDC is configured or used;
  # krb5-config's and krb5-kdc's postinst write /etc/krb5.conf and /etc/krb5kdc/kdc.conf, which
  # the fixtures never read: they set KRB5_CONFIG and KRB5_KDC_PROFILE)
  krb5-kdc krb5-admin-server
  # mapadm import postfixadmin's test: a real PostfixAdmin (schema by its upgrade.php, data by
  # postfixadmin-cli, run with php-cli/php-mysql) and Postfix's mysql: tables for the proof.
  # micro-httpd and php-cgi fill postfixadmin's web-server and PHP dependencies without apache2
  # (nothing is started: micro-httpd is socket-activated, and policy-rc.d below denies starts)
  postfixadmin php-cli php-mysql postfix-mysql micro-httpd php-cgi
  # the fleet tests: a 3-node Galera cluster (galera-4 with mariadb-server; rsync for its state
  # transfers) and async replicas, all in a network namespace on 127.0.0.x
  galera-4 rsync
  # test and benchmark helpers (jq: the tests read the programs' --json output; python3-jsonschema
  # validates it against docs/json/*.schema.json; mandoc lints the man pages)
  python3 python3-jsonschema jq time util-linux procps mandoc
  # promtool checks and tests the shipped alert rules (examples/prometheus; nothing started)
  prometheus
  # the fuzzers (tests/fuzz/run.sh): clang with libFuzzer and the ASan/UBSan runtimes
  clang libclang-rt-14-dev
  # the package stage (tests/package/test_package.sh): dpkg-buildpackage with debhelper,
  # lintian, systemd-analyze (verify, security --offline) from systemd, which is not
  # started: the test reads unit files only; adduser for the packages' postinst
  dpkg-dev debhelper lintian systemd adduser
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  # postfix asks how to configure itself; a test host needs no system mail setup.
  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
  # postfixadmin would ask to create its database through dbconfig-common: no.
  echo "postfixadmin postfixadmin/dbconfig-install boolean false" | debconf-set-selections
  apt-get update -qq
  # The tests start every service themselves, privately. Packages must not start the system's
  # copies (mariadb, samba, cyrus, postfix, krb5kdc/kadmind): krb5-admin-server's postinst even
  # fails when kadmind, without a realm database, does not come up. A policy-rc.d that denies
  # every start is the Debian way to say so; one already there (containers have one) is kept.
  policy=/usr/sbin/policy-rc.d
  if [[ ! -e $policy ]]; then
    trap 'rm -f "$policy"' EXIT
    printf '#!/bin/sh\n# mapsync install-deps: no service starts during this install\nexit 101\n' >"$policy"
    chmod 0755 "$policy"
  fi
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
echo "install-deps: all ${#packages[@]} packages present"
