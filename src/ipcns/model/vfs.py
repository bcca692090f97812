"""Files, mounts and /proc, as far as IPC namespaces need them.

Every mount namespace has a table of mounts by mount point; a path is
resolved through the longest mount point that prefixes it.  There are
in-memory directories (the root filesystem and tmpfs), mqueue mounts (a
superblock of some IPC namespace), nsfs bind mounts (which hold their
namespace) and /proc, which is computed from the model's state.
"""

from __future__ import annotations

import errno
import posixpath
import stat
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .. import abi
from .._types import Stat
from ._state import World, oserror
from .creds import UserNamespace, may_access
from .mqueue import FILENT_SIZE, Superblock

if TYPE_CHECKING:
    from .task import ModelTask

S_IFDIR = stat.S_IFDIR
S_IFREG = stat.S_IFREG


@dataclass(eq=False)
class Dir:
    """A directory of an in-memory filesystem."""

    mode: int
    uid: int
    gid: int
    ino: int
    children: dict[str, Dir | File] = field(default_factory=dict)


@dataclass(eq=False)
class File:
    """A regular file of an in-memory filesystem."""

    mode: int
    uid: int
    gid: int
    ino: int
    data: bytearray = field(default_factory=bytearray)


@dataclass(eq=False)
class Mount:
    """One mount: ``kind`` is "dir" (root fs, tmpfs, a bind of a directory),
    "file" (a bind of a file), "mqueue", "nsfs" or "proc"."""

    kind: str
    root: Any = None

    def copy(self) -> Mount:
        """The same mount in a copied mount namespace (holding again what
        it holds)."""
        if self.kind == "nsfs":
            self.root.get()
        elif self.kind == "mqueue":
            self.root.mounts += 1
        return Mount(self.kind, self.root)

    def release(self) -> None:
        if self.kind == "nsfs":
            self.root.put()
        elif self.kind == "mqueue":
            self.root.put_mount()


class MntNamespace:
    """struct mnt_namespace: its mounts, by mount point."""

    def __init__(self, world: World, user_ns: UserNamespace,
                 mounts: dict[str, list[Mount]], *, initial: bool = False) -> None:
        self.world = world
        self.user_ns = user_ns
        self.inum = world.ns_inum("mnt", initial=initial)
        self.mounts = mounts
        self.refs = 0
        self.kind = "mnt"

    def get(self) -> MntNamespace:
        self.refs += 1
        return self

    def put(self) -> None:
        self.refs -= 1
        if self.refs == 0:
            mounts, self.mounts = self.mounts, {}
            for stack in mounts.values():
                for m in reversed(stack):
                    m.release()

    def copy(self, user_ns: UserNamespace) -> MntNamespace:
        return MntNamespace(self.world, user_ns,
                            {p: [m.copy() for m in stack] for p, stack in self.mounts.items()})


def initial_root(world: World) -> dict[str, list[Mount]]:
    """The initial mounts: a root directory with /dev, /proc, /run, /tmp."""
    root = Dir(S_IFDIR | 0o755, 0, 0, world.new_ino())
    for name, mode in (("dev", 0o755), ("proc", 0o555), ("run", 0o755), ("tmp", 0o1777)):
        root.children[name] = Dir(S_IFDIR | mode, 0, 0, world.new_ino())
    return {"/": [Mount("dir", root)], "/proc": [Mount("proc")]}


def normalize(path: str) -> str:
    if not path:
        raise oserror(errno.ENOENT)
    out = posixpath.normpath(posixpath.join("/", path))
    return "/" + out.lstrip("/")


@dataclass
class Where:
    """A resolved path: ``kind`` is "dir", "file", "missing" (in ``parent``),
    "mqroot", "mqfile", "mqmissing", "nsfs" or "proc"; ``parts`` is what is
    left below /proc."""

    kind: str
    node: Any = None
    parent: Any = None
    name: str = ""
    parts: tuple[str, ...] = ()
    path: str = ""


def resolve(t: ModelTask, path: str) -> Where:
    """Walk ``path`` through ``t``'s mount namespace."""
    path = normalize(path)
    mounts = t.nsproxy["mnt"].mounts
    point = path
    while point not in mounts or not mounts[point]:
        point = posixpath.dirname(point)
    mnt = mounts[point][-1]
    rest = [p for p in path[len(point):].split("/") if p]
    if mnt.kind == "proc":
        return Where("proc", parts=tuple(rest), path=path)
    if mnt.kind == "nsfs":
        if rest:
            raise oserror(errno.ENOTDIR)
        return Where("nsfs", node=mnt.root, path=path)
    if mnt.kind == "mqueue":
        sb: Superblock = mnt.root
        if not rest:
            return Where("mqroot", node=sb, path=path)
        if len(rest) > 1:
            raise oserror(errno.ENOTDIR if rest[0] in sb.entries else errno.ENOENT)
        q = sb.entries.get(rest[0])
        return Where("mqfile" if q else "mqmissing", node=q, parent=sb, name=rest[0],
                     path=path)
    node = mnt.root
    if mnt.kind == "file":
        if rest:
            raise oserror(errno.ENOTDIR)
        return Where("file", node=node, path=path)
    for i, part in enumerate(rest):
        if not isinstance(node, Dir):
            raise oserror(errno.ENOTDIR)
        if not may_access(t.cred, node.mode, node.uid, node.gid, 1):
            raise oserror(errno.EACCES)
        child = node.children.get(part)
        if child is None:
            if i == len(rest) - 1:
                return Where("missing", parent=node, name=part, path=path)
            raise oserror(errno.ENOENT)
        node = child
    return Where("dir" if isinstance(node, Dir) else "file", node=node, path=path)


def view_ids(user_ns: UserNamespace, uid: int, gid: int) -> tuple[int, int]:
    return user_ns.from_kuid(uid), user_ns.from_kgid(gid)


def stat_of(t: ModelTask, where: Where) -> Stat:
    from . import procfs

    ns = t.cred.user_ns
    if where.kind in ("dir", "file"):
        n = where.node
        size = len(n.data) if isinstance(n, File) else 40 + 20 * len(n.children)
        return Stat(n.mode, *view_ids(ns, n.uid, n.gid), n.ino, size)
    if where.kind == "mqroot":
        sb: Superblock = where.node
        return Stat(S_IFDIR | 0o1777, *view_ids(ns, sb.uid, sb.gid), sb.ino, sb.dir_size())
    if where.kind == "mqfile":
        q = where.node
        return Stat(q.mode, *view_ids(ns, q.uid, q.gid), q.ino, FILENT_SIZE)
    if where.kind == "nsfs":
        return Stat(S_IFREG | 0o444, 0, 0, where.node.inum, 0)
    if where.kind == "proc":
        return procfs.stat(t, where.parts)
    raise oserror(errno.ENOENT)


def may_mount(t: ModelTask) -> None:
    from .creds import ns_capable

    if not ns_capable(t.cred, t.nsproxy["mnt"].user_ns, abi.CAP_SYS_ADMIN):
        raise oserror(errno.EPERM)
