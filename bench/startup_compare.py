#!/usr/bin/env python3
"""startup_compare.py - short program runs timed interleaved, for start-up figures on a busy machine.

SUMMARY
  bench/startup_compare.py [--rounds N] [--warmup W] LABEL=COMMAND...

DESCRIPTION
  Runs every COMMAND (split on blanks, no shell; output discarded; a failure stops
  everything) once per round, in a fresh random order each round, for N rounds (default
  200) after W warm-up rounds (default 5). hyperfine runs one command's runs back to back, so
  a load that comes and goes on a shared machine lands on one command more than another;
  interleaving spreads it over all of them. Prints per LABEL the median, 25th and 75th
  percentile and minimum of the wall time (fork + exec + run + exit, from time.perf_counter
  around posix_spawn and wait4) and the median CPU time (user + system, from wait4's
  rusage), in ms, then each LABEL's median wall and CPU over the first LABEL's.
  --tsv FILE also writes one line per LABEL: label, wall median, CPU median (tab-separated, ms).
  Used for "No-op start-up (issue 15)" in docs/benchmarks.md.
"""
import argparse
import os
import random
import statistics
import sys
import time


def run(argv):
    t0 = time.perf_counter()
    with open(os.devnull, "wb") as null:
        fa = [(os.POSIX_SPAWN_DUP2, null.fileno(), 1), (os.POSIX_SPAWN_DUP2, null.fileno(), 2)]
        pid = os.posix_spawn(argv[0], argv, os.environ, file_actions=fa)
        _, status, ru = os.wait4(pid, 0)
    wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"startup_compare.py: {' '.join(argv)} failed (status {status})")
    return wall * 1e3, (ru.ru_utime + ru.ru_stime) * 1e3


def main():
    ap = argparse.ArgumentParser(description="interleaved start-up timing")
    ap.add_argument("--rounds", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--tsv", metavar="FILE")
    ap.add_argument("commands", nargs="+", metavar="LABEL=COMMAND")
    a = ap.parse_args()
    cmds = []
    for c in a.commands:
        label, _, command = c.partition("=")
        if not command:
            sys.exit(f"startup_compare.py: {c}: expected LABEL=COMMAND")
        cmds.append((label, command.split()))
    walls = {label: [] for label, _ in cmds}
    cpus = {label: [] for label, _ in cmds}
    for r in range(a.warmup + a.rounds):
        order = list(cmds)
        random.shuffle(order)
        for label, argv in order:
            w, c = run(argv)
            if r >= a.warmup:
                walls[label].append(w)
                cpus[label].append(c)
    first = cmds[0][0]
    base_w = statistics.median(walls[first])
    base_c = statistics.median(cpus[first])
    print(f"{a.rounds} rounds after {a.warmup} warm-ups, interleaved; ms")
    print("| command | wall median | wall p25 / p75 | wall min | CPU median | wall / first | CPU / first |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for label, _ in cmds:
        q = statistics.quantiles(walls[label], n=4)
        mw = statistics.median(walls[label])
        mc = statistics.median(cpus[label])
        print(f"| {label} | {mw:.1f} | {q[0]:.1f} / {q[2]:.1f} | {min(walls[label]):.1f} | {mc:.1f} | "
              f"{mw / base_w:.2f} | {mc / base_c:.2f} |")
    if a.tsv:
        with open(a.tsv, "w") as out:
            for label, _ in cmds:
                out.write(f"{label}\t{statistics.median(walls[label]):.3f}\t{statistics.median(cpus[label]):.3f}\n")


if __name__ == "__main__":
    main()
