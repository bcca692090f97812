"""``ipcns exec`` (nsenter --ipc, with the right /dev/mqueue) and
``ipcns unshare`` (unshare --ipc, optionally naming the new namespace)."""

from __future__ import annotations

import argparse
import errno
import os
import sys
from typing import NoReturn

from ._common import open_ns


def _command(args: argparse.Namespace) -> list[str]:
    cmd = list(args.command)
    if cmd and cmd[0] == "--":
        cmd = cmd[1:]
    return cmd or [os.environ.get("SHELL") or "/bin/sh"]


def _exec(cmd: list[str]) -> NoReturn:
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execvp(cmd[0], cmd)
    except OSError as err:
        print(f"ipcns: cannot run {cmd[0]}: {err.strerror}", file=sys.stderr)
        os._exit(127 if err.errno == errno.ENOENT else 126)


def run_exec(args: argparse.Namespace) -> int:
    """``ipcns exec NS [--no-mqueue] [--] [CMD...]``: this process joins NS
    (and mounts NS's queues on /dev/mqueue, in a mount namespace of its
    own), then executes CMD (default: $SHELL)."""
    from ipcns._errors import translate
    from ipcns.linux import _enter

    cmd = _command(args)
    ns = open_ns(args.ns)
    fd = ns.open_fd()
    try:
        _enter.enter(fd, not args.no_mqueue)
    except OSError as err:
        raise translate(err, f"cannot enter ipc:[{ns.inode}]") from err
    finally:
        os.close(fd)
    _exec(cmd)


def run_unshare(args: argparse.Namespace) -> int:
    """``ipcns unshare [--name NAME] [--no-mqueue] [--] [CMD...]``."""
    cmd = _command(args)
    if args.name is None:
        from ipcns import abi
        from ipcns._errors import translate
        from ipcns.linux import _enter, syscalls

        try:
            syscalls.Syscalls().unshare(abi.CLONE_NEWIPC)
            if not args.no_mqueue:
                _enter.enter_mqueue()
        except OSError as err:
            raise translate(err, "cannot make a new IPC namespace") from err
        _exec(cmd)
    return _spawn_named(cmd, args.name, not args.no_mqueue)


def _spawn_named(cmd: list[str], name: str, mqueue: bool) -> int:
    import signal

    import ipcns

    _ns, proc = ipcns.spawn(cmd, name=name, mqueue=mqueue)
    # The command has the terminal; ^C and friends are for it, not for us.
    old = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGQUIT)}
    try:
        status = proc.wait()
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)
    return 128 - status if status < 0 else status
