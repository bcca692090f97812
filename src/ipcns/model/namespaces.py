"""IPC namespaces and the other namespaces a task holds (ipc/namespace.c).

An IPC namespace lives while anything references it: its member tasks, an
open nsfs file or an nsfs bind mount of it, an open /proc/sysvipc file
opened in it, and every shm attachment of one of its segments.  When the
last reference goes, all its objects are destroyed, its mqueue superblock
loses its namespace (a mount of it still lists, creat() there is EACCES),
and the user namespace it was charged to gets its count back.
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING, Any

from .. import abi
from ._state import World, oserror
from .creds import (
    UCOUNT_IPC_NAMESPACES,
    Cred,
    Ucounts,
    UserNamespace,
    dec_ucount,
    inc_ucount,
    ucounts_of,
)
from .ids import IpcIds

if TYPE_CHECKING:
    from .mqueue import Superblock

ULONG_MAX = (1 << 64) - 1
SHMMAX_DEFAULT = ULONG_MAX - (1 << 24)


class IpcNamespace:
    """struct ipc_namespace."""

    def __init__(self, world: World, user_ns: UserNamespace, ucounts: Ucounts | None,
                 *, initial: bool = False) -> None:
        self.world = world
        self.user_ns = user_ns
        self.ucounts = ucounts
        self.inum = world.ns_inum("ipc", initial=initial)
        self.refs = 0
        self.alive = True
        # sysctls (compiled-in defaults)
        self.msg_ctlmax = 8192
        self.msg_ctlmnb = 16384
        self.msg_ctlmni = 32000
        self.sem_ctls = [32000, 1024000000, 500, 32000]  # semmsl, semmns, semopm, semmni
        self.shm_ctlmax = SHMMAX_DEFAULT
        self.shm_ctlall = SHMMAX_DEFAULT
        self.shm_ctlmni = 4096
        self.shm_rmid_forced = 0
        self.mq_queues_max = 256
        self.mq_msg_max = 10
        self.mq_msgsize_max = 8192
        self.mq_msg_default = 10
        self.mq_msgsize_default = 8192
        # objects and usage
        self.msg_ids: IpcIds[Any] = IpcIds()
        self.sem_ids: IpcIds[Any] = IpcIds()
        self.shm_ids: IpcIds[Any] = IpcIds()
        self.used_sems = 0
        self.shm_tot = 0
        self.msg_bytes = 0
        self.msg_hdrs = 0
        self.mq_queues_count = 0
        self.mq_sb: Superblock | None = None

    @property
    def semmsl(self) -> int:
        return self.sem_ctls[0]

    @property
    def semmns(self) -> int:
        return self.sem_ctls[1]

    @property
    def semopm(self) -> int:
        return self.sem_ctls[2]

    @property
    def semmni(self) -> int:
        return self.sem_ctls[3]

    def get(self) -> IpcNamespace:
        """get_ipc_ns."""
        self.refs += 1
        return self

    def put(self) -> None:
        """put_ipc_ns: the last reference frees the namespace."""
        self.refs -= 1
        if self.refs == 0:
            self._free()

    def _free(self) -> None:
        from . import mqueue, msg, sem, shm

        self.alive = False
        sem.exit_ns(self)
        msg.exit_ns(self)
        shm.exit_ns(self)
        mqueue.exit_ns(self)
        if self.ucounts is not None:
            dec_ucount(self.ucounts, UCOUNT_IPC_NAMESPACES)
        self.world.wake()


def create_ipc_ns(world: World, cred: Cred, user_ns: UserNamespace) -> IpcNamespace:
    """create_ipc_ns: charged to (user_ns, euid); ENOSPC past
    max_ipc_namespaces at any level."""
    from . import mqueue

    ucounts = ucounts_of(world, user_ns, cred.euid)
    if not inc_ucount(ucounts, UCOUNT_IPC_NAMESPACES):
        raise oserror(errno.ENOSPC)
    ns = IpcNamespace(world, user_ns, ucounts)
    mqueue.init_ns(ns, cred)
    return ns


def initial_ipc_ns(world: World, cred: Cred) -> IpcNamespace:
    from . import mqueue

    ns = IpcNamespace(world, world.init_user_ns, None, initial=True)
    ns.refs = 1  # never freed
    mqueue.init_ns(ns, cred)
    return ns


class Namespace:
    """A namespace the model keeps only the identity of (net, pid, cgroup,
    time), and the UTS namespace (its hostname and domainname)."""

    def __init__(self, world: World, kind: str, user_ns: UserNamespace,
                 *, initial: bool = False) -> None:
        self.world = world
        self.kind = kind
        self.user_ns = user_ns
        self.inum = world.ns_inum(kind, initial=initial)
        self.hostname = "model"
        self.domainname = "(none)"

    def get(self) -> Namespace:
        return self

    def put(self) -> None:
        return None


#: CLONE_NEW* flag -> the nstype name of /proc/PID/ns.
NSTYPES = {abi.CLONE_NEWIPC: "ipc", abi.CLONE_NEWUTS: "uts", abi.CLONE_NEWUSER: "user",
           abi.CLONE_NEWNS: "mnt", abi.CLONE_NEWNET: "net", abi.CLONE_NEWPID: "pid",
           abi.CLONE_NEWCGROUP: "cgroup", abi.CLONE_NEWTIME: "time"}
FLAG_OF = {name: flag for flag, name in NSTYPES.items()}
