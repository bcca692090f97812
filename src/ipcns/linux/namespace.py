"""IPC namespaces of the host as objects; named persistent namespaces.

A :class:`Namespace` is identified by its nsfs inode and reached through a
*reference*: a path that opens it (a bind mount, ``/proc/PID/ns/ipc``, a
held descriptor under ``/proc/PID/fd``).  The object does not keep the
namespace alive; every operation re-opens the reference and checks the inode,
so a recycled pid is never mistaken for the namespace.

Named namespaces follow the ``ip netns`` convention: an empty file under
``/run/ipcns`` with ``/proc/PID/ns/ipc`` bind-mounted on it.  The directory
is made a shared mount first, so a name added later shows in mount
namespaces cloned from this one; add and delete take a lock (flock on the
directory) against each other.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import functools
import os
import pickle
import re
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from .. import abi
from .._errors import (
    AlreadyExists,
    InvalidSpec,
    IpcnsError,
    NamespaceNotFound,
    PrivilegeError,
    translate,
)
from .._types import IpcObject, Kind, Limits, NamespaceInfo, Snapshot, Summary, Usage
from . import discovery
from ._wire import decode
from .discovery import RUN_DIR

if TYPE_CHECKING:
    import subprocess

    from .kernel import LinuxKernel, LinuxTask

T = TypeVar("T")

NAME_MAX = 64
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.@+-]*\Z")
_PID_SPEC = re.compile(r"pid:(\d+)\Z")
_INODE_SPEC = re.compile(r"(?:ipc:\[)?(\d+)\]?\Z")


def validate_name(name: str) -> str:
    """``name`` if it can name a namespace, else raise InvalidSpec.

    Names are 1 to 64 characters of letters, digits and ``_ . @ + -``, do
    not start with ``.``, ``@``, ``+`` or ``-``, and are not all digits (a
    bare number means an inode).
    """
    if not name:
        raise InvalidSpec("a namespace name cannot be empty")
    if "/" in name or name in (".", ".."):
        raise InvalidSpec(f"bad namespace name {name!r}: it may not contain '/' or be '.' or '..'")
    if len(name) > NAME_MAX:
        raise InvalidSpec(f"bad namespace name {name[:20]!r}...: longer than {NAME_MAX} characters")
    if not _NAME.match(name) or name.isdigit():
        raise InvalidSpec(
            f"bad namespace name {name!r}: use letters, digits and _.@+- "
            "(not first), and not only digits")
    return name


def _nstype_name(fd: int) -> str:
    try:
        kind = fcntl.ioctl(fd, abi.NS_GET_NSTYPE)
    except OSError:
        return ""
    return abi.NS_NAMES.get(kind, f"type {kind:#x}")


class Namespace:
    """One IPC namespace of the host.

    ``inode`` is its identity (``ipc:[INODE]``); ``name`` its name under
    /run/ipcns, if any; ``path`` the nsfs file that keeps it alive, if any.
    """

    def __init__(self, inode: int, ref: str, *, name: str | None = None,
                 path: str | None = None, info: NamespaceInfo | None = None) -> None:
        self.inode = inode
        self.ref = ref
        self.name = name
        self.path = path
        self._info = info

    def __repr__(self) -> str:
        label = f" {self.name!r}" if self.name else ""
        return f"<Namespace ipc:[{self.inode}]{label}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Namespace) and other.inode == self.inode

    def __hash__(self) -> int:
        return hash(self.inode)

    # -- who holds it ---------------------------------------------------------

    @property
    def info(self) -> NamespaceInfo:
        """Processes, holders, owner and containers (found on first use)."""
        if self._info is None:
            entry = discovery.scan().get(self.inode)
            if entry is None:
                raise NamespaceNotFound(f"ipc:[{self.inode}] no longer exists")
            self._info = discovery.describe(entry, containers=self.inode != discovery.host_inode())
        return self._info

    @property
    def pids(self) -> list[int]:
        """The processes with a thread in this namespace, sorted."""
        return sorted({p.pid for p in self.info.processes})

    def refresh(self) -> None:
        """Forget what was found about holders; the next use looks again."""
        self._info = None

    # -- access ---------------------------------------------------------------

    def open_fd(self) -> int:
        """A new O_CLOEXEC descriptor of this namespace's nsfs file.  Raises
        NamespaceNotFound when it is gone, PrivilegeError when not allowed."""
        try:
            fd = os.open(self.ref, os.O_RDONLY | os.O_CLOEXEC)
        except OSError as err:
            if err.errno in (errno.ENOENT, errno.ESRCH, errno.ENOTDIR):
                raise NamespaceNotFound(f"ipc:[{self.inode}] is gone ({self.ref})") from err
            raise translate(err, f"cannot open {self.ref}", "root (ptrace access)") from err
        if os.fstat(fd).st_ino != self.inode:
            os.close(fd)
            raise NamespaceNotFound(f"ipc:[{self.inode}] is gone ({self.ref} is another now)")
        return fd

    def snapshot(self) -> Snapshot:
        """Objects, limits and usage, read in one pass inside the namespace.
        Raises PrivilegeError without CAP_SYS_ADMIN, NamespaceNotFound when
        the namespace has gone."""
        return inventory([self])[0]

    def objects(self, kind: Kind | None = None) -> list[IpcObject]:
        """Every SysV object and POSIX queue, or those of one ``kind``."""
        snap = self.snapshot()
        return list(snap.objects) if kind is None else snap.of_kind(kind)

    def limits(self) -> Limits:
        """The namespace's own values of every IPC sysctl."""
        return self.snapshot().limits

    def usage(self) -> Usage:
        """The counters of ``struct ipc_namespace``."""
        return self.snapshot().usage

    # -- running inside -------------------------------------------------------

    def popen(self, argv: Sequence[str], *, mqueue: bool = True,
              **kwargs: Any) -> subprocess.Popen[Any]:
        """Start ``argv`` inside, like subprocess.Popen (same keyword
        arguments), with this namespace's queues on /dev/mqueue."""
        import subprocess

        fd = self.open_fd()
        try:
            pass_fds = (*kwargs.pop("pass_fds", ()), fd)
            return subprocess.Popen(_entry(argv, mqueue, "--join", str(fd)), pass_fds=pass_fds,
                                    **kwargs)
        finally:
            os.close(fd)

    def run(self, argv: Sequence[str], *, mqueue: bool = True,
            **kwargs: Any) -> subprocess.CompletedProcess[Any]:
        """Run ``argv`` inside and wait, like subprocess.run (same keyword
        arguments: ``capture_output``, ``text``, ``check``, ``timeout``...).

        The command sees this namespace's POSIX queues in /dev/mqueue (a
        private mount) and its SysV objects.  Exit status 126 with a message
        on stderr means the namespace could not be entered (not root).
        """
        import subprocess

        fd = self.open_fd()
        try:
            pass_fds = (*kwargs.pop("pass_fds", ()), fd)
            check = kwargs.pop("check", False)
            return subprocess.run(_entry(argv, mqueue, "--join", str(fd)), pass_fds=pass_fds,
                                  check=check, **kwargs)
        finally:
            os.close(fd)

    def call(self, fn: Callable[..., T], *args: Any, mqueue: bool = True, **kwargs: Any) -> T:
        """Run ``fn(*args, **kwargs)`` in a child process inside the namespace
        and return its result (or raise its exception).

        The child is forked from the caller, so ``fn`` may be any callable,
        closures included; its result must pickle.  Raises PrivilegeError
        when the namespace cannot be entered.
        """
        fd = self.open_fd()
        r, w = os.pipe()
        try:
            pid = os.fork()
        except BaseException:
            os.close(r)
            os.close(w)
            os.close(fd)
            raise
        if pid == 0:  # pragma: no cover - runs in the child
            _call_child(fd, r, w, fn, args, kwargs, mqueue)
        os.close(w)
        os.close(fd)
        with os.fdopen(r, "rb") as pipe:
            data = pipe.read()
        os.waitpid(pid, 0)
        if not data:
            raise IpcnsError(f"the child running {getattr(fn, '__name__', fn)!r} died")
        status, value = pickle.loads(data)
        if status == "ok":
            return value  # type: ignore[no-any-return]
        if status == "enter":
            raise translate(OSError(*value), f"cannot enter ipc:[{self.inode}]")
        raise value  # the function's own exception


def _entry(argv: Sequence[str], mqueue: bool, *opts: str) -> list[str]:
    """The command line that runs ``argv`` through ``_enter`` with ``opts``."""
    if not argv:
        raise InvalidSpec("no command given")
    # -I -S: a bare interpreter (no site, no environment), fast to start and
    # unaffected by the caller's PYTHONPATH; it is told where ipcns lives.
    pkg_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    boot = ("import sys; sys.path.insert(0, sys.argv.pop(1)); "
            "from ipcns.linux._enter import main; main(sys.argv)")
    flags = [] if mqueue else ["--no-mqueue"]
    return [sys.executable, "-I", "-S", "-c", boot, pkg_root, *opts, *flags, "--",
            *map(str, argv)]


def spawn(argv: Sequence[str], *, setup: Callable[[Namespace], object] | None = None,
          name: str | None = None, mqueue: bool = True,
          **kwargs: Any) -> tuple[Namespace, subprocess.Popen[Any]]:
    """Start ``argv`` in a brand-new IPC namespace, after ``setup``.

    The child makes the namespace (unshare) and then waits on a pipe; the
    parent names the namespace (``name``: bound under /run/ipcns), runs
    ``setup(namespace)`` (make objects, set limits: anything done from
    outside, before the command starts) and only then releases the child
    to execute ``argv``.  If naming or setup fails, or the caller dies
    first, the command never runs: the child is killed (or, seeing the pipe
    close, exits) and the name is removed.  Keyword arguments go to
    subprocess.Popen.  Returns (namespace, process).

    Raises InvalidSpec, AlreadyExists, PrivilegeError, or what ``setup``
    raised.
    """
    import subprocess

    if name is not None:
        validate_name(name)
    ready_r, ready_w = os.pipe()
    go_r, go_w = os.pipe()
    try:
        pass_fds = (*kwargs.pop("pass_fds", ()), ready_w, go_r)
        proc = subprocess.Popen(
            _entry(argv, mqueue, "--new", "--ready", str(ready_w), "--go", str(go_r)),
            pass_fds=pass_fds, **kwargs)
    except BaseException:
        for fd in (ready_r, ready_w, go_r, go_w):
            os.close(fd)
        raise
    os.close(ready_w)
    os.close(go_r)
    bound = False
    try:
        with os.fdopen(ready_r, "rb") as ready:
            report = ready.read()
        if report != b"r":
            proc.wait()
            code = int(report[1:]) if report.startswith(b"e") else 0
            err = OSError(code, os.strerror(code)) if code else OSError(0, "the child died")
            raise translate(err, "cannot make a new IPC namespace")
        ns = _open_path(f"/proc/{proc.pid}/ns/ipc")
        if name is not None:
            _bind(name, ns.ref)
            bound = True
            ns = Namespace(ns.inode, os.path.join(RUN_DIR, name), name=name,
                           path=os.path.join(RUN_DIR, name))
        if setup is not None:
            setup(ns)
        os.write(go_w, b"g")
    except BaseException:
        proc.kill()
        proc.wait()
        if bound and name is not None:
            with contextlib.suppress(IpcnsError):
                delete(name)
        raise
    finally:
        os.close(go_w)
    return ns, proc


def _call_child(fd: int, r: int, w: int, fn: Callable[..., object], args: tuple[Any, ...],
                kwargs: dict[str, Any], mqueue: bool) -> None:
    os.close(r)
    result: tuple[str, object]
    try:
        from . import syscalls
        from ._enter import enter

        syscalls.set_pdeathsig(abi.SIGKILL)

        try:
            enter(fd, mqueue)
        except OSError as err:
            result = ("enter", (err.errno, err.strerror))
        else:
            try:
                result = ("ok", fn(*args, **kwargs))
            except BaseException as err:
                result = ("raised", err)
        try:
            data = pickle.dumps(result)
        except Exception as err:
            data = pickle.dumps(("raised", IpcnsError(f"cannot send the result back: {err}")))
        with os.fdopen(w, "wb") as pipe:
            pipe.write(data)
    finally:
        os._exit(0)


# -- finding namespaces ---------------------------------------------------------


def _from_entry(entry: discovery._Found, host: int | None) -> Namespace | None:
    ref = discovery.best_ref(entry)
    if ref is None:
        return None
    mounts = [h.path for h in entry.holders if h.how == "mount"]
    named = [p for p in mounts if os.path.dirname(p) == RUN_DIR]
    info = discovery.describe(entry, containers=entry.inode != host)
    return Namespace(entry.inode, ref,
                     name=os.path.basename(named[0]) if named else None,
                     path=(named or mounts)[0] if mounts else None, info=info)


class _OwnPids:
    """The processes of the shared kernel (its helpers), if it has started,
    asked afresh for each pid (helpers start while discovery runs):
    discovery leaves them out."""

    def __contains__(self, pid: object) -> bool:
        with _shared_lock:
            kernel = _shared[0] if _shared else None
        return kernel is not None and pid in kernel.helper_pids()


def namespaces() -> list[Namespace]:
    """Every IPC namespace on the host that a process, thread, bind mount or
    open descriptor holds, sorted by inode.  Without root, only what the
    caller may inspect in /proc is found."""
    host = discovery.host_inode()
    found = []
    for entry in discovery.scan(skip=_OwnPids()).values():
        ns = _from_entry(entry, host)
        if ns is not None:
            found.append(ns)
    return sorted(found, key=lambda ns: ns.inode)


def _open_path(path: str) -> Namespace:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError as err:
        raise NamespaceNotFound(f"{path}: no such file") from err
    except OSError as err:
        raise translate(err, f"cannot open {path}", "root") from err
    try:
        kind = _nstype_name(fd)
        if kind != "ipc":
            what = f"a {kind} namespace" if kind else "not a namespace file"
            raise InvalidSpec(f"{path} is {what}, not an IPC namespace")
        inode = os.fstat(fd).st_ino
    finally:
        os.close(fd)
    real = os.path.realpath(path) if not path.startswith("/proc/") else path
    is_named = os.path.dirname(real) == RUN_DIR
    persistent = None if path.startswith("/proc/") else real
    return Namespace(inode, path, name=os.path.basename(real) if is_named else None,
                     path=persistent)


def open_namespace(spec: str | int) -> Namespace:
    """The namespace ``spec`` names: a name under /run/ipcns, an nsfs path
    (``/proc/PID/ns/ipc``, a file of ``unshare --ipc=FILE``), ``pid:N``,
    ``ipc:[N]`` or a bare inode number.

    Raises NamespaceNotFound, InvalidSpec or PrivilegeError (all IpcnsError).
    """
    if isinstance(spec, int):
        spec = str(spec)
    spec = spec.strip()
    if not spec:
        raise InvalidSpec("empty namespace: give a name, a path, pid:N or ipc:[N]")
    if "/" in spec:
        return _open_path(spec)
    m = _PID_SPEC.match(spec)
    if m:
        pid = int(m.group(1))
        if not os.path.exists(f"/proc/{pid}"):
            raise NamespaceNotFound(f"no process with pid {pid}")
        return _open_path(f"/proc/{pid}/ns/ipc")
    m = _INODE_SPEC.match(spec)
    if m and (spec.isdigit() or spec.startswith("ipc:[")):
        inode = int(m.group(1))
        entry = discovery.scan().get(inode)
        ns = _from_entry(entry, discovery.host_inode()) if entry else None
        if ns is None:
            raise NamespaceNotFound(f"no IPC namespace ipc:[{inode}] is held on this host")
        return ns
    if spec.startswith("pid:"):
        raise InvalidSpec(f"bad pid in {spec!r}: use pid:N")
    name = validate_name(spec)
    path = os.path.join(RUN_DIR, name)
    if not os.path.lexists(path):
        raise NamespaceNotFound(f"no namespace named {name!r} (none in {RUN_DIR})")
    return _open_path(path)


# -- named namespaces -------------------------------------------------------------


@contextlib.contextmanager
def _locked() -> Iterator[None]:
    try:
        os.makedirs(RUN_DIR, mode=0o755, exist_ok=True)
        fd = os.open(RUN_DIR, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as err:
        raise translate(err, f"cannot use {RUN_DIR}", "root") from err
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _make_shared() -> None:
    from . import syscalls

    flags = abi.MS_SHARED | abi.MS_REC
    try:
        syscalls.mount("none", RUN_DIR, None, flags, None)
    except OSError as err:
        if err.errno != errno.EINVAL:
            raise
        # Not a mount point yet: bind it onto itself, as ip netns does.
        syscalls.mount(RUN_DIR, RUN_DIR, None, abi.MS_BIND | abi.MS_REC, None)
        syscalls.mount("none", RUN_DIR, None, flags, None)


def _is_ipc_ns(path: str) -> bool:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    except OSError:
        return False
    try:
        return _nstype_name(fd) == "ipc"
    finally:
        os.close(fd)


def names() -> list[str]:
    """The names under /run/ipcns that hold an IPC namespace, sorted."""
    try:
        entries = os.listdir(RUN_DIR)
    except FileNotFoundError:
        return []
    return sorted(n for n in entries if _is_ipc_ns(os.path.join(RUN_DIR, n)))


def _bind(name: str, source: str) -> None:
    """Bind-mount the nsfs file ``source`` on /run/ipcns/NAME (made here).
    Raises AlreadyExists, PrivilegeError or IpcnsError; leaves nothing behind
    on failure."""
    path = os.path.join(RUN_DIR, name)
    what = f"cannot create namespace {name!r}"
    with _locked():
        try:
            _make_shared()
            fd = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o444)
        except FileExistsError as err:
            raise AlreadyExists(f"{what}: {path} already exists") from err
        except OSError as err:
            raise translate(err, what) from err
        os.close(fd)
        try:
            from . import syscalls

            syscalls.mount(source, path, None, abi.MS_BIND, None)
        except OSError as err:
            with contextlib.suppress(OSError):
                os.unlink(path)
            raise translate(err, what) from err


def create(name: str) -> Namespace:
    """Make a new IPC namespace that persists under /run/ipcns/NAME.

    Raises InvalidSpec for a bad name, AlreadyExists when the name is taken,
    PrivilegeError without root.  On failure nothing is left behind.
    """
    validate_name(name)
    path = os.path.join(RUN_DIR, name)
    task = shared_kernel().spawn()
    try:
        task.unshare(abi.CLONE_NEWIPC)
        inode = task.ns_inode()
        _bind(name, f"/proc/{task.pid}/ns/ipc")
    except IpcnsError:
        raise
    except OSError as err:
        raise translate(err, f"cannot create namespace {name!r}") from err
    finally:
        task.detach()
    return Namespace(inode, path, name=name, path=path)


def delete(name: str) -> None:
    """Remove the name NAME: unmount (lazily) and unlink its file.  The
    namespace itself dies when nothing else holds it.  Raises
    NamespaceNotFound for an unknown name, PrivilegeError without root."""
    validate_name(name)
    path = os.path.join(RUN_DIR, name)
    with _locked():
        if not os.path.lexists(path):
            raise NamespaceNotFound(f"no namespace named {name!r} (none in {RUN_DIR})")
        try:
            from . import syscalls

            syscalls.umount2(path, abi.MNT_DETACH)
        except OSError as err:
            if err.errno != errno.EINVAL:  # EINVAL: not mounted (a stale file)
                raise translate(err, f"cannot delete namespace {name!r}") from err
        try:
            os.unlink(path)
        except OSError as err:
            raise translate(err, f"cannot delete namespace {name!r}") from err


# -- inventory ------------------------------------------------------------------------


_shared: list[LinuxKernel] = []  # at most one
_shared_lock = threading.Lock()


def shared_kernel() -> LinuxKernel:
    """The LinuxKernel the façade's own work runs on, made on first use and
    kept for the life of the process (its helpers die with it).  Its root
    helper is forked at once, so calling this early (as ``ipcns list``
    does) lets the helper start while the caller does other work."""
    from .kernel import LinuxKernel

    with _shared_lock:
        if not _shared:
            kernel = LinuxKernel()
            kernel.start()
            _shared.append(kernel)
        return _shared[0]


#: Namespaces per request of an inventory helper: large enough that a
#: request's round trip is noise; the last shares are cut smaller (down to
#: _MIN_SHARE) so that the helpers finish together.
_SHARE = 25
_MIN_SHARE = 4
#: Errors that mean a path no longer leads to its namespace.
_GONE = (errno.ENOENT, errno.ESRCH, errno.ESTALE)

_Ref = tuple[str, int]
_Answer = Snapshot | Summary | OSError


@functools.cache
def _most_helpers() -> int:
    """How many helpers an inventory runs at most: one per CPU, up to 4.
    (Asked once: os.cpu_count() reads a file of /sys at each call.)"""
    return min(os.cpu_count() or 1, 4)


#: Inventory helpers at rest, kept for the next inventory of this process
#: (forking one, and its first touches of the memory it shares with the
#: root helper, cost milliseconds); at most one per CPU, and 4.
_idle: list[LinuxTask] = []


def _borrow(kernel: LinuxKernel) -> LinuxTask:
    with _shared_lock:
        while _idle:
            task = _idle.pop()
            if task.alive:
                return task
    return kernel.spawn()


def _give_back(task: LinuxTask) -> None:
    """Put ``task`` to rest (its slow descriptors closed, back in the
    namespace it came from, so that it holds none it visited) and keep it
    for the next inventory."""
    try:
        task.rest()
    except Exception:  # a task that cannot rest is let go
        task.detach()
        return
    with _shared_lock:
        if _shared and len(_idle) < _most_helpers():
            _idle.append(task)
            return
    task.detach()


class _Hoppers:
    """Helpers that take shares of an inventory's namespaces in turn.

    Each helper is driven from a thread of the caller (waiting on its
    answer releases the GIL).  The first is at work at once; more join as
    namespaces turn up (one per 32, at most one per CPU and 4), and
    namespaces can be added while the caller is still finding them.  When
    the shares are done, each helper goes back to rest (see _give_back) in
    its thread, and the caller waits for that (see finish).
    """

    def __init__(self, kernel: LinuxKernel, summary: bool) -> None:
        self.kernel = kernel
        self.summary = summary
        self.cond = threading.Condition()
        self.todo: list[tuple[int, list[_Ref]]] = []  # shares no helper took yet
        self.done = False
        self.unanswered = 0
        self.pending: list[_Ref] = []
        self.count = 0
        self.shares = 0
        self.raw: list[tuple[int, list[_Ref], list[object]]] = []  # not decoded yet
        self.answers: dict[int, tuple[list[_Ref], list[_Answer]]] = {}
        self.errors: list[BaseException] = []
        self.threads: list[threading.Thread] = []
        self._start()

    def _start(self) -> None:
        thread = threading.Thread(target=self._work, daemon=True)
        thread.start()
        self.threads.append(thread)

    def _take(self) -> tuple[int, list[_Ref]] | None:
        with self.cond:
            while not self.todo and not self.done:
                self.cond.wait()
            return self.todo.pop(0) if self.todo else None

    def _put(self, refs: list[_Ref]) -> None:
        with self.cond:
            self.todo.append((self.shares, refs))
            self.shares += 1
            self.unanswered += 1
            self.cond.notify()

    def _answered(self, index: int, refs: list[_Ref], got: list[object] | None) -> None:
        with self.cond:
            if got is not None:
                self.raw.append((index, refs, got))
            self.unanswered -= 1
            self.cond.notify_all()

    def _decode(self) -> None:
        """Decode the answers that came (the caller's own work, done while
        the helpers go on with their next shares)."""
        with self.cond:
            raw, self.raw = self.raw, []
        for index, refs, got in raw:
            self.answers[index] = (refs, [decode(item) for item in got])

    def _work(self) -> None:
        task = None
        try:
            task = _borrow(self.kernel)
        except BaseException as err:
            self.errors.append(err)
        while (share := self._take()) is not None:
            index, refs = share
            got = None
            if task is not None and not self.errors:
                try:
                    got = task.hop_raw(refs, self.summary)
                except BaseException as err:
                    self.errors.append(err)
            self._answered(index, refs, got)  # unanswered after an error
        if task is not None:
            if self.errors:
                task.detach()
            else:
                _give_back(task)

    def add(self, ref: str, inode: int) -> None:
        """Have namespace ``inode`` (opened by ``ref``) read."""
        self.pending.append((ref, inode))
        self.count += 1
        if len(self.pending) >= _SHARE:
            self._put(self.pending)
            self.pending = []
        wanted = min(_most_helpers(), self.count // 32)
        while len(self.threads) < wanted:
            self._start()

    def finish(self) -> list[tuple[_Ref, _Answer]]:
        """Wait for every namespace added: ``((ref, inode), answer)`` each.
        Raises the first error a helper met."""
        with self.cond:
            # What no helper has taken yet is cut afresh, the last shares
            # smaller, so that no helper is left with a long tail.
            rest = [ref for _index, refs in self.todo for ref in refs] + self.pending
            self.unanswered -= len(self.todo)
            self.todo.clear()
            self.pending = []
            while rest:
                size = -(-len(rest) // (2 * len(self.threads)))
                size = max(_MIN_SHARE, min(_SHARE, size))
                self._put(rest[:size])
                rest = rest[size:]
            self.done = True
            self.cond.notify_all()
        while True:
            self._decode()
            with self.cond:
                if not self.raw:
                    if self.unanswered <= 0 and not self.todo:
                        break
                    self.cond.wait()
        # The helpers are back at rest before the call returns (a round
        # trip each, made at once): a next inventory finds them idle
        # instead of forking more, or competing with their return.
        for thread in self.threads:
            thread.join()
        if self.errors:
            raise self.errors[0]
        out: list[tuple[_Ref, _Answer]] = []
        for index in sorted(self.answers):
            refs, got = self.answers[index]
            out += zip(refs, got, strict=True)
        return out

    def abandon(self) -> None:
        """Stop: the helpers finish the share they have, then go."""
        with self.cond:
            self.todo.clear()
            self.done = True
            self.cond.notify_all()


def _hop(targets: Sequence[Namespace] | None, summary: bool, *, comm: bool = False,
         meanwhile: Callable[[dict[int, discovery._Found]], object] | None = None,
         ) -> list[tuple[int, _Answer]]:
    """(inode, answer) for each of ``targets``, in order; by default for
    every namespace on the host, by inode, read while they are still being
    found (the scan with ``comm``), and ``meanwhile(found)`` called with the
    scan's findings while the helpers finish."""
    kernel = shared_kernel()
    hoppers = _Hoppers(kernel, summary)
    try:
        if targets is not None:
            for ns in targets:
                hoppers.add(ns.ref, ns.inode)
            return [(inode, answer) for (_ref, inode), answer in hoppers.finish()]
        found = discovery.scan(comm=comm, on_new=hoppers.add, skip=_OwnPids())
        if meanwhile is not None:
            meanwhile(found)
        results = hoppers.finish()
    except BaseException:
        hoppers.abandon()
        raise
    # A namespace first seen through a process that has exited since may
    # still be held by something else the scan found: ask again through it.
    again = []
    for (ref, inode), answer in results:
        if isinstance(answer, OSError) and answer.errno in _GONE:
            other = discovery.best_ref(found[inode])
            if other is not None and other != ref:
                again.append((other, inode))
    if again:
        retry = _Hoppers(kernel, summary)
        for ref, inode in again:
            retry.add(ref, inode)
        answers = {inode: answer for (_ref, inode), answer in retry.finish()}
    else:
        answers = {}
    return sorted(((inode, answers.get(inode, answer)) for (_ref, inode), answer in results),
                  key=lambda pair: pair[0])


def _kept(answers: list[tuple[int, _Answer]], skip_gone: bool) -> list[Snapshot | Summary]:
    """The Snapshots or Summaries among ``answers``; a namespace that could
    not be read raises PrivilegeError (no privilege) or, unless
    ``skip_gone``, NamespaceNotFound."""
    out: list[Snapshot | Summary] = []
    for inode, res in answers:
        if isinstance(res, (Snapshot, Summary)):
            out.append(res)
            continue
        err = res if isinstance(res, OSError) else OSError(0, repr(res))
        if err.errno in (errno.EPERM, errno.EACCES):
            raise PrivilegeError(
                f"cannot read ipc:[{inode}]: {err.strerror} (needs CAP_SYS_ADMIN; run as root)")
        if not skip_gone:
            raise NamespaceNotFound(f"cannot read ipc:[{inode}]: {err.strerror}")
    return out


def _hop_all(targets: Sequence[Namespace] | None, skip_gone: bool | None,
             summary: bool) -> list[Snapshot | Summary]:
    """Snapshots or Summaries of ``targets`` (default: every namespace),
    read by helpers that hop through them with setns."""
    if skip_gone is None:
        skip_gone = targets is None
    return _kept(_hop(targets, summary), skip_gone)


def survey() -> tuple[list[Namespace], list[Summary]]:
    """Every namespace on the host, as :func:`namespaces` finds them, and a
    Summary of each, as :func:`summaries` reads them (one that vanished
    meanwhile is left out), in one pass: helpers read each namespace as the
    scan finds it, while the caller works out who holds them."""
    host = discovery.host_inode()
    found_ns: list[Namespace] = []

    def describe(found: dict[int, discovery._Found]) -> None:
        for entry in found.values():
            ns = _from_entry(entry, host)
            if ns is not None:
                found_ns.append(ns)

    sums = _kept(_hop(None, True, comm=True, meanwhile=describe), True)
    return (sorted(found_ns, key=lambda ns: ns.inode),
            [s for s in sums if isinstance(s, Summary)])


def inventory(targets: Sequence[Namespace] | None = None, *,
              skip_gone: bool | None = None) -> list[Snapshot]:
    """A Snapshot of each namespace (default: every one on the host): its
    objects, limits and usage, read by helpers that hop through them with
    setns.

    A namespace that vanished meanwhile is left out when ``skip_gone``
    (default: only when ``targets`` is None), else it raises
    NamespaceNotFound.  Raises PrivilegeError without CAP_SYS_ADMIN.
    """
    return [s for s in _hop_all(targets, skip_gone, False) if isinstance(s, Snapshot)]


def summaries(targets: Sequence[Namespace] | None = None, *,
              skip_gone: bool | None = None) -> list[Summary]:
    """A Summary of each namespace (default: every one on the host): its
    usage counters beside the limits that bound them and its segments'
    bytes, without listing objects; several times cheaper than
    :func:`inventory`.  Raises as inventory does."""
    return [s for s in _hop_all(targets, skip_gone, True) if isinstance(s, Summary)]
