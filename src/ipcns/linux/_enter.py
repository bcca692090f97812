"""Join an IPC namespace for good, the way ``ipcns exec`` and ``run`` do.

Joining is more than setns: POSIX queues show in ``/dev/mqueue`` only if an
mqueue filesystem *of that namespace* is mounted there, and a mount made in
the old namespace keeps showing the old queues (the pitfall the mqueue
namespace commit warns of).  So the process also moves to a mount namespace
of its own (a slave of the caller's: it sees later host mounts, the host
never sees its mounts) and mounts a fresh mqueue on /dev/mqueue.  The mount
dies with the process.

``python -m ipcns.linux._enter FD [--no-mqueue] -- CMD [ARG...]`` does this
for the nsfs descriptor FD and then executes CMD.
"""

from __future__ import annotations

import os
import sys
from typing import NoReturn

from .. import abi
from . import syscalls

MQUEUE_DIR = "/dev/mqueue"


def enter(nsfd: int, mqueue: bool = True) -> None:
    """Join the IPC namespace of ``nsfd`` and, with ``mqueue``, mount its
    queues on /dev/mqueue in a mount namespace of this process's own.

    Creates /dev/mqueue if the host lacks it (as systemd does at boot).
    Raises OSError (EPERM without CAP_SYS_ADMIN).
    """
    syscalls.Syscalls().setns(nsfd, abi.CLONE_NEWIPC)
    if not mqueue:
        return
    syscalls.Syscalls().unshare(abi.CLONE_NEWNS)
    syscalls.mount(None, "/", None, abi.MS_REC | abi.MS_SLAVE, None)
    os.makedirs(MQUEUE_DIR, mode=0o755, exist_ok=True)
    syscalls.mount("mqueue", MQUEUE_DIR, "mqueue",
                   abi.MS_NOSUID | abi.MS_NODEV | abi.MS_NOEXEC, None)


def main(argv: list[str]) -> NoReturn:
    """Entry point for ``run``/``popen``: join, then exec the command."""
    args = argv[1:]
    mqueue = True
    try:
        fd = int(args.pop(0))
        if args and args[0] == "--no-mqueue":
            mqueue = False
            args.pop(0)
        if args and args[0] == "--":
            args.pop(0)
        if not args:
            raise ValueError("no command given")
    except (ValueError, IndexError) as err:
        print(f"ipcns: enter: {err}", file=sys.stderr)
        os._exit(2)
    try:
        enter(fd, mqueue)
        os.close(fd)
    except OSError as err:
        print(f"ipcns: cannot enter the namespace: {err.strerror}", file=sys.stderr)
        os._exit(126)
    try:
        os.execvp(args[0], args)
    except OSError as err:
        print(f"ipcns: cannot run {args[0]}: {err.strerror}", file=sys.stderr)
        os._exit(127 if err.errno == 2 else 126)


if __name__ == "__main__":
    main(sys.argv)
