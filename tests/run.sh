#!/usr/bin/env bash
# run.sh - builds mapsync and runs every test: doctest unit tests and the integration
# tests against a real MariaDB and the stock Postfix tools (ctest starts and stops the
# services through tests/fixtures). The README's test command and .ci/run both use it.
#   BUILD_DIR (default build)   CTEST_ARGS (extra arguments for ctest)
# One family alone: CTEST_ARGS="-L cyrus" (labels: unit arch db postfix ad cyrus admin import slow; -LE slow
# leaves the long ones out). Each integration test reports its named steps
# ("--- step NAME: ok | FAIL (why) | SKIPPED (because X failed)") and a tally line;
# KEEP_WS=1 keeps its workspace under /tmp.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build}
cmake -S "$ROOT" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMAPSYNC_WERROR=ON >/dev/null
cmake --build "$BUILD_DIR" -j "$(nproc)"
cd "$BUILD_DIR"
# shellcheck disable=SC2086
ctest --output-on-failure ${CTEST_ARGS:-}
