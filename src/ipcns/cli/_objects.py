"""``ipcns mk`` (ipcmk) and ``ipcns rm`` (ipcrm) inside a namespace, from
outside: a helper task joins the namespace with setns and makes or removes
the objects there; the caller never changes namespace."""

from __future__ import annotations

import argparse
import contextlib
import errno
import secrets
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from ._common import UsageError, enter_task, key_text, open_ns

if TYPE_CHECKING:
    from ipcns import IpcnsError
    from ipcns.contract import Task

#: What an errno means when making an object of each kind.
_MAKE_HINTS = {
    ("shm", errno.EINVAL): "the size is outside shmmin..shmmax",
    ("shm", errno.ENOSPC): "shmmni segments or shmall pages reached",
    ("shm", errno.ENOMEM): "not enough memory",
    ("msg", errno.ENOSPC): "msgmni queues reached",
    ("sem", errno.EINVAL): "more semaphores than semmsl",
    ("sem", errno.ENOSPC): "semmni sets or semmns semaphores reached",
    ("mqueue", errno.EINVAL): "maxmsg or msgsize beyond msg_max or msgsize_max",
    ("mqueue", errno.ENOSPC): "queues_max queues reached",
    ("mqueue", errno.EMFILE): "RLIMIT_MSGQUEUE or the open-file limit reached",
}
_WHAT = {"shm": "shared memory segment", "msg": "message queue", "sem": "semaphore set",
         "mqueue": "POSIX message queue"}


def _make_error(kind: str, err: OSError, detail: str = "") -> IpcnsError:
    """The one-line error for failing to make an object of ``kind``."""
    from ipcns import IpcnsError

    hint = _MAKE_HINTS.get((kind, err.errno or 0))
    if err.errno == errno.EEXIST:
        hint = f"{detail} already exists" if detail else "it already exists"
    reason = err.strerror or str(err)
    return IpcnsError(f"cannot make a {_WHAT[kind]}: {reason}" + (f" ({hint})" if hint else ""))


def _sysv_get(get: Callable[[int, int], int], key: int | None, private: bool,
              mode: int) -> tuple[int, int]:
    """(id, key) of a new object: with ``key``, exactly that one (IPC_EXCL);
    else a random key, as ipcmk picks, retried while taken; IPC_PRIVATE
    with ``private``."""
    from ipcns import abi
    from ipcns._procfs import signed_key

    flags = abi.IPC_CREAT | abi.IPC_EXCL | mode
    if private:
        return get(abi.IPC_PRIVATE, flags), 0
    if key is not None:
        return get(signed_key(key), flags), key
    for _ in range(64):
        candidate = secrets.randbits(32) or 1
        try:
            return get(signed_key(candidate), flags), candidate
        except FileExistsError:
            continue
    raise OSError(errno.EEXIST, "every random key tried is taken")


def run_mk(args: argparse.Namespace) -> int:
    """``ipcns mk NS [-M SIZE] [-Q] [-S NSEMS] [-q NAME] [--key KEY | --private]
    [-p MODE]``."""
    from ipcns import abi
    from ipcns._types import MqAttr
    from ipcns.linux.kernel import LinuxKernel

    if not (args.shmem or args.queue or args.semaphore or args.posix_mqueue):
        raise UsageError("nothing to make: give -M SIZE, -Q, -S NSEMS or -q NAME")
    if args.private and args.key is not None:
        raise UsageError("--key and --private exclude each other")
    if (args.maxmsg is not None or args.msgsize is not None) and not args.posix_mqueue:
        raise UsageError("--maxmsg and --msgsize are for a POSIX queue (-q NAME)")
    mode = args.mode
    ns = open_ns(args.ns)
    made: list[tuple[str, int | str]] = []
    lines: list[str] = []
    with LinuxKernel() as kernel:
        task = kernel.spawn()
        enter_task(task, ns)
        try:
            size, nsems = args.shmem, args.semaphore
            sysv: list[tuple[str, bool, Callable[[int, int], int], str]] = [
                ("shm", size is not None, lambda k, f: task.shmget(k, size, f),
                 "Shared memory id"),
                ("msg", bool(args.queue), task.msgget, "Message queue id"),
                ("sem", nsems is not None, lambda k, f: task.semget(k, nsems, f),
                 "Semaphore id"),
            ]
            for kind, wanted, get, label in sysv:
                if not wanted:
                    continue
                try:
                    ident, _ = _sysv_get(get, args.key, args.private, mode)
                except OSError as err:
                    raise _make_error(kind, err, _key_detail(args.key)) from err
                made.append((kind, ident))
                lines.append(f"{label}: {ident}")
            if args.posix_mqueue is not None:
                name = args.posix_mqueue
                attr = None
                if args.maxmsg is not None or args.msgsize is not None:
                    def sysctl(leaf: str) -> int:
                        return int(task.read_file(f"/proc/sys/fs/mqueue/{leaf}"))

                    attr = MqAttr(
                        maxmsg=args.maxmsg or min(sysctl("msg_default"), sysctl("msg_max")),
                        msgsize=args.msgsize or min(sysctl("msgsize_default"),
                                                    sysctl("msgsize_max")))
                try:
                    fd = task.mq_open(name, abi.O_CREAT | abi.O_EXCL | abi.O_RDWR, mode, attr)
                except OSError as err:
                    raise _make_error("mqueue", err, f"queue {name}") from err
                task.close(fd)
                made.append(("mqueue", name))
                lines.append(f"POSIX message queue name: {name}")
        except BaseException:
            _undo(task, made)
            raise
    for line in lines:
        print(line)
    return 0


def _key_detail(key: int | None) -> str:
    return f"key {key_text(key)}" if key is not None else ""


def _undo(task: Task, made: list[tuple[str, int | str]]) -> None:
    """Remove what this command made before a later object failed."""
    for kind, ident in reversed(made):
        with contextlib.suppress(OSError):
            _remove(task, kind, ident)


def _remove(task: Task, kind: str, ident: int | str) -> None:
    from ipcns import abi

    if kind == "msg":
        task.msgctl(int(ident), abi.IPC_RMID)
    elif kind == "sem":
        task.semctl(int(ident), 0, abi.IPC_RMID)
    elif kind == "shm":
        task.shmctl(int(ident), abi.IPC_RMID)
    else:
        task.mq_unlink(str(ident))


# -- rm --------------------------------------------------------------------------------

_ALL_KINDS = ("shm", "msg", "sem", "mqueue")


def _targets(args: argparse.Namespace) -> list[tuple[str, str, int | str]]:
    """(kind, "id"/"key"/"name", value) of each object named, in order."""
    out: list[tuple[str, str, int | str]] = []
    for kind, by, attr in (("msg", "id", "queue_id"), ("msg", "key", "queue_key"),
                           ("shm", "id", "shmem_id"), ("shm", "key", "shmem_key"),
                           ("sem", "id", "semaphore_id"), ("sem", "key", "semaphore_key"),
                           ("mqueue", "name", "mqueue")):
        for value in getattr(args, attr) or []:
            if by == "key" and value == 0:
                raise UsageError("IPC_PRIVATE (key 0) names no object: remove it by its id")
            out.append((kind, by, value))
    return out


def run_rm(args: argparse.Namespace) -> int:
    """``ipcns rm NS [-q ID] [-Q KEY] [-m ID] [-M KEY] [-s ID] [-S KEY]
    [--mqueue NAME] [-a [KIND]] [-v]``: each failure is reported on a line
    of its own, the others still happen; exit status 1 if any failed."""
    from ipcns import PosixQueue
    from ipcns.linux.kernel import LinuxKernel

    targets = _targets(args)
    wipe = set()
    for choice in args.all or []:
        wipe |= set(_ALL_KINDS) if choice == "all" else {choice}
    if not targets and not wipe:
        raise UsageError("nothing to remove: give -q/-Q, -m/-M, -s/-S, --mqueue or -a")
    ns = open_ns(args.ns)
    if wipe:
        snap = ns.snapshot()
        for obj in snap.objects:
            if obj.kind not in wipe:
                continue
            if isinstance(obj, PosixQueue):
                targets.append(("mqueue", "name", obj.name))
            else:
                targets.append((obj.kind, "id", obj.id))
    targets = list(dict.fromkeys(targets))  # -q 0 with -a msg: once
    failed = 0
    with LinuxKernel() as kernel:
        task = kernel.spawn()
        enter_task(task, ns)
        for kind, by, value in targets:
            message = _rm_one(task, kind, by, value, args.verbose)
            if message:
                failed += 1
                print(f"ipcns: {message}", file=sys.stderr)
    return 1 if failed else 0


def _describe(kind: str, by: str, value: int | str) -> str:
    if by == "key":
        return f"{_WHAT[kind]} key {key_text(int(value))}"
    if by == "id":
        return f"{_WHAT[kind]} id {value}"
    return f"{_WHAT[kind]} {value}"


def _rm_one(task: Task, kind: str, by: str, value: int | str, verbose: bool) -> str | None:
    """Remove one object; None, or the one-line reason it failed."""
    from ipcns._procfs import signed_key

    what = _describe(kind, by, value)
    try:
        ident: int | str = value
        if by == "key":
            key = signed_key(int(value))
            getters: dict[str, Callable[[], int]] = {
                "msg": lambda: task.msgget(key, 0),
                "sem": lambda: task.semget(key, 0, 0),
                "shm": lambda: task.shmget(key, 0, 0),
            }
            ident = getters[kind]()
        if verbose:
            print(f"removing {_WHAT[kind]} id {ident}" if kind != "mqueue"
                  else f"removing {_WHAT[kind]} {ident}")
        _remove(task, kind, ident)
    except OSError as err:
        if err.errno == errno.ENOENT:
            return f"no {what}" if by != "id" else f"invalid id: no {what}"
        if err.errno in (errno.EINVAL, errno.EIDRM):
            return f"invalid id: no {what}"
        if err.errno in (errno.EPERM, errno.EACCES):
            return f"cannot remove {what}: permission denied"
        return f"cannot remove {what}: {err.strerror}"
    return None
