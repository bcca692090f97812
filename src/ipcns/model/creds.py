"""Credentials, capabilities and user namespaces (kernel/cred.c,
kernel/capability.c, kernel/user_namespace.c, kernel/ucount.c).

Ids are kept as kernel ids (kuids, kgids): the ids of the initial user
namespace.  A user namespace maps ids of its own onto its parent's with
uid_map/gid_map; ``to_kuid``/``from_kuid`` translate as make_kuid and
from_kuid_munged do.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass, field, replace

from .. import abi
from ._state import World, oserror

#: Every capability.
CAP_FULL = (1 << (abi.CAP_LAST_CAP + 1)) - 1
CAP_SETPCAP = 8
CAP_FOWNER = 3
CAP_SYS_CHROOT = 18
CAP_CHECKPOINT_RESTORE = 40

#: The id shown for a kernel id that is not mapped (overflowuid).
OVERFLOW_ID = 65534
#: An id that maps to nothing.
INVALID_ID = -1

INT_MAX = (1 << 31) - 1
LONG_MAX = (1 << 63) - 1

#: The ucount kinds the model counts.
UCOUNT_IPC_NAMESPACES = "ipc_namespaces"
UCOUNT_USER_NAMESPACES = "user_namespaces"
RLIMIT_MEMLOCK = 8
#: RLIM_INFINITY, as the contract spells it.
RLIM_INFINITY = -1


@dataclass
class IdMap:
    """A uid_map or gid_map: extents (first inside, first outside, count)."""

    extents: list[tuple[int, int, int]] = field(default_factory=list)
    written: bool = False

    def down(self, inner: int) -> int:
        """The parent's id of ``inner``, or INVALID_ID."""
        for first, lower, count in self.extents:
            if first <= inner < first + count:
                return lower + inner - first
        return INVALID_ID

    def up(self, outer: int) -> int:
        """The id in this namespace of the parent's ``outer``, or INVALID_ID."""
        for first, lower, count in self.extents:
            if lower <= outer < lower + count:
                return first + outer - lower
        return INVALID_ID


class UserNamespace:
    """struct user_namespace."""

    def __init__(self, world: World, parent: UserNamespace | None, owner: int, group: int) -> None:
        self.world = world
        self.parent = parent
        self.level: int = 0 if parent is None else parent.level + 1
        self.owner = owner
        self.group = group
        self.inum = world.ns_inum("user", initial=parent is None)
        self.uid_map = IdMap()
        self.gid_map = IdMap()
        self.setgroups_allowed = True
        #: ucount_max[]: /proc/sys/user/max_*_namespaces of this namespace.
        self.ucount_max: dict[str, int] = {
            UCOUNT_IPC_NAMESPACES: world.initial_max_namespaces if parent is None else INT_MAX,
            UCOUNT_USER_NAMESPACES: world.initial_max_namespaces if parent is None else INT_MAX,
        }
        #: rlimit_max[]: the creator's rlimits when it was made.
        self.rlimit_max: dict[int, int] = {}
        #: The ucounts this namespace is charged to in its parent.
        self.ucounts: Ucounts | None = None
        if parent is None:
            self.uid_map.extents = [(0, 0, (1 << 32) - 1)]
            self.gid_map.extents = [(0, 0, (1 << 32) - 1)]

    def get(self) -> UserNamespace:
        """A reference (user namespaces are never freed in the model)."""
        return self

    def put(self) -> None:
        return None

    def ancestors(self) -> list[UserNamespace]:
        """This namespace and its ancestors, innermost first."""
        out: list[UserNamespace] = []
        ns: UserNamespace | None = self
        while ns is not None:
            out.append(ns)
            ns = ns.parent
        return out

    def _down(self, inner: int, which: str) -> int:
        """make_kuid/make_kgid: the kernel id of ``inner``, or INVALID_ID."""
        if inner < 0 or inner > 0xFFFFFFFE:
            return INVALID_ID
        ns: UserNamespace | None = self
        while ns is not None and ns.parent is not None:
            inner = (ns.uid_map if which == "uid" else ns.gid_map).down(inner)
            if inner == INVALID_ID:
                return INVALID_ID
            ns = ns.parent
        return inner

    def to_kuid(self, uid: int) -> int:
        """make_kuid: INVALID_ID when not mapped."""
        return self._down(uid, "uid")

    def to_kgid(self, gid: int) -> int:
        return self._down(gid, "gid")

    def _up(self, kid: int, which: str) -> int:
        chain = self.ancestors()[:-1]  # below the initial namespace
        for ns in reversed(chain):
            kid = (ns.uid_map if which == "uid" else ns.gid_map).up(kid)
            if kid == INVALID_ID:
                return INVALID_ID
        return kid

    def from_kuid(self, kuid: int) -> int:
        """from_kuid_munged: the overflow uid when not mapped."""
        got = self._up(kuid, "uid")
        return OVERFLOW_ID if got == INVALID_ID else got

    def from_kgid(self, kgid: int) -> int:
        got = self._up(kgid, "gid")
        return OVERFLOW_ID if got == INVALID_ID else got

    def maps_kuid(self, kuid: int) -> bool:
        return self._up(kuid, "uid") != INVALID_ID

    def maps_kgid(self, kgid: int) -> bool:
        return self._up(kgid, "gid") != INVALID_ID


class Ucounts:
    """struct ucounts: what one (user namespace, kuid) is charged."""

    def __init__(self, ns: UserNamespace, uid: int) -> None:
        self.ns = ns
        self.uid = uid
        self.counts: dict[str, int] = {}
        self.rlimit: dict[int, int] = {}


def ucounts_of(world: World, ns: UserNamespace, uid: int) -> Ucounts:
    """alloc_ucounts: the one Ucounts of (ns, uid)."""
    key = (id(ns), uid)
    got = world.ucounts.get(key)
    if got is None:
        got = world.ucounts[key] = Ucounts(ns, uid)
    return got


def _chain(ucounts: Ucounts) -> list[Ucounts]:
    out: list[Ucounts] = []
    it: Ucounts | None = ucounts
    while it is not None:
        out.append(it)
        it = it.ns.ucounts
    return out


def inc_ucount(ucounts: Ucounts, kind: str) -> bool:
    """inc_ucount: one more at every level, each below its namespace's max."""
    done: list[Ucounts] = []
    for it in _chain(ucounts):
        if it.counts.get(kind, 0) >= it.ns.ucount_max[kind]:
            for d in done:
                d.counts[kind] -= 1
            return False
        it.counts[kind] = it.counts.get(kind, 0) + 1
        done.append(it)
    return True


def dec_ucount(ucounts: Ucounts, kind: str) -> None:
    for it in _chain(ucounts):
        it.counts[kind] -= 1


def inc_rlimit_ucounts(ucounts: Ucounts, resource: int, amount: int) -> int:
    """inc_rlimit_ucounts: charge ``amount`` at every level; the count at the
    first level, or LONG_MAX when a parent level went past its max."""
    ret = 0
    limit = LONG_MAX
    for it in _chain(ucounts):
        new = it.rlimit.get(resource, 0) + amount
        it.rlimit[resource] = new
        if new < 0 or new > limit:
            ret = LONG_MAX
        elif it is ucounts:
            ret = new
        limit = it.ns.rlimit_max.get(resource, LONG_MAX)
    return ret


def dec_rlimit_ucounts(ucounts: Ucounts, resource: int, amount: int) -> None:
    for it in _chain(ucounts):
        it.rlimit[resource] = it.rlimit.get(resource, 0) - amount


@dataclass(frozen=True)
class Cred:
    """struct cred (immutable: changes make a new one, as prepare_creds does)."""

    uid: int
    euid: int
    suid: int
    fsuid: int
    gid: int
    egid: int
    sgid: int
    fsgid: int
    groups: tuple[int, ...]
    cap_effective: int
    cap_permitted: int
    cap_inheritable: int
    cap_bset: int
    user_ns: UserNamespace

    def with_(self, **changes: object) -> Cred:
        return replace(self, **changes)  # type: ignore[arg-type]

    def in_group(self, kgid: int) -> bool:
        """in_group_p: the fsgid or a supplementary group."""
        return kgid == self.fsgid or kgid in self.groups

    def in_egroup(self, kgid: int) -> bool:
        return kgid == self.egid or kgid in self.groups


def ns_capable(cred: Cred, ns: UserNamespace, cap: int) -> bool:
    """cap_capable: does ``cred`` hold ``cap`` over user namespace ``ns``?"""
    target: UserNamespace | None = ns
    while target is not None:
        if target is cred.user_ns:
            return bool(cred.cap_effective >> cap & 1)
        if target.level <= cred.user_ns.level:
            return False
        if target.parent is cred.user_ns and target.owner == cred.euid:
            return True
        target = target.parent
    return False


def capable(cred: Cred, world: World, cap: int) -> bool:
    """capable(): the capability over the initial user namespace."""
    return ns_capable(cred, world.init_user_ns, cap)


def capable_wrt_inode(cred: Cred, cap: int, uid: int, gid: int) -> bool:
    """capable_wrt_inode_uidgid."""
    ns = cred.user_ns
    return ns_capable(cred, ns, cap) and ns.maps_kuid(uid) and ns.maps_kgid(gid)


def may_access(cred: Cred, mode: int, uid: int, gid: int, want: int) -> bool:
    """generic_permission for ``want`` (4 read, 2 write, 1 exec) on a file
    with ``mode``, ``uid`` and ``gid``, with CAP_DAC_OVERRIDE."""
    if cred.fsuid == uid:
        granted = mode >> 6 & 7
    elif cred.in_group(gid):
        granted = mode >> 3 & 7
    else:
        granted = mode & 7
    if want & ~granted == 0:
        return True
    return capable_wrt_inode(cred, abi.CAP_DAC_OVERRIDE, uid, gid)


def _new_ids(cred: Cred, which: str, ids: tuple[int, int, int]) -> dict[str, int]:
    """The kernel ids setres[ug]id asks for (-1 keeps one): EINVAL for an id
    the caller's user namespace does not map, EPERM for one other than the
    caller's own without CAP_SETUID/CAP_SETGID."""
    ns = cred.user_ns
    names = (which, f"e{which}", f"s{which}")
    convert = ns.to_kuid if which == "uid" else ns.to_kgid
    new = {}
    for name, value in zip(names, ids, strict=True):
        if value == -1:
            continue
        kid = convert(value)
        if kid == INVALID_ID:
            raise oserror(errno.EINVAL)
        new[name] = kid
    cap = abi.CAP_SETUID if which == "uid" else abi.CAP_SETGID
    if not ns_capable(cred, ns, cap):
        allowed = tuple(getattr(cred, name) for name in names)
        if any(v not in allowed for v in new.values()):
            raise oserror(errno.EPERM)
    return new


def set_cred_user_ns(cred: Cred, ns: UserNamespace) -> Cred:
    """set_cred_user_ns: ``cred`` in ``ns``, with every capability there."""
    return cred.with_(user_ns=ns, cap_effective=CAP_FULL, cap_permitted=CAP_FULL,
                      cap_inheritable=0, cap_bset=CAP_FULL)


def sticky_denies(cred: Cred, dir_mode: int, dir_uid: int, uid: int, gid: int) -> bool:
    """check_sticky: in a sticky directory only the file's owner, the
    directory's owner or CAP_FOWNER over the file may remove it."""
    if not dir_mode & 0o1000 or cred.fsuid in (uid, dir_uid):
        return False
    return not capable_wrt_inode(cred, CAP_FOWNER, uid, gid)


def setresuid(cred: Cred, ruid: int, euid: int, suid: int) -> Cred:
    """sys_setresuid with cap_emulate_setxuid; ids are the caller's (-1
    keeps one)."""
    ns = cred.user_ns
    out = cred.with_(**_new_ids(cred, "uid", (ruid, euid, suid)))
    out = out.with_(fsuid=out.euid)
    root = ns.to_kuid(0)
    old_ids = (cred.uid, cred.euid, cred.suid)
    new_ids = (out.uid, out.euid, out.suid)
    if root in old_ids and root not in new_ids:
        out = out.with_(cap_permitted=0, cap_effective=0)
    if cred.euid == root and out.euid != root:
        out = out.with_(cap_effective=0)
    if cred.euid != root and out.euid == root:
        out = out.with_(cap_effective=out.cap_permitted)
    return out


def setresgid(cred: Cred, rgid: int, egid: int, sgid: int) -> Cred:
    out = cred.with_(**_new_ids(cred, "gid", (rgid, egid, sgid)))
    return out.with_(fsgid=out.egid)


def setgroups(cred: Cred, groups: list[int]) -> Cred:
    ns = cred.user_ns
    if not (ns_capable(cred, ns, abi.CAP_SETGID) and _setgroups_allowed(ns)):
        raise oserror(errno.EPERM)
    kgids = []
    for g in groups:
        k = ns.to_kgid(g)
        if k == INVALID_ID:
            raise oserror(errno.EINVAL)
        kgids.append(k)
    return cred.with_(groups=tuple(sorted(set(kgids))))


def _setgroups_allowed(ns: UserNamespace) -> bool:
    """userns_may_setgroups: gid_map written and setgroups not denied."""
    if ns.parent is None:
        return True
    return ns.gid_map.written and ns.setgroups_allowed


def capset(cred: Cred, effective: int, permitted: int, inheritable: int) -> Cred:
    """cap_capset: no new permitted bits; effective within permitted;
    inheritable within old inheritable | permitted (or bset with
    CAP_SETPCAP)."""
    if permitted & ~cred.cap_permitted:
        raise oserror(errno.EPERM)
    if effective & ~permitted:
        raise oserror(errno.EPERM)
    limit = cred.cap_inheritable | cred.cap_permitted
    if cred.cap_effective >> CAP_SETPCAP & 1:
        limit = cred.cap_inheritable | cred.cap_bset
    if inheritable & ~limit:
        raise oserror(errno.EPERM)
    return cred.with_(cap_effective=effective, cap_permitted=permitted,
                      cap_inheritable=inheritable)
