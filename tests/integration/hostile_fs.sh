#!/usr/bin/env bash
# hostile_fs: mapsync build, plan and rollback in a maps directory (and a metrics
# directory) where someone else planted things (issue 11), against the real MariaDB with
# the example campus and the stock postmap:
#  - symlinks at the temp names (maps and metrics), at a published map, at the state
#    file, at the lock file (and a hard link there), at .generations;
#  - a damaged virtual.db (empty, random bytes, truncated) rebuilds instead of exit 75;
#  - maps.directory a symlink (followed: root configured it), --staging an existing
#    directory or maps.directory itself (refused, nothing deleted);
#  - a read-only and a full file system (private mount namespace, tmpfs), files chowned
#    to nobody and chmodded by hand, rollback -1 / 0.
# In each case mapsync writes and deletes nothing outside its directories (the planted
# targets keep their checksums), fails with a clear status and message naming the path
# or succeeds by replacing what was planted, and the published maps stay intact
# (checksums, `postmap -q`).
TEST_NAME=hostile_fs
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
: "${MAPSYNC_TEST_DBDIR:?}"
DBDIR=$MAPSYNC_TEST_DBDIR
export LC_ALL=C

MAPS=$WS/maps
PROMDIR=$WS/metrics
mkdir -p "$PROMDIR"
config() {  # config MAPDIR > file
  write_config "$DBDIR" hf_campus "$1"
  printf 'metrics:\n  textfile: %s/mapsync.prom\n' "$PROMDIR"
}
config "$MAPS" > "$WS/hf.yaml"
M=("$MAPSYNC" -c "$WS/hf.yaml")
campus_db "$DBDIR" hf_campus "$WS/hf.yaml"
"${M[@]}" -q build || die "the first build failed"

# Files that are not mapsync's: their checksums must never change.
make_outside() {
  rm -rf "$WS/outside"
  mkdir -p "$WS/outside/gen/1" "$WS/outside/gen/2"
  echo "not mapsync's" > "$WS/outside/victim"
  echo "history of someone else" > "$WS/outside/gen/1/file"
  touch -d @1000000000 "$WS/outside/victim" "$WS/outside/gen/1/file"
}
make_outside
outside_sum() { ( cd "$WS/outside" && find . -printf '%p %y %s\n' | sort && find . -type f -print0 | sort -z | xargs -0 sha256sum ); }
outside_sum > "$WS/outside.sum"
outside_intact() { outside_sum | cmp -s - "$WS/outside.sum" || die "a file outside the maps directory changed"; }

answers() {  # the published virtual map answers as Postfix sees it
  [[ $(postmap -q john.doe@example.edu "hash:$1/virtual") == jdoe@example.edu ]] || die "postmap -q does not answer from $1"
}
published_sum() { ( cd "$1" && sha256sum virtual transport canonical aliases relay_domains relay_recipients ); }
published_sum "$MAPS" > "$WS/published.sum"
contents_intact() { published_sum "$1" | cmp -s - "$WS/published.sum" || die "the published text sources changed"; answers "$1"; }

# Each step starts from published maps of our own, whatever a failed step before left
# planted (so that each step tells about its own case).
fresh() {
  local lock=$MAPS/.mapsync.lock
  if [[ -L $lock ]] || { [[ -e $lock ]] && [[ $(stat -c %h "$lock") != 1 ]]; }; then rm -f "$lock"; fi
  if [[ -L $MAPS/.generations ]]; then rm -f "$MAPS/.generations"; fi
  if [[ -L $MAPS/.mapsync-state.json ]]; then rm -f "$MAPS/.mapsync-state.json"; fi
  if [[ -L $MAPS/virtual.db ]] || ! db5.3_verify -q "$MAPS/virtual.db" 2>/dev/null; then rm -f "$MAPS/virtual.db"; fi
  "${M[@]}" -q build --full --release >/dev/null 2>&1 || true
  outside_sum | cmp -s - "$WS/outside.sum" || make_outside
}
eval "$(declare -f step | sed '1s/^step /_lib_step /')"
step() { fresh; _lib_step "$@"; }

# ------------------------------------------------------------------------------------
step_temp_symlinks() {
  # A symlink at the metrics temp name of the very process that writes it (the old name
  # was <textfile>.tmp.<pid>: sh plants it at its own pid, then execs mapsync), and one
  # at a map temp name (swept as a link, never followed).
  ln -s "$WS/outside/victim" "$MAPS/.mapsync-tmp.1.1.virtual.db"
  expect_exit 0 sh -c 'ln -s "$1" "$2.tmp.$$" && shift 2 && exec "$@"' sh "$WS/outside/victim" "$PROMDIR/mapsync.prom" \
    "${M[@]}" build --full
  outside_intact
  [[ -f $PROMDIR/mapsync.prom && ! -L $PROMDIR/mapsync.prom ]] || die "no metrics file"
  grep -q '^mapsync_last_exit_status 0$' "$PROMDIR/mapsync.prom" || die "metrics not written"
  [[ ! -L $MAPS/.mapsync-tmp.1.1.virtual.db ]] || die "the planted temp name is still there"
  [[ -z $(find "$PROMDIR" -name 'mapsync.prom.tmp.*' ! -type l) ]] || die "metrics temp files left: $(ls "$PROMDIR")"
  rm -f "$PROMDIR"/mapsync.prom.tmp.*
  no_temp_files "$MAPS"
  contents_intact "$MAPS"
}

step_map_symlink() {
  # A symlink where virtual.db should be: never read or written through; our rename
  # replaces it.
  rm "$MAPS/virtual.db"
  ln -s "$WS/outside/victim" "$MAPS/virtual.db"
  expect_exit 0 "${M[@]}" build
  expect_output "virtual: cannot read the published map as our previous generation"
  expect_output "$MAPS/virtual.db"
  [[ -f $MAPS/virtual.db && ! -L $MAPS/virtual.db ]] || die "virtual.db is not a file of ours again"
  outside_intact
  contents_intact "$MAPS"
}

step_damaged_map() {
  # A damaged or foreign virtual.db is rebuilt (with a warning naming it), not exit 75
  # for ever: empty, random bytes, truncated.
  local how
  for how in empty random truncated; do
    case $how in
      empty) : > "$MAPS/virtual.db" ;;
      random) head -c 65536 /dev/urandom > "$MAPS/virtual.db" ;;
      truncated) truncate -s 1000 "$MAPS/virtual.db" ;;
    esac
    expect_exit 0 "${M[@]}" build --full --force
    expect_output "$MAPS/virtual.db"
    expect_output "rebuilding it from scratch"
    contents_intact "$MAPS"
    db5.3_verify -q "$MAPS/virtual.db" || die "$how: virtual.db was not rebuilt"
  done
}

step_state_symlink() {
  ln -sf "$WS/outside/victim" "$MAPS/.mapsync-state.json"
  expect_exit 0 "${M[@]}" build
  expect_output "$MAPS/.mapsync-state.json is a symbolic link"
  [[ -f $MAPS/.mapsync-state.json && ! -L $MAPS/.mapsync-state.json ]] || die "the state file was not replaced"
  outside_intact
  contents_intact "$MAPS"
}

step_lock_links() {
  map_fingerprint "$MAPS" > "$WS/before"
  rm "$MAPS/.mapsync.lock"
  ln -s "$WS/outside/victim" "$MAPS/.mapsync.lock"
  expect_exit 78 "${M[@]}" build --full
  expect_output "lock file $MAPS/.mapsync.lock is a symbolic link"
  rm "$MAPS/.mapsync.lock"
  ln "$WS/outside/victim" "$MAPS/.mapsync.lock"
  expect_exit 78 "${M[@]}" build --full
  expect_output "lock file $MAPS/.mapsync.lock is not a regular file with one link"
  rm "$MAPS/.mapsync.lock"
  outside_intact
  map_fingerprint "$MAPS" | cmp -s - "$WS/before" || die "a refused build changed the maps"
  answers "$MAPS"
}

step_generations_symlink() {
  rm -rf "$MAPS/.generations"
  ln -s "$WS/outside/gen" "$MAPS/.generations"
  map_fingerprint "$MAPS" >"$WS/before"
  expect_exit 78 "${M[@]}" build --full
  expect_output "$MAPS/.generations is a symbolic link"
  # Refused before publishing: the maps and their state are the old files, not new
  # ones without a history entry.
  map_fingerprint "$MAPS" | cmp -s - "$WS/before" || die "the maps were published before .generations was refused"
  expect_exit 78 "${M[@]}" rollback
  outside_intact
  contents_intact "$MAPS"
  rm "$MAPS/.generations"
  expect_exit 0 "${M[@]}" build --full
}

step_maps_dir_symlink() {
  # maps.directory itself may be a symlink (root configured it, like /etc/postfix -> ...).
  mkdir "$WS/real-maps"
  ln -s "$WS/real-maps" "$WS/linked-maps"
  config "$WS/linked-maps" > "$WS/linked.yaml"
  expect_exit 0 "$MAPSYNC" -c "$WS/linked.yaml" build
  [[ -f $WS/real-maps/virtual.db && -L $WS/linked-maps ]] || die "not published through the configured symlink"
  contents_intact "$WS/real-maps"
}

step_plan_staging() {
  map_fingerprint "$MAPS" > "$WS/before"
  mkdir "$WS/stage"
  echo keep > "$WS/stage/mine"
  expect_exit 73 "${M[@]}" plan --staging "$WS/stage"
  expect_output "$WS/stage is not empty"
  [[ $(cat "$WS/stage/mine") == keep ]] || die "plan deleted a file in --staging"
  expect_exit 73 "${M[@]}" plan --staging "$MAPS"
  expect_output "inside maps.directory"
  expect_exit 73 "${M[@]}" plan --staging "$MAPS/sub"
  map_fingerprint "$MAPS" | cmp -s - "$WS/before" || die "plan --staging changed the published maps"
  [[ -d $MAPS/.generations && ! -e $MAPS/sub ]] || die "plan --staging touched maps.directory"
  expect_exit 0 "${M[@]}" plan --check --staging "$WS/new-stage"
  [[ -f $WS/new-stage/virtual.db ]] || die "plan did not stage into a new directory"
  expect_exit 0 "${M[@]}" plan --check
  if compgen -G "$MAPS/.plan*" >/dev/null; then die "plan left its staging directory"; fi
  answers "$MAPS"
}

step_rollback_args() {
  local arg
  for arg in -1 0 18446744073709551616 +1 1e3; do
    expect_exit 64 "${M[@]}" rollback -- "$arg"
  done
  expect_exit 64 "${M[@]}" rollback 0
  expect_output "must be a positive whole number"
  contents_intact "$MAPS"
}

step_owner_and_mode() {
  # Changed by hand after a publish: a run with nothing to publish restores them.
  chown nobody "$MAPS/virtual.db"
  chmod 0666 "$MAPS/virtual"
  expect_exit 0 "${M[@]}" build -v
  expect_output "nothing changed"
  expect_output "restored owner 0:0 and mode 0644 of $MAPS/virtual.db"
  [[ $(stat -c '%U %a' "$MAPS/virtual.db" "$MAPS/virtual" | sort -u) == "root 644" ]] || die "owner/mode not restored"
  contents_intact "$MAPS"
}

# The rest runs in a private mount namespace: a read-only bind mount and a small tmpfs.
in_namespace() { unshare -m -- "$@"; }

step_read_only() {
  map_fingerprint "$MAPS" > "$WS/before"
  expect_exit 73 in_namespace sh -c 'mount --bind "$1" "$1" && mount -o remount,ro,bind "$1" && exec "$2" -c "$3" build --full' \
    sh "$MAPS" "$MAPSYNC" "$WS/hf.yaml"
  expect_output "$MAPS"
  map_fingerprint "$MAPS" | cmp -s - "$WS/before" || die "maps changed on a read-only file system"
  answers "$MAPS"
}

step_full_fs() {
  mkdir -p "$WS/small"
  cat > "$WS/full.sh" <<SH
set -e
mount -t tmpfs -o size=4m tmpfs "$WS/small"
"$MAPSYNC" -c "$WS/small.yaml" -q build
( cd "$WS/small/maps" && sha256sum virtual virtual.db ) > "$WS/small.before"
# Fill the file system, then ask for a full rebuild.
dd if=/dev/zero of="$WS/small/filler" bs=64k 2>/dev/null || true
rc=0; "$MAPSYNC" -c "$WS/small.yaml" build --full 2> "$WS/small.err" || rc=\$?
echo "\$rc" > "$WS/small.rc"
( cd "$WS/small/maps" && sha256sum virtual virtual.db ) > "$WS/small.after"
[ "\$(postmap -q john.doe@example.edu hash:$WS/small/maps/virtual)" = jdoe@example.edu ] && echo yes > "$WS/small.answers"
find "$WS/small/maps" -maxdepth 1 -name '.mapsync-tmp.*' > "$WS/small.temps"
SH
  config "$WS/small/maps" > "$WS/small.yaml"
  in_namespace bash "$WS/full.sh" || die "could not set up the full file system"
  cat "$WS/small.err"
  [[ $(cat "$WS/small.rc") == 75 ]] || die "a full file system: exit $(cat "$WS/small.rc"), not 75"
  grep -q "No space left on device" "$WS/small.err" || die "the message does not say the disk is full"
  cmp -s "$WS/small.before" "$WS/small.after" || die "a failed build on a full disk changed the published maps"
  [[ -s $WS/small.answers ]] || die "postmap -q does not answer after a failed build on a full disk"
  [[ ! -s $WS/small.temps ]] || die "temp files left on the full disk: $(cat "$WS/small.temps")"
}

step temp_symlinks step_temp_symlinks
step map_symlink step_map_symlink
step damaged_map step_damaged_map
step state_symlink step_state_symlink
step lock_links step_lock_links
step generations_symlink step_generations_symlink
step maps_dir_symlink step_maps_dir_symlink
step plan_staging step_plan_staging
step rollback_args step_rollback_args
step owner_and_mode step_owner_and_mode
step read_only step_read_only
step full_fs step_full_fs
finish
