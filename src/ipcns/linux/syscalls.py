"""The system calls of :class:`ipcns.contract.Task`, made by the current process.

:class:`Syscalls` has the contract's syscall methods with the contract's
names and arguments and makes them in the calling process: a helper process
(single-threaded, see ``_helper``) serves a Task with one.  Every kernel
failure is ``OSError(errno, os.strerror(errno))`` (so ``FileNotFoundError``,
``PermissionError``, ...), without a filename, as the contract says.

The module-level functions are what the helper itself needs: ``clone3``,
``set_pdeathsig``, ``prctl``, ``fsmount_mqueue``, ``mount`` and ``umount2``.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import functools
import math
import operator
import os
import struct
import time
from collections.abc import Callable, Sequence
from ctypes import addressof, byref, c_char, c_long, c_uint, c_ulong, c_ushort, sizeof
from typing import Any, ClassVar, ParamSpec, TypeVar, cast

from .. import abi
from .._types import (
    IpcPerm,
    MessageQueue,
    MqAttr,
    MsgInfo,
    MsqidDs,
    SemaphoreSet,
    SemidDs,
    SemInfo,
    ShmidDs,
    ShmInfo,
    ShmLimitsInfo,
    Stat,
)
from . import libc

# The *_INFO structures and mq_attr, read in one C-level call each: they are
# asked for several times per namespace in an inventory.  The ctypes fields
# carry the names of the result's fields (mq_attr's with an "mq_" prefix);
# the result's last field, max_index, is the call's value.
_tuple_new = tuple.__new__
_MSGINFO = operator.attrgetter(*MsgInfo._fields[:-1])
_SEMINFO = operator.attrgetter(*SemInfo._fields[:-1])
_SHM_INFO = operator.attrgetter(*ShmInfo._fields[:-1])
_SHMINFO64 = operator.attrgetter(*ShmLimitsInfo._fields[:-1])
_MQ_ATTR = operator.attrgetter(*("mq_" + name for name in MqAttr._fields))

_P = ParamSpec("_P")
_R = TypeVar("_R")

#: Every capability bit up to CAP_LAST_CAP.
_CAP_MASK = (1 << (abi.CAP_LAST_CAP + 1)) - 1
_U32 = 0xFFFF_FFFF
_USHORT_MAX = 0xFFFF
_ULONG_MASK = (1 << (8 * sizeof(c_ulong))) - 1
_NS_PER_S = 1_000_000_000
#: The mtype word at the head of ``struct msgbuf``.
_MTYPE_SIZE = sizeof(c_long)
#: The index part of a System V IPC id: IPCMNI is 1 << 15, or 1 << 24 with
#: the ipcmni_extend boot option (<ipc/util.h>).
_IPC_INDEX_MASKS = ((1 << 15) - 1, (1 << 24) - 1)


def _plain_oserror(fn: Callable[_P, _R]) -> Callable[_P, _R]:
    """Make ``fn`` raise ``OSError(errno, strerror)`` without the filename
    that the :mod:`os` functions attach."""

    @functools.wraps(fn)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return fn(*args, **kwargs)
        except OSError as err:
            if err.errno is None or err.filename is None:
                raise
            raise OSError(err.errno, os.strerror(err.errno)) from None

    return wrapper


#: os.open, raising OSError without the filename.
_open = _plain_oserror(os.open)


def _oserror(code: int) -> OSError:
    """``OSError(code, os.strerror(code))``."""
    return OSError(code, os.strerror(code))


def _split_ns(ns: int) -> libc.timespec:
    """A timespec of ``ns`` nanoseconds (a negative ``ns`` gives a negative
    tv_sec, which the kernel rejects with EINVAL)."""
    sec, nsec = divmod(ns, _NS_PER_S)
    return libc.timespec(sec, nsec)


def _seconds_to_ns(timeout: float) -> int | None:
    """``timeout`` seconds in nanoseconds; None for +inf (no timeout).
    Raises OSError EINVAL for NaN."""
    if math.isnan(timeout):
        raise _oserror(errno.EINVAL)
    if math.isinf(timeout):
        return None if timeout > 0 else -_NS_PER_S
    return round(timeout * _NS_PER_S)


def _relative(timeout: float | None) -> libc.timespec | None:
    """The relative timespec of ``timeout`` seconds; None without one."""
    if timeout is None:
        return None
    ns = _seconds_to_ns(timeout)
    return None if ns is None else _split_ns(ns)


def _deadline(timeout: float | None) -> libc.timespec | None:
    """The absolute CLOCK_REALTIME timespec ``timeout`` seconds from now;
    None without a timeout."""
    if timeout is None:
        return None
    ns = _seconds_to_ns(timeout)
    if ns is None:
        return None
    return _split_ns(max(0, time.clock_gettime_ns(time.CLOCK_REALTIME) + ns))


def _ref(obj: libc.timespec | None) -> ctypes._CArgObject | None:
    """``byref(obj)``, or None (NULL) for None."""
    return None if obj is None else byref(obj)


def _perm(p: libc.ipc64_perm) -> IpcPerm:
    # key_t is signed; ipcns reports keys unsigned, as ipcs prints them.
    return IpcPerm(
        key=int(p.key) & _U32, uid=int(p.uid), gid=int(p.gid), cuid=int(p.cuid),
        cgid=int(p.cgid), mode=int(p.mode), seq=int(p.seq),
    )


def _set_perm(p: libc.ipc64_perm, uid: int | None, gid: int | None, mode: int | None) -> None:
    if uid is not None:
        p.uid = uid & _U32
    if gid is not None:
        p.gid = gid & _U32
    if mode is not None:
        p.mode = mode & _U32


class Syscalls:
    """The contract's system calls, made by the current process.

    Each method is the :class:`ipcns.contract.Task` method of the same name;
    see there for the arguments.  Every one raises OSError as the kernel
    fails the call.  Blocking calls block the calling thread (ctypes drops
    the GIL).
    """

    # -- processes and namespaces ------------------------------------------

    def unshare(self, flags: int) -> None:
        """unshare(2).  Raises OSError."""
        libc.unshare(flags)

    def setns(self, target: int | str, nstype: int = 0) -> None:
        """setns(2) to a descriptor of this process, or to a path (opened
        O_RDONLY|O_CLOEXEC, joined and closed).  Raises OSError (TypeError for
        a target of another type)."""
        if isinstance(target, str):
            fd = _open(target, os.O_RDONLY | os.O_CLOEXEC)
            try:
                libc.setns(fd, nstype)
            finally:
                os.close(fd)
        elif isinstance(target, int):
            libc.setns(target, nstype)
        else:
            raise TypeError(f"setns target must be a descriptor or a path, not {target!r}")

    @_plain_oserror
    def ns_inode(self, nstype: str = "ipc") -> int:
        """The inode number of the calling thread's namespace of type
        ``nstype`` (/proc/thread-self/ns/NSTYPE: namespaces are per thread).
        Raises OSError."""
        return os.stat(f"/proc/thread-self/ns/{nstype}").st_ino

    def ns_ioctl(self, fd: int, request: int) -> int:
        """ioctl(2) on an nsfs descriptor.  Returns the type (NS_GET_NSTYPE),
        the uid (NS_GET_OWNER_UID) or a new descriptor (NS_GET_USERNS,
        NS_GET_PARENT).  Raises OSError."""
        if request == abi.NS_GET_OWNER_UID:
            uid = libc.uid_t()
            libc.ioctl(fd, request, byref(uid))
            return int(uid.value)
        return int(libc.ioctl(fd, request, None))

    def pidfd_open(self, pid: int) -> int:
        """pidfd_open(2) with no flags; returns the pidfd.  Raises OSError."""
        return libc.pidfd_open(pid, 0)

    # -- credentials and limits ----------------------------------------------

    def getresuid(self) -> tuple[int, int, int]:
        """(real, effective, saved) uid."""
        return os.getresuid()

    def setresuid(self, ruid: int, euid: int, suid: int) -> None:
        """setresuid(2) (-1 keeps a value).  Raises OSError."""
        libc.setresuid(ruid & _U32, euid & _U32, suid & _U32)

    def setresgid(self, rgid: int, egid: int, sgid: int) -> None:
        """setresgid(2) (-1 keeps a value).  Raises OSError."""
        libc.setresgid(rgid & _U32, egid & _U32, sgid & _U32)

    def setgroups(self, groups: Sequence[int]) -> None:
        """setgroups(2).  Raises OSError."""
        array = (libc.gid_t * len(groups))(*(g & _U32 for g in groups))
        libc.setgroups(len(groups), array)

    def capabilities(self) -> tuple[int, int, int]:
        """capget(2) of this process: (effective, permitted, inheritable),
        each a mask of bits 0..CAP_LAST_CAP.  Raises OSError."""
        header = libc.user_cap_header(libc._LINUX_CAPABILITY_VERSION_3, 0)
        data = libc.user_cap_data_array()
        libc.capget(header, data)

        def join(name: str) -> int:
            low = int(getattr(data[0], name))
            high = int(getattr(data[1], name))
            return (low | high << 32) & _CAP_MASK

        return join("effective"), join("permitted"), join("inheritable")

    def set_capabilities(self, effective: int, permitted: int, inheritable: int = 0) -> None:
        """capset(2) of this process, both 32-bit halves.  Raises OSError."""
        header = libc.user_cap_header(libc._LINUX_CAPABILITY_VERSION_3, 0)
        data = libc.user_cap_data_array()
        for i in range(libc._LINUX_CAPABILITY_U32S_3):
            shift = 32 * i
            data[i].effective = (effective >> shift) & _U32
            data[i].permitted = (permitted >> shift) & _U32
            data[i].inheritable = (inheritable >> shift) & _U32
        libc.capset(header, data)

    def getrlimit(self, resource: int) -> tuple[int, int]:
        """getrlimit(2): (soft, hard), -1 for RLIM_INFINITY.  Raises OSError."""
        limit = libc.rlimit()
        libc.getrlimit(resource, byref(limit))

        def value(v: int) -> int:
            return -1 if v == libc.RLIM_INFINITY else v

        return value(int(limit.rlim_cur)), value(int(limit.rlim_max))

    def setrlimit(self, resource: int, soft: int, hard: int) -> None:
        """setrlimit(2), -1 meaning RLIM_INFINITY.  Raises OSError."""

        def value(v: int) -> int:
            return libc.RLIM_INFINITY if v == -1 else v & libc.RLIM_INFINITY

        libc.setrlimit(resource, byref(libc.rlimit(value(soft), value(hard))))

    # -- files ---------------------------------------------------------------

    @_plain_oserror
    def open(self, path: str, flags: int = 0, mode: int = 0o666) -> int:
        """open(2); returns the descriptor.  Raises OSError."""
        return os.open(path, flags, mode)

    @_plain_oserror
    def read(self, fd: int, size: int = 65536) -> bytes:
        """read(2) of up to ``size`` bytes.  Raises OSError."""
        return os.read(fd, size)

    @_plain_oserror
    def close(self, fd: int) -> None:
        """close(2).  Raises OSError."""
        os.close(fd)

    @_plain_oserror
    def read_file(self, path: str) -> bytes:
        """The whole content of ``path``.  Raises OSError."""
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            chunks: list[bytes] = []
            while chunk := os.read(fd, 65536):
                chunks.append(chunk)
            return b"".join(chunks)
        finally:
            os.close(fd)

    @_plain_oserror
    def write_file(self, path: str, data: bytes) -> None:
        """Write ``data`` to the existing file ``path`` (in one write(2) when
        the kernel takes it all, as sysctls and uid_map need).  Raises OSError."""
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
        try:
            view = memoryview(data)
            while True:
                written = os.write(fd, view)
                view = view[written:]
                if not view or written == 0:
                    break
        finally:
            os.close(fd)

    @_plain_oserror
    def stat(self, path: str) -> Stat:
        """stat(2).  Raises OSError."""
        st = os.stat(path)
        return Stat(st.st_mode, st.st_uid, st.st_gid, st.st_ino, st.st_size)

    @_plain_oserror
    def listdir(self, path: str) -> list[str]:
        """The names in directory ``path``, sorted.  Raises OSError."""
        return sorted(os.listdir(path))

    @_plain_oserror
    def creat(self, path: str, mode: int = 0o600) -> None:
        """creat(2) (O_CREAT|O_WRONLY|O_TRUNC) and close.  Raises OSError."""
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC | os.O_CLOEXEC, mode))

    @_plain_oserror
    def unlink(self, path: str) -> None:
        """unlink(2).  Raises OSError."""
        os.unlink(path)

    @_plain_oserror
    def mkdir(self, path: str, mode: int = 0o755) -> None:
        """mkdir(2).  Raises OSError."""
        os.mkdir(path, mode)

    def mount_mqueue(self, path: str) -> None:
        """``mount("mqueue", path, "mqueue", 0, NULL)``.  Raises OSError."""
        mount("mqueue", path, "mqueue", 0, None)

    def umount(self, path: str, flags: int = 0) -> None:
        """umount2(2).  Raises OSError."""
        umount2(path, flags)

    # -- System V: shared helpers --------------------------------------------

    @staticmethod
    def _stat_for_set(stat: Callable[[int, int], int], ident: int, any_cmd: int) -> None:
        """Fill a *_ds for IPC_SET through ``stat(id_or_index, cmd)``: with
        IPC_STAT, or, when that fails with EACCES (IPC_SET needs ownership,
        not read access), with the *_STAT_ANY of the id's index if that
        names the same object.  Raises IPC_STAT's OSError otherwise."""
        try:
            stat(ident, abi.IPC_STAT)
        except PermissionError as denied:
            for mask in _IPC_INDEX_MASKS:
                try:
                    if stat(ident & mask, any_cmd) == ident:
                        return
                except OSError:
                    continue
            raise denied from None

    # -- System V message queues -------------------------------------------

    def msgget(self, key: int, flags: int) -> int:
        """msgget(2); returns the msqid.  Raises OSError."""
        return int(libc.msgget(key, flags))

    def msgsnd(self, msqid: int, mtype: int, data: bytes, flags: int = 0) -> None:
        """msgsnd(2) of ``struct msgbuf {mtype, data}``.  Raises OSError."""
        buf = (c_char * (_MTYPE_SIZE + len(data)))()
        c_long.from_buffer(buf).value = mtype
        ctypes.memmove(addressof(buf) + _MTYPE_SIZE, data, len(data))
        libc.msgsnd(msqid, buf, len(data), flags)

    def msgrcv(self, msqid: int, size: int, mtype: int = 0, flags: int = 0) -> tuple[int, bytes]:
        """msgrcv(2) of up to ``size`` bytes; returns (mtype, data).  Raises
        OSError (EINVAL for a negative size, as the kernel does)."""
        buf = (c_char * (_MTYPE_SIZE + max(size, 0)))()
        n = int(libc.msgrcv(msqid, buf, size & _ULONG_MASK, mtype, flags))
        return int(c_long.from_buffer(buf).value), buf.raw[_MTYPE_SIZE : _MTYPE_SIZE + n]

    def _msg_stat(self, msqid: int, cmd: int) -> tuple[libc.msqid64_ds, int]:
        ds = libc.msqid64_ds()
        return ds, int(libc.msgctl(msqid, cmd, byref(ds)))

    def msgctl(self, msqid: int, cmd: int, qbytes: int | None = None,
               uid: int | None = None, gid: int | None = None,
               mode: int | None = None) -> int:
        """msgctl(2) for IPC_RMID or IPC_SET (fields left None keep their
        value) or any command without a buffer; returns the call's value.
        Raises OSError."""
        if cmd != abi.IPC_SET:
            return int(libc.msgctl(msqid, cmd, None))
        ds = libc.msqid64_ds()
        if None in (qbytes, uid, gid, mode):
            self._stat_for_set(
                lambda i, c: int(libc.msgctl(i, c, byref(ds))), msqid, abi.MSG_STAT_ANY
            )
        _set_perm(ds.msg_perm, uid, gid, mode)
        if qbytes is not None:
            ds.msg_qbytes = qbytes & _ULONG_MASK
        return int(libc.msgctl(msqid, abi.IPC_SET, byref(ds)))

    def msgctl_stat(self, msqid: int, cmd: int) -> MsqidDs:
        """msgctl(2) with IPC_STAT, MSG_STAT or MSG_STAT_ANY; ``id`` is the
        call's value.  Raises OSError."""
        ds, ret = self._msg_stat(msqid, cmd)
        return MsqidDs(
            perm=_perm(ds.msg_perm), stime=int(ds.msg_stime), rtime=int(ds.msg_rtime),
            ctime=int(ds.msg_ctime), cbytes=int(ds.msg_cbytes), qnum=int(ds.msg_qnum),
            qbytes=int(ds.msg_qbytes), lspid=int(ds.msg_lspid), lrpid=int(ds.msg_lrpid),
            id=ret,
        )

    def msgctl_info(self, cmd: int) -> MsgInfo:
        """msgctl(2) with IPC_INFO or MSG_INFO; ``max_index`` is the call's
        value.  Raises OSError."""
        info = libc.msginfo()
        ret = libc.msgctl(0, cmd, byref(info))
        return _tuple_new(MsgInfo, (*_MSGINFO(info), ret))

    # -- System V semaphores -------------------------------------------------

    def semget(self, key: int, nsems: int, flags: int) -> int:
        """semget(2); returns the semid.  Raises OSError."""
        return int(libc.semget(key, nsems, flags))

    def semop(self, semid: int, ops: Sequence[tuple[int, int, int]],
              timeout: float | None = None) -> None:
        """semop(2), or semtimedop(2) with a relative ``timeout`` in seconds
        (EAGAIN when it expires).  Raises OSError."""
        array = (libc.sembuf * len(ops))(*(libc.sembuf(n, op, flg) for n, op, flg in ops))
        if timeout is None:
            libc.semop(semid, array, len(ops))
        else:
            libc.semtimedop(semid, array, len(ops), _ref(_relative(timeout)))

    def _sem_ds(self, semid: int, cmd: int) -> tuple[libc.semid64_ds, int]:
        ds = libc.semid64_ds()
        return ds, int(libc.semctl(semid, 0, cmd, addressof(ds)))

    def _sem_nsems(self, semid: int) -> int:
        """The set's size, also for a set this process may not read."""
        ds = libc.semid64_ds()
        self._stat_for_set(
            lambda i, c: int(libc.semctl(i, 0, c, addressof(ds))), semid, abi.SEM_STAT_ANY
        )
        return int(ds.sem_nsems)

    def semctl(self, semid: int, semnum: int, cmd: int, value: int = 0,
               uid: int | None = None, gid: int | None = None,
               mode: int | None = None) -> int:
        """semctl(2) for IPC_RMID, IPC_SET (fields left None keep their
        value), GETVAL, SETVAL (``value``), GETPID, GETNCNT and GETZCNT;
        returns the call's value.  Raises OSError."""
        if cmd != abi.IPC_SET:
            return int(libc.semctl(semid, semnum, cmd, value & _ULONG_MASK))
        ds = libc.semid64_ds()
        if None in (uid, gid, mode):
            self._stat_for_set(
                lambda i, c: int(libc.semctl(i, 0, c, addressof(ds))), semid, abi.SEM_STAT_ANY
            )
        _set_perm(ds.sem_perm, uid, gid, mode)
        return int(libc.semctl(semid, 0, abi.IPC_SET, addressof(ds)))

    def semctl_getall(self, semid: int) -> list[int]:
        """semctl(GETALL): every semaphore's value.  Raises OSError."""
        nsems = self._sem_nsems(semid)
        array = (c_ushort * nsems)()
        libc.semctl(semid, 0, abi.GETALL, addressof(array))
        return [int(v) for v in array]

    def semctl_setall(self, semid: int, values: Sequence[int]) -> None:
        """semctl(SETALL).  A value outside 0..SEMVMX, or a missing one (fewer
        values than semaphores), fails with ERANGE from the kernel; values
        past the set's size are ignored, as C ignores them.  Raises OSError."""
        nsems = self._sem_nsems(semid)
        out_of_range = _USHORT_MAX  # > SEMVMX: the kernel's ERANGE
        array = (c_ushort * max(nsems, len(values)))(
            *(v if 0 <= v <= _USHORT_MAX else out_of_range for v in values)
        )
        for i in range(len(values), nsems):
            array[i] = out_of_range
        libc.semctl(semid, 0, abi.SETALL, addressof(array))

    def semctl_stat(self, semid: int, cmd: int) -> SemidDs:
        """semctl(2) with IPC_STAT, SEM_STAT or SEM_STAT_ANY; ``id`` is the
        call's value.  Raises OSError."""
        ds, ret = self._sem_ds(semid, cmd)
        return SemidDs(
            perm=_perm(ds.sem_perm), otime=int(ds.sem_otime), ctime=int(ds.sem_ctime),
            nsems=int(ds.sem_nsems), id=ret,
        )

    def semctl_info(self, cmd: int) -> SemInfo:
        """semctl(2) with IPC_INFO or SEM_INFO; ``max_index`` is the call's
        value.  Raises OSError."""
        info = libc.seminfo()
        ret = libc.semctl(0, 0, cmd, addressof(info))
        return _tuple_new(SemInfo, (*_SEMINFO(info), ret))

    # -- System V shared memory ----------------------------------------------

    def shmget(self, key: int, size: int, flags: int) -> int:
        """shmget(2); returns the shmid.  Raises OSError."""
        return int(libc.shmget(key, size & _ULONG_MASK, flags))

    def shmat(self, shmid: int, flags: int = 0) -> int:
        """shmat(2) at an address the kernel picks; returns the address.
        Raises OSError."""
        return int(libc.shmat(shmid, None, flags))

    def shmdt(self, addr: int) -> None:
        """shmdt(2).  Raises OSError."""
        libc.shmdt(addr)

    def shm_write(self, addr: int, data: bytes, offset: int = 0) -> None:
        """Copy ``data`` to ``addr + offset`` (a plain store: an address that
        is not mapped writable kills the process with SIGSEGV, as in C)."""
        ctypes.memmove(addr + offset, data, len(data))

    def shm_read(self, addr: int, size: int, offset: int = 0) -> bytes:
        """``size`` bytes from ``addr + offset`` (a plain load).  Raises
        OSError EINVAL for a negative size."""
        if size < 0:
            raise _oserror(errno.EINVAL)
        return ctypes.string_at(addr + offset, size)

    def _shm_ds(self, shmid: int, cmd: int) -> tuple[libc.shmid64_ds, int]:
        ds = libc.shmid64_ds()
        return ds, int(libc.shmctl(shmid, cmd, byref(ds)))

    def shmctl(self, shmid: int, cmd: int, uid: int | None = None,
               gid: int | None = None, mode: int | None = None) -> int:
        """shmctl(2) for IPC_RMID, IPC_SET (fields left None keep their
        value), SHM_LOCK and SHM_UNLOCK; returns the call's value.  Raises
        OSError."""
        if cmd != abi.IPC_SET:
            return int(libc.shmctl(shmid, cmd, None))
        ds = libc.shmid64_ds()
        if None in (uid, gid, mode):
            self._stat_for_set(
                lambda i, c: int(libc.shmctl(i, c, byref(ds))), shmid, abi.SHM_STAT_ANY
            )
        _set_perm(ds.shm_perm, uid, gid, mode)
        return int(libc.shmctl(shmid, abi.IPC_SET, byref(ds)))

    def shmctl_stat(self, shmid: int, cmd: int) -> ShmidDs:
        """shmctl(2) with IPC_STAT, SHM_STAT or SHM_STAT_ANY; ``id`` is the
        call's value.  Raises OSError."""
        ds, ret = self._shm_ds(shmid, cmd)
        return ShmidDs(
            perm=_perm(ds.shm_perm), segsz=int(ds.shm_segsz), atime=int(ds.shm_atime),
            dtime=int(ds.shm_dtime), ctime=int(ds.shm_ctime), cpid=int(ds.shm_cpid),
            lpid=int(ds.shm_lpid), nattch=int(ds.shm_nattch), id=ret,
        )

    def shmctl_info(self) -> ShmInfo:
        """shmctl(SHM_INFO); ``max_index`` is the call's value.  Raises OSError."""
        info = libc.shm_info()
        ret = libc.shmctl(0, abi.SHM_INFO, byref(info))
        return _tuple_new(ShmInfo, (*_SHM_INFO(info), ret))

    def shmctl_ipcinfo(self) -> ShmLimitsInfo:
        """shmctl(IPC_INFO); ``max_index`` is the call's value.  Raises OSError."""
        info = libc.shminfo64()
        ret = libc.shmctl(0, abi.IPC_INFO, byref(info))
        return _tuple_new(ShmLimitsInfo, (*_SHMINFO64(info), ret))

    # -- POSIX message queues ------------------------------------------------

    def mq_open(self, name: str, flags: int, mode: int = 0o600,
                attr: MqAttr | None = None) -> int:
        """mq_open(3) (``attr`` None: the namespace's defaults); returns the
        descriptor.  Raises OSError (EINVAL unless ``name`` starts with "/")."""
        c_attr = None
        if attr is not None:
            c_attr = libc.mq_attr(attr.flags, attr.maxmsg, attr.msgsize, attr.curmsgs)
        return int(libc.mq_open(os.fsencode(name), flags, mode & _U32,
                                None if c_attr is None else byref(c_attr)))

    def mq_send(self, mqd: int, data: bytes, priority: int = 0,
                timeout: float | None = None) -> None:
        """mq_send(3), or mq_timedsend(3) with a deadline ``timeout`` seconds
        from now (ETIMEDOUT when it passes).  Raises OSError."""
        libc.mq_timedsend(mqd, data, len(data), priority & _U32, _ref(_deadline(timeout)))

    def mq_receive(self, mqd: int, size: int,
                   timeout: float | None = None) -> tuple[bytes, int]:
        """mq_receive(3) or mq_timedreceive(3) (deadline ``timeout`` seconds
        from now); returns (data, priority).  Raises OSError (EMSGSIZE when
        ``size`` is below the queue's msgsize, also for a negative size)."""
        size = max(size, 0)
        buf = (c_char * size)()
        prio = c_uint()
        n = int(libc.mq_timedreceive(mqd, buf, size, byref(prio), _ref(_deadline(timeout))))
        return buf.raw[:n], int(prio.value)

    def mq_getattr(self, mqd: int) -> MqAttr:
        """mq_getattr(3).  Raises OSError."""
        attr = libc.mq_attr()
        libc.mq_getattr(mqd, byref(attr))
        return _mq_attr(attr)

    def mq_setattr(self, mqd: int, flags: int) -> MqAttr:
        """mq_setattr(3) of mq_flags; returns the old attributes.  Raises OSError."""
        new = libc.mq_attr(flags)
        old = libc.mq_attr()
        libc.mq_setattr(mqd, byref(new), byref(old))
        return _mq_attr(old)

    def mq_notify(self, mqd: int, signo: int | None) -> None:
        """mq_notify(3): register for signal ``signo`` (SIGEV_SIGNAL), or
        unregister with a NULL sigevent (None).  Raises OSError (EBUSY when
        any process, this one included, is registered already)."""
        if signo is None:
            libc.mq_notify(mqd, None)
            return
        event = libc.sigevent()
        event.sigev_notify = libc.SIGEV_SIGNAL
        event.sigev_signo = signo
        libc.mq_notify(mqd, byref(event))

    def mq_unlink(self, name: str) -> None:
        """mq_unlink(3).  Raises OSError."""
        libc.mq_unlink(os.fsencode(name))


def _mq_attr(attr: libc.mq_attr) -> MqAttr:
    return _tuple_new(MqAttr, _MQ_ATTR(attr))


# --------------------------------------------------------------------------
# What the helper processes need

_before_fork = ctypes.pythonapi.PyOS_BeforeFork
_before_fork.argtypes = []
_before_fork.restype = None
_after_fork_child = ctypes.pythonapi.PyOS_AfterFork_Child
_after_fork_child.argtypes = []
_after_fork_child.restype = None
_after_fork_parent = ctypes.pythonapi.PyOS_AfterFork_Parent
_after_fork_parent.argtypes = []
_after_fork_parent.restype = None


def clone3(flags: int, exit_signal: int = abi.SIGCHLD) -> int:
    """clone3(2) without a new stack, so it behaves like fork(2) with
    ``flags`` (CLONE_NEWIPC, ...).

    The GIL stays held across the call and Python's fork hooks run around
    it, as for os.fork.  Returns 0 in the child and the child's pid in the
    parent.  Raises OSError (EINVAL for CLONE_NEWIPC|CLONE_SYSVSEM, EPERM
    without privilege, ...; EINVAL also for CLONE_VM, refused here without
    asking the kernel: a child sharing the memory would run on this stack).
    """
    if flags & abi.CLONE_VM:
        raise _oserror(errno.EINVAL)
    args = libc.clone_args()
    args.flags = flags & ((1 << 64) - 1)
    args.exit_signal = exit_signal
    _before_fork()
    pid = int(libc.clone3_raw(libc.SYS_clone3, byref(args), sizeof(args)))
    if pid == 0:
        _after_fork_child()
        return 0
    err = ctypes.get_errno()
    _after_fork_parent()
    if pid < 0:
        raise _oserror(err)
    return pid


def prctl(option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int:
    """prctl(2); returns the call's value.  Raises OSError."""
    return int(libc.prctl(option, arg2 & _ULONG_MASK, arg3 & _ULONG_MASK,
                          arg4 & _ULONG_MASK, arg5 & _ULONG_MASK))


def set_pdeathsig(sig: int) -> None:
    """prctl(PR_SET_PDEATHSIG, sig): get ``sig`` when the parent thread dies.
    Raises OSError."""
    prctl(abi.PR_SET_PDEATHSIG, sig)


def _encode(s: str | None) -> bytes | None:
    return None if s is None else os.fsencode(s)


def mount(source: str | None, target: str, fstype: str | None, flags: int = 0,
          data: str | None = None) -> None:
    """mount(2).  Raises OSError."""
    libc.mount(_encode(source), os.fsencode(target), _encode(fstype), flags & _ULONG_MASK,
               _encode(data))


def umount2(path: str, flags: int = 0) -> None:
    """umount2(2).  Raises OSError."""
    libc.umount2(os.fsencode(path), flags)


def fsmount(fstype: str) -> int:
    """A detached mount of a new ``fstype`` filesystem context (fsopen,
    fsconfig CMD_CREATE, fsmount), mounted nowhere.

    Returns fsmount's descriptor: an O_PATH descriptor of the mount's root,
    which keeps the mount alive until it is closed.  Use it as ``dir_fd``
    (``os.open``, ``os.stat``) and list it with :func:`listdir`.  For
    "mqueue" the superblock is the current IPC namespace's; for "proc" it
    is a new one.  Raises OSError (EPERM without CAP_SYS_ADMIN over the
    namespace's user namespace).

    Closing the descriptor tears the detached mount down, which waits for
    an RCU grace period (~60 us): callers with many to close do it when time
    matters less.
    """
    fs_fd = libc.fsopen(os.fsencode(fstype), libc.FSOPEN_CLOEXEC)
    try:
        libc.fsconfig(fs_fd, libc.FSCONFIG_CMD_CREATE, None, None, 0)
        return int(libc.fsmount(fs_fd, libc.FSMOUNT_CLOEXEC, 0))
    finally:
        os.close(fs_fd)


class Deferred:
    """Descriptors to close later, when no caller is waiting: plain ones,
    and the detached mounts of :func:`fsmount`, whose teardown is the
    costly part.

    A detached mount closed on its own is torn down on its own, and each
    teardown waits for an expedited RCU grace period, which interrupts
    every CPU (measured here: 60 to 80 us of wall time and 20 us of CPU
    each).  :meth:`close` first moves the mounts onto one detached tmpfs
    (move_mount, a few microseconds each; recent kernels let a detached
    tree take mounts), so that closing that tears them all down in one
    go.  Where that is refused (older kernels), each is closed on its own.
    """

    def __init__(self) -> None:
        self.fds: list[int] = []
        self.mounts: list[int] = []

    def __len__(self) -> int:
        return len(self.fds) + len(self.mounts)

    def append(self, fd: int) -> None:
        """Close ``fd`` later."""
        self.fds.append(fd)

    def mount(self, fd: int) -> int:
        """Close ``fd``, a detached mount's, later; returns it."""
        self.mounts.append(fd)
        return fd

    def take(self) -> Deferred:
        """A Deferred holding what this one held, which is left empty."""
        taken = Deferred()
        taken.fds, taken.mounts = self.fds, self.mounts
        self.fds, self.mounts = [], []
        return taken

    def close(self) -> None:
        """Close everything now; leaves this empty."""
        fds, mounts = self.fds, self.mounts
        self.fds, self.mounts = [], []
        for fd in fds:
            os.close(fd)
        anchor = -1
        if len(mounts) > 1:
            with contextlib.suppress(OSError):
                anchor = fsmount("tmpfs")
        try:
            for fd in mounts:
                if anchor >= 0:
                    try:
                        libc.move_mount(fd, b"", anchor, b"", _MOVE_EMPTY)
                    except OSError:  # an older kernel: each on its own
                        os.close(anchor)
                        anchor = -1
                os.close(fd)
        finally:
            if anchor >= 0:
                os.close(anchor)


_MOVE_EMPTY = libc.MOVE_MOUNT_F_EMPTY_PATH | libc.MOVE_MOUNT_T_EMPTY_PATH


def fsmount_mqueue() -> int:
    """``fsmount("mqueue")``: the current IPC namespace's queues, mounted
    nowhere.  Raises OSError."""
    return fsmount("mqueue")


def listdir(path_fd: int, later: Deferred | None = None) -> list[str]:
    """The names in the directory that ``path_fd`` (an O_PATH descriptor,
    which getdents refuses) leads to, opened again as "." relative to it.
    With ``later``, that descriptor goes there for the caller to close
    instead of being closed."""
    fd = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=path_fd)
    try:
        return os.listdir(fd)
    finally:
        if later is None:
            os.close(fd)
        else:
            later.append(fd)


# -- System V tables by index ------------------------------------------------


def _member(ds: type[ctypes.Structure], path: str) -> tuple[int, int]:
    """Offset and size of the integer member ``path`` ("msg_perm.key") of
    the ctypes structure ``ds``."""
    offset, ctype = 0, cast(Any, ds)
    for part in path.split("."):
        offset += getattr(ctype, part).offset
        ctype = next(field[1] for field in ctype._fields_ if field[0] == part)
    return offset, sizeof(ctype)


class _TableReader:
    """Reads a System V kind's table by index with its *_STAT_ANY command
    (``call(index, address)``, the C result: the object's id, or -1 for a
    free index), each object a row of the result type's fields.

    ``members`` maps each field to the structure member it comes from
    (None: the id, which is the call's value).  One struct.Struct reads
    every member at once, unsigned, as /proc/sysvipc prints them (the key
    too: ipcns reports keys unsigned).
    """

    _CODES: ClassVar[dict[int, str]] = {2: "H", 4: "I", 8: "Q"}

    def __init__(self, ds: type[ctypes.Structure], fields: Sequence[str],
                 members: dict[str, str | None], call: Callable[[int, int], int]) -> None:
        if tuple(members) != tuple(fields):
            raise ValueError(f"{ds.__name__}: members {tuple(members)} are not {tuple(fields)}")
        spots = sorted((*_member(ds, path), name) for name, path in members.items() if path)
        layout, at = "=", 0
        for offset, size, _name in spots:
            layout += "x" * (offset - at) + self._CODES[size]
            at = offset + size
        self._unpack = struct.Struct(layout).unpack_from
        where = {name: i + 1 for i, (_o, _s, name) in enumerate(spots)}
        self._order = operator.itemgetter(*(where.get(name, 0) for name in fields))
        self._buffer = ds()
        self._address = addressof(self._buffer)
        self._call = call

    def rows(self, count: int) -> list[tuple[int, ...]]:
        """The rows of the objects at indices 0 to ``count - 1``; a free
        index (or an object removed meanwhile) is skipped."""
        call, address, unpack, order = self._call, self._address, self._unpack, self._order
        buffer = self._buffer
        rows = []
        for index in range(count):
            ident = call(index, address)
            if ident >= 0:
                rows.append(order((ident, *unpack(buffer))))
        return rows


def msg_table() -> _TableReader:
    """A reader of the current IPC namespace's message queues by index
    (MSG_STAT_ANY, Linux >= 4.17), rows of MessageQueue's fields."""
    return _TableReader(libc.msqid64_ds, MessageQueue._fields, {
        "key": "msg_perm.key", "id": None, "mode": "msg_perm.mode", "bytes": "msg_cbytes",
        "messages": "msg_qnum", "lspid": "msg_lspid", "lrpid": "msg_lrpid",
        "uid": "msg_perm.uid", "gid": "msg_perm.gid", "cuid": "msg_perm.cuid",
        "cgid": "msg_perm.cgid", "stime": "msg_stime", "rtime": "msg_rtime",
        "ctime": "msg_ctime",
    }, lambda index, address: libc.msgctl_unchecked(index, abi.MSG_STAT_ANY, address))


def sem_table() -> _TableReader:
    """A reader of the current IPC namespace's semaphore sets by index
    (SEM_STAT_ANY, Linux >= 4.17), rows of SemaphoreSet's fields."""
    return _TableReader(libc.semid64_ds, SemaphoreSet._fields, {
        "key": "sem_perm.key", "id": None, "mode": "sem_perm.mode", "nsems": "sem_nsems",
        "uid": "sem_perm.uid", "gid": "sem_perm.gid", "cuid": "sem_perm.cuid",
        "cgid": "sem_perm.cgid", "otime": "sem_otime", "ctime": "sem_ctime",
    }, lambda index, address: libc.semctl_unchecked(index, 0, abi.SEM_STAT_ANY, address))
