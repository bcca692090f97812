"""Tasks of the model kernel: processes, threads and their system calls.

A :class:`ModelTask` is one thread; a :class:`Process` is what its threads
share (descriptors, memory mappings, rlimits, pending signals).  Every
system call takes the world lock for its whole run, so calls are atomic,
and a blocking call sleeps on the world's condition (see ``_state``).
"""

from __future__ import annotations

import errno
import posixpath
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from .. import abi
from .._types import (
    MqAttr,
    MsgInfo,
    MsqidDs,
    SemidDs,
    SemInfo,
    ShmidDs,
    ShmInfo,
    ShmLimitsInfo,
    SigInfo,
    Stat,
)
from ..contract import HasPid, SemOp, Task
from . import mqueue, msg, procfs, sem, shm, vfs
from ._state import World, oserror
from .creds import (
    CAP_SYS_CHROOT,
    RLIM_INFINITY,
    UCOUNT_USER_NAMESPACES,
    Cred,
    Ucounts,
    UserNamespace,
    capset,
    dec_ucount,
    inc_ucount,
    may_access,
    ns_capable,
    set_cred_user_ns,
    setgroups,
    setresgid,
    setresuid,
    sticky_denies,
    ucounts_of,
)
from .files import DirFile, MqOpen, NsFile, OpenFile, PidFd, RegFile
from .namespaces import FLAG_OF, IpcNamespace, Namespace, create_ipc_ns

if TYPE_CHECKING:
    from .kernel import ModelKernel

P = ParamSpec("P")
R = TypeVar("R")

NS_ORDER = ("mnt", "uts", "ipc", "pid", "cgroup", "net", "time")
SETNS_FLAGS = (abi.CLONE_NEWNS | abi.CLONE_NEWUTS | abi.CLONE_NEWIPC | abi.CLONE_NEWNET
               | abi.CLONE_NEWPID | abi.CLONE_NEWUSER | abi.CLONE_NEWCGROUP | abi.CLONE_NEWTIME)
UNSHARE_FLAGS = (SETNS_FLAGS | abi.CLONE_SYSVSEM | abi.CLONE_FS | abi.CLONE_FILES
                 | abi.CLONE_THREAD | abi.CLONE_SIGHAND | abi.CLONE_VM)
MAX_USER_NS_LEVEL = 32
MMAP_TOP = 0x7F0000000000


class Mm:
    """A process's address space: the shm attachments mapped in it."""

    def __init__(self) -> None:
        self.maps: dict[int, tuple[int, shm.Attachment]] = {}
        self.next = MMAP_TOP

    def map(self, att: shm.Attachment, size: int) -> int:
        pages = max((size + 4095) // 4096, 1)
        self.next -= (pages + 1) * 4096
        self.maps[self.next] = (size, att)
        return self.next

    def unmap(self, addr: int) -> shm.Attachment | None:
        got = self.maps.pop(addr, None)
        return None if got is None else got[1]

    def find(self, addr: int) -> tuple[int, int, shm.Attachment] | None:
        for base, (size, att) in self.maps.items():
            if base <= addr < base + max((size + 4095) // 4096, 1) * 4096:
                return base, size, att
        return None


class Process:
    """What the threads of one process share."""

    def __init__(self, tgid: int, rlimits: dict[int, tuple[int, int]], umask: int,
                 mm_user_ns: UserNamespace) -> None:
        self.tgid = tgid
        self.files: dict[int, OpenFile] = {}
        self.mm = Mm()
        self.rlimits = dict(rlimits)
        self.umask = umask
        self.signals: list[SigInfo] = []
        self.threads: list[ModelTask] = []
        self.dumpable = True
        self.mm_user_ns = mm_user_ns

    def new_fd(self, f: OpenFile) -> int:
        fd = 0
        while fd in self.files:
            fd += 1
        self.files[fd] = f
        return fd


def syscall(fn: Callable[P, R]) -> Callable[P, R]:
    """Run a method under the world lock, on a live task."""

    def call(*args: P.args, **kwargs: P.kwargs) -> R:
        self = args[0]
        assert isinstance(self, ModelTask)
        with self.world.lock:
            if not self.alive:
                raise oserror(errno.ESRCH)
            return fn(*args, **kwargs)

    call.__name__ = fn.__name__
    call.__doc__ = fn.__doc__
    return call


class ModelTask(Task):
    """One task (thread) of the model kernel."""

    def __init__(self, kernel: ModelKernel, process: Process, cred: Cred,
                 nsproxy: dict[str, Any], tid: int) -> None:
        self.kernel = kernel
        self.world: World = kernel.world
        self.process = process
        self.cred = cred
        self.nsproxy = nsproxy
        self.tid = tid
        self._alive = True
        self.sysvsem: sem.UndoList | None = None
        self.shm_clist: list[shm.Segment] = []
        process.threads.append(self)
        self.world.tasks[tid] = self

    # -- what the kernel parts use ----------------------------------------------

    @property
    def ipc(self) -> IpcNamespace:
        ns: IpcNamespace = self.nsproxy["ipc"]
        return ns

    @property
    def tgid(self) -> int:
        return self.process.tgid

    @property
    def files(self) -> dict[int, OpenFile]:
        return self.process.files

    @property
    def mm(self) -> Mm:
        return self.process.mm

    @property
    def umask(self) -> int:
        return self.process.umask

    @property
    def is_leader(self) -> bool:
        return self.tid == self.process.tgid

    def leader(self) -> ModelTask:
        for th in self.process.threads:
            if th.is_leader and th.alive:
                return th
        return self

    def pid_of(self, pid: int) -> int:
        """A pid as this task's pid namespace shows it (one pid namespace)."""
        return pid

    def rlimit(self, resource: int) -> tuple[int, int]:
        return self.process.rlimits.get(resource, (RLIM_INFINITY, RLIM_INFINITY))

    def ucounts(self) -> Ucounts:
        return ucounts_of(self.world, self.cred.user_ns, self.cred.uid)

    def undo_list(self) -> sem.UndoList:
        if self.sysvsem is None:
            self.sysvsem = sem.UndoList()
        return self.sysvsem

    def _set_cred(self, new: Cred) -> None:
        old = self.cred
        if (old.euid, old.egid, old.fsuid, old.fsgid) != (new.euid, new.egid, new.fsuid,
                                                          new.fsgid) or \
                new.cap_permitted & ~old.cap_permitted:
            self.process.dumpable = False
        self.cred = new

    # -- the contract: identity ------------------------------------------------------

    @property
    def pid(self) -> int:
        return self.tid

    @property
    def alive(self) -> bool:
        return self._alive

    # -- processes and namespaces ----------------------------------------------------

    def _new_namespaces(self, flags: int, cred: Cred) -> dict[str, Any]:
        """create_new_namespaces: a copy of the nsproxy with new namespaces
        for ``flags`` (EPERM without CAP_SYS_ADMIN over ``cred``'s user
        namespace; ENOSPC past max_ipc_namespaces)."""
        new = dict(self.nsproxy)
        wanted = [name for name in NS_ORDER if flags & FLAG_OF[name]]
        if not wanted:
            return new
        if not ns_capable(cred, cred.user_ns, abi.CAP_SYS_ADMIN):
            raise oserror(errno.EPERM)
        made: list[Any] = []
        try:
            for name in wanted:
                if name == "ipc":
                    ns: Any = create_ipc_ns(self.world, cred, cred.user_ns)
                elif name == "mnt":
                    ns = self.nsproxy["mnt"].copy(cred.user_ns)
                else:
                    ns = Namespace(self.world, name, cred.user_ns)
                    if name == "uts":
                        ns.hostname = self.nsproxy["uts"].hostname
                        ns.domainname = self.nsproxy["uts"].domainname
                made.append(ns)
                new[name] = ns
        except OSError:
            for ns in made:
                ns.get()
                ns.put()
            raise
        return new

    def _hold(self, nsproxy: dict[str, Any]) -> None:
        for ns in nsproxy.values():
            ns.get()

    def _drop(self, nsproxy: dict[str, Any]) -> None:
        for ns in nsproxy.values():
            ns.put()

    def _new_user_ns(self, cred: Cred) -> Cred:
        """create_user_ns: the creator's cred in a new user namespace, root
        there with every capability."""
        parent = cred.user_ns
        if parent.level >= MAX_USER_NS_LEVEL:
            raise oserror(errno.EUSERS)
        ucounts = ucounts_of(self.world, parent, cred.euid)
        if not inc_ucount(ucounts, UCOUNT_USER_NAMESPACES):
            raise oserror(errno.ENOSPC)
        ns = UserNamespace(self.world, parent, cred.euid, cred.egid)
        ns.ucounts = ucounts
        for res in (abi.RLIMIT_MSGQUEUE, 8):
            soft = self.rlimit(res)[0]
            ns.rlimit_max[res] = (1 << 63) - 1 if soft == RLIM_INFINITY else soft
        return set_cred_user_ns(cred, ns)

    @syscall
    def fork(self, flags: int = 0) -> ModelTask:
        if flags & abi.CLONE_NEWNS and flags & abi.CLONE_FS:
            raise oserror(errno.EINVAL)
        if flags & abi.CLONE_NEWUSER and flags & abi.CLONE_FS:
            raise oserror(errno.EINVAL)
        cred = self.cred
        if flags & abi.CLONE_NEWUSER:
            cred = self._new_user_ns(cred)
        # copy_process copies the undo list, files and memory before the
        # namespaces: a clone that fails there has opened (and closed
        # again) the parent's attachments and descriptors.
        process, ulp = self.kernel._copy_process(self, flags)
        ns_flags = flags & (SETNS_FLAGS & ~abi.CLONE_NEWUSER)
        try:
            if ns_flags:
                if not ns_capable(cred, cred.user_ns, abi.CAP_SYS_ADMIN):
                    raise oserror(errno.EPERM)
                if flags & abi.CLONE_NEWIPC and flags & abi.CLONE_SYSVSEM:
                    raise oserror(errno.EINVAL)
            nsproxy = self._new_namespaces(ns_flags, cred)
        except OSError:
            self.kernel._abort_copy(self, process, ulp)
            if cred.user_ns is not self.cred.user_ns and cred.user_ns.ucounts is not None:
                dec_ucount(cred.user_ns.ucounts, UCOUNT_USER_NAMESPACES)
            raise
        self._hold(nsproxy)
        child = ModelTask(self.kernel, process, cred, nsproxy, process.tgid)
        child.sysvsem = ulp
        self.world.wake()
        return child

    @syscall
    def thread(self) -> ModelTask:
        return self.kernel._thread(self)

    def sigtimedwait(self, signals: Sequence[int], timeout: float) -> SigInfo | None:
        deadline = time.monotonic() + max(timeout, 0)
        with self.world.lock:
            while True:
                for info in self.process.signals:
                    if info.signo in signals:
                        self.process.signals.remove(info)
                        return info
                if not self.world.wait(deadline, self):
                    return None

    def exit(self, status: int = 0) -> None:
        with self.world.lock:
            if not self._alive:
                return
            self.kernel._exit(self)

    @syscall
    def unshare(self, flags: int) -> None:
        if flags & abi.CLONE_NEWUSER:
            flags |= abi.CLONE_THREAD | abi.CLONE_FS
        if flags & abi.CLONE_NEWNS:
            flags |= abi.CLONE_FS
        if flags & ~UNSHARE_FLAGS:
            raise oserror(errno.EINVAL)
        if flags & (abi.CLONE_THREAD | abi.CLONE_SIGHAND | abi.CLONE_VM) and \
                len([th for th in self.process.threads if th.alive]) > 1:
            raise oserror(errno.EINVAL)
        cred = self.cred
        new_cred = self._new_user_ns(cred) if flags & abi.CLONE_NEWUSER else None
        use = new_cred or cred
        ns_flags = flags & (SETNS_FLAGS & ~abi.CLONE_NEWUSER)
        nsproxy = self._new_namespaces(ns_flags, use) if ns_flags else None
        if flags & (abi.CLONE_NEWIPC | abi.CLONE_SYSVSEM):
            sem.exit_sem(self)
        if flags & abi.CLONE_NEWIPC:
            shm.exit_shm(self)
        if nsproxy is not None:
            self._hold(nsproxy)
            old, self.nsproxy = self.nsproxy, nsproxy
            self._drop(old)
        if new_cred is not None:
            self.cred = new_cred

    @syscall
    def setns(self, target: int | str | HasPid, nstype: int = 0) -> None:
        if isinstance(target, str):
            fd = self._open(target, abi.O_RDONLY, 0)
            try:
                self._setns(fd, nstype)
            finally:
                self._close(fd)
            return
        if isinstance(target, int):
            self._setns(target, nstype)
            return
        fd = self._pidfd_open(target.pid)
        try:
            self._setns(fd, nstype or abi.CLONE_NEWIPC)
        finally:
            self._close(fd)

    def _setns(self, fd: int, flags: int) -> None:
        f = self.files.get(fd) if fd >= 0 else None
        if f is None:
            raise oserror(errno.EBADF)
        if isinstance(f, NsFile):
            kind = _kind_of(f.ns)
            flag = FLAG_OF[kind]
            if flags and flags != flag:
                raise oserror(errno.EINVAL)
            targets = {kind: f.ns}
            order = [kind]
        elif isinstance(f, PidFd):
            if not flags or flags & ~SETNS_FLAGS:
                raise oserror(errno.EINVAL)
            other = f.task
            if not other.alive:
                raise oserror(errno.ESRCH)
            order = [name for name in ("user", *NS_ORDER) if flags & FLAG_OF[name]]
            targets = {name: (other.cred.user_ns if name == "user" else other.nsproxy[name])
                       for name in order}
        else:
            raise oserror(errno.EINVAL)
        cred = self.cred
        nsproxy = dict(self.nsproxy)
        for name in order:
            ns = targets[name]
            if name == "user":
                if ns is cred.user_ns:
                    if isinstance(f, PidFd):
                        continue
                    raise oserror(errno.EINVAL)
                if len([th for th in self.process.threads if th.alive]) > 1:
                    raise oserror(errno.EINVAL)
                if not ns_capable(cred, ns, abi.CAP_SYS_ADMIN):
                    raise oserror(errno.EPERM)
                cred = set_cred_user_ns(cred, ns)
                continue
            if not (ns_capable(cred, ns.user_ns, abi.CAP_SYS_ADMIN)
                    and ns_capable(cred, cred.user_ns, abi.CAP_SYS_ADMIN)):
                raise oserror(errno.EPERM)
            if name == "mnt" and not ns_capable(cred, cred.user_ns, CAP_SYS_CHROOT):
                raise oserror(errno.EPERM)
            nsproxy[name] = ns
        if any(name == "ipc" for name in order):
            sem.exit_sem(self)
        self._hold(nsproxy)
        old, self.nsproxy = self.nsproxy, nsproxy
        self._drop(old)
        self.cred = cred

    @syscall
    def ns_inode(self, nstype: str = "ipc") -> int:
        if nstype == "user":
            return self.cred.user_ns.inum
        if nstype not in self.nsproxy:
            raise oserror(errno.ENOENT)
        return int(self.nsproxy[nstype].inum)

    @syscall
    def ns_ioctl(self, fd: int, request: int) -> int:
        f = self.files.get(fd)
        if f is None:
            raise oserror(errno.EBADF)
        if not isinstance(f, NsFile):
            raise oserror(errno.ENOTTY)
        ns = f.ns
        kind = _kind_of(ns)
        if request == abi.NS_GET_NSTYPE:
            return FLAG_OF[kind]
        if request in (abi.NS_GET_USERNS, abi.NS_GET_PARENT):
            if request == abi.NS_GET_PARENT and kind not in ("user", "pid"):
                raise oserror(errno.EINVAL)
            owner = ns.parent if kind == "user" else ns.user_ns
            p = owner
            while p is not self.cred.user_ns:
                if p is None:
                    raise oserror(errno.EPERM)
                p = p.parent
            return self.process.new_fd(NsFile(owner))
        if request == abi.NS_GET_OWNER_UID:
            if kind != "user":
                raise oserror(errno.EINVAL)
            return self.cred.user_ns.from_kuid(ns.owner)
        raise oserror(errno.ENOTTY)

    def _pidfd_open(self, pid: int) -> int:
        other = self.world.tasks.get(pid)
        if other is None or not other.alive:
            raise oserror(errno.ESRCH)
        return self.process.new_fd(PidFd(other))

    @syscall
    def pidfd_open(self, pid: int) -> int:
        return self._pidfd_open(pid)

    # -- credentials and limits ---------------------------------------------------------

    @syscall
    def getresuid(self) -> tuple[int, int, int]:
        ns = self.cred.user_ns
        return ns.from_kuid(self.cred.uid), ns.from_kuid(self.cred.euid), \
            ns.from_kuid(self.cred.suid)

    def _for_all_threads(self, change: Callable[[Cred], Cred]) -> None:
        new = change(self.cred)
        for th in self.process.threads:
            if th.alive:
                th._set_cred(new if th is self else change(th.cred))

    @syscall
    def setresuid(self, ruid: int, euid: int, suid: int) -> None:
        self._for_all_threads(lambda c: setresuid(c, ruid, euid, suid))

    @syscall
    def setresgid(self, rgid: int, egid: int, sgid: int) -> None:
        self._for_all_threads(lambda c: setresgid(c, rgid, egid, sgid))

    @syscall
    def setgroups(self, groups: Sequence[int]) -> None:
        self._for_all_threads(lambda c: setgroups(c, list(groups)))

    @syscall
    def capabilities(self) -> tuple[int, int, int]:
        c = self.cred
        return c.cap_effective, c.cap_permitted, c.cap_inheritable

    @syscall
    def set_capabilities(self, effective: int, permitted: int, inheritable: int = 0) -> None:
        self._set_cred(capset(self.cred, effective, permitted, inheritable))

    @syscall
    def getrlimit(self, resource: int) -> tuple[int, int]:
        return self.rlimit(resource)

    @syscall
    def setrlimit(self, resource: int, soft: int, hard: int) -> None:
        def big(v: int) -> int:
            return 1 << 64 if v == RLIM_INFINITY else v

        if big(soft) > big(hard):
            raise oserror(errno.EINVAL)
        old_hard = self.rlimit(resource)[1]
        from .creds import capable

        if big(hard) > big(old_hard) and not capable(self.cred, self.world,
                                                     abi.CAP_SYS_RESOURCE):
            raise oserror(errno.EPERM)
        self.process.rlimits[resource] = (soft, hard)

    # -- files ----------------------------------------------------------------------------

    def _open(self, path: str, flags: int, mode: int) -> int:
        where = vfs.resolve(self, path)
        want = {0: 4, 1: 2, 2: 6}.get(flags & 3, 6)
        f: OpenFile
        if where.kind == "proc":
            f = procfs.open_proc(self, where.parts, flags)
        elif where.kind == "nsfs":
            if want & 2:
                raise oserror(errno.EACCES)
            f = NsFile(where.node)
        elif where.kind in ("missing", "mqmissing"):
            if not flags & abi.O_CREAT:
                raise oserror(errno.ENOENT)
            f = self._create(where, mode, flags)
        elif flags & abi.O_CREAT and flags & abi.O_EXCL:
            raise oserror(errno.EEXIST)
        elif where.kind in {"dir", "mqroot"}:
            if want & 2:
                raise oserror(errno.EISDIR)
            f = DirFile()
        elif where.kind == "mqfile":
            q = where.node
            mqueue.permission(self.cred, q, want)
            f = MqOpen(mqueue.open_queue(self, q, flags))
        else:
            node = where.node
            if not may_access(self.cred, node.mode, node.uid, node.gid, want):
                raise oserror(errno.EACCES)
            if flags & abi.O_TRUNC and want & 2:
                node.data.clear()
            f = RegFile(node, flags)
        if flags & abi.O_DIRECTORY and not isinstance(f, DirFile):
            f.release(self)
            raise oserror(errno.ENOTDIR)
        return self.process.new_fd(f)

    def _create(self, where: vfs.Where, mode: int, flags: int) -> OpenFile:
        if where.kind == "mqmissing":
            sb = where.parent
            mqueue._check_name(where.name)
            q = mqueue.create(self, sb, where.name, mode, None)
            return MqOpen(mqueue.open_queue(self, q, flags))
        parent = where.parent
        if not may_access(self.cred, parent.mode, parent.uid, parent.gid, 3):
            raise oserror(errno.EACCES)
        node = vfs.File(vfs.S_IFREG | (mode & ~self.umask & 0o7777), self.cred.fsuid,
                        self.cred.fsgid, self.world.new_ino())
        parent.children[where.name] = node
        return RegFile(node, flags)

    @syscall
    def open(self, path: str, flags: int = 0, mode: int = 0o666) -> int:
        return self._open(path, flags, mode)

    @syscall
    def read(self, fd: int, size: int = 65536) -> bytes:
        f = self.files.get(fd)
        if f is None:
            raise oserror(errno.EBADF)
        return f.read(self, size)

    def _close(self, fd: int) -> None:
        f = self.files.pop(fd, None)
        if f is None:
            raise oserror(errno.EBADF)
        f.flush(self)
        f.refs -= 1
        if f.refs == 0:
            f.release(self)
        self.world.wake()

    @syscall
    def close(self, fd: int) -> None:
        self._close(fd)

    @syscall
    def read_file(self, path: str) -> bytes:
        fd = self._open(path, abi.O_RDONLY, 0)
        try:
            f = self.files[fd]
            out = b""
            while True:
                chunk = f.read(self, 65536)
                if not chunk:
                    return out
                out += chunk
        finally:
            self._close(fd)

    @syscall
    def write_file(self, path: str, data: bytes) -> None:
        fd = self._open(path, abi.O_WRONLY | abi.O_TRUNC, 0o666)
        try:
            self.files[fd].write(self, data)
        finally:
            self._close(fd)

    @syscall
    def stat(self, path: str) -> Stat:
        return vfs.stat_of(self, vfs.resolve(self, path))

    @syscall
    def listdir(self, path: str) -> list[str]:
        where = vfs.resolve(self, path)
        if where.kind == "proc":
            return procfs.listdir(self, where.parts)
        if where.kind == "dir":
            node = where.node
            if not may_access(self.cred, node.mode, node.uid, node.gid, 4):
                raise oserror(errno.EACCES)
            return sorted(node.children)
        if where.kind == "mqroot":
            sb = where.node
            if not may_access(self.cred, 0o1777, sb.uid, sb.gid, 4):
                raise oserror(errno.EACCES)
            return sorted(sb.entries)
        if where.kind in ("missing", "mqmissing"):
            raise oserror(errno.ENOENT)
        raise oserror(errno.ENOTDIR)

    @syscall
    def creat(self, path: str, mode: int = 0o600) -> None:
        fd = self._open(path, abi.O_CREAT | abi.O_WRONLY | abi.O_TRUNC, mode)
        self._close(fd)

    @syscall
    def unlink(self, path: str) -> None:
        where = vfs.resolve(self, path)
        mounts = self.nsproxy["mnt"].mounts
        if mounts.get(where.path):
            raise oserror(errno.EBUSY)
        if where.kind == "mqfile":
            mqueue.unlink(self, where.parent, where.name)
            return
        if where.kind in ("missing", "mqmissing"):
            raise oserror(errno.ENOENT)
        if where.kind in {"dir", "mqroot"}:
            raise oserror(errno.EISDIR)
        if where.kind != "file":
            raise oserror(errno.EACCES)
        parent_path = posixpath.dirname(where.path)
        parent = vfs.resolve(self, parent_path)
        if parent.kind != "dir":
            raise oserror(errno.EBUSY)
        pnode, node = parent.node, where.node
        if not may_access(self.cred, pnode.mode, pnode.uid, pnode.gid, 3):
            raise oserror(errno.EACCES)
        if sticky_denies(self.cred, pnode.mode, pnode.uid, node.uid, node.gid):
            raise oserror(errno.EPERM)
        del pnode.children[posixpath.basename(where.path)]

    @syscall
    def mkdir(self, path: str, mode: int = 0o755) -> None:
        where = vfs.resolve(self, path)
        if where.kind == "mqmissing":
            raise oserror(errno.EPERM)
        if where.kind != "missing":
            raise oserror(errno.EEXIST)
        parent = where.parent
        if not may_access(self.cred, parent.mode, parent.uid, parent.gid, 3):
            raise oserror(errno.EACCES)
        parent.children[where.name] = vfs.Dir(vfs.S_IFDIR | (mode & ~self.umask & 0o7777),
                                              self.cred.fsuid, self.cred.fsgid,
                                              self.world.new_ino())

    def _mount_target(self, target: str) -> tuple[str, vfs.Where]:
        where = vfs.resolve(self, target)
        if where.kind in ("missing", "mqmissing"):
            raise oserror(errno.ENOENT)
        return where.path, where

    @syscall
    def mount(self, source: str | None, target: str, fstype: str | None, flags: int = 0,
              data: str | None = None) -> None:
        vfs.may_mount(self)
        path, where = self._mount_target(target)
        mounts = self.nsproxy["mnt"].mounts
        if flags & abi.MS_REMOUNT:
            return
        if flags & abi.MS_BIND:
            if source is None:
                raise oserror(errno.EFAULT)
            src = vfs.resolve(self, source)
            target_is_dir = where.kind in ("dir", "mqroot")
            if src.kind == "proc":
                fd = procfs.open_proc(self, src.parts, abi.O_RDONLY)
                if not isinstance(fd, NsFile):
                    fd.release(self)
                    raise oserror(errno.EINVAL)
                m = vfs.Mount("nsfs", fd.ns)  # the open's reference moves to the mount
                source_is_dir = False
            elif src.kind == "nsfs":
                m = vfs.Mount("nsfs", src.node.get())
                source_is_dir = False
            elif src.kind == "dir":
                m = vfs.Mount("dir", src.node)
                source_is_dir = True
            elif src.kind == "file":
                m = vfs.Mount("file", src.node)
                source_is_dir = False
            elif src.kind == "mqroot":
                src.node.mounts += 1
                m = vfs.Mount("mqueue", src.node)
                source_is_dir = True
            else:
                raise oserror(errno.ENOENT if src.kind.endswith("missing") else errno.EINVAL)
            if source_is_dir != target_is_dir:
                m.release()
                raise oserror(errno.ENOTDIR)
            mounts.setdefault(path, []).append(m)
            return
        if flags & (abi.MS_PRIVATE | abi.MS_SHARED | abi.MS_SLAVE) and fstype is None:
            if path not in mounts:
                raise oserror(errno.EINVAL)
            return
        if where.kind not in ("dir", "mqroot"):
            raise oserror(errno.ENOTDIR)
        if fstype == "tmpfs":
            mode = 0o1777
            for opt in (data or "").split(","):
                if opt.startswith("mode="):
                    mode = int(opt[5:], 8)
            root = vfs.Dir(vfs.S_IFDIR | mode, self.cred.fsuid, self.cred.fsgid,
                           self.world.new_ino())
            mounts.setdefault(path, []).append(vfs.Mount("dir", root))
            return
        if fstype == "mqueue":
            self._mount_mqueue(path)
            return
        if fstype == "proc":
            mounts.setdefault(path, []).append(vfs.Mount("proc"))
            return
        raise oserror(errno.ENODEV)

    def _mount_mqueue(self, path: str) -> None:
        ns = self.ipc
        if not ns_capable(self.cred, ns.user_ns, abi.CAP_SYS_ADMIN):
            raise oserror(errno.EPERM)
        sb = ns.mq_sb
        assert sb is not None
        sb.mounts += 1
        self.nsproxy["mnt"].mounts.setdefault(path, []).append(vfs.Mount("mqueue", sb))

    @syscall
    def mount_mqueue(self, path: str) -> None:
        vfs.may_mount(self)
        where = vfs.resolve(self, path)
        if where.kind in ("missing", "mqmissing"):
            raise oserror(errno.ENOENT)
        if where.kind not in ("dir", "mqroot"):
            raise oserror(errno.ENOTDIR)
        self._mount_mqueue(where.path)

    @syscall
    def umount(self, path: str, flags: int = 0) -> None:
        path = vfs.normalize(path)
        vfs.may_mount(self)
        mounts = self.nsproxy["mnt"].mounts
        stack = mounts.get(path)
        if not stack or path == "/":
            vfs.resolve(self, path)  # ENOENT for a missing path
            raise oserror(errno.EINVAL)
        m = stack.pop()
        if not stack:
            del mounts[path]
        m.release()
        self.world.wake()

    # -- System V ---------------------------------------------------------------------------

    @syscall
    def msgget(self, key: int, flags: int) -> int:
        return msg.msgget(self, _key(key), flags)

    def msgsnd(self, msqid: int, mtype: int, data: bytes, flags: int = 0) -> None:
        with self.world.lock:
            self._check_alive()
            msg.msgsnd(self, msqid, mtype, bytes(data), flags)

    def msgrcv(self, msqid: int, size: int, mtype: int = 0, flags: int = 0) -> tuple[int, bytes]:
        with self.world.lock:
            self._check_alive()
            return msg.msgrcv(self, msqid, size, mtype, flags)

    @syscall
    def msgctl(self, msqid: int, cmd: int, qbytes: int | None = None, uid: int | None = None,
               gid: int | None = None, mode: int | None = None) -> int:
        return msg.msgctl(self, msqid, cmd, qbytes, uid, gid, mode)

    @syscall
    def msgctl_stat(self, msqid: int, cmd: int) -> MsqidDs:
        return msg.msgctl_stat(self, msqid, cmd)

    @syscall
    def msgctl_info(self, cmd: int) -> MsgInfo:
        return msg.msgctl_info(self, cmd)

    @syscall
    def semget(self, key: int, nsems: int, flags: int) -> int:
        return sem.semget(self, _key(key), nsems, flags)

    def semop(self, semid: int, ops: Sequence[SemOp], timeout: float | None = None) -> None:
        with self.world.lock:
            self._check_alive()
            sem.semop(self, semid, ops, timeout)

    @syscall
    def semctl(self, semid: int, semnum: int, cmd: int, value: int = 0, uid: int | None = None,
               gid: int | None = None, mode: int | None = None) -> int:
        return sem.semctl(self, semid, semnum, cmd, value, uid, gid, mode)

    @syscall
    def semctl_getall(self, semid: int) -> list[int]:
        return sem.semctl_getall(self, semid)

    @syscall
    def semctl_setall(self, semid: int, values: Sequence[int]) -> None:
        sem.semctl_setall(self, semid, values)

    @syscall
    def semctl_stat(self, semid: int, cmd: int) -> SemidDs:
        return sem.semctl_stat(self, semid, cmd)

    @syscall
    def semctl_info(self, cmd: int) -> SemInfo:
        return sem.semctl_info(self, cmd)

    @syscall
    def shmget(self, key: int, size: int, flags: int) -> int:
        return shm.shmget(self, _key(key), size, flags)

    @syscall
    def shmat(self, shmid: int, flags: int = 0) -> int:
        return shm.shmat(self, shmid, flags)

    @syscall
    def shmdt(self, addr: int) -> None:
        shm.shmdt(self, addr)

    @syscall
    def shm_write(self, addr: int, data: bytes, offset: int = 0) -> None:
        seg, start = shm.shm_access(self, addr, offset, len(data), True)
        seg.data[start:start + len(data)] = data

    @syscall
    def shm_read(self, addr: int, size: int, offset: int = 0) -> bytes:
        seg, start = shm.shm_access(self, addr, offset, size, False)
        return bytes(seg.data[start:start + size])

    @syscall
    def shmctl(self, shmid: int, cmd: int, uid: int | None = None, gid: int | None = None,
               mode: int | None = None) -> int:
        return shm.shmctl(self, shmid, cmd, uid, gid, mode)

    @syscall
    def shmctl_stat(self, shmid: int, cmd: int) -> ShmidDs:
        return shm.shmctl_stat(self, shmid, cmd)

    @syscall
    def shmctl_info(self) -> ShmInfo:
        return shm.shmctl_info(self)

    @syscall
    def shmctl_ipcinfo(self) -> ShmLimitsInfo:
        return shm.shmctl_ipcinfo(self)

    # -- POSIX message queues ------------------------------------------------------------

    @syscall
    def mq_open(self, name: str, flags: int, mode: int = 0o600,
                attr: MqAttr | None = None) -> int:
        return self.process.new_fd(MqOpen(mqueue.mq_open(self, name, flags, mode, attr)))

    def mq_send(self, mqd: int, data: bytes, priority: int = 0,
                timeout: float | None = None) -> None:
        with self.world.lock:
            self._check_alive()
            mqueue.mq_send(self, mqd, bytes(data), priority, timeout)

    def mq_receive(self, mqd: int, size: int,
                   timeout: float | None = None) -> tuple[bytes, int]:
        with self.world.lock:
            self._check_alive()
            return mqueue.mq_receive(self, mqd, size, timeout)

    @syscall
    def mq_getattr(self, mqd: int) -> MqAttr:
        return mqueue.mq_getattr(self, mqd)

    @syscall
    def mq_setattr(self, mqd: int, flags: int) -> MqAttr:
        return mqueue.mq_setattr(self, mqd, flags)

    @syscall
    def mq_notify(self, mqd: int, signo: int | None) -> None:
        mqueue.mq_notify(self, mqd, signo)

    @syscall
    def mq_unlink(self, name: str) -> None:
        mqueue.mq_unlink(self, name)

    def _check_alive(self) -> None:
        if not self._alive:
            raise oserror(errno.ESRCH)

    def __repr__(self) -> str:
        return f"<model task {self.tid}>"


def _key(key: int) -> int:
    """A key_t: 32 bits, signed."""
    key &= 0xFFFFFFFF
    return key - (1 << 32) if key >= 1 << 31 else key


def _kind_of(ns: Any) -> str:
    if isinstance(ns, UserNamespace):
        return "user"
    if isinstance(ns, IpcNamespace):
        return "ipc"
    kind: str = ns.kind
    return kind
