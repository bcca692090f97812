"""Parsers for the kernel's IPC text files, shared by both backends.

``/proc/sysvipc/{msg,sem,shm}`` are read by their header line, so a column
the kernel adds or drops does not shift the others.  Keys are printed by the
kernel as signed decimals; ipcns reports them as unsigned 32-bit numbers,
the way ``ipcs`` prints them in hex.
"""

from __future__ import annotations

import re
from typing import TypeVar

from ._types import MessageQueue, SemaphoreSet, SharedMemory

#: Column of /proc/sysvipc/* → field of the result type.
_RENAME = {"msqid": "id", "semid": "id", "shmid": "id", "perms": "mode",
           "cbytes": "bytes", "qnum": "messages"}

_QUEUE_FIELD = re.compile(rb"([A-Z_]+):(-?\d+)")


def signed_key(key: int) -> int:
    """A key as the signed int the kernel takes (-559038737 for 0xdeadbeef)."""
    key &= 0xFFFFFFFF
    return key - (1 << 32) if key >= 1 << 31 else key


_Row = TypeVar("_Row", MessageQueue, SemaphoreSet, SharedMemory)

#: Header line of a /proc/sysvipc file, with the result type → how to read
#: its rows: the row width, where ``key`` and ``mode`` are, and, unless the
#: columns are exactly the type's fields, which column each field comes from.
_Plan = tuple[int, int, int, tuple[int, ...] | None]
_PLANS: dict[tuple[bytes, type], _Plan] = {}
_tuple_new = tuple.__new__


def _plan(head: bytes, cls: type[_Row]) -> _Plan:
    header = [_RENAME.get(h, h) for h in head.decode().split()]
    if not header:
        return (0, 0, 0, None)
    fields: tuple[str, ...] = cls._fields
    where = None
    if tuple(header) != fields:
        where = tuple(header.index(name) if name in header else -1 for name in fields)
    plan = _PLANS[head, cls] = (len(header), header.index("key"), header.index("mode"), where)
    return plan


def sysvipc_rows(text: bytes, cls: type[_Row]) -> list[list[int]]:
    """The rows of a /proc/sysvipc file, each a list of ints in the order of
    ``cls``'s fields (``cls(*row)`` makes the object).

    The kernel prints the columns in the order of the result types' fields;
    when the header says so, the whole table is converted in one pass (an
    inventory runs this once per namespace and kind, so it is kept lean).
    """
    head, _, body = text.partition(b"\n")
    plan = _PLANS.get((head, cls)) or _plan(head, cls)
    width, key_at, mode_at, where = plan
    if not width:
        return []
    tokens = body.split()
    count = len(tokens)
    if count % width:  # a torn line: keep the whole ones
        tokens = [t for line in body.splitlines() if len(c := line.split()) == width for t in c]
        count = len(tokens)
    values = list(map(int, tokens))
    for i in range(0, count, width):
        values[i + key_at] &= 0xFFFFFFFF  # printed signed, reported unsigned
        values[i + mode_at] = int(tokens[i + mode_at], 8)
    if where is None:
        return [values[i:i + width] for i in range(0, count, width)]
    # Another kernel's columns: pick by name, 0 for a column it lacks.
    return [[values[i + j] if j >= 0 else 0 for j in where] for i in range(0, count, width)]


def parse_msg(text: bytes) -> list[MessageQueue]:
    """The message queues of a /proc/sysvipc/msg text."""
    return [_tuple_new(MessageQueue, row) for row in sysvipc_rows(text, MessageQueue)]


def parse_sem(text: bytes) -> list[SemaphoreSet]:
    """The semaphore sets of a /proc/sysvipc/sem text."""
    return [_tuple_new(SemaphoreSet, row) for row in sysvipc_rows(text, SemaphoreSet)]


def parse_shm(text: bytes) -> list[SharedMemory]:
    """The segments of a /proc/sysvipc/shm text."""
    return [_tuple_new(SharedMemory, row) for row in sysvipc_rows(text, SharedMemory)]


def parse_queue_file(text: bytes) -> dict[str, int]:
    """The fields of an mqueuefs file: QSIZE, NOTIFY, SIGNO, NOTIFY_PID."""
    return {k.decode(): int(v) for k, v in _QUEUE_FIELD.findall(text)}
