"""Full inventory of many namespaces, beside the shell loop a user would write.

    sudo python benchmarks/inventory.py [--sizes 200,1000] [--repeat 3]

For each size N it makes N IPC namespaces (bind mounts, like
``unshare --ipc=FILE``), each with 5 message queues, 5 segments, 5
semaphore sets and 2 POSIX queues, then times:

* ``ipcns.inventory()``: discovery of every namespace on the host plus
  objects (SysV and POSIX), limits and usage of each, helpers hopping
  through them with setns;
* ``for f in FILES; do nsenter --ipc=$f lsipc --json; done``, which sees
  SysV objects only.

It prints both times and their ratio, and the inventory's cost per
namespace for each size (flat is the goal).  Everything lives in a private
mount namespace of this process: the namespaces die with it, however it ends.
"""

from __future__ import annotations

import argparse
import functools
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

import ipcns
from ipcns import abi
from ipcns._types import MqAttr
from ipcns.linux import syscalls
from ipcns.linux.kernel import LinuxKernel

DIR = "/run/ipcns"


def isolate() -> None:
    """Private mount namespace with a tmpfs on /run: nothing outlives us."""
    syscalls.Syscalls().unshare(abi.CLONE_NEWNS)
    syscalls.mount(None, "/", None, abi.MS_REC | abi.MS_PRIVATE, None)
    syscalls.mount("tmpfs", "/run", "tmpfs", abi.MS_NOSUID | abi.MS_NODEV, "mode=755")
    os.makedirs(DIR)


def populate(kernel: LinuxKernel, start: int, count: int) -> list[str]:
    """Make ``count`` namespaces with their objects; return their files."""
    task = kernel.spawn()
    _soft, hard = task.getrlimit(abi.RLIMIT_MSGQUEUE)
    task.setrlimit(abi.RLIMIT_MSGQUEUE, hard, hard)  # ~100 bytes a queue: 1000s fit
    files = []
    for i in range(start, start + count):
        path = f"{DIR}/bench-{i:05d}"
        with open(path, "w"):
            pass
        task.unshare(abi.CLONE_NEWIPC)
        task.mount("/proc/self/ns/ipc", path, None, abi.MS_BIND)
        for _ in range(5):
            task.msgget(abi.IPC_PRIVATE, abi.IPC_CREAT | 0o600)
            task.shmget(abi.IPC_PRIVATE, 4096, abi.IPC_CREAT | 0o600)
            task.semget(abi.IPC_PRIVATE, 4, abi.IPC_CREAT | 0o600)
        for q in range(2):
            fd = task.mq_open(f"/q{q}", abi.O_CREAT | abi.O_RDWR, 0o600,
                              MqAttr(maxmsg=1, msgsize=16))
            task.close(fd)
        files.append(path)
    task.exit()
    return files


def best(fn: Callable[[], object], repeat: int) -> float:
    """The median wall time of ``repeat`` calls of ``fn``."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def shell_loop(files: list[str]) -> None:
    script = 'for f in "$@"; do nsenter --ipc="$f" lsipc --json >/dev/null; done'
    subprocess.run(["sh", "-c", script, "sh", *files], check=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="200,1000", help="namespace counts (default 200,1000)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (median)")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("inventory.py: needs root (CAP_SYS_ADMIN) to make namespaces", file=sys.stderr)
        return 1
    isolate()
    sizes = sorted(int(s) for s in args.sizes.split(","))
    files: list[str] = []
    rows = []
    with LinuxKernel() as kernel:
        for size in sizes:
            files += populate(kernel, len(files), size - len(files))
            snaps = ipcns.inventory()
            t_inv = best(ipcns.inventory, args.repeat)
            ours = [s for s in snaps if s.usage.mq_queues == 2]
            counts = {(len(s.of_kind("msg")), len(s.of_kind("shm")), len(s.of_kind("sem")),
                       len(s.of_kind("mqueue"))) for s in ours}
            if len(ours) != size or counts != {(5, 5, 5, 2)}:
                print(f"inventory saw {len(ours)} of {size} namespaces, counts {counts}",
                      file=sys.stderr)
                return 1
            t_loop = best(functools.partial(shell_loop, list(files)), 1)
            rows.append((size, len(snaps), t_inv, t_loop))
    print(f"{'namespaces':>10} {'seen':>6} {'ipcns.inventory()':>18} {'per ns':>9} "
          f"{'nsenter+lsipc loop':>19} {'per ns':>9} {'ratio':>7}")
    for size, seen, t_inv, t_loop in rows:
        print(f"{size:>10} {seen:>6} {t_inv * 1e3:>15.1f} ms {t_inv / seen * 1e6:>6.0f} us "
              f"{t_loop * 1e3:>16.1f} ms {t_loop / size * 1e6:>6.0f} us {t_loop / t_inv:>6.1f}x")
    print("ipcns: SysV + POSIX queues + limits + usage; the loop: SysV objects only")
    if len(rows) > 1:
        first, last = rows[0], rows[-1]
        growth = (last[2] / last[1]) / (first[2] / first[1])
        print(f"per-namespace cost, {last[0]} vs {first[0]} namespaces: {growth:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
