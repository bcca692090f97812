"""The model kernel: ``ipcns.kernel("model")``."""

from __future__ import annotations

from typing import Any

from .. import abi
from .._types import SigInfo
from ..contract import Kernel
from . import sem, shm
from ._state import World
from .creds import CAP_FULL, Cred, UserNamespace
from .files import OpenFile
from .namespaces import IpcNamespace, Namespace, initial_ipc_ns
from .task import ModelTask, Process
from .vfs import MntNamespace, initial_root

RLIMIT_MEMLOCK = 8
#: The rlimits a new task starts with (the kernel's defaults).
DEFAULT_RLIMITS = {abi.RLIMIT_MSGQUEUE: (819200, 819200), RLIMIT_MEMLOCK: (8 << 20, 8 << 20)}


class ModelKernel(Kernel):
    """A reference model of Linux's IPC namespaces: a kernel of its own, in
    this Python process, with no privilege needed.

    ``spawn()`` gives a task of uid 0 in the initial namespaces holding the
    capabilities of ``bounding`` (all by default; pass the host's bounding
    set to compare with a root that lacks some).  ``rlimits`` are the
    spawned tasks' limits, (soft, hard) by resource, -1 for unlimited.
    """

    name = "model"

    def __init__(self, bounding: int = CAP_FULL,
                 rlimits: dict[int, tuple[int, int]] | None = None,
                 max_namespaces: int = 63_000) -> None:
        self.world = World(max_namespaces)
        world = self.world
        init_user = UserNamespace(world, None, 0, 0)
        world.init_user_ns = init_user
        self.bounding = bounding & CAP_FULL
        self.rlimits = dict(DEFAULT_RLIMITS if rlimits is None else rlimits)
        self._root = Cred(uid=0, euid=0, suid=0, fsuid=0, gid=0, egid=0, sgid=0, fsgid=0,
                          groups=(), cap_effective=self.bounding, cap_permitted=self.bounding,
                          cap_inheritable=0, cap_bset=self.bounding, user_ns=init_user)
        mnt = MntNamespace(world, init_user, initial_root(world), initial=True).get()
        self._nsproxy: dict[str, Any] = {
            "ipc": initial_ipc_ns(world, self._root),
            "mnt": mnt,
            **{kind: Namespace(world, kind, init_user, initial=True)
               for kind in ("uts", "net", "pid", "cgroup", "time")},
        }
        self._nsproxy["uts"].hostname = "model"

    @property
    def initial_ipc_ns(self) -> IpcNamespace:
        ns: IpcNamespace = self._nsproxy["ipc"]
        return ns

    def spawn(self) -> ModelTask:
        with self.world.lock:
            tgid = self.world.new_pid()
            process = Process(tgid, self.rlimits, 0o022, self._root.user_ns)
            nsproxy = dict(self._nsproxy)
            for ns in nsproxy.values():
                ns.get()
            return ModelTask(self, process, self._root, nsproxy, tgid)

    def _copy_process(self, parent: ModelTask, flags: int
                      ) -> tuple[Process, sem.UndoList | None]:
        """What copy_process copies before the namespaces: the undo list
        (shared under CLONE_SYSVSEM), the descriptors and the mappings."""
        ulp = None
        if flags & abi.CLONE_SYSVSEM:
            ulp = parent.undo_list()
            ulp.refs += 1
        old = parent.process
        process = Process(self.world.new_pid(), old.rlimits, old.umask, parent.cred.user_ns)
        process.dumpable = old.dumpable
        for fd, f in old.files.items():
            f.refs += 1
            process.files[fd] = f
        for addr, (size, att) in old.mm.maps.items():
            process.mm.maps[addr] = (size, att)
            shm.open_mapping(parent, att)
        process.mm.next = old.mm.next
        return process, ulp

    def _abort_copy(self, parent: ModelTask, process: Process,
                    ulp: sem.UndoList | None) -> None:
        """A clone failed after _copy_process: the copies go again, with the
        parent as the current task (as in the kernel's cleanup path)."""
        for _addr, (_size, att) in list(process.mm.maps.items()):
            shm.close_mapping(parent, att)
        process.mm.maps.clear()
        for f in process.files.values():
            self._drop_file(parent, f)
        process.files.clear()
        if ulp is not None:
            ulp.refs -= 1
        self.world.wake()

    def _thread(self, parent: ModelTask) -> ModelTask:
        tid = self.world.new_pid()
        nsproxy = dict(parent.nsproxy)
        for ns in nsproxy.values():
            ns.get()
        th = ModelTask(self, parent.process, parent.cred, nsproxy, tid)
        ulp = parent.undo_list()
        ulp.refs += 1
        th.sysvsem = ulp
        return th

    def _end_thread(self, t: ModelTask) -> None:
        sem.exit_sem(t)
        shm.exit_shm(t)

    def _exit(self, t: ModelTask) -> None:
        """do_exit of ``t``; for a process's main task, of every thread."""
        process = t.process
        if not t.is_leader:
            self._end_thread(t)
            self._release(t)
            return
        others = [th for th in process.threads if th is not t and th.alive]
        for th in others:
            self._end_thread(th)
        # exit_mm
        for _addr, (_size, att) in list(process.mm.maps.items()):
            shm.close_mapping(t, att)
        process.mm.maps.clear()
        self._end_thread(t)
        # exit_files
        files, process.files = process.files, {}
        for f in files.values():
            self._drop_file(t, f)
        for th in [*others, t]:
            self._release(th)
        process.signals.clear()

    def _drop_file(self, t: ModelTask, f: OpenFile) -> None:
        f.flush(t)
        f.refs -= 1
        if f.refs == 0:
            f.release(t)

    def _release(self, t: ModelTask) -> None:
        t._alive = False
        nsproxy, t.nsproxy = t.nsproxy, {}
        for ns in nsproxy.values():
            ns.put()
        self.world.wake()

    def send_signal(self, tgid: int, info: SigInfo) -> None:
        """Queue a process-directed signal."""
        task = self.world.tasks.get(tgid)
        if task is not None and task.alive:
            task.process.signals.append(info)
            self.world.wake()

    def close(self) -> None:
        world = self.world
        with world.lock:
            world.closed = True
            world.wake()
            for task in list(world.tasks.values()):
                if task.alive and task.is_leader:
                    self._exit(task)
            for task in list(world.tasks.values()):
                if task.alive:
                    self._exit(task)
