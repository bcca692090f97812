"""``ipcns ipcs``: the objects of one namespace, several, or all, like lsipc.

Column names are lsipc's (KEY, ID, PERMS, OWNER, USEDBYTES, MSGS, NSEMS,
SIZE, NATTCH, STATUS, ...; NAME and MTIME for POSIX queues, as lsipc 2.41
has them), with NS first: every row names its namespace.  The JSON sections
are lsipc's table names: messages, semaphores, sharedmemory, posix-messages.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, Generic, NamedTuple, Protocol, TypeVar

from ipcns import MessageQueue, PosixQueue, SemaphoreSet, SharedMemory, Snapshot

from ._common import (
    Done,
    UsageError,
    command_line,
    group_name,
    key_text,
    names_by_inode,
    owner_text,
    perms_text,
    size_text,
    time_text,
    user_name,
)
from ._output import Column, column_help, dump_json, records, select, table


class _Owned(Protocol):
    """What every kind of object has."""

    @property
    def uid(self) -> int: ...
    @property
    def gid(self) -> int: ...
    @property
    def mode(self) -> int: ...


class _SysV(_Owned, Protocol):
    """What the System V kinds also have."""

    @property
    def key(self) -> int: ...
    @property
    def id(self) -> int: ...
    @property
    def cuid(self) -> int: ...
    @property
    def cgid(self) -> int: ...
    @property
    def ctime(self) -> int: ...


ObjT = TypeVar("ObjT")
OwnedT = TypeVar("OwnedT", bound=_Owned)
SysvT = TypeVar("SysvT", bound=_SysV)


class Row(NamedTuple, Generic[ObjT]):
    """One object and the namespace it lives in."""

    ns: int
    nsname: str | None
    obj: ObjT


class Kind(NamedTuple, Generic[ObjT]):
    """One kind of object: its option, titles, columns and default columns."""

    flag: str
    json_key: str
    title: str
    columns: list[Column[Row[ObjT]]]
    default: list[str]
    pick: Callable[[Snapshot], list[ObjT]]

    def rows(self, snaps: Sequence[Snapshot], names: dict[int, list[str]]) -> list[Row[ObjT]]:
        """Every object of this kind in ``snaps``, in namespace order."""
        out: list[Row[ObjT]] = []
        for snap in snaps:
            label = ",".join(names[snap.inode]) if names.get(snap.inode) else None
            out += [Row(snap.inode, label, obj) for obj in self.pick(snap)]
        return out


class Style(NamedTuple):
    """How sizes and permissions are written (--bytes, --numeric-perms)."""

    raw_sizes: bool = False
    numeric_perms: bool = False


def _ns_columns(kind: type[ObjT]) -> list[Column[Row[ObjT]]]:
    del kind
    return [
        Column[Row[ObjT]]("NS", "namespace identifier (inode number)", lambda r: r.ns,
                          right=True),
        Column[Row[ObjT]]("NSNAME", "namespace name under /run/ipcns", lambda r: r.nsname),
    ]


def _owner_columns(kind: type[OwnedT], style: Style,
                   creator: Callable[[OwnedT], tuple[int, int]]) -> list[Column[Row[OwnedT]]]:
    """The columns every kind has; ``creator`` gives (cuid, cgid)."""
    del kind
    np = style.numeric_perms
    return [
        Column[Row[OwnedT]]("OWNER", "owner's username or UID", lambda r: owner_text(r.obj.uid)),
        Column[Row[OwnedT]]("PERMS", "permissions", lambda r: perms_text(r.obj.mode, np)),
        Column[Row[OwnedT]]("CUID", "creator UID", lambda r: creator(r.obj)[0], right=True),
        Column[Row[OwnedT]]("CUSER", "creator user", lambda r: user_name(creator(r.obj)[0])),
        Column[Row[OwnedT]]("CGID", "creator GID", lambda r: creator(r.obj)[1], right=True),
        Column[Row[OwnedT]]("CGROUP", "creator group", lambda r: group_name(creator(r.obj)[1])),
        Column[Row[OwnedT]]("UID", "user ID", lambda r: r.obj.uid, right=True),
        Column[Row[OwnedT]]("USER", "user name", lambda r: user_name(r.obj.uid)),
        Column[Row[OwnedT]]("GID", "group ID", lambda r: r.obj.gid, right=True),
        Column[Row[OwnedT]]("GROUP", "group name", lambda r: group_name(r.obj.gid)),
    ]


def _sysv_columns(kind: type[SysvT], style: Style) -> list[Column[Row[SysvT]]]:
    return [
        *_ns_columns(kind),
        Column[Row[SysvT]]("KEY", "resource key", lambda r: key_text(r.obj.key)),
        Column[Row[SysvT]]("ID", "resource ID", lambda r: r.obj.id, right=True),
        *_owner_columns(kind, style, lambda o: (o.cuid, o.cgid)),
        Column[Row[SysvT]]("CTIME", "time of the last change", lambda r: time_text(r.obj.ctime)),
    ]


def _shm_status(s: SharedMemory) -> list[str]:
    from ipcns import abi

    flags = [(abi.SHM_DEST, "dest"), (abi.SHM_LOCKED, "locked"),
             (abi.SHM_HUGETLB, "hugetlb"), (abi.SHM_NORESERVE, "noreserve")]
    return [name for bit, name in flags if s.mode & bit]


def kinds(style: Style) -> dict[str, Kind[MessageQueue] | Kind[SemaphoreSet]
                                 | Kind[SharedMemory] | Kind[PosixQueue]]:
    """Every kind by its ipcs option letter, in ipcs's order."""
    raw = style.raw_sizes
    msg = Kind[MessageQueue](
        "q", "messages", "Message Queues",
        [*_sysv_columns(MessageQueue, style),
         Column[Row[MessageQueue]]("USEDBYTES", "bytes used", lambda r: r.obj.bytes,
                                   lambda r: size_text(r.obj.bytes, raw), right=True),
         Column[Row[MessageQueue]]("MSGS", "number of messages", lambda r: r.obj.messages,
                                   right=True),
         Column[Row[MessageQueue]]("SEND", "time of the last message sent",
                                   lambda r: time_text(r.obj.stime)),
         Column[Row[MessageQueue]]("RECV", "time of the last message received",
                                   lambda r: time_text(r.obj.rtime)),
         Column[Row[MessageQueue]]("LSPID", "PID of the last message sender",
                                   lambda r: r.obj.lspid, right=True),
         Column[Row[MessageQueue]]("LRPID", "PID of the last message receiver",
                                   lambda r: r.obj.lrpid, right=True)],
        ["NS", "KEY", "ID", "PERMS", "OWNER", "USEDBYTES", "MSGS", "LSPID", "LRPID"],
        lambda s: s.msg_queues)
    sem = Kind[SemaphoreSet](
        "s", "semaphores", "Semaphore Arrays",
        [*_sysv_columns(SemaphoreSet, style),
         Column[Row[SemaphoreSet]]("NSEMS", "number of semaphores", lambda r: r.obj.nsems,
                                   right=True),
         Column[Row[SemaphoreSet]]("OTIME", "time of the last operation",
                                   lambda r: time_text(r.obj.otime))],
        ["NS", "KEY", "ID", "PERMS", "OWNER", "NSEMS"],
        lambda s: s.sem_sets)
    shm = Kind[SharedMemory](
        "m", "sharedmemory", "Shared Memory Segments",
        [*_sysv_columns(SharedMemory, style),
         Column[Row[SharedMemory]]("SIZE", "segment size", lambda r: r.obj.size,
                                   lambda r: size_text(r.obj.size, raw), right=True),
         Column[Row[SharedMemory]]("NATTCH", "number of attached processes",
                                   lambda r: r.obj.nattch, right=True),
         Column[Row[SharedMemory]]("STATUS", "status", lambda r: _shm_status(r.obj)),
         Column[Row[SharedMemory]]("ATTACH", "attach time", lambda r: time_text(r.obj.atime)),
         Column[Row[SharedMemory]]("DETACH", "detach time", lambda r: time_text(r.obj.dtime)),
         Column[Row[SharedMemory]]("COMMAND", "creator command line",
                                   lambda r: command_line(r.obj.cpid) if r.obj.cpid else None),
         Column[Row[SharedMemory]]("CPID", "PID of the creator", lambda r: r.obj.cpid,
                                   right=True),
         Column[Row[SharedMemory]]("LPID", "PID of the last user", lambda r: r.obj.lpid,
                                   right=True),
         Column[Row[SharedMemory]]("RSS", "resident memory", lambda r: r.obj.rss,
                                   lambda r: size_text(r.obj.rss, raw), right=True),
         Column[Row[SharedMemory]]("SWAP", "swapped memory", lambda r: r.obj.swap,
                                   lambda r: size_text(r.obj.swap, raw), right=True)],
        ["NS", "KEY", "ID", "PERMS", "OWNER", "SIZE", "NATTCH", "STATUS", "CTIME", "CPID",
         "LPID", "COMMAND"],
        lambda s: s.shm_segments)
    posix = Kind[PosixQueue](
        "Q", "posix-messages", "POSIX Message Queues",
        [*_ns_columns(PosixQueue),
         Column[Row[PosixQueue]]("NAME", "resource name", lambda r: r.obj.name),
         *_owner_columns(PosixQueue, style, lambda o: (o.uid, o.gid)),
         Column[Row[PosixQueue]]("MTIME", "time of the last send or receive",
                                 lambda r: time_text(r.obj.mtime)),
         Column[Row[PosixQueue]]("USEDBYTES", "bytes used", lambda r: r.obj.qsize,
                                 lambda r: size_text(r.obj.qsize, raw), right=True),
         Column[Row[PosixQueue]]("MSGS", "number of messages", lambda r: r.obj.messages,
                                 right=True),
         Column[Row[PosixQueue]]("MAXMSG", "capacity in messages", lambda r: r.obj.maxmsg,
                                 right=True),
         Column[Row[PosixQueue]]("MSGSIZE", "largest message in bytes",
                                 lambda r: r.obj.msgsize, right=True),
         Column[Row[PosixQueue]]("NOTIFYPID", "PID registered with mq_notify (0: none)",
                                 lambda r: r.obj.notify_pid, right=True)],
        ["NS", "NAME", "PERMS", "OWNER", "USEDBYTES", "MSGS", "MAXMSG", "MSGSIZE", "MTIME"],
        lambda s: s.posix_queues)
    return {"q": msg, "s": sem, "m": shm, "Q": posix}


AnyKind = Kind[MessageQueue] | Kind[SemaphoreSet] | Kind[SharedMemory] | Kind[PosixQueue]


def _section(kind: Kind[Any], snaps: Sequence[Snapshot], names: dict[int, list[str]],
             spec: str | None, as_json: bool, headings: bool, titled: bool,
             into: dict[str, object], out: list[str]) -> None:
    columns = select(spec, kind.columns, kind.default)
    rows = kind.rows(snaps, names)
    if as_json:
        into[kind.json_key] = records(rows, columns)
        return
    text = table(rows, columns, headings=headings)
    if titled:
        out.append(f"------ {kind.title} --------")
    out.append(text)


def show_objects(chosen: Sequence[AnyKind], snaps: Sequence[Snapshot],
                 names: dict[int, list[str]], *, spec: str | None = None,
                 as_json: bool = False, headings: bool = True,
                 titled: bool = True) -> tuple[dict[str, object], str]:
    """The objects of ``snaps`` by kind: (JSON sections, table text)."""
    check_columns(chosen, spec)
    into: dict[str, object] = {}
    out: list[str] = []
    for i, kind in enumerate(chosen):
        if titled and i and not as_json:
            out.append("")
        _section(kind, snaps, names, spec, as_json, headings, titled, into, out)
    # untitled (--noheadings), an empty kind adds no blank line
    return into, "\n".join(line for line in out if line or titled)


def check_columns(chosen: Sequence[AnyKind], spec: str | None) -> None:
    """With several kinds, --output may only name columns all of them have;
    ``help`` lists each kind's columns."""
    if spec is None:
        return
    if spec.strip().lower() == "help":
        sections = [(f"{k.title} (-{k.flag})", k.columns) for k in chosen]
        print(column_help(sections))
        raise Done(0)
    if len(chosen) < 2:
        return
    common = [c.name for c in chosen[0].columns
              if all(any(d.name == c.name for d in k.columns) for k in chosen[1:])]
    for name in (n.strip().upper() for n in spec.lstrip("+").split(",") if n.strip()):
        if name not in common:
            raise UsageError(f"column {name!r} is not one every chosen kind has; choose one "
                             f"kind (-q, -s, -m or -Q) or use: {', '.join(common)}")


def chosen_kinds(args: argparse.Namespace, style: Style) -> list[AnyKind]:
    """The kinds -q/-s/-m/-Q select (all four without any)."""
    every = kinds(style)
    flags = [f for f in ("q", "s", "m", "Q") if getattr(args, f"kind_{f}", False)]
    return [every[f] for f in (flags or ["q", "s", "m", "Q"])]


def run(args: argparse.Namespace) -> int:
    """``ipcns ipcs [NS... | --all] [-q] [-s] [-m] [-Q]``."""
    import ipcns

    if args.all and args.ns:
        raise UsageError("give namespaces or --all, not both")
    style = Style(raw_sizes=args.bytes, numeric_perms=args.numeric_perms)
    chosen = chosen_kinds(args, style)
    check_columns(chosen, args.output)
    if args.all:
        snaps = ipcns.inventory()
    else:
        specs = args.ns or [f"/proc/{os.getpid()}/ns/ipc"]
        targets = [ipcns.open(s) for s in specs]
        snaps = ipcns.inventory(targets)
    names = names_by_inode()
    sections, text = show_objects(chosen, snaps, names, spec=args.output, as_json=args.json,
                                  headings=not args.noheadings,
                                  titled=len(chosen) > 1 and not args.noheadings)
    if args.json:
        dump_json(sections)
    elif text:
        print(text)
    for snap in snaps:
        if snap.mqueue_error and any(k.flag == "Q" for k in chosen):
            print(f"ipcns: ipc:[{snap.inode}]: {snap.mqueue_error}", file=sys.stderr)
    return 0
