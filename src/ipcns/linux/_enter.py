"""Join an IPC namespace for good, the way ``ipcns exec`` and ``run`` do.

Joining is more than setns: POSIX queues show in ``/dev/mqueue`` only if an
mqueue filesystem *of that namespace* is mounted there, and a mount made in
the old namespace keeps showing the old queues (the pitfall the mqueue
namespace commit warns of).  So the process also moves to a mount namespace
of its own (a slave of the caller's: it sees later host mounts, the host
never sees its mounts) and mounts a fresh mqueue on /dev/mqueue.  The mount
dies with the process.

``python -m ipcns.linux._enter --join FD [--no-mqueue] -- CMD [ARG...]``
does this for the nsfs descriptor FD and then executes CMD; ``--new`` makes
a new namespace instead (see :func:`main`).
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
    if mqueue:
        enter_mqueue()


def enter_mqueue() -> None:
    """Show the current IPC namespace's queues on /dev/mqueue, in a mount
    namespace of this process's own.  Raises OSError."""
    syscalls.Syscalls().unshare(abi.CLONE_NEWNS)
    syscalls.mount(None, "/", None, abi.MS_REC | abi.MS_SLAVE, None)
    os.makedirs(MQUEUE_DIR, mode=0o755, exist_ok=True)
    syscalls.mount("mqueue", MQUEUE_DIR, "mqueue",
                   abi.MS_NOSUID | abi.MS_NODEV | abi.MS_NOEXEC, None)


def _usage(message: str) -> NoReturn:
    print(f"ipcns: enter: {message}", file=sys.stderr)
    os._exit(2)


def main(argv: list[str]) -> NoReturn:
    """Entry point for ``run``/``popen``/``spawn``; then exec the command.

    ``--join FD``: join the namespace of nsfs descriptor FD.
    ``--new --ready FD --go FD``: make a new namespace, report on the ready
    pipe (``r``, or ``e`` and the errno), then wait on the go pipe: ``g``
    runs the command; anything else (the parent gave up, or died: EOF)
    ends this process with status 125 before the command ever runs.
    """
    args = argv[1:]
    mqueue, join, new = True, -1, False
    ready, go = -1, -1
    try:
        while args and args[0] != "--":
            opt = args.pop(0)
            if opt == "--no-mqueue":
                mqueue = False
            elif opt == "--new":
                new = True
            elif opt == "--join":
                join = int(args.pop(0))
            elif opt == "--ready":
                ready = int(args.pop(0))
            elif opt == "--go":
                go = int(args.pop(0))
            else:
                _usage(f"unknown option {opt}")
        args = args[1:]
    except (ValueError, IndexError):
        _usage("bad arguments")
    if not args or new == (join >= 0):
        _usage("give --join FD or --new, then -- and a command")
    try:
        if new:
            syscalls.Syscalls().unshare(abi.CLONE_NEWIPC)
            if mqueue:
                enter_mqueue()
        else:
            enter(join, mqueue)
            os.close(join)
    except OSError as err:
        if ready >= 0:
            os.write(ready, b"e%d" % (err.errno or 0))
            os._exit(126)
        print(f"ipcns: cannot enter the namespace: {err.strerror}", file=sys.stderr)
        os._exit(126)
    if ready >= 0:
        os.write(ready, b"r")
        os.close(ready)
    if go >= 0:
        if os.read(go, 1) != b"g":
            os._exit(125)
        os.close(go)
    try:
        os.execvp(args[0], args)
    except OSError as err:
        print(f"ipcns: cannot run {args[0]}: {err.strerror}", file=sys.stderr)
        os._exit(127 if err.errno == 2 else 126)


if __name__ == "__main__":
    main(sys.argv)
