"""How much of an inventory's time is the kernel's: ipcns beside the same
system calls made from C.

    sudo python benchmarks/floor.py [--sizes 200] [--repeat 5]

``floor.c`` makes, for each namespace, the system calls that ipcns's hop
makes (nsfs open and setns; MSG_INFO, SEM_INFO, SHM_INFO, the tables by
index and /proc/sysvipc/shm; a detached mqueue mount and its queues; the
sysctl files through a fresh procfs per few namespaces), closing
descriptors after the clock stops, as the helpers do.  It needs a C
compiler (``cc``).  For each size N it makes N namespaces as
``inventory.py`` does, then times (median of ``--repeat`` runs):

* the C floor with one process, and with as many processes as ipcns runs
  helpers (one per CPU, at most 4), each reading an equal share at once
  (the time of the slowest share);
* ``ipcns.inventory(targets)``: the same namespaces, given, so no discovery;
* ``ipcns.inventory()``: every namespace on the host, discovery included.

The C floor is what no Python code can beat on this machine; the ratio of
``inventory.py``'s shell loop to it is the most any implementation could
reach.  Everything lives in a private mount namespace of this process.
"""

from __future__ import annotations

import argparse
import functools
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from inventory import best, isolate, populate

import ipcns
from ipcns.linux.kernel import LinuxKernel

HERE = os.path.dirname(os.path.abspath(__file__))


def build(where: str) -> str:
    """Compile floor.c into ``where``; returns the program's path."""
    program = os.path.join(where, "floor")
    subprocess.run(["cc", "-O2", "-o", program, os.path.join(HERE, "floor.c")], check=True)
    return program


def floor(program: str, files: list[str], processes: int, repeat: int,
          ) -> tuple[float, list[float]]:
    """Median over ``repeat`` runs of the slowest share's seconds, and the
    per-part seconds (hop, SysV, mqueue, sysctls) of the run with one share."""
    times = []
    parts: list[float] = []
    for _ in range(repeat):
        out = subprocess.run([program, str(processes), *files], check=True,
                             capture_output=True, text=True).stdout
        shares = [line.split() for line in out.splitlines() if line.startswith("share ")]
        times.append(max(float(share[3]) for share in shares))
        parts = [float(x) for x in shares[0][4:8]]
    return statistics.median(times), parts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="200", help="namespace counts (default 200)")
    parser.add_argument("--repeat", type=int, default=5, help="runs per measurement (median)")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("floor.py: needs root (CAP_SYS_ADMIN) to make namespaces", file=sys.stderr)
        return 1
    if shutil.which("cc") is None:
        print("floor.py: needs a C compiler (cc) to build floor.c", file=sys.stderr)
        return 1
    helpers = min(os.cpu_count() or 1, 4)
    isolate()
    files: list[str] = []
    with tempfile.TemporaryDirectory() as tmp, LinuxKernel() as kernel:
        program = build(tmp)
        print(f"{'namespaces':>10}  {'what':<34} {'time':>9} {'per ns':>8} {'vs floor':>9}")
        for size in sorted(int(s) for s in args.sizes.split(",")):
            files += populate(kernel, len(files), size - len(files))
            one, parts = floor(program, files, 1, args.repeat)
            many, _ = floor(program, files, helpers, args.repeat)
            targets = [ipcns.open(path) for path in files]
            ipcns.inventory(targets)
            given = best(functools.partial(ipcns.inventory, targets), args.repeat)
            every = best(ipcns.inventory, args.repeat)
            split = ", ".join(f"{name} {t / size * 1e6:.0f}" for name, t in
                              zip(("hop", "SysV", "mqueue", "sysctls"), parts, strict=True))
            rows = [
                ("C floor, 1 process", one, ""),
                (f"C floor, {helpers} processes", many, "1.0x"),
                ("ipcns.inventory(targets)", given, f"{given / many:.1f}x"),
                ("ipcns.inventory(), with discovery", every, f"{every / many:.1f}x"),
            ]
            for what, seconds, ratio in rows:
                print(f"{size:>10}  {what:<34} {seconds * 1e3:>6.1f} ms "
                      f"{seconds / size * 1e6:>5.0f} us {ratio:>9}")
            print(f"{'':>10}  C floor, 1 process, us per namespace: {split}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
