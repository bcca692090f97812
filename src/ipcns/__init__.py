"""ipcns: Linux IPC namespaces, seen, made, entered and measured.

An IPC namespace isolates System V message queues, semaphore sets and shared
memory segments, and POSIX message queues.  This package gives:

* the host's namespaces as objects: :func:`namespaces` finds every one,
  :func:`open` takes one by name, path, pid or inode, :func:`create` and
  :func:`delete` manage named ones under /run/ipcns, :func:`spawn` starts a
  command in a new one after a setup step; a :class:`Namespace` lists its
  objects, limits and usage and runs commands or code inside;
* :func:`kernel`: a backend of the contract in :mod:`ipcns.contract`, the
  host kernel ("linux") driven through helper processes, or the reference
  model ("model"), a pure-Python kernel of its own.

Glossary (one name for one thing):

namespace
    An IPC namespace, identified by its nsfs inode, written ``ipc:[INODE]``.
key
    The ``key_t`` a SysV object is looked up by (IPC_PRIVATE = 0).
id
    The identifier a SysV ``*get`` returns: ``seq << 15 | index``.
queue
    A message queue: SysV (kind "msg") or POSIX (kind "mqueue").
set, segment
    A SysV semaphore set (kind "sem"), a SysV shared memory segment ("shm").
task
    A process of a backend kernel, on which system calls are made.

Errors are :class:`IpcnsError` (one line naming the problem); a Task's
system calls raise ``OSError`` with the kernel's errno instead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._errors import AlreadyExists, InvalidSpec, IpcnsError, NamespaceNotFound, PrivilegeError
from ._types import (
    Bounds,
    Container,
    Counter,
    Limits,
    MessageQueue,
    NamespaceInfo,
    PosixQueue,
    Process,
    SemaphoreSet,
    SharedMemory,
    Snapshot,
    Summary,
    Usage,
)

if TYPE_CHECKING:
    import subprocess
    from collections.abc import Callable, Sequence
    from typing import Any

    from .contract import Kernel
    from .linux.namespace import Namespace

__all__ = [
    "AlreadyExists",
    "Bounds",
    "Container",
    "Counter",
    "InvalidSpec",
    "IpcnsError",
    "Limits",
    "MessageQueue",
    "Namespace",
    "NamespaceInfo",
    "NamespaceNotFound",
    "PosixQueue",
    "PrivilegeError",
    "Process",
    "SemaphoreSet",
    "SharedMemory",
    "Snapshot",
    "Summary",
    "Usage",
    "create",
    "delete",
    "inventory",
    "kernel",
    "names",
    "namespaces",
    "open",
    "spawn",
    "summaries",
]

__version__ = "0.1.0"


def namespaces() -> list[Namespace]:
    """Every IPC namespace on the host (held by a process, thread, nsfs bind
    mount or open descriptor), sorted by inode, each with its processes,
    holders, owning user namespace and container."""
    from .linux.namespace import namespaces as _namespaces

    return _namespaces()


def open(spec: str | int) -> Namespace:
    """The namespace ``spec`` names: a name under /run/ipcns, an nsfs path,
    ``pid:N``, ``ipc:[N]`` or a bare inode number.

    Raises NamespaceNotFound, InvalidSpec or PrivilegeError (IpcnsError).
    """
    from .linux.namespace import open_namespace

    return open_namespace(spec)


def create(name: str) -> Namespace:
    """A new IPC namespace, kept alive under /run/ipcns/NAME (the ``ip netns``
    convention; ``nsenter --ipc=/run/ipcns/NAME`` enters it).

    Raises InvalidSpec, AlreadyExists or PrivilegeError.
    """
    from .linux.namespace import create as _create

    return _create(name)


def delete(name: str) -> None:
    """Remove the name: the namespace dies once nothing else holds it.

    Raises InvalidSpec, NamespaceNotFound or PrivilegeError.
    """
    from .linux.namespace import delete as _delete

    _delete(name)


def spawn(argv: Sequence[str], *, setup: Callable[[Namespace], object] | None = None,
          name: str | None = None, mqueue: bool = True,
          **popen_kwargs: Any) -> tuple[Namespace, subprocess.Popen[Any]]:
    """Start ``argv`` in a brand-new IPC namespace, once ``setup(namespace)``
    (run by the caller, from outside) has prepared it; ``name`` also binds
    it under /run/ipcns.  If setup fails the command never runs.  Returns
    (namespace, process); ``popen_kwargs`` go to subprocess.Popen.

    Raises InvalidSpec, AlreadyExists, PrivilegeError, or what setup raised.
    """
    from .linux.namespace import spawn as _spawn

    return _spawn(argv, setup=setup, name=name, mqueue=mqueue, **popen_kwargs)


def names() -> list[str]:
    """The names under /run/ipcns, sorted."""
    from .linux.namespace import names as _names

    return _names()


def inventory(targets: list[Namespace] | None = None, *,
              skip_gone: bool | None = None) -> list[Snapshot]:
    """Objects, limits and usage of every namespace (or of ``targets``), read
    in one pass by helpers that hop through them with setns.  A namespace
    gone meanwhile is left out with ``skip_gone`` (the default without
    ``targets``), else it raises NamespaceNotFound."""
    from .linux.namespace import inventory as _inventory

    return _inventory(targets, skip_gone=skip_gone)


def summaries(targets: list[Namespace] | None = None, *,
              skip_gone: bool | None = None) -> list[Summary]:
    """How full every namespace (or each of ``targets``) is: usage counters
    beside the limits that bound them and the segments' bytes, without the
    objects (what ``ipcns list`` shows); several times cheaper than
    :func:`inventory`.  Raises as inventory does."""
    from .linux.namespace import summaries as _summaries

    return _summaries(targets, skip_gone=skip_gone)


def kernel(name: str = "linux") -> Kernel:
    """A backend of the contract: "linux" (the host kernel, driven through
    helper processes; needs root) or "model" (the reference model, in this
    process, on any OS, without privilege).

    Raises InvalidSpec for an unknown name.
    """
    if name == "linux":
        from .linux.kernel import LinuxKernel

        return LinuxKernel()
    if name == "model":
        from .model import ModelKernel

        return ModelKernel()
    raise InvalidSpec(f"unknown kernel {name!r}: choose 'linux' or 'model'")


def __getattr__(attr: str) -> object:
    # Namespace lives with the Linux backend; import it only when asked.
    if attr == "Namespace":
        from .linux.namespace import Namespace

        return Namespace
    raise AttributeError(f"module 'ipcns' has no attribute {attr!r}")
