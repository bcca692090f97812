"""Cost of the reference model's IPC calls beside the same calls on the kernel.

    python benchmarks/model.py [--iterations 2000] [--repeat 5] [--warmup 200]

For each operation it times a loop of ``--iterations`` rounds, ``--repeat``
times after ``--warmup`` untimed rounds, keeps the fastest (best of N,
``time.perf_counter_ns``) and prints the cost per operation on:

* the kernel: direct system calls from one process, through
  :class:`ipcns.linux.syscalls.Syscalls` (ctypes, no helper process), made
  by a child forked from this process that first unshares an IPC namespace
  of its own, so that nothing touches the host's; it sends its numbers back
  through a pipe, as JSON;
* the model: ``ipcns.kernel("model")``, one task that unshares
  CLONE_NEWIPC, the same calls as its method calls, in this process.

Both sides run the same loops, written once against the calls they share.
The operations:

* ``msgsnd+msgrcv``: one 8-byte message, IPC_NOWAIT on both calls;
* ``semop``: one operation on a one-semaphore set, +1 then -1 in turn
  (IPC_NOWAIT), per semop call;
* ``shmget+shmat+shmdt+IPC_RMID``: an IPC_PRIVATE segment of one page; its
  IPC_RMID is inside the timed loop on both sides, so nothing piles up;
* ``mq_send+mq_receive``: one 8-byte message on a queue of 4 x 64 bytes
  opened O_NONBLOCK;
* ``unshare+setns``: unshare(CLONE_NEWIPC), then setns(CLONE_NEWIPC) back
  through an nsfs descriptor of the namespace the loop started in.

Target: the model within 5x of the kernel on each operation.  It exits 0
whatever the ratios (a measurement, not a test); the last line says how many
operations meet the target.  Every object is removed after its loop, and
the kernel's side dies with its namespace in any case.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from typing import NamedTuple, Protocol

import ipcns
from ipcns import abi
from ipcns._types import MqAttr
from ipcns.linux import syscalls

#: The model may cost at most this many times the kernel.
TARGET = 5.0
PAYLOAD = b"ipcns-bm"
PAGE = os.sysconf("SC_PAGE_SIZE")
MQ_NAME = "/ipcns-bench-model"
MQ_ATTR = MqAttr(maxmsg=4, msgsize=64)

#: A timed loop: runs that many rounds.
Loop = Callable[[int], None]


class Calls(Protocol):
    """The calls the loops make, with the contract's names and arguments:
    both a :class:`ipcns.contract.Task` and a
    :class:`ipcns.linux.syscalls.Syscalls` have them."""

    def open(self, path: str, flags: int = ..., mode: int = ...) -> int: ...

    def close(self, fd: int) -> None: ...

    def unshare(self, flags: int) -> None: ...

    def setns(self, target: int, nstype: int = ...) -> None: ...

    def ns_inode(self, nstype: str = ...) -> int: ...

    def msgget(self, key: int, flags: int) -> int: ...

    def msgsnd(self, msqid: int, mtype: int, data: bytes, flags: int = ...) -> None: ...

    def msgrcv(self, msqid: int, size: int, mtype: int = ...,
               flags: int = ...) -> tuple[int, bytes]: ...

    def msgctl(self, msqid: int, cmd: int) -> int: ...

    def semget(self, key: int, nsems: int, flags: int) -> int: ...

    def semop(self, semid: int, ops: Sequence[tuple[int, int, int]]) -> None: ...

    def semctl(self, semid: int, semnum: int, cmd: int) -> int: ...

    def shmget(self, key: int, size: int, flags: int) -> int: ...

    def shmat(self, shmid: int, flags: int = ...) -> int: ...

    def shmdt(self, addr: int) -> None: ...

    def shmctl(self, shmid: int, cmd: int) -> int: ...

    def mq_open(self, name: str, flags: int, mode: int = ...,
                attr: MqAttr | None = ...) -> int: ...

    def mq_send(self, mqd: int, data: bytes) -> None: ...

    def mq_receive(self, mqd: int, size: int) -> tuple[bytes, int]: ...

    def mq_unlink(self, name: str) -> None: ...


def _check(what: str, got: object, want: object) -> None:
    """Raise RuntimeError unless ``got == want`` (a wrong answer is no speed)."""
    if got != want:
        raise RuntimeError(f"{what}: got {got!r}, expected {want!r}")


@contextlib.contextmanager
def msg_roundtrip(c: Calls) -> Iterator[Loop]:
    """msgsnd + msgrcv of one message on a private queue."""
    msqid = c.msgget(abi.IPC_PRIVATE, abi.IPC_CREAT | 0o600)
    try:
        c.msgsnd(msqid, 1, PAYLOAD, abi.IPC_NOWAIT)
        _check("msgrcv", c.msgrcv(msqid, 64, 0, abi.IPC_NOWAIT), (1, PAYLOAD))

        def loop(rounds: int) -> None:
            snd, rcv, nowait = c.msgsnd, c.msgrcv, abi.IPC_NOWAIT
            for _ in range(rounds):
                snd(msqid, 1, PAYLOAD, nowait)
                rcv(msqid, 64, 0, nowait)

        yield loop
    finally:
        c.msgctl(msqid, abi.IPC_RMID)


@contextlib.contextmanager
def sem_updown(c: Calls) -> Iterator[Loop]:
    """semop +1 then semop -1 on a one-semaphore set (two calls a round)."""
    semid = c.semget(abi.IPC_PRIVATE, 1, abi.IPC_CREAT | 0o600)
    up, down = ((0, 1, abi.IPC_NOWAIT),), ((0, -1, abi.IPC_NOWAIT),)
    try:
        c.semop(semid, up)
        _check("semval after +1", c.semctl(semid, 0, abi.GETVAL), 1)
        c.semop(semid, down)
        _check("semval after -1", c.semctl(semid, 0, abi.GETVAL), 0)

        def loop(rounds: int) -> None:
            semop = c.semop
            for _ in range(rounds):
                semop(semid, up)
                semop(semid, down)

        yield loop
    finally:
        c.semctl(semid, 0, abi.IPC_RMID)


@contextlib.contextmanager
def shm_cycle(c: Calls) -> Iterator[Loop]:
    """shmget + shmat + shmdt + shmctl(IPC_RMID) of a one-page segment."""

    def loop(rounds: int) -> None:
        get, at, dt, ctl = c.shmget, c.shmat, c.shmdt, c.shmctl
        key, flags, rmid = abi.IPC_PRIVATE, abi.IPC_CREAT | 0o600, abi.IPC_RMID
        for _ in range(rounds):
            shmid = get(key, PAGE, flags)
            dt(at(shmid, 0))
            ctl(shmid, rmid)

    yield loop


@contextlib.contextmanager
def mq_roundtrip(c: Calls) -> Iterator[Loop]:
    """mq_send + mq_receive of one message on a small queue."""
    mqd = c.mq_open(MQ_NAME, abi.O_CREAT | abi.O_EXCL | abi.O_RDWR | abi.O_NONBLOCK,
                    0o600, MQ_ATTR)
    try:
        c.mq_send(mqd, PAYLOAD)
        _check("mq_receive", c.mq_receive(mqd, MQ_ATTR.msgsize), (PAYLOAD, 0))

        def loop(rounds: int) -> None:
            send, receive, size = c.mq_send, c.mq_receive, MQ_ATTR.msgsize
            for _ in range(rounds):
                send(mqd, PAYLOAD)
                receive(mqd, size)

        yield loop
    finally:
        c.close(mqd)
        c.mq_unlink(MQ_NAME)


@contextlib.contextmanager
def unshare_setns(c: Calls) -> Iterator[Loop]:
    """unshare(CLONE_NEWIPC), then setns back through an nsfs descriptor."""
    home_fd = c.open("/proc/self/ns/ipc", abi.O_RDONLY)
    home = c.ns_inode()
    try:
        c.unshare(abi.CLONE_NEWIPC)
        if c.ns_inode() == home:
            raise RuntimeError("unshare(CLONE_NEWIPC) left the namespace unchanged")
        c.setns(home_fd, abi.CLONE_NEWIPC)
        _check("the namespace after setns back", c.ns_inode(), home)

        def loop(rounds: int) -> None:
            unshare, setns, newipc = c.unshare, c.setns, abi.CLONE_NEWIPC
            for _ in range(rounds):
                unshare(newipc)
                setns(home_fd, newipc)

        yield loop
    finally:
        if c.ns_inode() != home:
            c.setns(home_fd, abi.CLONE_NEWIPC)
        c.close(home_fd)


class Op(NamedTuple):
    name: str
    #: How many of the operation one round of the loop makes.
    per_round: int
    run: Callable[[Calls], contextlib.AbstractContextManager[Loop]]


OPS = (
    Op("msgsnd+msgrcv", 1, msg_roundtrip),
    Op("semop", 2, sem_updown),
    Op("shmget+shmat+shmdt+IPC_RMID", 1, shm_cycle),
    Op("mq_send+mq_receive", 1, mq_roundtrip),
    Op("unshare+setns", 1, unshare_setns),
)


def sample_ns(loop: Loop, rounds: int) -> int:
    """Wall time of ``loop(rounds)`` in nanoseconds."""
    t0 = time.perf_counter_ns()
    loop(rounds)
    return time.perf_counter_ns() - t0


def measure(c: Calls, op: Op, iterations: int, repeat: int, warmup: int) -> float:
    """Nanoseconds per operation: the fastest of ``repeat`` timed loops of
    ``iterations`` rounds, after ``warmup`` untimed rounds."""
    with op.run(c) as loop:
        loop(warmup)
        best = min(sample_ns(loop, iterations) for _ in range(repeat))
    return best / (iterations * op.per_round)


class Results(NamedTuple):
    #: Nanoseconds per operation, by operation name.
    ns: dict[str, float]
    #: Why an operation could not be measured, by operation name.
    errors: dict[str, str]


def measure_all(c: Calls, iterations: int, repeat: int, warmup: int) -> Results:
    """Every operation of :data:`OPS` on ``c``; a failure skips only its own."""
    ns: dict[str, float] = {}
    errors: dict[str, str] = {}
    for op in OPS:
        try:
            ns[op.name] = measure(c, op, iterations, repeat, warmup)
        except Exception as err:
            errors[op.name] = f"{type(err).__name__}: {err}"
    return Results(ns, errors)


def kernel_side(iterations: int, repeat: int, warmup: int) -> Results:
    """The operations as direct system calls, in a forked child inside an
    IPC namespace of its own."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        try:
            os.close(read_fd)
            syscalls.set_pdeathsig(signal.SIGKILL)
            calls = syscalls.Syscalls()
            calls.unshare(abi.CLONE_NEWIPC)
            results = measure_all(calls, iterations, repeat, warmup)
            with os.fdopen(write_fd, "w") as out:
                json.dump(results._asdict(), out)
        except BaseException:
            traceback.print_exc()
            os._exit(1)
        os._exit(0)
    os.close(write_fd)
    with os.fdopen(read_fd) as pipe:
        text = pipe.read()
    _, wait_status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(wait_status)
    if code != 0 or not text:
        message = f"the measuring child failed (exit status {code})"
        return Results({}, {op.name: message for op in OPS})
    data = json.loads(text)
    return Results({str(k): float(v) for k, v in data["ns"].items()},
                   {str(k): str(v) for k, v in data["errors"].items()})


def model_side(iterations: int, repeat: int, warmup: int) -> Results | str:
    """The operations on the reference model, in this process; a string
    saying why when there is no model."""
    try:
        kernel = ipcns.kernel("model")
    except (ipcns.IpcnsError, ImportError) as err:
        return f"{type(err).__name__}: {err}"
    with kernel:
        try:
            task = kernel.spawn()
        except Exception as err:
            return f"spawn: {type(err).__name__}: {err}"
        try:
            task.unshare(abi.CLONE_NEWIPC)
        except Exception as err:
            task.exit()
            return f"unshare(CLONE_NEWIPC): {type(err).__name__}: {err}"
        try:
            return measure_all(task, iterations, repeat, warmup)
        finally:
            task.exit()


def _us(ns: float | None) -> str:
    return "-" if ns is None else f"{ns / 1e3:.2f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--iterations", type=int, default=2000,
                        help="rounds per timed loop (default 2000)")
    parser.add_argument("--repeat", type=int, default=5,
                        help="timed loops per operation and side, the fastest kept (default 5)")
    parser.add_argument("--warmup", type=int, default=200,
                        help="untimed rounds before the timed loops (default 200)")
    args = parser.parse_args()
    if args.iterations < 1 or args.repeat < 1 or args.warmup < 0:
        parser.error("--iterations and --repeat must be at least 1, --warmup at least 0")
    if os.geteuid() != 0:
        print("model.py: needs root (CAP_SYS_ADMIN) to make namespaces", file=sys.stderr)
        return 1
    # The kernel's side first: fork before the model may start threads.
    kernel = kernel_side(args.iterations, args.repeat, args.warmup)
    model = model_side(args.iterations, args.repeat, args.warmup)
    model_errors = {} if isinstance(model, str) else model.errors

    width = max(len(op.name) for op in OPS)
    print(f"{'operation':<{width}} {'kernel µs/op':>12} {'model µs/op':>12} {'ratio':>8}  "
          f"target {TARGET:g}x")
    met = 0
    for op in OPS:
        k_ns = kernel.ns.get(op.name)
        m_ns = None if isinstance(model, str) else model.ns.get(op.name)
        if k_ns is None or m_ns is None:
            ratio, verdict = "-", "not measured"
        else:
            ratio = f"{m_ns / k_ns:.1f}x"
            ok = m_ns <= TARGET * k_ns
            met += ok
            verdict = "ok" if ok else "over target"
        print(f"{op.name:<{width}} {_us(k_ns):>12} {_us(m_ns):>12} {ratio:>8}  {verdict}")
    for side, errors in (("kernel", kernel.errors), ("model", model_errors)):
        for name, error in errors.items():
            print(f"{side} {name}: {error}")
    if isinstance(model, str):
        print(f"model: not available ({model})")
    print(f"best of {args.repeat} x {args.iterations} rounds after {args.warmup} warm-up; "
          "IPC_RMID is inside the timed shm loop on both sides")
    print(f"{met} of {len(OPS)} operations meet the target (model within {TARGET:g}x "
          "of the kernel)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
