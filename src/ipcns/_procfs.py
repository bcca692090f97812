"""Parsers for the kernel's IPC text files, shared by both backends.

``/proc/sysvipc/{msg,sem,shm}`` are read by their header line, so a column
the kernel adds or drops does not shift the others.  Keys are printed by the
kernel as signed decimals; ipcns reports them as unsigned 32-bit numbers,
the way ``ipcs`` prints them in hex.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

from ._types import (
    Limits,
    MessageQueue,
    MsgInfo,
    SemaphoreSet,
    SemInfo,
    SharedMemory,
    ShmLimitsInfo,
)

#: Column of /proc/sysvipc/* → field of the result type.
_RENAME = {"msqid": "id", "semid": "id", "shmid": "id", "perms": "mode",
           "cbytes": "bytes", "qnum": "messages"}

_QUEUE_FIELD = re.compile(rb"([A-Z_]+):(-?\d+)")


def unsigned_key(key: int) -> int:
    """A key_t as an unsigned 32-bit number (0xdeadbeef, not -559038737)."""
    return key & 0xFFFFFFFF


def signed_key(key: int) -> int:
    """A key as the signed int the kernel takes (-559038737 for 0xdeadbeef)."""
    key &= 0xFFFFFFFF
    return key - (1 << 32) if key >= 1 << 31 else key


def _rows(text: bytes) -> Iterator[dict[str, int]]:
    lines = text.splitlines()
    if not lines:
        return
    header = [_RENAME.get(h, h) for h in lines[0].decode().split()]
    for line in lines[1:]:
        values = line.split()
        if len(values) != len(header):
            continue
        row = {name: int(v, 8) if name == "mode" else int(v)
               for name, v in zip(header, values, strict=True)}
        row["key"] = unsigned_key(row["key"])
        yield row


_MSG_FIELDS = ("key", "id", "mode", "bytes", "messages", "lspid", "lrpid", "uid", "gid",
               "cuid", "cgid", "stime", "rtime", "ctime")
_SEM_FIELDS = ("key", "id", "mode", "nsems", "uid", "gid", "cuid", "cgid", "otime", "ctime")
_SHM_FIELDS = ("key", "id", "mode", "size", "cpid", "lpid", "nattch", "uid", "gid", "cuid",
               "cgid", "atime", "dtime", "ctime", "rss", "swap")


def parse_msg(text: bytes) -> list[MessageQueue]:
    """The message queues of a /proc/sysvipc/msg text."""
    return [MessageQueue(**row) for row in _pick(text, _MSG_FIELDS)]


def parse_sem(text: bytes) -> list[SemaphoreSet]:
    """The semaphore sets of a /proc/sysvipc/sem text."""
    return [SemaphoreSet(**row) for row in _pick(text, _SEM_FIELDS)]


def parse_shm(text: bytes) -> list[SharedMemory]:
    """The segments of a /proc/sysvipc/shm text."""
    return [SharedMemory(**row) for row in _pick(text, _SHM_FIELDS)]


def _pick(text: bytes, wanted: tuple[str, ...]) -> Iterator[dict[str, int]]:
    for row in _rows(text):
        yield {name: row.get(name, 0) for name in wanted}


def parse_queue_file(text: bytes) -> dict[str, int]:
    """The fields of an mqueuefs file: QSIZE, NOTIFY, SIGNO, NOTIFY_PID."""
    return {k.decode(): int(v) for k, v in _QUEUE_FIELD.findall(text)}


#: The limits no system call reports: read from their sysctl files.
SYSCTL_ONLY: tuple[str, ...] = (
    "shm_rmid_forced", "msg_next_id", "sem_next_id", "shm_next_id",
    "queues_max", "msg_max", "msgsize_max", "msg_default", "msgsize_default",
)


def make_limits(msg: MsgInfo, sem: SemInfo, shm: ShmLimitsInfo,
                read: Callable[[str], bytes]) -> Limits:
    """A Limits from the three IPC_INFO answers (which carry the namespace's
    msg, sem and shm sysctls) and ``read(path)`` for the rest; ``path`` is
    relative to /proc/sys (e.g. "fs/mqueue/queues_max")."""
    values = {name: int(read(Limits.SYSCTLS[name]).split()[0]) for name in SYSCTL_ONLY}
    return Limits(
        shmmax=shm.shmmax, shmall=shm.shmall, shmmni=shm.shmmni,
        msgmax=msg.msgmax, msgmnb=msg.msgmnb, msgmni=msg.msgmni,
        semmsl=sem.semmsl, semmns=sem.semmns, semopm=sem.semopm, semmni=sem.semmni,
        **values,
    )
