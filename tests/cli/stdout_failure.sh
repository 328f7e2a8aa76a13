#!/usr/bin/env bash
# stdout_failure.sh - output that could not be written is not a success: --version and
# --help into /dev/full exit 74 (EX_IOERR) and say so, for all four programs
# (apps/common/driver.cpp, the end of a run). No service needed.
# Usage: stdout_failure.sh MAPSYNC ADSYNC MBOXSYNC MAPADM
set -uo pipefail
[[ -w /dev/full ]] || { echo "FAIL: /dev/full is missing (the test needs it)" >&2; exit 1; }
fails=0
for bin in "$@"; do
  prog=${bin##*/}
  for args in --version --help; do
    rc=0
    err=$(env -i "$bin" $args 2>&1 >/dev/full) || rc=$?
    if [[ $rc != 74 || $err != *"$prog: error: writing the standard output failed"* ]]; then
      echo "FAIL $prog $args > /dev/full: exit $rc (want 74), stderr: $err" >&2
      fails=$((fails + 1))
    else
      echo "ok   $prog $args > /dev/full: $err"
    fi
  done
done
exit $((fails > 0))
