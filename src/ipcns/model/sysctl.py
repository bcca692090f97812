"""The per-namespace sysctls (ipc/ipc_sysctl.c, ipc/mq_sysctl.c), with the
UTS hostname and the user namespace limits beside them.

A sysctl file shows the namespace of whoever opened it, fixed at open.  The
IPC and mqueue ones may be written by root of the namespace's owning user
namespace (its uid, no capability needed); the *_next_id ones also by
anyone with CAP_SYS_ADMIN or CAP_CHECKPOINT_RESTORE over that owner.
"""

from __future__ import annotations

import errno
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .. import abi
from ._state import oserror
from .creds import CAP_CHECKPOINT_RESTORE, INT_MAX, INVALID_ID, ns_capable
from .ids import IPCMNI
from .mqueue import HARD_MSGMAX, HARD_MSGSIZEMAX
from .namespaces import ULONG_MAX

if TYPE_CHECKING:
    from .task import ModelTask

_NUMBER = re.compile(rb"\s*(-?)(\d+)")


def parse_ints(data: bytes, count: int, *, unsigned_long: bool = False) -> list[int]:
    """proc_dointvec / proc_doulongvec_minmax: up to ``count`` numbers
    separated by white space; EINVAL for anything else or none."""
    values: list[int] = []
    pos = 0
    while len(values) < count:
        m = _NUMBER.match(data, pos)
        if m is None:
            break
        neg, digits = m.group(1), int(m.group(2))
        if unsigned_long:
            if neg or digits > ULONG_MAX:
                raise oserror(errno.EINVAL)
            values.append(digits)
        else:
            if digits > (INT_MAX + 1 if neg else INT_MAX):
                raise oserror(errno.EINVAL)
            values.append(-digits if neg else digits)
        pos = m.end()
        if pos < len(data) and not data[pos:pos + 1].isspace():
            raise oserror(errno.EINVAL)
    if not values:
        raise oserror(errno.EINVAL)
    return values


@dataclass(frozen=True)
class Entry:
    """One sysctl: which namespace it belongs to, how it reads and writes."""

    scope: str  # "ipc", "mq", "uts", "user"
    mode: int
    read: Callable[[Any], str]
    write: Callable[[ModelTask, Any, bytes], None]


def _int_field(attr: str, low: int | None = 0, high: int | None = INT_MAX,
               after: Callable[[Any], None] | None = None
               ) -> tuple[Callable[[Any], str], Callable[[ModelTask, Any, bytes], None]]:
    def read(ns: Any) -> str:
        return f"{getattr(ns, attr)}\n"

    def write(t: ModelTask, ns: Any, data: bytes) -> None:
        (value,) = parse_ints(data, 1)
        if (low is not None and value < low) or (high is not None and value > high):
            raise oserror(errno.EINVAL)
        setattr(ns, attr, value)
        if after is not None:
            after(ns)

    return read, write


def _ulong_field(attr: str) -> tuple[Callable[[Any], str],
                                     Callable[[ModelTask, Any, bytes], None]]:
    def read(ns: Any) -> str:
        return f"{getattr(ns, attr)}\n"

    def write(t: ModelTask, ns: Any, data: bytes) -> None:
        (value,) = parse_ints(data, 1, unsigned_long=True)
        setattr(ns, attr, value)

    return read, write


def _next_id(kind: str) -> tuple[Callable[[Any], str], Callable[[ModelTask, Any, bytes], None]]:
    def read(ns: Any) -> str:
        return f"{getattr(ns, kind).next_id}\n"

    def write(t: ModelTask, ns: Any, data: bytes) -> None:
        (value,) = parse_ints(data, 1)
        if value < 0:
            raise oserror(errno.EINVAL)
        getattr(ns, kind).next_id = value

    return read, write


def _sem_read(ns: Any) -> str:
    return "\t".join(str(v) for v in ns.sem_ctls) + "\n"


def _sem_write(t: ModelTask, ns: Any, data: bytes) -> None:
    values = parse_ints(data, 4)
    old_semmni = ns.sem_ctls[3]
    ns.sem_ctls[:len(values)] = values
    if not 0 <= ns.sem_ctls[3] <= IPCMNI:
        ns.sem_ctls[3] = old_semmni
        raise oserror(errno.ERANGE)


def _rmid_forced_done(ns: Any) -> None:
    from .shm import destroy_orphaned

    if ns.shm_rmid_forced:
        destroy_orphaned(ns)


def _hostname(attr: str) -> tuple[Callable[[Any], str], Callable[[ModelTask, Any, bytes], None]]:
    def read(ns: Any) -> str:
        return f"{getattr(ns, attr)}\n"

    def write(t: ModelTask, ns: Any, data: bytes) -> None:
        setattr(ns, attr, data.split(b"\n", 1)[0][:64].decode(errors="replace"))

    return read, write


def _auto_msgmni_read(ns: Any) -> str:
    return "0\n"


def _auto_msgmni_write(t: ModelTask, ns: Any, data: bytes) -> None:
    (value,) = parse_ints(data, 1)
    if value not in (0, 1):
        raise oserror(errno.EINVAL)


def _user_limit() -> tuple[Callable[[Any], str], Callable[[ModelTask, Any, bytes], None]]:
    def read(ns: Any) -> str:
        return f"{ns.ucount_max['ipc_namespaces']}\n"

    def write(t: ModelTask, ns: Any, data: bytes) -> None:
        (value,) = parse_ints(data, 1)
        if not 0 <= value <= INT_MAX:
            raise oserror(errno.EINVAL)
        ns.ucount_max["ipc_namespaces"] = value

    return read, write


TABLE: dict[str, Entry] = {
    "kernel/shmmax": Entry("ipc", 0o644, *_ulong_field("shm_ctlmax")),
    "kernel/shmall": Entry("ipc", 0o644, *_ulong_field("shm_ctlall")),
    "kernel/shmmni": Entry("ipc", 0o644, *_int_field("shm_ctlmni", 0, IPCMNI)),
    "kernel/shm_rmid_forced": Entry("ipc", 0o644, *_int_field("shm_rmid_forced", 0, 1,
                                                                _rmid_forced_done)),
    "kernel/msgmax": Entry("ipc", 0o644, *_int_field("msg_ctlmax")),
    "kernel/msgmni": Entry("ipc", 0o644, *_int_field("msg_ctlmni", 0, IPCMNI)),
    "kernel/auto_msgmni": Entry("ipc", 0o644, _auto_msgmni_read, _auto_msgmni_write),
    "kernel/msgmnb": Entry("ipc", 0o644, *_int_field("msg_ctlmnb")),
    "kernel/sem": Entry("ipc", 0o644, _sem_read, _sem_write),
    "kernel/msg_next_id": Entry("ipc", 0o444, *_next_id("msg_ids")),
    "kernel/sem_next_id": Entry("ipc", 0o444, *_next_id("sem_ids")),
    "kernel/shm_next_id": Entry("ipc", 0o444, *_next_id("shm_ids")),
    "fs/mqueue/queues_max": Entry("mq", 0o644, *_int_field("mq_queues_max", None, None)),
    "fs/mqueue/msg_max": Entry("mq", 0o644, *_int_field("mq_msg_max", 1, HARD_MSGMAX)),
    "fs/mqueue/msgsize_max": Entry("mq", 0o644, *_int_field("mq_msgsize_max", 128,
                                                             HARD_MSGSIZEMAX)),
    "fs/mqueue/msg_default": Entry("mq", 0o644, *_int_field("mq_msg_default", 1,
                                                             HARD_MSGMAX)),
    "fs/mqueue/msgsize_default": Entry("mq", 0o644, *_int_field("mq_msgsize_default", 128,
                                                                 HARD_MSGSIZEMAX)),
    "kernel/hostname": Entry("uts", 0o644, *_hostname("hostname")),
    "kernel/domainname": Entry("uts", 0o644, *_hostname("domainname")),
    "user/max_ipc_namespaces": Entry("user", 0o644, *_user_limit()),
}

#: The directories of /proc/sys the table implies.
DIRS: dict[str, list[str]] = {}
for _name in TABLE:
    _parts = _name.split("/")
    for _i in range(len(_parts)):
        DIRS.setdefault("/".join(_parts[:_i]), [])
        if _parts[_i] not in DIRS["/".join(_parts[:_i])]:
            DIRS["/".join(_parts[:_i])].append(_parts[_i])


def bound(t: ModelTask, entry: Entry) -> Any:
    """The namespace an open of ``entry`` by ``t`` shows."""
    if entry.scope in ("ipc", "mq"):
        return t.ipc
    if entry.scope == "uts":
        return t.nsproxy["uts"]
    return t.cred.user_ns


def allowed(t: ModelTask, entry: Entry, ns: Any, want: int) -> bool:
    """proc_sys_permission with the table's permissions hook: ``want`` is 4
    (read) or 2 (write)."""
    cred = t.cred
    mode = entry.mode
    if entry.scope in ("ipc", "mq"):
        if entry.mode == 0o444 and (ns_capable(cred, ns.user_ns, abi.CAP_SYS_ADMIN)
                                    or ns_capable(cred, ns.user_ns, CAP_CHECKPOINT_RESTORE)):
            mode = 0o666
        else:
            root_uid = ns.user_ns.to_kuid(0)
            root_gid = ns.user_ns.to_kgid(0)
            root_uid = 0 if root_uid == INVALID_ID else root_uid
            root_gid = 0 if root_gid == INVALID_ID else root_gid
            if cred.euid == root_uid:
                mode >>= 6
            elif cred.in_egroup(root_gid):
                mode >>= 3
            mode &= 7
            mode = mode << 6 | mode << 3 | mode
    elif entry.scope == "user":
        if ns_capable(cred, ns, abi.CAP_SYS_RESOURCE):
            m = (entry.mode & 0o700) >> 6
        else:
            m = entry.mode & 0o004
        mode = m << 6 | m << 3 | m
    if cred.euid == 0:
        mode >>= 6
    elif cred.in_egroup(0):
        mode >>= 3
    return want & ~mode & 7 == 0
