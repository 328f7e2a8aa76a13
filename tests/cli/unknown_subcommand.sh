#!/usr/bin/env bash
# unknown_subcommand.sh - a misspelt subcommand exits 64 with "did you mean", for all four
# programs (apps/common/driver.cpp). No service: the word is checked before any config is
# read. Usage: unknown_subcommand.sh MAPSYNC ADSYNC MBOXSYNC MAPADM
set -uo pipefail
declare -A BIN=([mapsync]=$1 [adsync]=$2 [mboxsync]=$3 [mapadm]=$4)
fails=0
# expect PROGRAM EXPECTED-MESSAGE ARGS...: exit 64 and the message on stderr, nothing on stdout.
expect() {
  local prog=$1 want=$2; shift 2
  local out err rc=0
  out=$(mktemp); err=$(mktemp)
  env -i "${BIN[$prog]}" -c /nonexistent/mapsync.yaml "$@" >"$out" 2>"$err" || rc=$?
  if [[ $rc != 64 ]] || ! grep -qF -- "$want" "$err" || [[ -s $out ]]; then
    echo "FAIL $prog $*: exit $rc (want 64), stderr:" >&2; cat "$err" >&2
    echo "  wanted: $want" >&2
    fails=$((fails + 1))
  else
    echo "ok   $prog $*: $(head -1 "$err")"
  fi
  rm -f "$out" "$err"
}
expect mapsync 'mapsync: error: unknown subcommand "biuld"; did you mean "build"?' biuld
expect mapsync 'unknown subcommand "stauts"; did you mean "status"?' -v stauts --json
expect mapsync 'unknown subcommand "rollbak"; did you mean "rollback"?' rollbak
expect mapsync 'unknown subcommand "frobnicate" (mapsync --help lists them)' frobnicate
expect mapsync 'unknown subcommand "help"; did you mean "--help"?' help
expect adsync 'adsync: error: unknown subcommand "aply"; did you mean "apply"?' aply --json
expect adsync 'unknown subcommand "plna"; did you mean "plan"?' plna
expect mboxsync 'mboxsync: error: unknown subcommand "bluk"; did you mean "bulk"?' bluk
expect mboxsync 'unknown subcommand "reb"; did you mean "rebalance"?' reb
expect mapadm 'mapadm: error: unknown subcommand "acount"; did you mean "account"?' acount show alice
expect mapadm 'unknown subcommand "imprt"; did you mean "import"?' imprt postfix
# The known ones still parse (they fail later, on the missing config: 78, not 64).
# known PROGRAM ARGS...: a correct subcommand gets past the check (exit 78: no config).
known() {
  local prog=$1 rc=0; shift
  env -i "${BIN[$prog]}" "$@" >/dev/null 2>&1 || rc=$?
  if [[ $rc != 78 ]]; then echo "FAIL $prog $*: exit $rc, want 78 (no config)" >&2; fails=$((fails + 1)); else echo "ok   $prog $*: 78"; fi
}
known mapsync -c /nonexistent/mapsync.yaml status
known mapsync -v --config /nonexistent/mapsync.yaml check
known mapsync -vc /nonexistent/mapsync.yaml plan
known mboxsync -c /nonexistent/mapsync.yaml plan
known adsync -c /nonexistent/mapsync.yaml
echo "unknown subcommands: $fails failure(s)"
(( fails == 0 ))
