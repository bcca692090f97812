"""The reference model: Linux's IPC namespace subsystem in pure Python.

``ipcns.kernel("model")`` (or :class:`ModelKernel`) is a kernel of the
backend contract (:mod:`ipcns.contract`) that gives the answers Linux gives,
checked by the same conformance scenarios, on any OS and without privilege.
One module per kernel part:

- ``creds``: credentials, capabilities, user namespaces and their counts;
- ``namespaces``: IPC namespaces, their sysctl values and lifetime;
- ``ids``: System V ids, keys and permission checks;
- ``msg``, ``sem``, ``shm``: the System V objects;
- ``mqueue``: POSIX message queues and the mqueue filesystem;
- ``sysctl``, ``procfs``: /proc/sys and /proc/sysvipc, /proc/PID/ns;
- ``vfs``, ``files``: mounts, paths and open files;
- ``task``, ``kernel``: tasks, their system calls, and the kernel.

Nothing here imports Linux-only modules.
"""

from __future__ import annotations

from .kernel import ModelKernel
from .task import ModelTask

__all__ = ["ModelKernel", "ModelTask"]
