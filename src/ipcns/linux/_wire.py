"""The wire form of an inventory's answers, and their decoding.

An inventory's answer holds thousands of small named tuples.  Pickled as
such, each costs a Python-level call to build on the caller's side, so a
helper sends plain tuples and lists instead (see _inventory.py), which
:func:`decode` turns back into Snapshots and Summaries, rebuilding runs of
one kind of object with tuple.__new__, in C.  This module is imported by
the caller: it must not pull in ctypes.

A Snapshot is ``(0, inode, runs, limits, usage, mqueue_error)``, ``runs``
being ``[(kind, rows), ...]`` with ``kind`` an index into :data:`KINDS` and
each row the object's fields in order; ``limits`` and ``usage`` are the
fields of Limits and Usage.  A Summary is ``(1, inode, usage, shm_bytes,
bounds, mqueue_error)``.
"""

from __future__ import annotations

import functools
from typing import Any, cast

from .._types import (
    Bounds,
    IpcObject,
    Limits,
    MessageQueue,
    PosixQueue,
    SemaphoreSet,
    SharedMemory,
    Snapshot,
    Summary,
    Usage,
)

SNAPSHOT, SUMMARY = 0, 1
#: Kinds of object, by their index in the wire form.
KINDS: tuple[type[IpcObject], ...] = (MessageQueue, SemaphoreSet, SharedMemory, PosixQueue)
MSG, SEM, SHM, MQUEUE = range(len(KINDS))
_tuple_new = tuple.__new__
_MAKERS = tuple(functools.partial(_tuple_new, cls) for cls in KINDS)


def decode(raw: object) -> Snapshot | Summary | OSError:
    """A Snapshot or Summary from its wire form, or an OSError passed
    through.  Runs of one kind of object are rebuilt by tuple.__new__."""
    if isinstance(raw, OSError):
        return raw
    wire = cast(tuple[Any, ...], raw)
    if wire[0] == SUMMARY:
        _, inode, usage, shm_bytes, bounds, error = wire
        return Summary(inode, _tuple_new(Usage, usage), shm_bytes, _tuple_new(Bounds, bounds),
                       error)
    _, inode, runs, limits, usage, error = wire
    objects: list[IpcObject] = []
    for kind, rows in runs:
        objects += map(_MAKERS[kind], rows)
    return Snapshot(inode, tuple(objects), _tuple_new(Limits, limits),
                    _tuple_new(Usage, usage), error)
