"""Result types that every backend returns.

Two families live here:

* the kernel's own structures in Python form (``IpcPerm``, ``MsqidDs``,
  ``SemidDs``, ``ShmidDs``, the ``*Info`` structs, ``MqAttr``), returned by the
  ``*ctl`` and ``mq_getattr`` calls of a :class:`ipcns.contract.Task`;
* what an inventory finds in a namespace (``MessageQueue``, ``SemaphoreSet``,
  ``SharedMemory``, ``PosixQueue``, ``Limits``, ``Usage``, ``Snapshot``).

All are named tuples: cheap to make and ship by the thousand (the Linux
backend pickles them between processes), immutable, hashable, ``_asdict()``
for JSON; an object's ``.kind`` tells which kind it is.
"""

# No ``from __future__ import annotations`` here: typing.NamedTuple would
# compile each field's annotation string at import (some 200), a few
# milliseconds of every command's start.  Forward references are quoted.

from typing import Literal, NamedTuple

# --------------------------------------------------------------------------
# The kernel's structures


class IpcPerm(NamedTuple):
    """``struct ipc64_perm``: key, owner, creator, mode and sequence."""

    key: int
    uid: int
    gid: int
    cuid: int
    cgid: int
    mode: int
    seq: int


class MsqidDs(NamedTuple):
    """``struct msqid64_ds`` as IPC_STAT/MSG_STAT fill it.

    ``id`` is what the call returned: 0 for IPC_STAT, the full identifier
    for MSG_STAT and MSG_STAT_ANY (which take an index).
    """

    perm: IpcPerm
    stime: int
    rtime: int
    ctime: int
    cbytes: int
    qnum: int
    qbytes: int
    lspid: int
    lrpid: int
    id: int = 0


class SemidDs(NamedTuple):
    """``struct semid64_ds`` as IPC_STAT/SEM_STAT fill it (``id`` as in MsqidDs)."""

    perm: IpcPerm
    otime: int
    ctime: int
    nsems: int
    id: int = 0


class ShmidDs(NamedTuple):
    """``struct shmid64_ds`` as IPC_STAT/SHM_STAT fill it (``id`` as in MsqidDs)."""

    perm: IpcPerm
    segsz: int
    atime: int
    dtime: int
    ctime: int
    cpid: int
    lpid: int
    nattch: int
    id: int = 0


class MsgInfo(NamedTuple):
    """``struct msginfo``.

    IPC_INFO fills it with limits; MSG_INFO puts usage in three fields:
    ``msgpool`` = queues in use, ``msgmap`` = messages queued (msg_hdrs),
    ``msgtql`` = bytes queued (msg_bytes).  ``max_index`` is the return value:
    the highest index in use, or 0 when none is.
    """

    msgpool: int
    msgmap: int
    msgmax: int
    msgmnb: int
    msgmni: int
    msgssz: int
    msgtql: int
    msgseg: int
    max_index: int


class SemInfo(NamedTuple):
    """``struct seminfo``; SEM_INFO puts sets in use in ``semusz`` and
    semaphores in use (used_sems) in ``semaem``."""

    semmap: int
    semmni: int
    semmns: int
    semmnu: int
    semmsl: int
    semopm: int
    semume: int
    semusz: int
    semvmx: int
    semaem: int
    max_index: int


class ShmInfo(NamedTuple):
    """``struct shm_info`` as SHM_INFO fills it: segments in use and pages."""

    used_ids: int
    shm_tot: int
    shm_rss: int
    shm_swp: int
    swap_attempts: int
    swap_successes: int
    max_index: int


class ShmLimitsInfo(NamedTuple):
    """``struct shminfo64`` as shmctl(IPC_INFO) fills it."""

    shmmax: int
    shmmin: int
    shmmni: int
    shmseg: int
    shmall: int
    max_index: int


class MqAttr(NamedTuple):
    """``struct mq_attr``."""

    flags: int = 0
    maxmsg: int = 0
    msgsize: int = 0
    curmsgs: int = 0


class Stat(NamedTuple):
    """What stat(2) says of a file: type and mode bits, owner, inode."""

    mode: int
    uid: int
    gid: int
    ino: int
    size: int


class SigInfo(NamedTuple):
    """What sigtimedwait(2) says of a signal taken: number, si_code (e.g.
    SI_MESGQ = -3 for an mq_notify), and the sender's pid and uid."""

    signo: int
    code: int
    pid: int
    uid: int


# --------------------------------------------------------------------------
# What is in a namespace

Kind = Literal["msg", "sem", "shm", "mqueue"]


class MessageQueue(NamedTuple):
    """A System V message queue, with every column of /proc/sysvipc/msg."""

    key: int
    id: int
    mode: int
    bytes: int
    messages: int
    lspid: int
    lrpid: int
    uid: int
    gid: int
    cuid: int
    cgid: int
    stime: int
    rtime: int
    ctime: int

    @property
    def kind(self) -> Kind:
        """Always "msg"."""
        return "msg"


class SemaphoreSet(NamedTuple):
    """A System V semaphore set, with every column of /proc/sysvipc/sem."""

    key: int
    id: int
    mode: int
    nsems: int
    uid: int
    gid: int
    cuid: int
    cgid: int
    otime: int
    ctime: int

    @property
    def kind(self) -> Kind:
        """Always "sem"."""
        return "sem"


class SharedMemory(NamedTuple):
    """A System V shared memory segment, with every column of /proc/sysvipc/shm.

    ``size`` is in bytes; ``rss`` and ``swap`` are in bytes too, as the
    kernel prints them.
    """

    key: int
    id: int
    mode: int
    size: int
    cpid: int
    lpid: int
    nattch: int
    uid: int
    gid: int
    cuid: int
    cgid: int
    atime: int
    dtime: int
    ctime: int
    rss: int
    swap: int

    @property
    def kind(self) -> Kind:
        """Always "shm"."""
        return "shm"


class PosixQueue(NamedTuple):
    """A POSIX message queue: its mqueuefs file and its attributes.

    ``name`` is what mq_open takes ("/name"); ``qsize`` the bytes queued
    (the QSIZE of its file), ``messages`` the messages queued,
    ``maxmsg``/``msgsize`` its capacity, ``notify_pid`` the process
    registered with mq_notify (0 for none), ``mtime`` the time of the last
    send or receive (the file's ctime is no use: reading the file sets it).
    """

    name: str
    mode: int
    uid: int
    gid: int
    qsize: int
    messages: int
    maxmsg: int
    msgsize: int
    notify: int
    signo: int
    notify_pid: int
    mtime: int

    @property
    def kind(self) -> Kind:
        """Always "mqueue"."""
        return "mqueue"


IpcObject = MessageQueue | SemaphoreSet | SharedMemory | PosixQueue


class Limit(NamedTuple):
    """One per-namespace limit: its short name, sysctl (dotted) and value."""

    name: str
    sysctl: str
    value: int


#: The sysctl file (under /proc/sys) of each limit; the four sem fields
#: share ``kernel/sem``.
LIMIT_SYSCTLS: dict[str, str] = {
    "shmmax": "kernel/shmmax",
    "shmall": "kernel/shmall",
    "shmmni": "kernel/shmmni",
    "shm_rmid_forced": "kernel/shm_rmid_forced",
    "msgmax": "kernel/msgmax",
    "msgmnb": "kernel/msgmnb",
    "msgmni": "kernel/msgmni",
    "semmsl": "kernel/sem",
    "semmns": "kernel/sem",
    "semopm": "kernel/sem",
    "semmni": "kernel/sem",
    "msg_next_id": "kernel/msg_next_id",
    "sem_next_id": "kernel/sem_next_id",
    "shm_next_id": "kernel/shm_next_id",
    "queues_max": "fs/mqueue/queues_max",
    "msg_max": "fs/mqueue/msg_max",
    "msgsize_max": "fs/mqueue/msgsize_max",
    "msg_default": "fs/mqueue/msg_default",
    "msgsize_default": "fs/mqueue/msgsize_default",
}
#: The fields of ``kernel.sem``, in its order.
SEM_FIELDS = ("semmsl", "semmns", "semopm", "semmni")


class Limits(NamedTuple):
    """Every per-namespace IPC sysctl (SEMANTICS.md N28).

    ``kernel.sem`` is split into its four fields.  ``*_next_id`` is -1 unless
    a value was written for the next object.
    """

    shmmax: int
    shmall: int
    shmmni: int
    shm_rmid_forced: int
    msgmax: int
    msgmnb: int
    msgmni: int
    semmsl: int
    semmns: int
    semopm: int
    semmni: int
    msg_next_id: int
    sem_next_id: int
    shm_next_id: int
    queues_max: int
    msg_max: int
    msgsize_max: int
    msg_default: int
    msgsize_default: int

    def items(self) -> list[Limit]:
        """Every limit with its sysctl name (dotted, as sysctl(8) prints it)."""
        return [Limit(name, LIMIT_SYSCTLS[name].replace("/", "."), value)
                for name, value in zip(self._fields, self, strict=True)]


class Counter(NamedTuple):
    """One counter of ``struct ipc_namespace`` beside the limit that bounds it.

    ``limit`` is None where no single limit bounds it.
    """

    name: str
    used: int
    limit: int | None

    @property
    def percent(self) -> float | None:
        """``used`` as a percentage of ``limit`` (None without a limit)."""
        if self.limit is None or self.limit <= 0:
            return None
        return 100.0 * self.used / self.limit


class Usage(NamedTuple):
    """The usage counters of ``struct ipc_namespace``.

    ``msg_queues``/``sem_sets``/``shm_segments`` are the ids in use per kind;
    ``used_sems`` the semaphores in all sets; ``msg_bytes``/``msg_hdrs`` the
    bytes and messages queued; ``shm_tot`` the pages of all segments;
    ``mq_queues`` the POSIX queues (mq_queues_count).
    """

    msg_queues: int
    msg_bytes: int
    msg_hdrs: int
    sem_sets: int
    used_sems: int
    shm_segments: int
    shm_tot: int
    mq_queues: int

    def counters(self, limits: "Limits | Bounds") -> "list[Counter]":
        """Each counter beside the limit the kernel checks it against."""
        return [
            Counter("msg_queues", self.msg_queues, limits.msgmni),
            Counter("msg_bytes", self.msg_bytes, None),
            Counter("msg_hdrs", self.msg_hdrs, None),
            Counter("sem_sets", self.sem_sets, limits.semmni),
            Counter("used_sems", self.used_sems, limits.semmns),
            Counter("shm_segments", self.shm_segments, limits.shmmni),
            Counter("shm_tot", self.shm_tot, limits.shmall),
            Counter("mq_queues", self.mq_queues, limits.queues_max),
        ]


class Bounds(NamedTuple):
    """The limits that bound a usage counter (a part of :class:`Limits`)."""

    msgmni: int
    semmni: int
    semmns: int
    shmmni: int
    shmall: int
    queues_max: int


class Summary(NamedTuple):
    """How full one namespace is, without its objects: what ``ipcns list``
    shows, read at a fraction of a Snapshot's cost.

    ``usage`` is the kernel's own counters; ``shm_bytes`` the sizes of all
    segments added up; ``bounds`` the limits that bound the counters;
    ``mqueue_error`` why POSIX queues could not be counted (None when they
    were).
    """

    inode: int
    usage: Usage
    shm_bytes: int
    bounds: Bounds
    mqueue_error: str | None = None

    def counters(self) -> list[Counter]:
        """Usage counters beside their limits."""
        return self.usage.counters(self.bounds)

    def fullest(self) -> Counter | None:
        """The counter nearest its limit (None if no counter has a limit)."""
        bounded = [c for c in self.counters() if c.percent is not None]
        return max(bounded, key=lambda c: c.percent or 0.0) if bounded else None


class Snapshot(NamedTuple):
    """What one namespace holds at one moment: objects, limits and usage.

    ``mqueue_error`` says why POSIX queues could not be listed (None when
    they were).
    """

    inode: int
    objects: tuple[IpcObject, ...]
    limits: Limits
    usage: Usage
    mqueue_error: str | None = None

    def of_kind(self, kind: Kind) -> list[IpcObject]:
        """The objects of one kind ("msg", "sem", "shm" or "mqueue")."""
        return [o for o in self.objects if o.kind == kind]

    def counters(self) -> list[Counter]:
        """Usage counters beside their limits."""
        return self.usage.counters(self.limits)

    @property
    def msg_queues(self) -> list[MessageQueue]:
        """The SysV message queues."""
        return [o for o in self.objects if isinstance(o, MessageQueue)]

    @property
    def sem_sets(self) -> list[SemaphoreSet]:
        """The SysV semaphore sets."""
        return [o for o in self.objects if isinstance(o, SemaphoreSet)]

    @property
    def shm_segments(self) -> list[SharedMemory]:
        """The SysV shared memory segments."""
        return [o for o in self.objects if isinstance(o, SharedMemory)]

    @property
    def posix_queues(self) -> list[PosixQueue]:
        """The POSIX message queues."""
        return [o for o in self.objects if isinstance(o, PosixQueue)]


# --------------------------------------------------------------------------
# Who holds a namespace


class Process(NamedTuple):
    """A process (or a thread, when ``tid`` differs from ``pid``) in a namespace."""

    pid: int
    comm: str
    tid: int = 0


class Container(NamedTuple):
    """The container, pod or unit a cgroup path says a process belongs to.

    ``runtime`` is one of "docker", "containerd", "cri-o", "podman", "lxc",
    "systemd-nspawn" or "systemd" (a plain unit); ``id`` the container id
    or unit name; ``pod`` the Kubernetes pod uid where there is one.
    """

    runtime: str
    id: str
    pod: str | None = None

    def __str__(self) -> str:
        short = self.id[:12] if len(self.id) == 64 else self.id
        name = f"{self.runtime}:{short}"
        return f"{name} pod:{self.pod}" if self.pod else name


class Holder(NamedTuple):
    """A reference that keeps a namespace alive besides its processes.

    ``how`` is "mount" (an nsfs bind mount at ``path``) or "fd" (descriptor
    ``fd`` held by ``pid``).
    """

    how: Literal["mount", "fd"]
    path: str
    pid: int = 0
    fd: int = -1


class NamespaceInfo(NamedTuple):
    """Who holds one IPC namespace, as discovery found it."""

    inode: int
    processes: tuple[Process, ...] = ()
    holders: tuple[Holder, ...] = ()
    owner_userns: int | None = None
    owner_uid: int | None = None
    containers: tuple[Container, ...] = ()
