# syslog_lib.sh - syslog captured on a private /dev/log, for the tests that check what the
# programs send to syslog (ops_monitoring, secret_hygiene). Source it after lib.sh.
#
# start_syslog_capture: a listener on $WS/dev/log writes each datagram as one line of
# $WS/syslog.txt (its line feeds as \n, backslashes doubled) and answers a "SYNC" datagram
# through a FIFO, so that a step knows every earlier record is written (a coproc's
# descriptors are not there in the steps' subshells).
# logged CMD...: runs CMD in a mount namespace of its own whose /dev is $WS/dev (the log
# socket plus the devices a program may need; everything else of /dev is gone for it).
# syslog_mark / syslog_since MARK: the records after line MARK, once all are written.

start_syslog_capture() {
  mkdir "$WS/dev"
  mkfifo "$WS/sync.fifo"
  touch "$WS/syslog.txt"
  # exec: the coproc's pid is the listener's own, so that killing it at exit ends it.
  coproc SYSLOG { exec python3 -u -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print("ready")
with open(sys.argv[2], "ab", buffering=0) as out:
    while True:
        m = s.recv(65536)
        if m == b"SYNC":
            with open(sys.argv[3], "w") as fifo:
                fifo.write("synced\n")
            continue
        out.write(m.replace(b"\\", b"\\\\").replace(b"\n", b"\\n") + b"\n")
' "$WS/dev/log" "$WS/syslog.txt" "$WS/sync.fifo" 2>&1; }
  local ready
  read -r ready <&"${SYSLOG[0]}"
  [[ $ready == ready ]] || die "the syslog listener did not start"
  at_exit "kill $SYSLOG_PID 2>/dev/null || true"
}

logged() {
  unshare -m --propagation private bash -c '
    d=$1; shift
    for n in null zero full random urandom; do : > "$d/$n"; mount --bind "/dev/$n" "$d/$n"; done
    mount --bind "$d" /dev
    exec "$@"' logged "$WS/dev" "$@"
}

syslog_sync() {
  python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM).sendto(b"SYNC", sys.argv[1])' "$WS/dev/log"
  local answer
  answer=$(timeout 30 head -1 "$WS/sync.fifo") || die "the syslog listener did not answer"
  [[ $answer == synced ]] || die "the syslog listener said: $answer"
}
syslog_mark() { wc -l < "$WS/syslog.txt"; }
syslog_since() { syslog_sync; tail -n +"$(( $1 + 1 ))" "$WS/syslog.txt"; }
