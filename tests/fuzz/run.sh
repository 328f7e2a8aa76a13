#!/usr/bin/env bash
# run.sh - builds the libFuzzer targets (clang, ASan+UBSan) in their own build directory and
# runs each for a while on a scratch copy of its seed corpus. The single entry point for CI:
#
#   bash tests/fuzz/run.sh
#
# Environment (all optional):
#   FUZZ_SECONDS    seconds per target (default 60)
#   FUZZ_TARGETS    targets to run, space separated (default: all; see tests/fuzz/corpus/)
#   FUZZ_BUILD_DIR  build directory (default $ROOT/build-fuzz)
#   FUZZ_WORK_DIR   scratch directory for corpora, logs and crash artifacts (default: a new
#                   one under $TMPDIR, removed when every target passed)
#   FUZZ_TIMEOUT    seconds one input may take before it counts as a hang (default 10)
#   FUZZ_RSS_MB     memory limit, in MB (default 2048)
#   FUZZ_JOBS       build parallelism (default 2)
#   FUZZ_PARALLEL   targets run at once (default: the number of cores)
# Exit status: 0 when no target found anything; 1 on a crash, leak, hang, OOM or broken
# property (the artifact's path is printed); 2 when the build fails.
set -uo pipefail
export PATH=${PATH:-/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin}
export LC_ALL=C

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$here/../.." && pwd)
build=${FUZZ_BUILD_DIR:-$ROOT/build-fuzz}
seconds=${FUZZ_SECONDS:-60}
timeout=${FUZZ_TIMEOUT:-10}
rss=${FUZZ_RSS_MB:-2048}
all_targets="config textmap imap address ldap mapdiff"
targets=${FUZZ_TARGETS:-$all_targets}

for t in $targets; do
  [[ -d $here/corpus/$t ]] || { echo "run.sh: no fuzz target \"$t\" (have: $all_targets)" >&2; exit 2; }
done

# --- build ---------------------------------------------------------------------------
configure=(-S "$ROOT" -B "$build" -DMAPSYNC_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo)
command -v ninja >/dev/null && configure+=(-G Ninja)
# ccache only where it has a cache directory (env -i leaves no HOME).
if command -v ccache >/dev/null && [[ -n ${CCACHE_DIR:-} || -n ${HOME:-} ]]; then
  configure+=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
fi
echo "== configure $build"
mkdir -p "$build"
if ! CC=clang CXX=clang++ cmake "${configure[@]}" >"$build/configure.log" 2>&1; then
  cat "$build/configure.log" >&2
  echo "run.sh: configure failed" >&2
  exit 2
fi
echo "== build: ${targets// /, }"
if ! cmake --build "$build" -j "${FUZZ_JOBS:-2}" --target $(printf 'fuzz_%s ' $targets); then
  echo "run.sh: build failed" >&2
  exit 2
fi

# --- run -----------------------------------------------------------------------------
if [[ -n ${FUZZ_WORK_DIR:-} ]]; then
  work=$FUZZ_WORK_DIR
  keep_work=1
  mkdir -p "$work"
else
  work=$(mktemp -d "${TMPDIR:-/tmp}/mapsync-fuzz.XXXXXX")
  keep_work=0
fi
# Leaks fail a run; UB aborts (the targets are built without recovery as well).
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:symbolize=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}
# The map diff target writes its two files here.
export TMPDIR=$work

failed=0
summary=()
# Targets run side by side, FUZZ_PARALLEL at a time (default: one per core); each has its
# own time budget, so this shortens the stage without shortening any target's run.
parallel=${FUZZ_PARALLEL:-$(nproc)}
declare -A pid_of
running=0
for t in $targets; do
  dir=$work/$t
  mkdir -p "$dir/corpus"
  # A copy: new units go to the scratch directory, never into the repository.
  cp -R "$here/corpus/$t/." "$dir/corpus/"
  args=(-max_total_time="$seconds" -timeout="$timeout" -rss_limit_mb="$rss" -detect_leaks=1
        -print_final_stats=1 -artifact_prefix="$dir/")
  [[ -f $here/$t.dict ]] && args+=(-dict="$here/$t.dict")
  echo "== fuzz_$t: ${seconds}s on $(find "$dir/corpus" -type f | wc -l) seed inputs"
  if ((running >= parallel)); then
    wait -n
    running=$((running - 1))
  fi
  "$build/tests/fuzz/fuzz_$t" "${args[@]}" "$dir/corpus" >"$dir/log" 2>&1 &
  pid_of[$t]=$!
  running=$((running + 1))
done

for t in $targets; do
  dir=$work/$t
  rc=0
  wait "${pid_of[$t]}" || rc=$?
  stat() { sed -n "s/^stat::$1: *//p" "$dir/log" | tail -n 1; }
  last=$(grep -E '^#[0-9]+' "$dir/log" | tail -n 1)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
  corp=$(sed -n 's/.* corp: \([0-9]*\).*/\1/p' <<<"$last")
  line="fuzz_$t: execs=$(stat number_of_executed_units) cov=${cov:-?} ft=${ft:-?} corpus=${corp:-?} new_units=$(stat new_units_added) rss=$(stat peak_rss_mb)MB"
  artifacts=$(find "$dir" -maxdepth 1 -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \))
  if ((rc != 0)) || [[ -n $artifacts ]]; then
    failed=1
    line="$line FAILED (exit $rc)"
    echo "-- fuzz_$t failed; the end of $dir/log:"
    grep -v -E '^#[0-9]+' "$dir/log" | tail -n 40
    for a in $artifacts; do echo "-- artifact: $a (reproduce: $build/tests/fuzz/fuzz_$t $a)"; done
  fi
  summary+=("$line")
done

echo "== summary (${seconds}s per target)"
printf '%s\n' "${summary[@]}"
if ((failed)); then
  echo "run.sh: a target failed; logs, corpora and artifacts are kept in $work"
  exit 1
fi
((keep_work)) || rm -rf "$work"
exit 0
