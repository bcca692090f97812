"""Parsers for the kernel's IPC text files, shared by both backends.

``/proc/sysvipc/{msg,sem,shm}`` are read by their header line, so a column
the kernel adds or drops does not shift the others.  Keys are printed by the
kernel as signed decimals; ipcns reports them as unsigned 32-bit numbers,
the way ``ipcs`` prints them in hex.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from ._types import (
    LIMIT_SYSCTLS,
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


def signed_key(key: int) -> int:
    """A key as the signed int the kernel takes (-559038737 for 0xdeadbeef)."""
    key &= 0xFFFFFFFF
    return key - (1 << 32) if key >= 1 << 31 else key


def _parse(text: bytes, fields: tuple[str, ...]) -> list[list[int]]:
    """Rows of a /proc/sysvipc file as ints, in the order of ``fields``.

    The kernel prints the columns in the order of the result types' fields;
    when the header says so, the whole table is converted in one pass.
    """
    head, _, body = text.partition(b"\n")
    header = [_RENAME.get(h, h) for h in head.decode().split()]
    if not header:
        return []
    tokens = body.split()
    width = len(header)
    if len(tokens) % width:
        tokens = [t for line in body.splitlines() if len(c := line.split()) == width for t in c]
    mode_at = header.index("mode")
    if tuple(header) == fields:
        values = list(map(int, tokens))
        rows = [values[i:i + width] for i in range(0, len(values), width)]
        for i, row in enumerate(rows):
            row[0] &= 0xFFFFFFFF  # key: printed signed, reported unsigned
            row[mode_at] = int(tokens[i * width + mode_at], 8)
        return rows
    # Another kernel's columns: pick by name, 0 for a column it lacks.
    where = [header.index(name) if name in header else -1 for name in fields]
    out = []
    for start in range(0, len(tokens), width):
        cols = tokens[start:start + width]
        row = [int(cols[i]) if i >= 0 else 0 for i in where]
        row[0] &= 0xFFFFFFFF
        row[fields.index("mode")] = int(cols[mode_at], 8)
        out.append(row)
    return out


def parse_msg(text: bytes) -> list[MessageQueue]:
    """The message queues of a /proc/sysvipc/msg text."""
    return [MessageQueue(*row) for row in _parse(text, MessageQueue._fields)]


def parse_sem(text: bytes) -> list[SemaphoreSet]:
    """The semaphore sets of a /proc/sysvipc/sem text."""
    return [SemaphoreSet(*row) for row in _parse(text, SemaphoreSet._fields)]


def parse_shm(text: bytes) -> list[SharedMemory]:
    """The segments of a /proc/sysvipc/shm text."""
    return [SharedMemory(*row) for row in _parse(text, SharedMemory._fields)]


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
    values = {name: int(read(LIMIT_SYSCTLS[name]).split()[0]) for name in SYSCTL_ONLY}
    return Limits(
        shmmax=shm.shmmax, shmall=shm.shmall, shmmni=shm.shmmni,
        msgmax=msg.msgmax, msgmnb=msg.msgmnb, msgmni=msg.msgmni,
        semmsl=sem.semmsl, semmns=sem.semmns, semopm=sem.semopm, semmni=sem.semmni,
        **values,
    )
