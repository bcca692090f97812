"""Scenarios, the lab they run in, and the checks they make.

A scenario is a function ``fn(lab)`` registered with :func:`scenario` under
the SEMANTICS.md item ids it checks.  It works only through the backend
contract (``lab.kernel``, its Tasks and their system calls), so it runs
unchanged on every backend.  It fails by raising :class:`Failure` (through
:func:`expect` and friends), skips by raising :class:`Skip` naming the
missing kernel feature it detected, and must leave nothing behind: every
task it makes lives in namespaces the lab made, and ``lab.close()`` ends
them and restores every global setting registered with
:meth:`Lab.restore_file`.
"""

from __future__ import annotations

import errno as errno_mod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from .. import abi
from ..contract import Kernel, Task

T = TypeVar("T")


class Failure(AssertionError):
    """A check failed: what was checked, what the spec expects, what came."""

    def __init__(self, what: str, expected: object, got: object) -> None:
        super().__init__(f"{what}: expected {expected!r}, got {got!r}")
        self.what = what
        self.expected = expected
        self.got = got


class Skip(Exception):
    """The scenario cannot run here; the message names the missing feature
    that was detected (never a guess)."""


@dataclass(frozen=True)
class Scenario:
    """One executable check of SEMANTICS.md."""

    items: tuple[str, ...]
    name: str
    fn: Callable[[Lab], None]
    doc: str = ""

    @property
    def id(self) -> str:
        """``N12-N13-key_lookup_is_per_namespace``: items, then name."""
        return "-".join((*self.items, self.name))


#: Every registered scenario, in registration order.
SCENARIOS: list[Scenario] = []


def scenario(*items: str, name: str | None = None
             ) -> Callable[[Callable[[Lab], None]], Callable[[Lab], None]]:
    """Register ``fn(lab)`` as a scenario checking ``items`` (e.g. "N12")."""
    if not items:
        raise ValueError("a scenario checks at least one item")

    def register(fn: Callable[[Lab], None]) -> Callable[[Lab], None]:
        doc = (fn.__doc__ or "").strip()
        SCENARIOS.append(Scenario(tuple(items), name or fn.__name__, fn, doc))
        return fn

    return register


# -- checks ----------------------------------------------------------------------


def expect(got: object, expected: object, what: str = "value") -> None:
    """Fail unless ``got == expected``."""
    if got != expected:
        raise Failure(what, expected, got)


def expect_true(cond: bool, what: str) -> None:
    """Fail unless ``cond``."""
    if not cond:
        raise Failure(what, True, False)


def errno_name(code: int | None) -> str:
    """"ENOENT" for 2; "success" for None."""
    if code is None:
        return "success"
    return errno_mod.errorcode.get(code, str(code))


def expect_errno(code: int, fn: Callable[..., Any], *args: Any, what: str = "",
                 **kwargs: Any) -> OSError:
    """Call ``fn(*args, **kwargs)``; fail unless it raises OSError ``code``.
    Returns the error."""
    label = what or getattr(fn, "__name__", "call")
    try:
        result = fn(*args, **kwargs)
    except OSError as err:
        if err.errno != code:
            raise Failure(label, errno_name(code), errno_name(err.errno)) from err
        return err
    raise Failure(label, errno_name(code), f"success ({result!r})")


def expect_ok(fn: Callable[..., T], *args: Any, what: str = "", **kwargs: Any) -> T:
    """Call ``fn``; fail (naming the errno) if it raises OSError.  Returns
    its result."""
    try:
        return fn(*args, **kwargs)
    except OSError as err:
        label = what or getattr(fn, "__name__", "call")
        raise Failure(label, "success", errno_name(err.errno)) from err


# -- the lab -------------------------------------------------------------------------


@dataclass
class Lab:
    """What a scenario works with: a kernel, fresh tasks, and clean-up."""

    kernel: Kernel
    _restore: list[tuple[str, bytes]] = field(default_factory=list)
    _setup: Task | None = None

    def task(self, *, new_ipc: bool = True) -> Task:
        """A new task with full privilege; in a fresh IPC namespace of its
        own unless ``new_ipc`` is False (then in the caller's: never make
        objects there)."""
        t = self.kernel.spawn()
        if new_ipc:
            t.unshare(abi.CLONE_NEWIPC)
        return t

    def unprivileged(self, parent: Task, uid: int = 65534, gid: int = 65534) -> Task:
        """A child of ``parent`` (same namespaces) running as ``uid``, with
        no capabilities (setresuid from root drops them)."""
        child = parent.fork(0)
        child.setgroups([])
        child.setresgid(gid, gid, gid)
        child.setresuid(uid, uid, uid)
        return child

    def user_ns(self, parent: Task, flags: int = 0) -> Task:
        """A child of ``parent`` in a new user namespace (plus ``flags``),
        root there: uid and gid 0 mapped to ``parent``'s effective uid.

        The child writes its own maps; when it may not (a parent that
        changed its uid is not dumpable, so its child's /proc files are
        root's), a privileged task of the lab writes them instead.
        """
        outer = parent.getresuid()[1]
        child = parent.fork(abi.CLONE_NEWUSER | flags)
        maps = (("setgroups", b"deny"), ("uid_map", f"0 {outer} 1".encode()),
                ("gid_map", f"0 {outer} 1".encode()))
        try:
            for name, data in maps:
                child.write_file(f"/proc/self/{name}", data)
        except PermissionError:
            if self._setup is None:
                self._setup = self.kernel.spawn()
            for name, data in maps:
                self._setup.write_file(f"/proc/{child.pid}/{name}", data)
        return child

    def workspace(self, task: Task) -> str:
        """Give ``task`` a mount namespace of its own with a tmpfs on /tmp
        (nothing it mounts is seen outside); returns "/tmp"."""
        task.unshare(abi.CLONE_NEWNS)
        task.mount(None, "/", None, abi.MS_REC | abi.MS_PRIVATE)
        task.mount("tmpfs", "/tmp", "tmpfs", 0, "mode=1777")
        return "/tmp"

    def restore_file(self, path: str) -> bytes:
        """Remember the content of a global file (a sysctl of the initial
        namespaces, e.g. /proc/sys/user/max_ipc_namespaces) to write back at
        close, whatever happens; returns the content."""
        if self._setup is None:
            self._setup = self.kernel.spawn()
        old = self._setup.read_file(path)
        self._restore.append((path, old))
        return old

    def close(self) -> None:
        """Write back every remembered file and end every task."""
        try:
            for path, old in reversed(self._restore):
                if self._setup is not None:
                    self._setup.write_file(path, old)
        finally:
            self._restore.clear()
            self.kernel.close()

