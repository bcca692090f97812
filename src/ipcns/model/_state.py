"""The model kernel's global state: one lock, one clock, the allocators.

Every system call of the model runs holding ``World.lock``; a call that
blocks waits on ``World.cond`` (which releases the lock), and every change
that may let a waiter go on calls ``World.wake()``.  That is the model's
whole concurrency story: tasks are driven from any number of Python threads
and each call is atomic, like a syscall under the kernel's locks.
"""

from __future__ import annotations

import errno
import os
import threading
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .creds import UserNamespace

#: proc inode numbers of the initial namespaces (include/linux/proc_ns.h).
INIT_INUM = {"ipc": 0xEFFFFFFF, "uts": 0xEFFFFFFE, "user": 0xEFFFFFFD, "pid": 0xEFFFFFFC,
             "cgroup": 0xEFFFFFFB, "time": 0xEFFFFFFA, "net": 0xEFFFFFF9}
#: The first dynamically allocated proc inode number.
PROC_DYNAMIC_FIRST = 0xF0000000

PAGE_SIZE = 4096


def oserror(code: int, *context: str) -> OSError:
    """``OSError(code, strerror(code))``: the subclass Python picks for it."""
    return OSError(code, os.strerror(code), *context)


class World:
    """What every object of one model kernel shares."""

    def __init__(self, initial_max_namespaces: int = 63_000) -> None:
        self.lock = threading.RLock()
        self.cond = threading.Condition(self.lock)
        self.initial_max_namespaces = initial_max_namespaces
        self._next_pid = 1000
        self._next_inum = PROC_DYNAMIC_FIRST
        self._next_ino = 100
        self.ucounts: dict[tuple[int, int], Any] = {}
        self.tasks: dict[int, Any] = {}
        self.init_user_ns: UserNamespace  # set by the kernel
        #: Set when the kernel closes: every sleeper wakes with EINTR.
        self.closed = False

    # -- clocks and numbers ----------------------------------------------------

    @staticmethod
    def now() -> int:
        """ktime_get_real_seconds()."""
        return int(time.time())

    def new_pid(self) -> int:
        pid = self._next_pid
        self._next_pid += 1
        return pid

    def ns_inum(self, kind: str, *, initial: bool = False) -> int:
        """proc_alloc_inum (the initial namespaces have fixed numbers).
        Linux frees a dead namespace's number later, from a work queue, so
        a new namespace does not get the number of one that just died; the
        model never hands a number out twice."""
        if initial and kind in INIT_INUM:
            return INIT_INUM[kind]
        inum = self._next_inum
        self._next_inum += 1
        return inum


    def new_ino(self) -> int:
        """An inode number for a file of an in-memory filesystem."""
        self._next_ino += 1
        return self._next_ino

    # -- waiting ------------------------------------------------------------------

    def wake(self) -> None:
        """Something changed: every waiter re-checks its condition."""
        self.cond.notify_all()

    def wait(self, deadline: float | None, task: Any = None) -> bool:
        """Sleep until woken or ``deadline`` (time.monotonic()); False once
        the deadline passed.  EINTR once the kernel closed or ``task`` (the
        sleeper) was ended meanwhile."""
        if self.closed or (task is not None and not task.alive):
            raise oserror(errno.EINTR)
        if deadline is None:
            self.cond.wait()
        else:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self.cond.wait(left)
        if self.closed or (task is not None and not task.alive):
            raise oserror(errno.EINTR)
        return True
