#!/usr/bin/env bash
# run.sh - builds mapsync and runs every test. The README's test command and .ci/run both use it.
# Stages, in order (MAPSYNC_STAGES picks some, e.g. MAPSYNC_STAGES=main):
#   main  the whole suite: doctest unit tests, the architecture's rules, and the integration
#         tests against a real MariaDB, Postfix, Samba AD DC and Cyrus Murder (ctest starts and
#         stops the services through tests/fixtures)                      build dir: BUILD_DIR
#   asan  ASan+UBSan build of everything: the unit tests and the maps' and mapadm's
#         integration tests under it (any report ends the program)         BUILD_DIR-asan
#   tsan  TSan build: unit tests and real builds with the threaded map writers  BUILD_DIR-tsan
#   fuzz  every libFuzzer target for FUZZ_SECONDS (default 60) on a copy of its seed corpus
#         (tests/fuzz/run.sh)                                               BUILD_DIR-fuzz
#   package  the Debian packages: dpkg-buildpackage from a copy of the tree, lintian, then
#         installed on THIS machine (root; CI's throwaway one), checked (units, scores of
#         systemd-analyze security, a build as the mapsync user) and purged
#         (tests/package/test_package.sh; it refuses to run where mapsync is installed) a temp dir
# A failing stage does not stop the next; the summary names each and the exit status is
# non-zero if any failed.
#   BUILD_DIR (default build)   CTEST_ARGS (extra arguments for the main stage's ctest)
# One family alone: MAPSYNC_STAGES=main CTEST_ARGS="-L cyrus" (labels: unit arch db postfix ad
# cyrus admin import fleet demo slow; -LE slow leaves the long ones out). Each integration test reports its
# named steps ("--- step NAME: ok | FAIL (why) | SKIPPED (because X failed)") and a tally line;
# KEEP_WS=1 keeps its workspace under /tmp.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build}
STAGES=${MAPSYNC_STAGES:-main asan tsan fuzz package}
JOBS=$(nproc)

configure_and_build() {  # DIR TARGET [cmake args...]
  local dir=$1 target=$2; shift 2
  cmake -S "$ROOT" -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMAPSYNC_WERROR=ON "$@" >/dev/null &&
    cmake --build "$dir" -j "$JOBS" --target "$target"
}

stage_main() {
  configure_and_build "$BUILD_DIR" all -DMAPSYNC_SANITIZE= || return 1
  # shellcheck disable=SC2086
  (cd "$BUILD_DIR" && ctest --output-on-failure ${CTEST_ARGS:-})
}

# halt_on_error: the first report ends the program with a non-zero status; the integration
# scripts see a failed step. Leak checking stays on (LeakSanitizer runs with ASan).
export ASAN_OPTIONS=${ASAN_OPTIONS:-halt_on_error=1:abort_on_error=0:detect_leaks=1:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}

stage_asan() {
  configure_and_build "$BUILD_DIR-asan" all -DMAPSYNC_SANITIZE=address,undefined || return 1
  # The maps' jobs (db, postfix) and mapadm's (admin, import); the AD and Cyrus families
  # start their own DC and Murder and are left to the main stage.
  (cd "$BUILD_DIR-asan" && ctest --output-on-failure -L '^(unit|db|postfix|admin|import)$' -LE '^(ad|cyrus|slow)$')
}

# The map writers run in threads during a build (maps/build.cpp: the next map renders while
# libdb writes this one), so TSan runs real builds: maps_roundtrip and postmap_compat.
stage_tsan() {
  configure_and_build "$BUILD_DIR-tsan" mapsync -DMAPSYNC_SANITIZE=thread &&
    cmake --build "$BUILD_DIR-tsan" -j "$JOBS" --target unit_tests postmap_compat_tests || return 1
  (cd "$BUILD_DIR-tsan" && ctest --output-on-failure -R '^(unit|postmap_compat|maps_roundtrip)$')
}

stage_fuzz() {
  FUZZ_BUILD_DIR="$BUILD_DIR-fuzz" bash "$ROOT/tests/fuzz/run.sh"
}

stage_package() {
  bash "$ROOT/tests/package/test_package.sh"
}

declare -A RESULT
failed=0
for s in $STAGES; do
  if ! declare -F "stage_$s" >/dev/null; then
    echo "run.sh: unknown stage '$s' (stages: main asan tsan fuzz package)" >&2
    exit 64
  fi
  echo "=== stage $s"
  if "stage_$s"; then RESULT[$s]=ok; else RESULT[$s]=FAILED; failed=1; fi
done
echo "=== summary"
for s in $STAGES; do echo "stage $s: ${RESULT[$s]}"; done
exit $failed
