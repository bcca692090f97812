"""System V ids, keys and permissions (ipc/util.c).

An id is ``seq << 15 | index``.  Indices come from a cyclic allocator over
``0 .. max(in_use * 3 / 2, 64)`` (idr_alloc_cyclic with ipc_min_cycle), and
``seq`` goes up each time the allocator wraps to an index at or below the
last one handed out.  ``*_next_id`` asks for one exact id, once.
"""

from __future__ import annotations

import errno
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Generic, TypeVar

from .. import abi
from ._state import oserror
from .creds import Cred, ns_capable

if TYPE_CHECKING:
    from .namespaces import IpcNamespace

SEQ_SHIFT = 15
IPCMNI = 1 << SEQ_SHIFT
INDEX_MASK = IPCMNI - 1
SEQ_MAX = ((1 << 31) - 1) >> SEQ_SHIFT
MIN_CYCLE = 64

S_IRUGO = 0o444
S_IWUGO = 0o222
S_IRWXUGO = 0o777


@dataclass(eq=False)
class KernIpcPerm:
    """struct kern_ipc_perm: what every SysV object has."""

    key: int
    uid: int
    gid: int
    cuid: int
    cgid: int
    mode: int
    seq: int = 0
    id: int = -1
    deleted: bool = False


T = TypeVar("T", bound="HasPerm")


class HasPerm:
    """A SysV object: its ``perm``."""

    perm: KernIpcPerm


@dataclass
class IpcIds(Generic[T]):
    """struct ipc_ids: the objects of one kind in one namespace."""

    in_use: int = 0
    seq: int = 0
    max_idx: int = -1
    last_idx: int = -1
    next_id: int = -1
    #: index -> object (the idr)
    idr: dict[int, T] = field(default_factory=dict)
    #: key -> object (the rhashtable; IPC_PRIVATE never in it)
    keys: dict[int, T] = field(default_factory=dict)
    #: idr_alloc_cyclic's cursor
    cursor: int = 0

    def _alloc_cyclic(self, end: int) -> int:
        for start, stop in ((self.cursor, end), (0, min(self.cursor, end))):
            for idx in range(max(start, 0), stop):
                if idx not in self.idr:
                    self.cursor = idx + 1
                    return idx
        return -1

    def add(self, obj: T, limit: int) -> int:
        """ipc_addid: allocate an id for ``obj`` (its perm filled in);
        ENOSPC past ``limit`` objects."""
        limit = min(limit, IPCMNI)
        if self.in_use >= limit:
            raise oserror(errno.ENOSPC)
        perm = obj.perm
        next_id, self.next_id = self.next_id, -1
        if next_id < 0:
            end = min(max(self.in_use * 3 // 2, MIN_CYCLE), IPCMNI)
            idx = self._alloc_cyclic(end)
            if idx < 0:
                raise oserror(errno.ENOSPC)
            if idx <= self.last_idx:
                self.seq += 1
                if self.seq >= SEQ_MAX:
                    self.seq = 0
            self.last_idx = idx
            perm.seq = self.seq
        else:
            perm.seq = next_id >> SEQ_SHIFT
            idx = next(i for i in range(next_id & INDEX_MASK, IPCMNI + 1)
                       if i not in self.idr)
            if idx >= IPCMNI:
                raise oserror(errno.ENOSPC)
        perm.id = (perm.seq << SEQ_SHIFT) + idx
        self.idr[idx] = obj
        if perm.key != abi.IPC_PRIVATE:
            self.keys[perm.key] = obj
        self.in_use += 1
        self.max_idx = max(self.max_idx, idx)
        return perm.id

    def remove(self, obj: T) -> None:
        """ipc_rmid."""
        perm = obj.perm
        idx = perm.id & INDEX_MASK
        del self.idr[idx]
        self.set_key_private(obj)
        self.in_use -= 1
        perm.deleted = True
        if idx == self.max_idx:
            self.max_idx = max((i for i in self.idr if i < idx), default=-1)

    def set_key_private(self, obj: T) -> None:
        """ipc_set_key_private: the key no longer finds it."""
        perm = obj.perm
        if perm.key != abi.IPC_PRIVATE and self.keys.get(perm.key) is obj:
            del self.keys[perm.key]
        perm.key = abi.IPC_PRIVATE

    def by_index(self, ident: int) -> T:
        """ipc_obtain_object_idr: the object at ``ident``'s index (EINVAL)."""
        obj = self.idr.get(ident & INDEX_MASK) if ident >= 0 else None
        if obj is None:
            raise oserror(errno.EINVAL)
        return obj

    def by_id(self, ident: int) -> T:
        """ipc_obtain_object_check: the object with exactly this id (EINVAL)."""
        obj = self.by_index(ident)
        if obj.perm.seq != ident >> SEQ_SHIFT:
            raise oserror(errno.EINVAL)
        return obj

    def max_index(self) -> int:
        """ipc_get_maxidx, as *_INFO returns it (0 when empty)."""
        if self.in_use == 0:
            return 0
        if self.in_use == IPCMNI:
            return IPCMNI - 1
        return max(self.max_idx, 0)

    def ordered(self) -> list[T]:
        """Objects in index order (what /proc/sysvipc lists)."""
        return [self.idr[i] for i in sorted(self.idr)]


def new_perm(cred: Cred, key: int, flags: int) -> KernIpcPerm:
    """A new object's permissions: owner and creator are the caller."""
    return KernIpcPerm(key=key, uid=cred.euid, gid=cred.egid, cuid=cred.euid,
                       cgid=cred.egid, mode=flags & S_IRWXUGO)


def ipcperms(ns: IpcNamespace, cred: Cred, perm: KernIpcPerm, flag: int) -> bool:
    """ipcperms: False when a requested bit is not granted (and the caller
    lacks CAP_IPC_OWNER over the namespace's owner)."""
    flag &= 0xFFFF
    requested = ((flag >> 6) | (flag >> 3) | flag) & 7
    granted = perm.mode
    if cred.euid in (perm.cuid, perm.uid):
        granted >>= 6
    elif cred.in_group(perm.cgid) or cred.in_group(perm.gid):
        granted >>= 3
    if requested & ~granted & 7:
        return ns_capable(cred, ns.user_ns, abi.CAP_IPC_OWNER)
    return True


def check_access(ns: IpcNamespace, cred: Cred, perm: KernIpcPerm, flag: int) -> None:
    """ipcperms, raising EACCES."""
    if not ipcperms(ns, cred, perm, flag):
        raise oserror(errno.EACCES)


def owner_or_admin(ns: IpcNamespace, cred: Cred, perm: KernIpcPerm) -> None:
    """ipcctl_obtain_check: IPC_SET and IPC_RMID need the owner's or the
    creator's uid, or CAP_SYS_ADMIN over the namespace's owner (EPERM)."""
    if cred.euid in (perm.cuid, perm.uid) or ns_capable(cred, ns.user_ns, abi.CAP_SYS_ADMIN):
        return
    raise oserror(errno.EPERM)


def update_perm(cred: Cred, perm: KernIpcPerm, uid: int | None, gid: int | None,
                mode: int | None) -> None:
    """ipc_update_perm for IPC_SET: ids in the caller's user namespace;
    EINVAL when they do not map."""
    ns = cred.user_ns
    kuid = perm.uid if uid is None else ns.to_kuid(uid)
    kgid = perm.gid if gid is None else ns.to_kgid(gid)
    if kuid < 0 or kgid < 0:
        raise oserror(errno.EINVAL)
    perm.uid, perm.gid = kuid, kgid
    if mode is not None:
        perm.mode = (perm.mode & ~S_IRWXUGO) | (mode & S_IRWXUGO)


def obtain_for_stat(ids: IpcIds[T], ns: IpcNamespace, cred: Cred, ident: int, cmd: int,
                    stat: int, stat_any: int) -> tuple[T, int]:
    """The object an IPC_STAT (by id), *_STAT or *_STAT_ANY (by index)
    names, with the call's value (0, or the object's id); read permission
    unless *_STAT_ANY."""
    if ident < 0:
        raise oserror(errno.EINVAL)
    if cmd == abi.IPC_STAT:
        obj, ret = ids.by_id(ident), 0
    elif cmd in (stat, stat_any):
        obj = ids.by_index(ident)
        ret = obj.perm.id
    else:
        raise oserror(errno.EINVAL)
    if cmd != stat_any:
        check_access(ns, cred, obj.perm, S_IRUGO)
    return obj, ret


def ipc_perm_for(cred: Cred, perm: KernIpcPerm) -> tuple[int, int, int, int, int, int, int]:
    """kernel_to_ipc64_perm: (key, uid, gid, cuid, cgid, mode, seq) as the
    caller's user namespace sees them."""
    ns = cred.user_ns
    return (perm.key & 0xFFFFFFFF, ns.from_kuid(perm.uid), ns.from_kgid(perm.gid),
            ns.from_kuid(perm.cuid), ns.from_kgid(perm.cgid), perm.mode, perm.seq)


def ipcget(ids: IpcIds[T], ns: IpcNamespace, cred: Cred, key: int, flags: int,
           more_checks: Callable[[T], None], create: Callable[[], int]) -> int:
    """ipcget: IPC_PRIVATE always makes a new object; a free key with
    IPC_CREAT makes one; a used key with IPC_CREAT|IPC_EXCL is EEXIST; else
    the object, after ``more_checks(obj)`` and the permission check."""
    if key == abi.IPC_PRIVATE:
        return create()
    obj = ids.keys.get(key)
    if obj is None:
        if not flags & abi.IPC_CREAT:
            raise oserror(errno.ENOENT)
        return create()
    if flags & abi.IPC_CREAT and flags & abi.IPC_EXCL:
        raise oserror(errno.EEXIST)
    more_checks(obj)
    check_access(ns, cred, obj.perm, flags)
    return obj.perm.id
