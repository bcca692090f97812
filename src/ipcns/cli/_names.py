"""Named namespaces, ``ip netns`` style: add, delete, identify, pids."""

from __future__ import annotations

import argparse
import os
from typing import NamedTuple

from ._common import command_line, names_by_inode, open_ns
from ._output import Column, emit, select


def run_add(args: argparse.Namespace) -> int:
    """``ipcns add NAME``: a new namespace kept under /run/ipcns/NAME."""
    import ipcns

    ipcns.create(args.name)
    return 0


def run_delete(args: argparse.Namespace) -> int:
    """``ipcns delete NAME...``: remove names (each namespace dies once
    nothing else holds it).  Every name is checked before any is removed."""
    import ipcns
    from ipcns import NamespaceNotFound
    from ipcns.linux.namespace import validate_name

    for name in args.names:
        validate_name(name)
    have = set(ipcns.names())
    for name in args.names:
        if name not in have:
            raise NamespaceNotFound(f"no namespace named {name!r}")
    for name in args.names:
        ipcns.delete(name)
    return 0


def run_identify(args: argparse.Namespace) -> int:
    """``ipcns identify [PID]``: the name(s) of PID's namespace, else ipc:[N]."""
    from ipcns import NamespaceNotFound, PrivilegeError

    pid = args.pid if args.pid is not None else os.getpid()
    try:
        inode = os.stat(f"/proc/{pid}/ns/ipc").st_ino
    except FileNotFoundError:
        raise NamespaceNotFound(f"no process with pid {pid}") from None
    except PermissionError:
        raise PrivilegeError(f"cannot read /proc/{pid}/ns/ipc: permission denied "
                             "(needs ptrace access; run as root)") from None
    names = names_by_inode().get(inode)
    for line in names or [f"ipc:[{inode}]"]:
        print(line)
    return 0


class ProcRow(NamedTuple):
    pid: int
    tid: int
    comm: str


def run_pids(args: argparse.Namespace) -> int:
    """``ipcns pids NS``: the processes in the namespace."""
    columns = [
        Column[ProcRow]("PID", "process ID", lambda r: r.pid, right=True),
        Column[ProcRow]("TID", "thread ID, when only a thread is in the namespace",
                        lambda r: r.tid or None, right=True),
        Column[ProcRow]("COMM", "command name", lambda r: r.comm),
        Column[ProcRow]("COMMAND", "command line", lambda r: command_line(r.pid)),
    ]
    chosen = select(args.output, columns, ["PID", "COMMAND"])
    ns = open_ns(args.ns)
    seen = set()
    rows = []
    for p in ns.info.processes:
        if (p.pid, p.tid) not in seen:
            seen.add((p.pid, p.tid))
            rows.append(ProcRow(p.pid, p.tid if p.tid != p.pid else 0, p.comm))
    rows.sort(key=lambda r: (r.pid, r.tid))
    emit(args, rows, chosen, "processes")
    return 0
