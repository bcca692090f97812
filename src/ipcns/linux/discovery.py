"""Find every IPC namespace on the host, and who holds each.

A namespace lives while something references it (SEMANTICS.md N37); three
kinds of reference can be seen from user space, and each is searched:

* processes and threads: ``/proc/PID/ns/ipc`` and, for threads that went
  elsewhere, ``/proc/PID/task/TID/ns/ipc``;
* nsfs bind mounts (``ip netns``-style names, ``unshare --ipc=FILE``): the
  ``nsfs`` lines of ``/proc/PID/mountinfo``, read once per mount namespace,
  so mounts that only another mount namespace sees are found too;
* open descriptors of nsfs files: ``/proc/PID/fd/N``.

What cannot be seen (a namespace kept alive only by an shm attachment of a
process that has since moved on, or an open /proc/sysvipc file) is not
reported; the lsns(8) of util-linux sees less still.
"""

from __future__ import annotations

import fcntl
import os
import re
import sys
from collections import abc
from collections.abc import Callable

from .. import abi
from .._types import Container, Holder, NamespaceInfo, Process
from .containers import container_of

RUN_DIR = "/run/ipcns"
_NS_LINK = re.compile(r"ipc:\[(\d+)\]$")


def _ns_of(path: str) -> int | None:
    try:
        m = _NS_LINK.match(os.readlink(path))
    except OSError:
        return None
    return int(m.group(1)) if m else None


def _unescape(path: str) -> str:
    # mountinfo escapes space, tab, newline and backslash as \ooo.
    if "\\" not in path:
        return path
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), path)


class _Found:
    """What a scan found holding one namespace."""

    __slots__ = ("holders", "inode", "processes")

    def __init__(self, inode: int) -> None:
        self.inode = inode
        self.processes: list[Process] = []
        self.holders: list[Holder] = []


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def _comm(pid: int) -> str:
    return _read(f"/proc/{pid}/comm").rstrip("\n")


def _fd_dirs_count() -> bool:
    """Whether a /proc/PID/fd directory's size is its number of open
    descriptors (Linux 6.2 and later), so that a process with none (a
    kernel thread) need not be listed: 0 before."""
    try:
        return os.stat("/proc/self/fd").st_size > 0
    except OSError:
        return False


def scan(*, comm: bool = True, on_new: Callable[[str, int], object] | None = None,
         skip: abc.Container[int] = ()) -> dict[int, _Found]:
    """Every IPC namespace reachable from /proc, by inode; ``comm=False``
    leaves process names empty (one file read less per process).  The
    processes ``skip`` (ipcns's own helpers, which visit namespaces and hold
    descriptors of them only for a moment) are not looked at.

    ``on_new(path, inode)`` is called as each namespace is first seen, with
    the path it was seen by, so that work on it can start before the scan
    ends.  The caller's own mount namespace is read first: its bind mounts
    (names under /run/ipcns among them) are the most durable paths.
    """
    found: dict[int, _Found] = {}
    own_mnt = os.stat("/proc/self/ns/mnt").st_ino
    counts_fds = _fd_dirs_count()
    seen_mnt: set[int] = {own_mnt}

    def at(inode: int, path: str) -> _Found:
        entry = found.get(inode)
        if entry is None:
            entry = found[inode] = _Found(inode)
            if on_new is not None:
                on_new(path, inode)
        return entry

    def mounts(pid: int, prefix: str) -> None:
        for line in _read(f"/proc/{pid}/mountinfo").splitlines():
            parts = line.split(" - ", 1)
            if len(parts) != 2 or not parts[1].startswith("nsfs "):
                continue
            cols = parts[0].split()
            m = _NS_LINK.match(cols[3])
            if m:
                path = prefix + _unescape(cols[4])
                at(int(m.group(1)), path).holders.append(Holder("mount", path, pid))

    mounts(os.getpid(), "")
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        pid = int(name)
        if pid in skip:
            continue
        ns_path = f"/proc/{pid}/ns/ipc"
        inode = _ns_of(ns_path)
        if inode is None:
            continue  # gone, a zombie, or not ours to look at
        name_ = _comm(pid) if comm else ""
        at(inode, ns_path).processes.append(Process(pid, name_))
        try:
            # A task directory links 2 + its thread count (most processes
            # have one thread: a stat instead of a listing).
            tids = (os.listdir(f"/proc/{pid}/task")
                    if os.stat(f"/proc/{pid}/task").st_nlink > 3 else [])
        except OSError:
            tids = []
        if len(tids) > 1:
            for tid_name in tids:
                tid = int(tid_name)
                t_path = f"/proc/{pid}/task/{tid}/ns/ipc"
                t_inode = _ns_of(t_path)
                if tid != pid and t_inode is not None and t_inode != inode:
                    at(t_inode, t_path).processes.append(Process(pid, name_, tid))
        try:
            fd_names = (os.listdir(f"/proc/{pid}/fd")
                        if not counts_fds or os.stat(f"/proc/{pid}/fd").st_size else [])
        except OSError:
            fd_names = []
        for fd_name in fd_names:
            fd_path = f"/proc/{pid}/fd/{fd_name}"
            fd_inode = _ns_of(fd_path)
            if fd_inode is not None:
                at(fd_inode, fd_path).holders.append(Holder("fd", fd_path, pid, int(fd_name)))
        try:
            mnt = os.stat(f"/proc/{pid}/ns/mnt").st_ino
        except OSError:
            continue
        if mnt not in seen_mnt:
            seen_mnt.add(mnt)
            mounts(pid, f"/proc/{pid}/root")
    return found


def owner_of(path: str) -> tuple[int | None, int | None]:
    """(inode, owner uid) of the user namespace that owns the IPC namespace
    at ``path``; (None, None) when it cannot be asked."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None, None
    try:
        # fcntl rather than ctypes: this runs in the caller, where start-up
        # time counts.
        user_fd = fcntl.ioctl(fd, abi.NS_GET_USERNS)
    except OSError:
        return None, None
    finally:
        os.close(fd)
    try:
        inode = os.fstat(user_fd).st_ino
        try:
            raw = fcntl.ioctl(user_fd, abi.NS_GET_OWNER_UID, bytes(4))
            uid: int | None = int.from_bytes(raw, sys.byteorder)
        except OSError:
            uid = None
        return inode, uid
    finally:
        os.close(user_fd)


def best_ref(entry: _Found) -> str | None:
    """The path that opens this namespace most durably: a bind mount (a
    name first), then a member process, then a held descriptor."""
    mounts = [h.path for h in entry.holders if h.how == "mount"]
    named = [p for p in mounts if os.path.dirname(p) == RUN_DIR]
    if named or mounts:
        return (named or mounts)[0]
    for proc in entry.processes:
        if proc.tid and proc.tid != proc.pid:
            return f"/proc/{proc.pid}/task/{proc.tid}/ns/ipc"
        return f"/proc/{proc.pid}/ns/ipc"
    for holder in entry.holders:
        return holder.path
    return None


def host_inode() -> int | None:
    """The host's IPC namespace (kernel threads always live there: kthreadd
    is PID 2), when it can be read."""
    return _ns_of("/proc/2/ns/ipc") or _ns_of("/proc/1/ns/ipc")


def describe(entry: _Found, containers: bool = True) -> NamespaceInfo:
    """A NamespaceInfo for one scanned namespace."""
    ref = best_ref(entry)
    owner_ns, owner_uid = owner_of(ref) if ref else (None, None)
    found: list[Container] = []
    if containers:
        for proc in entry.processes:
            c = container_of(_read(f"/proc/{proc.pid}/cgroup"))
            if c is not None and c not in found:
                found.append(c)
    return NamespaceInfo(
        inode=entry.inode,
        processes=tuple(sorted(entry.processes, key=lambda p: (p.pid, p.tid))),
        holders=tuple(entry.holders),
        owner_userns=owner_ns,
        owner_uid=owner_uid,
        containers=tuple(found),
    )
