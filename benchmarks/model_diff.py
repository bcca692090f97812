"""The reference model against Linux, on many random sequences of IPC calls.

    python benchmarks/model_diff.py [--count 10000] [--seed 0] [--length 30]
                                    [--show 5] [--against model|linux] [--no-shrink]

Runs COUNT sequences of LENGTH operations from the seeded generator of
``ipcns.conformance.differential`` on the host kernel and on the model (or,
with ``--against linux``, on a second fresh host kernel: a check of the
harness itself), prints the number of sequences whose transcripts diverge
(the goal is 0), how many distinct first divergences there are, the first
few of them shrunk to a short sequence that still diverges, and the time
each backend took.  Needs root; every task lives in IPC namespaces the run
made, which die with it.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable

import ipcns
import ipcns.linux._helper
import ipcns.linux._inventory  # forked helpers start faster with these loaded
from ipcns.conformance import differential as diff
from ipcns.contract import Kernel


def backends(against: str) -> tuple[Callable[[], Kernel], Callable[[], Kernel]]:
    """The two kernel makers to compare."""
    def linux() -> Kernel:
        return ipcns.kernel("linux")

    return linux, linux if against == "linux" else diff.model_like_host


def signature(div: diff.Divergence, seq: diff.Sequence) -> str:
    """What makes two divergences "the same": the operation and both results
    where they first differ."""
    name = seq.ops[div.step].name if div.step >= 0 else "start"
    at = next((i for i, (a, b) in enumerate(zip(div.left, div.right, strict=False)) if a != b),
              min(len(div.left), len(div.right)))
    start = max(0, at - 40)
    return f"{name}: ...{div.left[start:at + 40]} | ...{div.right[start:at + 40]}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000, help="sequences (default 10000)")
    parser.add_argument("--seed", type=int, default=0, help="generator seed (default 0)")
    parser.add_argument("--length", type=int, default=30, help="operations a sequence (default 30)")
    parser.add_argument("--show", type=int, default=5, help="divergences to print (default 5)")
    parser.add_argument("--against", choices=("model", "linux"), default="model",
                        help="compare Linux with the model (default) or with Linux")
    parser.add_argument("--no-shrink", action="store_true",
                        help="print divergences as found, without shrinking them")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("model_diff.py: needs root (CAP_SYS_ADMIN) to make namespaces", file=sys.stderr)
        return 1
    make_left, make_right = backends(args.against)
    try:
        make_right().close()
    except Exception as err:
        print(f"model_diff.py: cannot make the {args.against} kernel: {err}", file=sys.stderr)
        return 1

    spent = {"left": 0.0, "right": 0.0}
    found: dict[str, tuple[int, diff.Sequence, diff.Divergence]] = {}
    counts: dict[str, int] = {}
    diverged = ops = 0
    t_start = time.perf_counter()
    for number, seq in enumerate(diff.iter_sequences(args.seed, args.count, args.length)):
        t0 = time.perf_counter()
        left = diff.run_sequence(make_left(), seq)
        t1 = time.perf_counter()
        right = diff.run_sequence(make_right(), seq)
        t2 = time.perf_counter()
        spent["left"] += t1 - t0
        spent["right"] += t2 - t1
        ops += len(seq.ops)
        div = diff.compare(left, right)
        if div is None:
            continue
        diverged += 1
        key = signature(div, seq)
        counts[key] = counts.get(key, 0) + 1
        found.setdefault(key, (number, seq, div))
    total = time.perf_counter() - t_start

    print(f"{args.count} sequences of {args.length} operations (seed {args.seed}), "
          f"linux against {args.against}: {diverged} diverged, "
          f"{len(found)} distinct first divergences")
    print(f"time: {total:.1f} s in all; linux {spent['left']:.1f} s "
          f"({spent['left'] / max(ops, 1) * 1e6:.0f} us an operation), {args.against} "
          f"{spent['right']:.1f} s ({spent['right'] / max(ops, 1) * 1e6:.0f} us an operation)")
    shown = sorted(found.items(), key=lambda kv: kv[1][0])[:args.show]
    for key, (number, seq, div) in shown:
        name = seq.ops[div.step].name if div.step >= 0 else "start"

        def diverges(cand: diff.Sequence, name: str = name) -> bool:
            got, _, _ = diff.differ(cand, make_left, make_right)
            return got is not None and (cand.ops[got.step].name if got.step >= 0
                                        else "start") == name

        small = seq if args.no_shrink else diff.shrink(seq, diverges, div.step)
        got, left, right = diff.differ(small, make_left, make_right)
        if got is None:  # not reproducible: print the original
            got, left, right = diff.differ(seq, make_left, make_right)
        print(f"\n== sequence #{number} ({counts[key]} like it): {key}")
        print(diff.explain(left, right))
    return 0 if diverged == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
