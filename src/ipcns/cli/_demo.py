"""``ipcns demo``: the classic two-shell walk-through of IPC namespaces, run
for real and narrated, on a backend of the contract.

The "shells" are tasks of a kernel (``ipcns.kernel(backend)``: the host's,
through helper processes, or the reference model): the first lives in a
namespace A made for the demo (the initial namespace is left alone), the
second starts beside it and then does ``unshare -iu`` (a task forked with
CLONE_NEWIPC|CLONE_NEWUTS: namespace B, hostname container001, written to
/proc/sys/kernel/hostname inside B's UTS namespace).  Every output shown is
read from the kernel at that moment, through the contract only: identities
as each task sees its own namespaces (``Task.ns_inode``, printed the way
readlink prints /proc/PID/ns/*), queues from /proc/sysvipc/msg inside each
namespace.  The kernel is closed in a finally: its tasks end, and with them
A and B.
"""

from __future__ import annotations

import argparse
import secrets
import sys
import time
from typing import TYPE_CHECKING

from ._common import owner_text

if TYPE_CHECKING:
    from ipcns.contract import Task


class Narrator:
    """Prints the walk-through: comments, commands and their outputs."""

    def __init__(self, pause: bool) -> None:
        self.pause = pause

    def say(self, text: str) -> None:
        print()
        for line in text.splitlines():
            print(f"# {line}")

    def run(self, prompt: str, command: str, output: str) -> None:
        print(f"{prompt}$ {command}")
        if output:
            print(output)

    def step(self) -> None:
        sys.stdout.flush()
        if self.pause:
            print("[press Enter to go on]", end="", flush=True)
            sys.stdin.readline()


def _readlink(task: Task, *kinds: str) -> str:
    """What ``readlink /proc/PID/ns/KIND...`` prints (``uts:[N]``), from the
    task's own view of its namespaces."""
    return "\n".join(f"{k}:[{task.ns_inode(k)}]" for k in kinds)


def _hostname(task: Task) -> str:
    return task.read_file("/proc/sys/kernel/hostname").decode().strip()


def _ipcs_q(task: Task) -> str:
    """``ipcs -q`` as util-linux prints it, from /proc/sysvipc/msg as the
    task (inside its namespace) reads it."""
    from ipcns._procfs import parse_msg

    lines = ["------ Message Queues --------",
             f"{'key':<10} {'msqid':<10} {'owner':<10} {'perms':<10} {'used-bytes':<12} "
             "messages"]
    for q in parse_msg(task.read_file("/proc/sysvipc/msg")):
        lines.append(f"0x{q.key:08x} {q.id:<10} {owner_text(q.uid):<10.10} "
                     f"{q.mode & 0o777:<10o} {q.bytes:<12} {q.messages:<12}".rstrip())
    return "\n".join(lines)


def _ipcmk_q(task: Task) -> str:
    """``ipcmk -Q``: a queue with a random key, mode 0644."""
    from ipcns import abi
    from ipcns._procfs import signed_key

    while True:
        key = secrets.randbits(32) or 1
        try:
            msqid = task.msgget(signed_key(key), abi.IPC_CREAT | abi.IPC_EXCL | 0o644)
        except FileExistsError:
            continue
        return f"Message queue id: {msqid}"


def _gone(tasks: list[Task], backend: str, timeout: float = 2.0) -> bool:
    """True once every task has ended (after the kernel's close).  On the
    host kernel, also wait until none of their processes is left in /proc
    but as a zombie."""
    if any(task.alive for task in tasks):
        return False
    if backend != "linux":
        return True
    pids = [task.pid for task in tasks]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = []
        for pid in pids:
            try:
                with open(f"/proc/{pid}/stat") as f:
                    state = f.read().rsplit(")", 1)[1].split()[0]
            except (FileNotFoundError, ProcessLookupError):
                continue
            if state not in ("Z", "X"):
                alive.append(pid)
        if not alive:
            return True
        time.sleep(0.02)
    return False


def run(args: argparse.Namespace) -> int:
    """``ipcns demo [--backend linux|model] [--pause]``."""
    import ipcns
    from ipcns import abi
    from ipcns._errors import translate

    backend: str = getattr(args, "backend", "linux")
    n = Narrator(args.pause)
    kernel = ipcns.kernel(backend)
    print("IPC namespaces, shown with two shells (after the classic ipcmk/unshare/nsenter")
    if backend == "linux":
        print("walk-through).  Every output below is read from the kernel as it happens.")
    else:
        print("walk-through), run on the reference model: nothing on the host is touched.")
        print("Every output below is read from the model as it happens.")
    tasks: list[Task] = []
    try:
        first = kernel.spawn()
        tasks.append(first)
        try:
            first.unshare(abi.CLONE_NEWIPC)
        except OSError as err:
            raise translate(err, "cannot make the demo's namespace") from err
        a = f"[first shell, pid {first.pid}] "
        n.say("The first shell.  Its IPC namespace (A) is made for this demo, so the\n"
              "host's own namespace is not touched; its UTS namespace is the host's.")
        n.run(a, f"readlink /proc/{first.pid}/ns/uts /proc/{first.pid}/ns/ipc",
              _readlink(first, "uts", "ipc"))
        n.run(a, "hostname", _hostname(first))
        n.say("No message queue yet; make one.")
        n.run(a, "ipcs -q", _ipcs_q(first))
        n.run(a, "ipcmk -Q", _ipcmk_q(first))
        n.run(a, "ipcs -q", _ipcs_q(first))
        n.step()

        second = first.fork(0)
        tasks.append(second)
        s = f"[second shell, pid {second.pid}] "
        n.say("A second shell, opened beside the first: same namespaces, same queue.")
        n.run(s, f"readlink /proc/{second.pid}/ns/uts /proc/{second.pid}/ns/ipc",
              _readlink(second, "uts", "ipc"))
        n.run(s, "ipcs -q", _ipcs_q(second))
        n.step()

        try:
            inner = second.fork(abi.CLONE_NEWIPC | abi.CLONE_NEWUTS)
        except OSError as err:
            raise translate(err, "cannot make namespace B") from err
        tasks.append(inner)
        b = f"[container001, pid {inner.pid}] "
        n.say(f"In the second shell: unshare -iu /bin/bash.  The new shell (pid {inner.pid})\n"
              "has new IPC and UTS namespaces (B); give it its own hostname.")
        n.run(b, f"readlink /proc/{inner.pid}/ns/uts /proc/{inner.pid}/ns/ipc",
              _readlink(inner, "uts", "ipc"))
        inner.write_file("/proc/sys/kernel/hostname", b"container001")
        n.run(b, "hostname container001", "")
        n.run(b, "hostname", _hostname(inner))
        n.say("The first shell's queue is not here: B is isolated from A.  Make one in B.")
        n.run(b, "ipcs -q", _ipcs_q(inner))
        n.run(b, "ipcmk -Q", _ipcmk_q(inner))
        n.run(b, "ipcs -q", _ipcs_q(inner))
        n.step()

        n.say("Back in the first shell: B's queue is not here either (A is isolated\n"
              "from B), and the hostname is still the host's.")
        n.run(a, "ipcs -q", _ipcs_q(first))
        n.run(a, "hostname", _hostname(first))
        n.step()

        joined = first.fork(0)
        tasks.append(joined)
        try:
            joined.setns(inner, abi.CLONE_NEWIPC | abi.CLONE_NEWUTS)
        except OSError as err:
            raise translate(err, f"cannot join the namespaces of pid {inner.pid}") from err
        j = f"[joined, pid {joined.pid}] "
        n.say(f"From the first shell, join B by its pid: nsenter -t {inner.pid} -u -i /bin/bash.")
        n.run(j, f"readlink /proc/{joined.pid}/ns/uts /proc/{joined.pid}/ns/ipc",
              _readlink(joined, "uts", "ipc"))
        n.run(j, "hostname", _hostname(joined))
        n.run(j, "ipcs -q", _ipcs_q(joined))
        n.step()
    finally:
        kernel.close()
    n.say("Done: every shell of the demo has ended, and with them namespaces A and B"
          if _gone(tasks, backend) else "Done: the demo's shells were told to end")
    print("# (nothing was left on the host; its hostname and queues never changed).")
    return 0
