"""Wall time of ``ipcns list --json`` beside lsns and a bare interpreter.

    sudo python benchmarks/cli.py [--sizes 1,200] [--repeat 7]

For each size N (the host's own namespace counts as one) it makes N-1 extra
IPC namespaces, each with 5 message queues, 5 segments, 5 semaphore sets
and 2 POSIX queues, then times (median of ``--repeat`` runs):

* ``ipcns list --json`` (every namespace, every object counted);
* ``lsns -t ipc --json`` (namespaces only, no objects);
* ``python -c pass`` with the same interpreter (the floor of any Python
  command).

Target: ``ipcns list`` within 100 ms of the bare interpreter at 200
namespaces.  Everything lives in a private mount namespace of this process.
"""

from __future__ import annotations

import argparse
import functools
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from inventory import best, isolate, populate

from ipcns.linux.kernel import LinuxKernel


def timed(argv: list[str], repeat: int) -> float:
    """Median wall time of running ``argv`` (output discarded)."""
    return best(functools.partial(subprocess.run, argv, check=True,
                                  stdout=subprocess.DEVNULL), repeat)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", default="1,200", help="namespace counts (default 1,200)")
    parser.add_argument("--repeat", type=int, default=7, help="runs per command (median)")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("cli.py: needs root (CAP_SYS_ADMIN) to make namespaces", file=sys.stderr)
        return 1
    isolate()
    ipcns_cmd = [sys.executable, "-m", "ipcns.cli", "list", "--json"]
    made = 0
    print(f"{'namespaces':>10} {'ipcns list --json':>18} {'lsns -t ipc -J':>15} "
          f"{'python -c pass':>15} {'ipcns - python':>15}")
    with LinuxKernel() as kernel:
        for size in sorted(int(s) for s in args.sizes.split(",")):
            if size - 1 > made:
                populate(kernel, made, size - 1 - made)
                made = size - 1
            t_ipcns = timed(ipcns_cmd, args.repeat)
            t_lsns = timed(["lsns", "-t", "ipc", "--json"], args.repeat)
            t_bare = timed([sys.executable, "-c", "pass"], args.repeat)
            print(f"{size:>10} {t_ipcns * 1e3:>15.1f} ms {t_lsns * 1e3:>12.1f} ms "
                  f"{t_bare * 1e3:>12.1f} ms {(t_ipcns - t_bare) * 1e3:>12.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
