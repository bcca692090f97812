"""``ipcns list`` (every namespace, like lsns -t ipc, with what each holds)
and ``ipcns show`` (one namespace as the kernel holds it)."""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING, NamedTuple

from ._common import (
    command_line,
    names_by_inode,
    open_ns,
    owner_text,
    percent,
    percent_text,
    read_text,
    size_text,
    user_name,
)
from ._output import Column, dump_json, emit, select, table

if TYPE_CHECKING:
    from ipcns import Counter, Limits, Snapshot, Summary
    from ipcns.linux.namespace import Namespace

#: The limit the kernel checks each usage counter against.
COUNTER_LIMIT = {
    "msg_queues": "msgmni",
    "sem_sets": "semmni",
    "used_sems": "semmns",
    "shm_segments": "shmmni",
    "shm_tot": "shmall",
    "mq_queues": "queues_max",
}
LIMIT_COUNTER = {v: k for k, v in COUNTER_LIMIT.items()}

#: Where each limit and counter lives in ``struct ipc_namespace``.
FIELDS = {
    "shmmax": "shm_ctlmax",
    "shmall": "shm_ctlall",
    "shmmni": "shm_ctlmni",
    "shm_rmid_forced": "shm_rmid_forced",
    "msgmax": "msg_ctlmax",
    "msgmnb": "msg_ctlmnb",
    "msgmni": "msg_ctlmni",
    "semmsl": "sem_ctls[0]",
    "semmns": "sem_ctls[1]",
    "semopm": "sem_ctls[2]",
    "semmni": "sem_ctls[3]",
    "msg_next_id": "ids[IPC_MSG_IDS].next_id",
    "sem_next_id": "ids[IPC_SEM_IDS].next_id",
    "shm_next_id": "ids[IPC_SHM_IDS].next_id",
    "queues_max": "mq_queues_max",
    "msg_max": "mq_msg_max",
    "msgsize_max": "mq_msgsize_max",
    "msg_default": "mq_msg_default",
    "msgsize_default": "mq_msgsize_default",
    "msg_queues": "ids[IPC_MSG_IDS].in_use",
    "msg_bytes": "msg_bytes",
    "msg_hdrs": "msg_hdrs",
    "sem_sets": "ids[IPC_SEM_IDS].in_use",
    "used_sems": "used_sems",
    "shm_segments": "ids[IPC_SHM_IDS].in_use",
    "shm_tot": "shm_tot",
    "mq_queues": "mq_queues_count",
}


def fullest(snap: Snapshot | Summary) -> tuple[float | None, str | None]:
    """The highest usage in percent of its limit, and that limit's name."""
    best: tuple[float | None, str | None] = (None, None)
    for c in snap.counters():
        p = percent(c.used, c.limit)
        if p is not None and (best[0] is None or p > best[0]):
            best = (p, COUNTER_LIMIT.get(c.name, c.name))
    return best


class NsRow:
    """One namespace of ``ipcns list``: what discovery and inventory found
    (each value worked out once)."""

    __slots__ = ("_fullest", "containers", "host", "inode", "mounts", "names", "ns", "pid",
                 "pids", "snap")

    def __init__(self, inode: int, ns: Namespace | None, snap: Summary | None, host: bool,
                 names: list[str]) -> None:
        self.inode = inode
        self.ns = ns
        self.snap = snap
        self.host = host
        self.names = names
        self.pids = ns.pids if ns is not None else []
        self.pid = self.pids[0] if self.pids else None
        info = ns.info if ns is not None else None
        self.mounts = [h.path for h in info.holders if h.how == "mount"] if info else []
        self.containers = [str(c) for c in info.containers] if info else []
        self._fullest: tuple[float | None, str | None] | None = None

    def holder(self) -> str | None:
        """What holds it, for people: its name, else its container, else its
        nsfs file; the host's is "host"."""
        if self.names:
            return ",".join(self.names)
        if self.containers:
            return ",".join(self.containers)
        if self.mounts:
            return self.mounts[0]
        return "host" if self.host else None

    def count(self, attr: str) -> int | None:
        if self.snap is None:
            return None
        if attr == "mq_queues" and self.snap.mqueue_error:
            return None
        return int(getattr(self.snap.usage, attr))

    def shm_bytes(self) -> int | None:
        if self.snap is None:
            return None
        return self.snap.shm_bytes

    def fullest(self) -> tuple[float | None, str | None]:
        if self._fullest is None:
            self._fullest = fullest(self.snap) if self.snap is not None else (None, None)
        return self._fullest

    def owner(self) -> tuple[int | None, int | None]:
        if self.ns is None:
            return None, None
        return self.ns.info.owner_userns, self.ns.info.owner_uid


def _pid_uid(pid: int | None) -> int | None:
    if pid is None:
        return None
    try:
        return os.stat(f"/proc/{pid}").st_uid
    except OSError:
        return None


def _ppid(pid: int | None) -> int | None:
    stat = read_text(f"/proc/{pid}/stat") if pid else None
    if not stat:
        return None
    return int(stat.rsplit(")", 1)[1].split()[1])


def list_columns(raw: bool) -> list[Column[NsRow]]:
    """The columns of ``ipcns list``."""
    col = Column[NsRow]

    def fullest_pct(r: NsRow) -> float | None:
        return r.fullest()[0]

    def owner(r: NsRow) -> str | None:
        uid = r.owner()[1]
        return None if uid is None else owner_text(uid)

    def pid_user(r: NsRow) -> str | None:
        uid = _pid_uid(r.pid)
        return None if uid is None else user_name(uid) or str(uid)

    return [
        col("NS", "namespace identifier (inode number)", lambda r: r.inode, right=True),
        col("TYPE", "kind of namespace", lambda r: "ipc"),
        col("NAME", "name under /run/ipcns", lambda r: ",".join(r.names) or None),
        col("PATH", "path to the namespace", lambda r: r.ns.ref if r.ns else None),
        col("NSFS", "nsfs mountpoints (names, unshare --ipc=FILE)", lambda r: r.mounts),
        col("NPROCS", "number of processes in the namespace", lambda r: len(r.pids),
            right=True),
        col("PID", "lowest PID in the namespace", lambda r: r.pid, right=True),
        col("PPID", "PPID of the PID", lambda r: _ppid(r.pid), right=True),
        col("COMMAND", "command line of the PID",
            lambda r: command_line(r.pid) if r.pid else None),
        col("UID", "UID of the PID", lambda r: _pid_uid(r.pid), right=True),
        col("USER", "username of the PID", pid_user),
        col("PIDS", "every PID in the namespace", lambda r: r.pids),
        col("ONS", "owner namespace identifier (user namespace inode)",
            lambda r: r.owner()[0], right=True),
        col("OWNER", "owner of the owning user namespace (its creator's UID)", owner),
        col("CONTAINER", "containers of its processes", lambda r: r.containers),
        col("HOLDER", "its name, else container, else nsfs file; 'host' for the host's",
            lambda r: r.holder()),
        col("MSGQ", "System V message queues", lambda r: r.count("msg_queues"), right=True),
        col("MSGBYTES", "bytes queued in System V messages", lambda r: r.count("msg_bytes"),
            lambda r: size_text(r.count("msg_bytes"), raw), right=True),
        col("SEMSETS", "System V semaphore sets", lambda r: r.count("sem_sets"), right=True),
        col("SEMS", "semaphores in all sets", lambda r: r.count("used_sems"), right=True),
        col("SHMSEGS", "System V shared memory segments", lambda r: r.count("shm_segments"),
            right=True),
        col("SHMBYTES", "bytes in all segments", lambda r: r.shm_bytes(),
            lambda r: size_text(r.shm_bytes(), raw), right=True),
        col("POSIXMQ", "POSIX message queues", lambda r: r.count("mq_queues"), right=True),
        col("USE%", "use of the fullest limit, in percent", fullest_pct,
            lambda r: percent_text(fullest_pct(r)), right=True),
        col("FULLEST", "the fullest limit", lambda r: r.fullest()[1]),
    ]


LIST_DEFAULT = ["NS", "NPROCS", "PID", "MSGQ", "SEMSETS", "SHMSEGS", "POSIXMQ", "SHMBYTES",
                "USE%", "FULLEST", "HOLDER", "COMMAND"]


def run_list(args: argparse.Namespace) -> int:
    """``ipcns list``."""
    from ipcns.linux import discovery
    from ipcns.linux.namespace import shared_kernel, survey

    columns = select(args.output, list_columns(args.bytes), LIST_DEFAULT)
    shared_kernel()  # the helpers start while the parser's work goes on
    # One pass: the helpers count each namespace (without listing objects)
    # as discovery finds it; one that vanished meanwhile is left out.
    namespaces, summaries = survey()
    found = {ns.inode: ns for ns in namespaces}
    snaps = {s.inode: s for s in summaries}
    host = discovery.host_inode()
    # The names are the bind mounts under /run/ipcns that discovery saw.
    names = {inode: sorted(os.path.basename(h.path) for h in ns.info.holders
                           if h.how == "mount" and os.path.dirname(h.path) == discovery.RUN_DIR)
             for inode, ns in found.items()}
    rows = [NsRow(inode, found.get(inode), snaps.get(inode), inode == host,
                  names.get(inode, []))
            for inode in sorted(set(found) | set(snaps))]
    emit(args, rows, columns, "namespaces")
    return 0


# -- show ---------------------------------------------------------------------------


class LimitRow(NamedTuple):
    """One limit (or a counter no single limit bounds) and its usage."""

    name: str
    sysctl: str | None
    value: int | None
    used: int | None
    limit: int | None


def limit_rows(limits: Limits, counters: list[Counter] | None, *,
               unbounded: bool = True) -> list[LimitRow]:
    """Each limit beside the counter checked against it; then, with
    ``unbounded``, the counters no limit bounds."""
    used = {c.name: c.used for c in counters or []}
    rows = []
    for item in limits.items():
        counter = LIMIT_COUNTER.get(item.name)
        u = used.get(counter) if counter else None
        rows.append(LimitRow(item.name, item.sysctl, item.value, u, item.value))
    for c in (counters or []) if unbounded else []:
        if c.name not in COUNTER_LIMIT:
            rows.append(LimitRow(c.name, None, None, c.used, None))
    return rows


def limit_columns(ranges: dict[str, str] | None = None) -> list[Column[LimitRow]]:
    """The columns of a limits table (``show`` and ``limits``)."""
    def use(r: LimitRow) -> float | None:
        return percent(r.used, r.limit) if r.used is not None else None

    return [
        Column[LimitRow]("NAME", "limit (or counter) name", lambda r: r.name),
        Column[LimitRow]("SYSCTL", "its sysctl", lambda r: r.sysctl),
        Column[LimitRow]("FIELD", "its field of struct ipc_namespace",
                         lambda r: FIELDS.get(r.name)),
        Column[LimitRow]("VALUE", "the namespace's value", lambda r: r.value, right=True),
        Column[LimitRow]("USED", "what is in use against it", lambda r: r.used, right=True),
        Column[LimitRow]("USE%", "USED in percent of VALUE", use,
                         lambda r: percent_text(use(r)), right=True),
        Column[LimitRow]("RANGE", "values ipcns limits accepts",
                         lambda r: (ranges or {}).get(r.name)),
    ]


def _identity(ns: Namespace, names: list[str]) -> tuple[dict[str, object], str]:
    """Who the namespace is and who holds it: (JSON fields, text lines)."""
    info = ns.info
    mounts = [h.path for h in info.holders if h.how == "mount"]
    fds = [f"{h.pid}:{h.fd}" for h in info.holders if h.how == "fd"]
    procs = sorted({(p.pid, p.comm) for p in info.processes})
    uid = info.owner_uid
    user = user_name(uid) if uid is not None else None
    containers = [str(c) for c in info.containers]
    doc: dict[str, object] = {
        "ns": ns.inode,
        "name": ",".join(names) or None,
        "path": ns.ref,
        "nsfs": mounts,
        "fds": fds,
        "ons": info.owner_userns,
        "owner": None if uid is None else {"uid": uid, "user": user},
        "nprocs": len(procs),
        "processes": [{"pid": p, "command": c} for p, c in procs],
        "containers": containers,
    }

    def dash(items: list[str]) -> str:
        return ", ".join(items) or "-"

    lines = [
        ("NS", f"{ns.inode} (ipc:[{ns.inode}])"),
        ("NAME", dash(names)),
        ("PATH", ns.ref),
        ("NSFS", dash(mounts)),
        ("HELD BY FD", dash(fds)),
        ("ONS (owner)", "-" if info.owner_userns is None else str(info.owner_userns)),
        ("OWNER UID", "-" if uid is None else f"{uid} ({user})" if user else str(uid)),
        ("NPROCS", str(len(procs))),
        ("PROCESSES", dash([f"{p} {c}" for p, c in procs])),
        ("CONTAINERS", dash(containers)),
    ]
    return doc, "\n".join(f"{label + ':':<12} {text}" for label, text in lines)


def run_show(args: argparse.Namespace) -> int:
    """``ipcns show NS``."""
    from ._ipcs import Style, kinds, show_objects

    ns = open_ns(args.ns)
    snap = ns.snapshot()
    names = names_by_inode()
    identity, identity_text = _identity(ns, names.get(ns.inode, []))
    rows = limit_rows(snap.limits, snap.counters())
    lcols = limit_columns()
    every = list(kinds(Style(raw_sizes=args.bytes, numeric_perms=args.numeric_perms)).values())
    if args.json:
        from ._output import records

        sections, _ = show_objects(every, [snap], names, as_json=True)
        doc = identity
        doc["limits"] = records(rows, lcols)
        doc["usage"] = snap.usage._asdict()
        doc.update(sections)
        doc["mqueue_error"] = snap.mqueue_error
        dump_json(doc)
        return 0
    print(identity_text)
    print()
    print(table(rows, [c for c in lcols if c.name != "RANGE"]))
    print()
    _, text = show_objects(every, [snap], names)
    print(text)
    if snap.mqueue_error:
        print(f"(POSIX queues: {snap.mqueue_error})")
    return 0
