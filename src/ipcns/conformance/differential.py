"""Differential testing: one sequence of IPC operations, run on two backends.

A :class:`Sequence` is a start layout (2-4 tasks in 1-3 fresh IPC
namespaces) and a list of :class:`Op`: SysV get/ctl/snd/rcv/op/at/dt, POSIX
queue calls on non-blocking descriptors, unshare, setns, fork, exit, sysctl
writes and reads, and reads of /proc/sysvipc.  Operations name what they
act on symbolically (task 1, the 2nd msg id returned so far, the 1st open
mq descriptor of task 0, the last shm attachment of task 2), so one sequence
means the same on every backend.  Nothing ever blocks: SysV calls carry
IPC_NOWAIT, queues are opened O_NONBLOCK (a descriptor made blocking by
mq_setattr is used with a deadline already past).

:func:`run_sequence` runs a sequence on a fresh :class:`~ipcns.contract.Kernel`
(every start task first unshares CLONE_NEWIPC, so nothing touches the
caller's namespace) and returns a :class:`Transcript`: for each operation its
value or its errno.  :func:`normalize` maps pids (numbered in order of first
appearance), timestamps (any ``*time`` field and the time columns of
/proc/sysvipc: 0 stays 0, any other value becomes ``<time>``) and namespace
inode numbers (numbered in order of first appearance); nothing else.
Inode numbers are read at the start, when every start namespace is alive;
later, ``ns_groups`` records which live tasks share a namespace, from
inodes read at one moment: Linux gives a dead namespace's number to a new
one (after a delay), so numbers read at different times cannot be compared.
Descriptors and shm addresses are per-process handles whose numbers no spec
fixes: they are recorded as ``<fd>`` and ``<addr>`` and referred to
symbolically afterwards.  :func:`compare` gives the first
:class:`Divergence` of two transcripts, :func:`explain` a readable report.

:func:`random_sequence` makes sequences from a ``random.Random``; the same
vocabulary (:data:`SPECS`) drives the property-based test's strategies.
"""

from __future__ import annotations

import errno as errno_mod
import functools
import importlib
import random
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, NamedTuple, cast

from .. import abi
from .._procfs import signed_key
from .._types import MqAttr
from ..contract import Kernel, Task

__all__ = [
    "FAMILIES",
    "KEYS",
    "LAYOUTS",
    "SPECS",
    "SYSCTL_WRITES",
    "TASK",
    "UNPRIVILEGED_UID",
    "Att",
    "Divergence",
    "Entry",
    "Handle",
    "Inode",
    "Line",
    "MqAttr",
    "Mqd",
    "Op",
    "Outcome",
    "Param",
    "Pid",
    "ProcText",
    "Rec",
    "Ref",
    "Sequence",
    "Spec",
    "Time",
    "Transcript",
    "compare",
    "describe",
    "differ",
    "explain",
    "family",
    "host_bounding_set",
    "iter_sequences",
    "model_like_host",
    "normalize",
    "pick",
    "random_sequence",
    "run_sequence",
    "shrink",
]

# ---------------------------------------------------------------------------
# Symbolic arguments


class Ref(NamedTuple):
    """The ``nth`` id (modulo how many; -1 is the last) that a
    successful ``kind``get ("msg", "sem" or "shm") returned so far: among
    those made in the acting task's namespace (as the sequence's own
    unshare, setns and fork calls place it), or, with ``anywhere``, among
    all.  With none, it stands for id 0."""

    kind: str
    nth: int
    anywhere: bool = False


class Mqd(NamedTuple):
    """The ``nth`` (modulo how many) open mq descriptor of the task
    (made by its mq_open or inherited at fork), in order of opening.
    ``nth`` None is a descriptor number the task never has (EBADF)."""

    nth: int | None


class Att(NamedTuple):
    """The ``nth`` (modulo how many) current shm attachment of the task
    (made by its shmat or inherited at fork), in order of attaching."""

    nth: int


class Op(NamedTuple):
    """One operation: ``name`` (a key of :data:`SPECS`), made by the task
    ``task`` (modulo how many tasks there are; forks append), with the
    arguments of its spec's parameters."""

    name: str
    task: int
    args: tuple[Any, ...]


class Sequence(NamedTuple):
    """What a differential run executes.

    ``layout[i]`` is the namespace group of start task ``i``: the first
    task of a group is spawned and unshares CLONE_NEWIPC, the others are
    ``fork(0)`` children of it (so they share its namespace).
    """

    layout: tuple[int, ...]
    ops: tuple[Op, ...]

    def __str__(self) -> str:
        lines = [f"layout {self.layout}"]
        lines += [f"  #{i} {describe(op)}" for i, op in enumerate(self.ops)]
        return "\n".join(lines)

    def code(self) -> str:
        """Python that rebuilds this sequence (names from this module)."""
        body = "".join(f"    {op!r},\n" for op in self.ops)
        return f"Sequence(layout={self.layout!r}, ops=(\n{body}))"


def _layouts() -> tuple[tuple[int, ...], ...]:
    """Every start layout of 2-4 tasks in 1-3 namespaces, group numbers in
    order of first use, fewest tasks first."""
    out: list[tuple[int, ...]] = []

    def grow(prefix: tuple[int, ...], size: int) -> None:
        if len(prefix) == size:
            out.append(prefix)
            return
        for g in range(min(max(prefix) + 2, 3)):
            grow((*prefix, g), size)

    for size in (2, 3, 4):
        grow((0,), size)
    return tuple(out)


#: Every start layout, fewest tasks first.
LAYOUTS: tuple[tuple[int, ...], ...] = tuple(sorted(_layouts(), key=lambda lay: (len(lay), lay)))

# ---------------------------------------------------------------------------
# The vocabulary


def _flag_fmt(names: tuple[tuple[int, str], ...], mode: bool = True) -> Callable[[Any], str]:
    def fmt(value: Any) -> str:
        v = int(value)
        parts = [name for bit, name in names if bit and v & bit == bit]
        for bit, _ in names:
            v &= ~bit
        if v or not parts:
            parts.append(oct(v) if mode else str(v))
        return "|".join(parts)

    return fmt


def _name_fmt(names: dict[int, str]) -> Callable[[Any], str]:
    return lambda v: names.get(int(v), repr(v))


_GET_FLAGS = _flag_fmt(((abi.IPC_CREAT, "IPC_CREAT"), (abi.IPC_EXCL, "IPC_EXCL")))
_RCV_FLAGS = _flag_fmt(((abi.IPC_NOWAIT, "IPC_NOWAIT"), (abi.MSG_NOERROR, "MSG_NOERROR"),
                        (abi.MSG_EXCEPT, "MSG_EXCEPT"), (abi.MSG_COPY, "MSG_COPY")))
_SHMAT_FLAGS = _flag_fmt(((abi.SHM_RDONLY, "SHM_RDONLY"),), mode=False)
_CLONE_FLAGS = _flag_fmt(((abi.CLONE_NEWIPC, "CLONE_NEWIPC"),
                          (abi.CLONE_SYSVSEM, "CLONE_SYSVSEM")), mode=False)
_SEM_FLG = _flag_fmt(((abi.IPC_NOWAIT, "IPC_NOWAIT"), (abi.SEM_UNDO, "SEM_UNDO")), mode=False)


def _open_flags(value: Any) -> str:
    v = int(value)
    parts = [{abi.O_RDONLY: "O_RDONLY", abi.O_WRONLY: "O_WRONLY", abi.O_RDWR: "O_RDWR"}.get(
        v & 3, str(v & 3))]
    for bit, name in ((abi.O_CREAT, "O_CREAT"), (abi.O_EXCL, "O_EXCL"),
                      (abi.O_NONBLOCK, "O_NONBLOCK")):
        if v & bit:
            parts.append(name)
    return "|".join(parts)


def _key_fmt(value: Any) -> str:
    return "IPC_PRIVATE" if value == abi.IPC_PRIVATE else hex(int(value) & 0xFFFFFFFF)


def _sops_fmt(value: Any) -> str:
    return "[" + ", ".join(f"({n}, {o}, {_SEM_FLG(f)})" for n, o, f in value) + "]"


def _sym_fmt(value: Any) -> str:
    if isinstance(value, Ref):
        return f"{value.kind}id[{value.nth}{', any ns' if value.anywhere else ''}]"
    if isinstance(value, Mqd):
        return "BAD_FD" if value.nth is None else f"mqd[{value.nth}]"
    if isinstance(value, Att):
        return f"att[{value.nth}]"
    return repr(value)


def _opt_oct(value: Any) -> str:
    return "None" if value is None else oct(int(value))


def _attr_fmt(value: Any) -> str:
    return "None" if value is None else f"MqAttr(maxmsg={value.maxmsg}, msgsize={value.msgsize})"


def _setting_fmt(value: Any) -> str:
    path, data = value
    return f"{path}={data!r}"


class Param(NamedTuple):
    """One parameter of an operation: the values it takes, simplest first
    (a shrinker moves toward the first).  The first ``common`` values are
    the usual ones: :func:`random_sequence` picks among them three times in
    four.  With ``many`` (min, max) the argument is a tuple of that many
    values."""

    name: str
    values: tuple[Any, ...]
    common: int = 1
    many: tuple[int, int] | None = None
    fmt: Callable[[Any], str] = repr


class Spec(NamedTuple):
    """An operation of the vocabulary: its name, how often a random sequence
    picks it (relative weight) and its parameters."""

    name: str
    weight: int
    params: tuple[Param, ...]


KEYS = (abi.IPC_PRIVATE, 0x1234, 0x5678, signed_key(0xDEADBEEF))
MODES = (0o600, 0o644, 0o400, 0o666, 0o000)
GET_FLAGS = (abi.IPC_CREAT | 0o600, abi.IPC_CREAT | 0o644, 0o600,
             abi.IPC_CREAT | abi.IPC_EXCL | 0o600, *(
                 c | m for c in (abi.IPC_CREAT, abi.IPC_CREAT | abi.IPC_EXCL, 0)
                 for m in MODES[2:]))
UNPRIVILEGED_UID = 43000
#: Literal ids besides the symbolic ones: never or rarely valid.
BAD_IDS = (-1, 1, 32768, 0x7FFFFFFF)


def _ids(kind: str) -> tuple[Any, ...]:
    other = [k for k in ("msg", "sem", "shm") if k != kind]
    return (Ref(kind, 0), Ref(kind, -1), Ref(kind, 1), Ref(kind, 2),
            Ref(kind, 0, True), Ref(kind, -1, True), Ref(other[0], 0), Ref(other[1], 0),
            *BAD_IDS)


_TASKS = (0, 1, 2, 3, 4, 5, 6, 7)
_INDEXES = (0, 1, 2, 3, 64, -1)
_UIDS = (None, 0, UNPRIVILEGED_UID)
_SET_MODES = (None, 0o600, 0o644, 0o000, 0o666)
_MSG_DATA = (b"hello", b"", b"x", bytes(range(100)), b"z" * 1000, b"q" * 8193)
_RCV_FLAG_VALUES = tuple(abi.IPC_NOWAIT | f for f in (
    0, abi.MSG_NOERROR, abi.MSG_EXCEPT, abi.MSG_COPY, abi.MSG_NOERROR | abi.MSG_EXCEPT,
    abi.MSG_COPY | abi.MSG_EXCEPT, abi.MSG_COPY | abi.MSG_NOERROR))
_SOPS = tuple(sorted(((n, o, f) for n in (0, 1, 2, 3) for o in (-1, 1, 0, 2, -2, 32767)
                      for f in (abi.IPC_NOWAIT, abi.IPC_NOWAIT | abi.SEM_UNDO)),
                     key=lambda s: (s[0] > 1, s[1] in (32767, -2, 2), s)))
_SEMVALS = (1, 0, 2, 32767, 32768, -1)
_MQ_NAMES = ("/q0", "/q1", "/q2", "q0", "/", "/a/b")
_MQ_FLAGS = tuple(acc | cr | abi.O_NONBLOCK
                  for cr in (abi.O_CREAT, 0, abi.O_CREAT | abi.O_EXCL)
                  for acc in (abi.O_RDWR, abi.O_RDONLY, abi.O_WRONLY))
_MQ_ATTRS = (MqAttr(maxmsg=2, msgsize=16), MqAttr(maxmsg=3, msgsize=32),
             MqAttr(maxmsg=4, msgsize=64), MqAttr(maxmsg=2, msgsize=64),
             MqAttr(maxmsg=0, msgsize=16), MqAttr(maxmsg=2, msgsize=0),
             MqAttr(maxmsg=11, msgsize=16), MqAttr(maxmsg=2, msgsize=8193),
             MqAttr(maxmsg=-1, msgsize=16))
_MQDS = (Mqd(0), Mqd(-1), Mqd(1), Mqd(2), Mqd(None))
_ATTS = (Att(0), Att(-1), Att(1))

#: Values written to each sysctl (with a newline), valid ones first.
SYSCTL_WRITES: dict[str, tuple[bytes, ...]] = {
    "kernel/msgmni": (b"1", b"0", b"3", b"32000", b"-1", b"abc", b"2147483648", b"5 6"),
    "kernel/msgmnb": (b"100", b"0", b"16384", b"-1", b" 200"),
    "kernel/msgmax": (b"10", b"0", b"8192", b"-5"),
    "kernel/shmmni": (b"1", b"0", b"4096", b"32768", b"32769", b"-1"),
    "kernel/shmmax": (b"4096", b"0", b"18446744073692774399"),
    "kernel/shmall": (b"1", b"0", b"18446744073692774399"),
    "kernel/sem": (b"250 32000 32 128", b"2 4 2 1", b"1 1 1 0", b"250 32000 32 32769",
                   b"5 5", b"-1 0 0 0"),
    "kernel/shm_rmid_forced": (b"1", b"0", b"2"),
    "kernel/msg_next_id": (b"5", b"0", b"32768", b"-1", b"2147483647"),
    "kernel/sem_next_id": (b"5", b"0", b"32768", b"-1", b"2147483647"),
    "kernel/shm_next_id": (b"5", b"0", b"32768", b"-1", b"2147483647"),
    "fs/mqueue/queues_max": (b"1", b"0", b"2", b"256", b"-1"),
    "fs/mqueue/msg_max": (b"2", b"1", b"10", b"0", b"65537"),
    "fs/mqueue/msgsize_max": (b"128", b"64", b"8192", b"127", b"16777217"),
    "fs/mqueue/msg_default": (b"2", b"1", b"10", b"0", b"11"),
    "fs/mqueue/msgsize_default": (b"64", b"128", b"8192", b"16"),
}
_SETTINGS = tuple(sorted(((p, v) for p, vs in SYSCTL_WRITES.items() for v in vs),
                         key=lambda pv: SYSCTL_WRITES[pv[0]].index(pv[1])))
_SYSCTLS = tuple(SYSCTL_WRITES)


def _p(name: str, values: tuple[Any, ...], common: int = 1, fmt: Callable[[Any], str] = repr,
       many: tuple[int, int] | None = None) -> Param:
    return Param(name, values, common, many, fmt)


def _names(values: dict[int, str]) -> Callable[[Any], str]:
    return _name_fmt(values)


#: Who makes an operation: a task index (modulo the number of tasks).
TASK = _p("task", _TASKS, 3)
_KEY = _p("key", KEYS, 3, _key_fmt)
_FLAGS = _p("flags", GET_FLAGS, 4, _GET_FLAGS)
_UID = _p("uid", _UIDS, 2)
_MODE = _p("mode", _SET_MODES, 3, _opt_oct)
_MQD = _p("mqd", _MQDS, 2, _sym_fmt)
_ATT = _p("att", _ATTS, 2, _sym_fmt)


def _id(kind: str) -> Param:
    return _p("id", _ids(kind), 2, _sym_fmt)


def _index_param(stat: int, stat_any: int, prefix: str) -> tuple[Param, Param]:
    return (_p("cmd", (stat, stat_any), 2, _names({stat: f"{prefix}_STAT",
                                                    stat_any: f"{prefix}_STAT_ANY"})),
            _p("index", _INDEXES, 2))


#: The vocabulary, by operation name.
SPECS: dict[str, Spec] = {s.name: s for s in (
    # -- SysV message queues
    Spec("msgget", 10, (_KEY, _FLAGS)),
    Spec("msgsnd", 6, (_id("msg"), _p("mtype", (1, 2, 3, 0, -1), 3),
                       _p("data", _MSG_DATA, 3))),
    Spec("msgrcv", 6, (_id("msg"), _p("size", (100, 0, 3, 8192, -1), 2),
                       _p("mtype", (0, 1, 2, -2, 3, -100), 4),
                       _p("flags", _RCV_FLAG_VALUES, 2, _RCV_FLAGS))),
    Spec("msgctl_stat", 2, (_id("msg"),)),
    Spec("msg_stat_index", 1, _index_param(abi.MSG_STAT, abi.MSG_STAT_ANY, "MSG")),
    Spec("msgctl_info", 1, (_p("cmd", (abi.IPC_INFO, abi.MSG_INFO), 2,
                               _names({abi.IPC_INFO: "IPC_INFO", abi.MSG_INFO: "MSG_INFO"})),)),
    Spec("msgctl_set", 2, (_id("msg"), _p("qbytes", (None, 100, 0, 16384, 16385), 3),
                           _UID, _MODE)),
    Spec("msgctl_rmid", 2, (_id("msg"),)),
    # -- SysV semaphores
    Spec("semget", 8, (_KEY, _p("nsems", (1, 3, 0, 2, 32000, 32001, -1), 2), _FLAGS)),
    Spec("semop", 6, (_id("sem"), _p("sops", _SOPS, 12, _sops_fmt, many=(0, 3)))),
    Spec("semctl", 3, (_id("sem"), _p("semnum", (0, 1, 2, 5, -1), 2),
                       _p("cmd", (abi.GETVAL, abi.GETPID, abi.GETNCNT, abi.GETZCNT), 2,
                          _names({abi.GETVAL: "GETVAL", abi.GETPID: "GETPID",
                                  abi.GETNCNT: "GETNCNT", abi.GETZCNT: "GETZCNT"})))),
    Spec("semctl_setval", 3, (_id("sem"), _p("semnum", (0, 1, 2, 5, -1), 2),
                              _p("value", _SEMVALS, 3))),
    Spec("semctl_getall", 2, (_id("sem"),)),
    Spec("semctl_setall", 2, (_id("sem"), _p("values", _SEMVALS, 3, many=(0, 4)))),
    Spec("semctl_stat", 2, (_id("sem"),)),
    Spec("sem_stat_index", 1, _index_param(abi.SEM_STAT, abi.SEM_STAT_ANY, "SEM")),
    Spec("semctl_info", 1, (_p("cmd", (abi.IPC_INFO, abi.SEM_INFO), 2,
                               _names({abi.IPC_INFO: "IPC_INFO", abi.SEM_INFO: "SEM_INFO"})),)),
    Spec("semctl_set", 1, (_id("sem"), _UID, _MODE)),
    Spec("semctl_rmid", 2, (_id("sem"),)),
    # -- SysV shared memory
    Spec("shmget", 8, (_KEY, _p("size", (4096, 1, 5000, 0, 65536), 3), _FLAGS)),
    Spec("shmat", 6, (_id("shm"), _p("flags", (0, abi.SHM_RDONLY), 2, _SHMAT_FLAGS))),
    Spec("shmdt", 2, (_ATT, _p("offset", (0, 1)))),
    Spec("shm_write", 3, (_ATT, _p("offset", (0, 1, 100, 4000), 4),
                          _p("data", (b"abc", bytes(range(32)), b"\xff" * 64), 3))),
    Spec("shm_read", 3, (_ATT, _p("offset", (0, 1, 100, 4000), 4),
                         _p("size", (8, 1, 64, 0), 3))),
    Spec("shmctl_stat", 2, (_id("shm"),)),
    Spec("shm_stat_index", 1, _index_param(abi.SHM_STAT, abi.SHM_STAT_ANY, "SHM")),
    Spec("shmctl_info", 1, ()),
    Spec("shmctl_ipcinfo", 1, ()),
    Spec("shmctl_set", 1, (_id("shm"), _UID, _MODE)),
    Spec("shmctl_lock", 1, (_id("shm"), _p("cmd", (abi.SHM_LOCK, abi.SHM_UNLOCK), 2,
                                           _names({abi.SHM_LOCK: "SHM_LOCK",
                                                   abi.SHM_UNLOCK: "SHM_UNLOCK"})))),
    Spec("shmctl_rmid", 2, (_id("shm"),)),
    # -- POSIX message queues
    Spec("mq_open", 8, (_p("name", _MQ_NAMES, 3), _p("flags", _MQ_FLAGS, 3, _open_flags),
                        _p("mode", MODES, 2, oct), _p("attr", _MQ_ATTRS, 4, _attr_fmt))),
    Spec("mq_send", 4, (_MQD, _p("data", (b"m1", b"", b"x" * 16, b"y" * 64, b"z" * 65), 3),
                        _p("prio", (0, 1, 5, 32767, 32768), 3))),
    Spec("mq_receive", 4, (_MQD, _p("size", (64, 16, 8192, 15, 0), 3))),
    Spec("mq_getattr", 2, (_MQD,)),
    Spec("mq_setattr", 1, (_MQD, _p("flags", (abi.O_NONBLOCK, 0), 2, _open_flags))),
    Spec("mq_notify", 1, (_MQD, _p("signo", (abi.SIGUSR1, None), 2))),
    Spec("mq_close", 2, (_MQD,)),
    Spec("mq_unlink", 2, (_p("name", _MQ_NAMES, 3),)),
    # -- processes and namespaces
    Spec("unshare", 2, (_p("flags", (abi.CLONE_NEWIPC, abi.CLONE_SYSVSEM,
                                     abi.CLONE_NEWIPC | abi.CLONE_SYSVSEM), 2, _CLONE_FLAGS),)),
    Spec("setns", 2, (_p("target", _TASKS, 3),)),
    Spec("fork", 2, (_p("flags", (0, abi.CLONE_NEWIPC, abi.CLONE_SYSVSEM,
                                  abi.CLONE_NEWIPC | abi.CLONE_SYSVSEM), 3, _CLONE_FLAGS),)),
    Spec("fork_unprivileged", 1, (_p("uid", (UNPRIVILEGED_UID,)),)),
    Spec("exit", 1, ()),
    Spec("ns_groups", 1, ()),
    # -- files
    Spec("sysctl_write", 3, (_p("setting", _SETTINGS, len(SYSCTL_WRITES), _setting_fmt),)),
    Spec("sysctl_read", 2, (_p("path", _SYSCTLS, len(_SYSCTLS), str),)),
    Spec("sysvipc_read", 3, (_p("kind", ("msg", "sem", "shm"), 3, str),)),
)}


def describe(op: Op) -> str:
    """``t1 msgget(key=0x1234, flags=IPC_CREAT|0o600)``."""
    spec = SPECS.get(op.name)
    if spec is None:
        return f"t{op.task} {op.name}{op.args!r}"
    parts = []
    for param, value in zip(spec.params, op.args, strict=False):
        if param.many is not None and param.fmt is repr:
            text = repr(list(value))
        else:
            text = param.fmt(value)
        parts.append(f"{param.name}={text}")
    return f"t{op.task} {op.name}({', '.join(parts)})"


def family(name: str) -> str:
    """The family of an operation: "msg", "sem", "shm", "mq", "task" or "file"."""
    for prefix in ("msg", "sem", "shm", "mq"):
        if name.startswith(prefix):
            return prefix
    return "file" if name.startswith(("sysctl", "sysvipc")) else "task"


#: Operation names by family.
FAMILIES: dict[str, tuple[str, ...]] = {
    f: tuple(n for n in SPECS if family(n) == f)
    for f in ("msg", "sem", "shm", "mq", "task", "file")
}


def random_sequence(rng: random.Random, length: int = 20) -> Sequence:
    """A sequence of ``length`` operations drawn from :data:`SPECS` by
    weight.  Mostly an operation is of the previous one's family, by the
    same task, so that the objects made are also used."""
    ops: list[Op] = []
    for _ in range(length):
        names = list(FAMILIES[family(ops[-1].name)]) if ops and rng.random() < 0.6 else list(SPECS)
        name = rng.choices(names, [SPECS[n].weight for n in names])[0]
        args: list[Any] = []
        for param in SPECS[name].params:
            if param.many is None:
                args.append(pick(rng, param))
            else:
                lo, hi = param.many
                args.append(tuple(pick(rng, param) for _ in range(rng.randint(lo, hi))))
        task = ops[-1].task if ops and rng.random() < 0.75 else pick(rng, TASK)
        ops.append(Op(name, task, tuple(args)))
    return Sequence(rng.choice(LAYOUTS), tuple(ops))


def pick(rng: random.Random, param: Param) -> Any:
    """One value of ``param``: one of its common values three times in four."""
    if rng.random() < 0.75:
        return rng.choice(param.values[:param.common])
    return rng.choice(param.values)


# ---------------------------------------------------------------------------
# Recorded values


class Pid(NamedTuple):
    """A process id in a result (normalized in order of first appearance)."""

    value: int


class Time(NamedTuple):
    """A timestamp in a result (0 stays 0, any other value is ``<time>``)."""

    value: int


class Inode(NamedTuple):
    """A namespace inode number (normalized in order of first appearance)."""

    value: int


class Handle(NamedTuple):
    """A per-process handle: a descriptor or an shm address."""

    kind: str
    value: int


class ProcText(NamedTuple):
    """The bytes of a /proc/sysvipc file (pid and time columns normalized)."""

    data: bytes


class Rec(NamedTuple):
    """A structure (a named tuple of the contract) with tagged fields."""

    type: str
    fields: tuple[tuple[str, object], ...]


class Outcome(NamedTuple):
    """What an operation gave: ``status`` "ok" (``value`` its result),
    "errno" (``value`` the OSError's errno), "skip" (``value`` why the
    harness did not issue it: same on every backend, as it depends only on
    earlier results) or "raised" (``value`` a non-OSError exception's type
    and message)."""

    status: str
    value: object


class Entry(NamedTuple):
    """One line of a transcript: ``step``, the op's index in the sequence
    (-1 for the start layout), what was done and what came of it."""

    step: int
    label: str
    outcome: Outcome


@dataclass
class Transcript:
    """Everything a run of one sequence on one backend gave."""

    backend: str
    sequence: Sequence
    entries: list[Entry] = field(default_factory=list)


_PID_FIELDS = frozenset({"lspid", "lrpid", "cpid", "lpid"})


def _tag(value: object) -> object:
    """Mark the pids and times in a contract structure."""
    if isinstance(value, tuple) and hasattr(value, "_fields"):
        fields: list[tuple[str, object]] = []
        for name, v in zip(value._fields, value, strict=True):
            if name in _PID_FIELDS:
                fields.append((name, Pid(int(v))))
            elif name.endswith("time"):
                fields.append((name, Time(int(v))))
            else:
                fields.append((name, _tag(v)))
        return Rec(type(value).__name__, tuple(fields))
    if isinstance(value, (list, tuple)):
        return tuple(_tag(v) for v in value)
    return value


# ---------------------------------------------------------------------------
# The executor


@dataclass
class _Description:
    """An open mq file description (shared by fork): is it non-blocking?"""

    nonblock: bool


@dataclass
class _TaskState:
    task: Task
    ns: int  # the namespace the sequence's own calls put it in
    alive: bool = True
    mqds: list[tuple[int, _Description]] = field(default_factory=list)
    atts: list[tuple[int, bool]] = field(default_factory=list)  # (address, read-only)


class _Skip(Exception):
    """The harness does not issue this operation (a reason both backends
    share: it depends only on earlier results)."""


#: A descriptor number no task ever has open.
BAD_FD = 1000


@dataclass
class _Run:
    tasks: list[_TaskState]
    #: (namespace, id) of each id a *get returned, by kind.
    ids: dict[str, list[tuple[int, int]]] = field(
        default_factory=lambda: {"msg": [], "sem": [], "shm": []})
    namespaces: int = 0
    queues_made: bool = False

    def new_ns(self) -> int:
        self.namespaces += 1
        return self.namespaces - 1

    def task(self, index: int) -> _TaskState:
        state = self.tasks[index % len(self.tasks)]
        if not state.alive:
            raise _Skip("task has exited")
        return state

    def ident(self, t: _TaskState, arg: Any) -> int:
        if isinstance(arg, Ref):
            got = [i for ns, i in self.ids[arg.kind] if arg.anywhere or ns == t.ns]
            return got[arg.nth % len(got)] if got else 0
        return int(arg)

    @staticmethod
    def mqd(t: _TaskState, arg: Mqd) -> tuple[int, _Description | None]:
        if arg.nth is None:
            return BAD_FD, None
        if not t.mqds:
            raise _Skip("no open mq descriptor")
        return t.mqds[arg.nth % len(t.mqds)]

    @staticmethod
    def att(t: _TaskState, arg: Att) -> tuple[int, bool]:
        if not t.atts:
            raise _Skip("no shm attachment")
        return t.atts[arg.nth % len(t.atts)]

    def add_task(self, task: Task, parent: _TaskState | None, ns: int) -> _TaskState:
        state = _TaskState(task, ns)
        if parent is not None:  # fork copies descriptors and attachments
            state.mqds = list(parent.mqds)
            state.atts = list(parent.atts)
        self.tasks.append(state)
        return state


def _timeout(desc: _Description | None) -> float | None:
    # A blocking descriptor is used with a deadline already past, so that
    # the call fails with ETIMEDOUT instead of waiting.
    return None if desc is None or desc.nonblock else 0.0


def _execute(r: _Run, op: Op) -> object:
    t = r.task(op.task)
    task = t.task
    a = op.args
    name = op.name
    if name in ("msgget", "semget", "shmget"):
        kind = name[:3]
        if kind == "msg":
            ident = task.msgget(a[0], a[1])
        elif kind == "sem":
            ident = task.semget(a[0], a[1], a[2])
        else:
            ident = task.shmget(a[0], a[1], a[2])
        r.ids[kind].append((t.ns, ident))
        return ident
    if name == "msgsnd":
        task.msgsnd(r.ident(t, a[0]), a[1], a[2], abi.IPC_NOWAIT)
        return None
    if name == "msgrcv":
        return task.msgrcv(r.ident(t, a[0]), a[1], a[2], a[3] | abi.IPC_NOWAIT)
    if name == "msgctl_stat":
        return _tag(task.msgctl_stat(r.ident(t, a[0]), abi.IPC_STAT))
    if name == "msg_stat_index":
        return _tag(task.msgctl_stat(a[1], a[0]))
    if name == "msgctl_info":
        return _tag(task.msgctl_info(a[0]))
    if name == "msgctl_set":
        return task.msgctl(r.ident(t, a[0]), abi.IPC_SET, qbytes=a[1], uid=a[2], mode=a[3])
    if name == "msgctl_rmid":
        return task.msgctl(r.ident(t, a[0]), abi.IPC_RMID)
    if name == "semop":
        task.semop(r.ident(t, a[0]), list(a[1]))
        return None
    if name == "semctl":
        value = task.semctl(r.ident(t, a[0]), a[1], a[2])
        return Pid(value) if a[2] == abi.GETPID else value
    if name == "semctl_setval":
        return task.semctl(r.ident(t, a[0]), a[1], abi.SETVAL, a[2])
    if name == "semctl_getall":
        return tuple(task.semctl_getall(r.ident(t, a[0])))
    if name == "semctl_setall":
        task.semctl_setall(r.ident(t, a[0]), list(a[1]))
        return None
    if name == "semctl_stat":
        return _tag(task.semctl_stat(r.ident(t, a[0]), abi.IPC_STAT))
    if name == "sem_stat_index":
        return _tag(task.semctl_stat(a[1], a[0]))
    if name == "semctl_info":
        return _tag(task.semctl_info(a[0]))
    if name == "semctl_set":
        return task.semctl(r.ident(t, a[0]), 0, abi.IPC_SET, uid=a[1], mode=a[2])
    if name == "semctl_rmid":
        return task.semctl(r.ident(t, a[0]), 0, abi.IPC_RMID)
    if name == "shmat":
        addr = task.shmat(r.ident(t, a[0]), a[1])
        t.atts.append((addr, bool(a[1] & abi.SHM_RDONLY)))
        return Handle("addr", addr)
    if name == "shmdt":
        entry = r.att(t, a[0])
        task.shmdt(entry[0] + a[1])
        t.atts.remove(entry)
        return None
    if name == "shm_write":
        addr, readonly = r.att(t, a[0])
        if readonly:
            raise _Skip("a store through a read-only attachment faults")
        task.shm_write(addr, a[2], a[1])
        return None
    if name == "shm_read":
        addr, _ = r.att(t, a[0])
        return task.shm_read(addr, a[2], a[1])
    if name == "shmctl_stat":
        return _tag(task.shmctl_stat(r.ident(t, a[0]), abi.IPC_STAT))
    if name == "shm_stat_index":
        return _tag(task.shmctl_stat(a[1], a[0]))
    if name == "shmctl_info":
        return _tag(task.shmctl_info())
    if name == "shmctl_ipcinfo":
        return _tag(task.shmctl_ipcinfo())
    if name == "shmctl_set":
        return task.shmctl(r.ident(t, a[0]), abi.IPC_SET, uid=a[1], mode=a[2])
    if name == "shmctl_lock":
        return task.shmctl(r.ident(t, a[0]), a[1])
    if name == "shmctl_rmid":
        return task.shmctl(r.ident(t, a[0]), abi.IPC_RMID)
    if name == "mq_open":
        r.queues_made = True
        fd = task.mq_open(a[0], a[1], a[2], a[3])
        t.mqds.append((fd, _Description(bool(a[1] & abi.O_NONBLOCK))))
        return Handle("fd", fd)
    if name == "mq_send":
        fd, desc = r.mqd(t, a[0])
        task.mq_send(fd, a[1], a[2], timeout=_timeout(desc))
        return None
    if name == "mq_receive":
        fd, desc = r.mqd(t, a[0])
        return task.mq_receive(fd, a[1], timeout=_timeout(desc))
    if name == "mq_getattr":
        return _tag(task.mq_getattr(r.mqd(t, a[0])[0]))
    if name == "mq_setattr":
        fd, desc = r.mqd(t, a[0])
        old = task.mq_setattr(fd, a[1])
        if desc is not None:
            desc.nonblock = bool(a[1] & abi.O_NONBLOCK)
        return _tag(old)
    if name == "mq_notify":
        task.mq_notify(r.mqd(t, a[0])[0], a[1])
        return None
    if name == "mq_close":
        fd, desc = r.mqd(t, a[0])
        task.close(fd)
        if desc is not None:
            t.mqds.remove((fd, desc))
        return None
    if name == "mq_unlink":
        task.mq_unlink(a[0])
        return None
    if name == "unshare":
        task.unshare(a[0])
        if a[0] & abi.CLONE_NEWIPC:
            t.ns = r.new_ns()
        return None
    if name == "setns":
        target = r.tasks[a[0] % len(r.tasks)]
        if not target.alive:
            raise _Skip("target task has exited")
        task.setns(target.task)
        t.ns = target.ns
        return None
    if name == "fork":
        child = task.fork(a[0])
        r.add_task(child, t, r.new_ns() if a[0] & abi.CLONE_NEWIPC else t.ns)
        return Pid(child.pid)
    if name == "fork_unprivileged":
        child = task.fork(0)
        r.add_task(child, t, t.ns)
        child.setgroups([])
        child.setresgid(a[0], a[0], a[0])
        child.setresuid(a[0], a[0], a[0])
        return Pid(child.pid)
    if name == "exit":
        t.alive = False
        task.exit(0)
        return None
    if name == "ns_groups":
        # Which live tasks share a namespace, from inodes read at one moment
        # (a dead namespace's inode number is soon given to a new one, on
        # Linux after a delay, so numbers read at different times may not
        # be compared).
        groups: dict[int, list[int]] = {}
        for i, other in enumerate(r.tasks):
            if other.alive:
                groups.setdefault(other.task.ns_inode("ipc"), []).append(i)
        return tuple(tuple(g) for g in groups.values())
    if name == "sysctl_write":
        path, data = a[0]
        task.write_file(f"/proc/sys/{path}", data + b"\n")
        return None
    if name == "sysctl_read":
        return task.read_file(f"/proc/sys/{a[0]}")
    if name == "sysvipc_read":
        return ProcText(task.read_file(f"/proc/sysvipc/{a[0]}"))
    raise ValueError(f"unknown operation {name!r}")


def _attempt(fn: Callable[[], object]) -> Outcome:
    try:
        return Outcome("ok", fn())
    except _Skip as skip:
        return Outcome("skip", str(skip))
    except OSError as err:
        return Outcome("errno", err.errno)
    except Exception as err:
        return Outcome("raised", f"{type(err).__name__}: {err}")


def _start(kernel: Kernel, layout: tuple[int, ...], transcript: Transcript) -> _Run | None:
    run = _Run([])
    first: dict[int, _TaskState] = {}
    for i, group in enumerate(layout):
        leader = first.get(group)

        def make(leader: _TaskState | None = leader) -> object:
            if leader is None:
                task = kernel.spawn()
                run.add_task(task, None, run.new_ns())
                task.unshare(abi.CLONE_NEWIPC)
            else:
                task = leader.task.fork(0)
                run.add_task(task, leader, leader.ns)
            return (Pid(task.pid), Inode(task.ns_inode("ipc")))

        how = "spawn, unshare(CLONE_NEWIPC)" if leader is None else \
            f"t{layout.index(group)}.fork(0)"
        outcome = _attempt(make)
        transcript.entries.append(Entry(-1, f"start t{i}: {how}", outcome))
        if outcome.status != "ok":
            return None
        if leader is None:
            first[group] = run.tasks[-1]
    return run


def _clean_queues(run: _Run) -> None:
    """Close descriptors and unlink the queues of the pool, so that their
    RLIMIT_MSGQUEUE charge goes back at once (a dying namespace gives it
    back later, from a work queue)."""
    for t in run.tasks:
        if not t.alive:
            continue
        for fd, _ in t.mqds:
            _attempt(functools.partial(t.task.close, fd))
        for name in _MQ_NAMES[:3]:
            _attempt(functools.partial(t.task.mq_unlink, name))


def run_sequence(kernel: Kernel, seq: Sequence) -> Transcript:
    """Run ``seq`` on ``kernel`` and close the kernel; the transcript."""
    transcript = Transcript(kernel.name, seq)
    try:
        run = _start(kernel, seq.layout, transcript)
        for i, op in enumerate(seq.ops):
            if run is None:
                outcome = Outcome("skip", "start failed")
            else:
                outcome = _attempt(functools.partial(_execute, run, op))
            transcript.entries.append(Entry(i, describe(op), outcome))
        if run is not None and run.queues_made:
            _clean_queues(run)
    finally:
        kernel.close()
    return transcript


# ---------------------------------------------------------------------------
# Normalization and comparison


class Line(NamedTuple):
    """A normalized transcript entry (``step`` as in :class:`Entry`)."""

    step: int
    label: str
    result: str


_SYSVIPC_PIDS = frozenset({b"lspid", b"lrpid", b"cpid", b"lpid"})
_TOKEN = re.compile(rb"\s*\S+")


class _Names:
    """Pids and inodes numbered in order of first appearance."""

    def __init__(self) -> None:
        self.pids: dict[int, int] = {}
        self.inodes: dict[int, int] = {}

    def pid(self, value: int) -> str:
        if value == 0:
            return "0"
        return f"<pid{self.pids.setdefault(value, len(self.pids))}>"

    def inode(self, value: int) -> str:
        return f"<ns{self.inodes.setdefault(value, len(self.inodes))}>"

    def sysvipc(self, text: bytes) -> bytes:
        """A /proc/sysvipc file with pid and time columns replaced: each such
        column (with the padding before it) becomes one space and a name;
        every other byte is kept."""
        lines = text.split(b"\n")
        header = lines[0].split()
        kinds = [b"pid" if h in _SYSVIPC_PIDS else b"time" if h.endswith(b"time") else b""
                 for h in header]
        out = [lines[0]]
        for line in lines[1:]:
            tokens = _TOKEN.findall(line)
            if len(tokens) != len(kinds):
                out.append(line)
                continue
            row = []
            for kind, token in zip(kinds, tokens, strict=True):
                if kind == b"pid":
                    row.append(b" " + self.pid(int(token)).encode())
                elif kind == b"time":
                    row.append(b" 0" if int(token) == 0 else b" <time>")
                else:
                    row.append(token)
            out.append(b"".join(row))
        return b"\n".join(out)

    def render(self, value: object) -> str:
        if isinstance(value, Pid):
            return self.pid(value.value)
        if isinstance(value, Time):
            return "0" if value.value == 0 else "<time>"
        if isinstance(value, Inode):
            return self.inode(value.value)
        if isinstance(value, Handle):
            return f"<{value.kind}>"
        if isinstance(value, ProcText):
            return repr(self.sysvipc(value.data))
        if isinstance(value, Rec):
            inner = ", ".join(
                f"{k}={oct(v) if k == 'mode' and isinstance(v, int) else self.render(v)}"
                for k, v in value.fields)
            return f"{value.type}({inner})"
        if isinstance(value, tuple):
            return "(" + ", ".join(self.render(v) for v in value) + ("," if len(value) == 1
                                                                        else "") + ")"
        return repr(value)

    def outcome(self, outcome: Outcome) -> str:
        if outcome.status == "ok":
            return self.render(outcome.value)
        if outcome.status == "errno":
            code = cast(int, outcome.value)
            return f"error {errno_mod.errorcode.get(code, str(code))}"
        return f"{outcome.status}: {outcome.value}"


def normalize(transcript: Transcript) -> list[Line]:
    """The transcript with pids, times and namespace inodes mapped (see the
    module docstring); every other value as it came."""
    names = _Names()
    return [Line(e.step, e.label, names.outcome(e.outcome)) for e in transcript.entries]


class Divergence(NamedTuple):
    """The first entry where two transcripts differ after normalization:
    ``step`` is the op's index in the sequence (-1 for the start)."""

    step: int
    label: str
    left: str
    right: str
    left_backend: str
    right_backend: str

    def __str__(self) -> str:
        where = "start" if self.step < 0 else f"op #{self.step}"
        width = max(len(self.left_backend), len(self.right_backend))
        return (f"{where}: {self.label}\n"
                f"  {self.left_backend:>{width}}: {self.left}\n"
                f"  {self.right_backend:>{width}}: {self.right}")


def compare(left: Transcript, right: Transcript) -> Divergence | None:
    """The first divergence of two transcripts of one sequence, or None."""
    a, b = normalize(left), normalize(right)
    for x, y in zip(a, b, strict=False):
        if x != y:
            return Divergence(x.step, x.label, x.result, y.result, left.backend, right.backend)
    if len(a) != len(b):
        longer, index = (a, len(b)) if len(a) > len(b) else (b, len(a))
        missing = "(no entry)"
        extra = longer[index]
        lres, rres = (extra.result, missing) if longer is a else (missing, extra.result)
        return Divergence(extra.step, extra.label, lres, rres, left.backend, right.backend)
    return None


def explain(left: Transcript, right: Transcript, context: int = 200) -> str:
    """A readable report: the sequence, each entry's normalized result up to
    the first divergence (both results there), and Python to rebuild it."""
    div = compare(left, right)
    a, b = normalize(left), normalize(right)
    lines = [f"layout {left.sequence.layout}"]
    for x, y in zip(a, b, strict=False):
        where = "start" if x.step < 0 else f"#{x.step}"
        if x == y:
            lines.append(f"  {where} {x.label}  ->  {x.result[:context]}")
            continue
        lines.append(f"!! {where} {x.label}")
        lines.append(f"     {left.backend}: {x.result}")
        lines.append(f"     {right.backend}: {y.result}")
        break
    lines.append("" if div else "(no divergence)")
    lines.append(left.sequence.code())
    return "\n".join(lines)


def differ(seq: Sequence, make_left: Callable[[], Kernel], make_right: Callable[[], Kernel]
           ) -> tuple[Divergence | None, Transcript, Transcript]:
    """Run ``seq`` on a fresh kernel of each maker; the first divergence
    (None if none) and both transcripts."""
    left = run_sequence(make_left(), seq)
    right = run_sequence(make_right(), seq)
    return compare(left, right), left, right


def shrink(seq: Sequence, diverges: Callable[[Sequence], bool], upto: int | None = None
           ) -> Sequence:
    """A shorter sequence that still ``diverges`` (a predicate that runs a
    candidate on both backends): the ops after ``upto`` (the index of the
    first divergence) dropped, then every op not needed, one at a time, then
    start tasks."""
    best = seq
    if upto is not None and 0 <= upto < len(seq.ops) - 1:
        cand = seq._replace(ops=seq.ops[:upto + 1])
        if diverges(cand):
            best = cand
    changed = True
    while changed:
        changed = False
        for i in reversed(range(len(best.ops))):
            cand = best._replace(ops=best.ops[:i] + best.ops[i + 1:])
            if cand.ops and diverges(cand):
                best, changed = cand, True
        for layout in LAYOUTS:
            if len(layout) < len(best.layout) or (len(layout) == len(best.layout)
                                                  and layout < best.layout):
                cand = best._replace(layout=layout)
                if diverges(cand):
                    best, changed = cand, True
                    break
    return best


def iter_sequences(seed: int, count: int, length: int) -> Iterator[Sequence]:
    """``count`` sequences of ``length`` ops from a generator seeded ``seed``."""
    rng = random.Random(seed)
    for _ in range(count):
        yield random_sequence(rng, length)


# ---------------------------------------------------------------------------
# The model, made to match this host


def host_bounding_set() -> int:
    """The capability bounding set of this process (CapBnd)."""
    with open("/proc/self/status", "rb") as f:
        for line in f:
            if line.startswith(b"CapBnd:"):
                return int(line.split()[1], 16)
    raise OSError(errno_mod.ENOENT, "no CapBnd in /proc/self/status")


def model_like_host() -> Kernel:
    """The reference model with this host's capability bounding set (root
    here may lack CAP_SYS_RESOURCE, which decides queues_max, msg_max and
    qbytes checks), as ``ModelKernel(bounding=...)`` when the model offers
    it; else ``ipcns.kernel("model")``."""
    try:
        module = importlib.import_module("ipcns.model")
    except ImportError:
        module = None
    make = getattr(module, "ModelKernel", None)
    if make is not None:
        try:
            return cast(Kernel, make(bounding=host_bounding_set()))
        except TypeError:
            pass
    import ipcns

    return ipcns.kernel("model")
