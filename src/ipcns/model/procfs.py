"""/proc: /proc/sysvipc/*, /proc/sys, /proc/PID/ns/* and the id maps.

/proc/sysvipc/* and the sysctls show the namespace of the opener, fixed at
open (an open /proc/sysvipc file holds its namespace); ids are shown as the
opener's user namespace sees them.  The rows are printed byte for byte as
ipc/{msg,sem,shm}.c print them.
"""

from __future__ import annotations

import errno
import stat as stat_mod
from typing import TYPE_CHECKING, Any

from .. import abi
from .._types import Stat
from ._state import PAGE_SIZE, oserror
from .creds import (
    INVALID_ID,
    UserNamespace,
    may_access,
    ns_capable,
)
from .files import NsFile, OpenFile, TextFile
from .namespaces import IpcNamespace
from .sysctl import DIRS, TABLE, allowed, bound

if TYPE_CHECKING:
    from .task import ModelTask

S_IFDIR = stat_mod.S_IFDIR
S_IFREG = stat_mod.S_IFREG
NS_KINDS = ("cgroup", "ipc", "mnt", "net", "pid", "time", "user", "uts")

MSG_HEADER = ("       key      msqid perms      cbytes       qnum lspid lrpid   uid   gid"
              "  cuid  cgid      stime      rtime      ctime\n")
SEM_HEADER = ("       key      semid perms      nsems   uid   gid  cuid  cgid      otime"
              "      ctime\n")
SHM_HEADER = ("       key      shmid perms                  size  cpid  lpid nattch   uid   gid"
              "  cuid  cgid      atime      dtime      ctime                   rss"
              "                  swap\n")


#: The rows as the kernel's seq_printf formats print them (64-bit).
MSG_ROW = "%10d %10d  %4o  %10d %10d %5d %5d %5d %5d %5d %5d %10d %10d %10d\n"
SEM_ROW = "%10d %10d  %4o %10d %5d %5d %5d %5d %10d %10d\n"
SHM_ROW = "%10d %10d  %4o %21d %5d %5d  %5d %5d %5d %5d %5d %10d %10d %10d %21d %21d\n"


def _ids(user_ns: UserNamespace, perm: Any) -> tuple[int, int, int, int]:
    return (user_ns.from_kuid(perm.uid), user_ns.from_kgid(perm.gid),
            user_ns.from_kuid(perm.cuid), user_ns.from_kgid(perm.cgid))


def render_sysvipc(kind: str, ns: IpcNamespace, user_ns: UserNamespace) -> bytes:
    """The text of /proc/sysvipc/``kind`` for ``ns`` seen from ``user_ns``."""
    lines: list[str] = []
    if kind == "msg":
        lines.append(MSG_HEADER)
        for q in ns.msg_ids.ordered():
            p = q.perm
            lines.append(MSG_ROW % (
                p.key, p.id, p.mode, q.cbytes, q.qnum, q.lspid, q.lrpid, *_ids(user_ns, p),
                q.stime, q.rtime, q.ctime))
    elif kind == "sem":
        lines.append(SEM_HEADER)
        for s in ns.sem_ids.ordered():
            p = s.perm
            lines.append(SEM_ROW % (
                p.key, p.id, p.mode, len(s.sems), *_ids(user_ns, p), s.otime, s.ctime))
    else:
        lines.append(SHM_HEADER)
        for m in ns.shm_ids.ordered():
            p = m.perm
            lines.append(SHM_ROW % (
                p.key, p.id, p.mode, m.segsz, m.cpid, m.lpid, m.nattch, *_ids(user_ns, p),
                m.atime, m.dtime, m.ctime, len(m.resident) * PAGE_SIZE, 0))
    return "".join(lines).encode()


def _task_of(t: ModelTask, name: str) -> ModelTask:
    if name == "self":
        return t.leader()
    if name == "thread-self":
        return t
    if not name.isdigit():
        raise oserror(errno.ENOENT)
    got = t.world.tasks.get(int(name))
    if got is None or not got.alive:
        raise oserror(errno.ENOENT)
    return got  # type: ignore[no-any-return]


def _ns_of(task: ModelTask, kind: str) -> Any:
    if kind == "user":
        return task.cred.user_ns
    return task.nsproxy[kind]


def _map_owner(task: ModelTask) -> tuple[int, int]:
    """task_dump_owner: the task's ids, or root's when it is not dumpable."""
    if task.process.dumpable:
        return task.cred.euid, task.cred.egid
    ns = task.process.mm_user_ns
    uid, gid = ns.to_kuid(0), ns.to_kgid(0)
    return (0 if uid == INVALID_ID else uid), (0 if gid == INVALID_ID else gid)


def _render_map(task: ModelTask, which: str, viewer: ModelTask) -> bytes:
    ns = task.cred.user_ns
    if which == "setgroups":
        return b"allow\n" if ns.setgroups_allowed else b"deny\n"
    idmap = ns.uid_map if which == "uid_map" else ns.gid_map
    lower_ns = viewer.cred.user_ns
    if lower_ns is ns and ns.parent is not None:
        lower_ns = ns.parent
    out = []
    for first, lower, count in idmap.extents:
        # lower ids are the parent's; show them as the viewer's namespace sees them
        parent = ns.parent if ns.parent is not None else ns
        klower = (parent.to_kuid(lower) if which == "uid_map" else parent.to_kgid(lower))
        shown = (lower_ns.from_kuid(klower) if which == "uid_map"
                 else lower_ns.from_kgid(klower))
        out.append(f"{first:>10} {shown:>10} {count:>10}\n")
    return "".join(out).encode()


def _write_map(opener: ModelTask, task: ModelTask, which: str, data: bytes) -> None:
    """map_write / proc_setgroups_write."""
    ns = task.cred.user_ns
    cred = opener.cred
    if which == "setgroups":
        if not ns_capable(cred, ns, abi.CAP_SYS_ADMIN):
            raise oserror(errno.EPERM)
        word = data.strip()
        if word not in (b"allow", b"deny"):
            raise oserror(errno.EINVAL)
        if word == b"allow" and not ns.setgroups_allowed:
            raise oserror(errno.EPERM)
        if word == b"deny" and ns.gid_map.written:
            raise oserror(errno.EPERM)
        ns.setgroups_allowed = word == b"allow"
        return
    idmap = ns.uid_map if which == "uid_map" else ns.gid_map
    if idmap.written or ns.parent is None:
        raise oserror(errno.EPERM)
    if cred.user_ns is not ns and cred.user_ns is not ns.parent:
        raise oserror(errno.EPERM)
    extents: list[tuple[int, int, int]] = []
    for line in data.decode(errors="replace").splitlines():
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 3 or not all(f.isdigit() for f in fields):
            raise oserror(errno.EINVAL)
        first, lower, count = (int(f) for f in fields)
        if count == 0 or first + count > 1 << 32 or lower + count > 1 << 32:
            raise oserror(errno.EINVAL)
        extents.append((first, lower, count))
    if not extents or len(extents) > 340:
        raise oserror(errno.EINVAL)
    cap = abi.CAP_SETUID if which == "uid_map" else abi.CAP_SETGID
    parent = ns.parent
    assert parent is not None
    permitted = False
    if len(extents) == 1 and extents[0][2] == 1 and ns.owner == cred.euid:
        lower = extents[0][1]
        if which == "uid_map" and parent.to_kuid(lower) == cred.euid:
            permitted = True
        if (which == "gid_map" and not ns.setgroups_allowed
                and parent.to_kgid(lower) == cred.egid):
            permitted = True
    if not permitted and not ns_capable(cred, parent, cap):
        raise oserror(errno.EPERM)
    kernel_ids = []
    for first, lower, count in extents:
        k = parent.to_kuid(lower) if which == "uid_map" else parent.to_kgid(lower)
        end = (parent.to_kuid(lower + count - 1) if which == "uid_map"
               else parent.to_kgid(lower + count - 1))
        if INVALID_ID in (k, end):
            raise oserror(errno.EPERM)
        kernel_ids.append((first, lower, count))
    idmap.extents = kernel_ids
    idmap.written = True


def _entry(parts: tuple[str, ...]) -> Any:
    return TABLE.get("/".join(parts[1:]))


def open_proc(t: ModelTask, parts: tuple[str, ...], flags: int) -> OpenFile:
    """open(2) of /proc/``parts``."""
    want = {0: 4, 1: 2, 2: 6}.get(flags & 3, 6)
    if not parts:
        raise oserror(errno.EISDIR) if want & 2 else oserror(errno.EACCES)
    if parts[0] == "sys":
        entry = _entry(parts)
        if entry is None:
            if "/".join(parts[1:]) in DIRS:
                raise oserror(errno.EISDIR)
            raise oserror(errno.ENOENT)
        ns = bound(t, entry)
        if not allowed(t, entry, ns, want):
            raise oserror(errno.EACCES)

        def write(data: bytes) -> None:
            entry.write(t, ns, data)

        return TextFile(lambda: entry.read(ns).encode(), None, write if want & 2 else None)
    if parts[0] == "sysvipc":
        if len(parts) != 2 or parts[1] not in ("msg", "sem", "shm"):
            raise oserror(errno.ENOENT)
        if want & 2:
            raise oserror(errno.EACCES)
        ipc, user_ns, kind = t.ipc, t.cred.user_ns, parts[1]
        return TextFile(lambda: render_sysvipc(kind, ipc, user_ns), ipc)
    task = _task_of(t, parts[0])
    if len(parts) == 3 and parts[1] == "ns" and parts[2] in NS_KINDS:
        if want & 2:
            raise oserror(errno.EACCES)
        return NsFile(_ns_of(task, parts[2]))
    if len(parts) == 2 and parts[1] in ("uid_map", "gid_map", "setgroups"):
        uid, gid = _map_owner(task)
        if not may_access(t.cred, 0o644, uid, gid, want):
            raise oserror(errno.EACCES)
        which = parts[1]
        if want & 2 and which == "setgroups" and not ns_capable(
                t.cred, task.cred.user_ns, abi.CAP_SYS_ADMIN):
            raise oserror(errno.EPERM)

        def write_map(data: bytes) -> None:
            _write_map(t, task, which, data)

        return TextFile(lambda: _render_map(task, which, t), None,
                        write_map if want & 2 else None)
    if len(parts) <= 2:
        raise oserror(errno.EISDIR if len(parts) == 1 or parts[1] == "ns" else errno.ENOENT)
    raise oserror(errno.ENOENT)


def listdir(t: ModelTask, parts: tuple[str, ...]) -> list[str]:
    if not parts:
        pids = [str(p) for p, task in t.world.tasks.items() if task.alive and task.is_leader]
        return sorted([*pids, "self", "thread-self", "sys", "sysvipc"])
    if parts[0] == "sys":
        names = DIRS.get("/".join(parts[1:]))
        if names is None:
            raise oserror(errno.ENOTDIR if _entry(parts) else errno.ENOENT)
        return sorted(names)
    if parts == ("sysvipc",):
        return ["msg", "sem", "shm"]
    task = _task_of(t, parts[0])
    if len(parts) == 1:
        return ["gid_map", "ns", "setgroups", "uid_map"]
    if parts[1:] == ("ns",):
        del task
        return list(NS_KINDS)
    raise oserror(errno.ENOTDIR)


def stat(t: ModelTask, parts: tuple[str, ...]) -> Stat:
    if not parts:
        return Stat(S_IFDIR | 0o555, 0, 0, 1, 0)
    if parts[0] == "sys":
        if "/".join(parts[1:]) in DIRS:
            return Stat(S_IFDIR | 0o555, 0, 0, 2, 0)
        entry = _entry(parts)
        if entry is None:
            raise oserror(errno.ENOENT)
        return Stat(S_IFREG | entry.mode, 0, 0, 3, 0)
    if parts[0] == "sysvipc":
        if len(parts) == 1:
            return Stat(S_IFDIR | 0o555, 0, 0, 4, 0)
        if parts[1] in ("msg", "sem", "shm") and len(parts) == 2:
            return Stat(S_IFREG | 0o444, 0, 0, 5, 0)
        raise oserror(errno.ENOENT)
    task = _task_of(t, parts[0])
    if len(parts) == 3 and parts[1] == "ns" and parts[2] in NS_KINDS:
        return Stat(S_IFREG | 0o444, 0, 0, _ns_of(task, parts[2]).inum, 0)
    if len(parts) <= 2 and (len(parts) == 1 or parts[1] == "ns"):
        return Stat(S_IFDIR | 0o555, 0, 0, 6, 0)
    if len(parts) == 2 and parts[1] in ("uid_map", "gid_map", "setgroups"):
        uid, gid = _map_owner(task)
        ns = t.cred.user_ns
        return Stat(S_IFREG | 0o644, ns.from_kuid(uid), ns.from_kgid(gid), 7, 0)
    raise oserror(errno.ENOENT)

