"""ctypes declarations of the C library and kernel ABI the Linux backend uses.

Declarations only, in the style of BenchExec's ``libc.py``: every function
has ``argtypes``, ``restype`` and an ``errcheck`` that turns the C error
return (-1, ``(mqd_t)-1``, ``(void *)-1``) into
``OSError(errno, os.strerror(errno))``.  Calls of the foreign functions
themselves return untyped values; :mod:`ipcns.linux.syscalls` wraps them.

The structures have the layout of the architecture this runs on (x86_64 and
other LP64 Linux targets); ``tests/linux/test_libc_layout.py`` compares every
size and offset with what gcc computes from the C headers.

Constants that :mod:`ipcns.abi` already has are imported from there, not
repeated; only what abi lacks is defined here, each with its header.
"""

from __future__ import annotations

import ctypes
import functools
import os
from collections.abc import Callable, Sequence
from ctypes import (
    POINTER,
    Structure,
    Union,
    c_char_p,
    c_int,
    c_long,
    c_short,
    c_size_t,
    c_ssize_t,
    c_uint,
    c_uint32,
    c_uint64,
    c_ulong,
    c_ushort,
    c_void_p,
)
from typing import Any, TypeAlias

# --------------------------------------------------------------------------
# C types

key_t = c_int  # <sys/types.h>
uid_t = c_uint32  # <sys/types.h>
gid_t = c_uint32  # <sys/types.h>
pid_t = c_int  # <sys/types.h>
mode_t = c_uint  # <sys/types.h>
mqd_t = c_int  # <mqueue.h>: a descriptor on Linux
time_t = c_long  # <time.h>
rlim_t = c_ulong  # <sys/resource.h>, 64-bit rlim_t on LP64
kernel_long_t = c_long  # <asm-generic/posix_types.h>: __kernel_long_t
kernel_ulong_t = c_ulong  # <asm-generic/posix_types.h>: __kernel_ulong_t

# --------------------------------------------------------------------------
# Constants that ipcns.abi lacks

# <asm/unistd_64.h> (and every other architecture's unistd.h: the numbers of
# the system calls added since 5.1 are the same everywhere except alpha).
SYS_move_mount = 429
SYS_fsopen = 430
SYS_fsconfig = 431
SYS_fsmount = 432
SYS_pidfd_open = 434
SYS_clone3 = 435

# <asm/unistd_64.h>: x86_64 only (used only if libc lacks capget/capset).
_X86_64 = os.uname().machine == "x86_64"
SYS_capget: int | None = 125 if _X86_64 else None
SYS_capset: int | None = 126 if _X86_64 else None

# <linux/mount.h>
FSOPEN_CLOEXEC = 0x00000001
FSCONFIG_SET_FLAG = 0
FSCONFIG_SET_STRING = 1
FSCONFIG_CMD_CREATE = 6
FSMOUNT_CLOEXEC = 0x00000001
MOVE_MOUNT_F_EMPTY_PATH = 0x00000004
MOVE_MOUNT_T_EMPTY_PATH = 0x00000040

# <asm-generic/siginfo.h> (<bits/sigevent-consts.h>)
SIGEV_SIGNAL = 0
SIGEV_NONE = 1
SIGEV_THREAD = 2

# <linux/capability.h>
_LINUX_CAPABILITY_VERSION_3 = 0x20080522
_LINUX_CAPABILITY_U32S_3 = 2

# <sys/resource.h>: RLIM_INFINITY as the unsigned rlim_t the C call sees.
RLIM_INFINITY = (1 << (8 * ctypes.sizeof(rlim_t))) - 1

# <linux/ipc.h>: the flag glibc adds to *ctl commands for the 64-bit structs.
IPC_64 = 0x0100

# --------------------------------------------------------------------------
# Structures


class timespec(Structure):
    """``struct timespec`` (<time.h>)."""

    _fields_ = (("tv_sec", time_t), ("tv_nsec", c_long))
    tv_sec: int
    tv_nsec: int


class rlimit(Structure):
    """``struct rlimit`` (<sys/resource.h>)."""

    _fields_ = (("rlim_cur", rlim_t), ("rlim_max", rlim_t))
    rlim_cur: int
    rlim_max: int


class ipc64_perm(Structure):
    """``struct ipc64_perm`` (<asm-generic/ipcbuf.h>)."""

    _fields_ = (
        ("key", key_t),
        ("uid", uid_t),
        ("gid", gid_t),
        ("cuid", uid_t),
        ("cgid", gid_t),
        ("mode", c_uint),  # __kernel_mode_t: unsigned int, so no __pad1
        ("seq", c_ushort),
        ("_pad2", c_ushort),
        ("_unused1", kernel_ulong_t),
        ("_unused2", kernel_ulong_t),
    )
    key: int
    uid: int
    gid: int
    cuid: int
    cgid: int
    mode: int
    seq: int


class msqid64_ds(Structure):
    """``struct msqid64_ds`` (<asm-generic/msgbuf.h>, 64-bit layout)."""

    _fields_ = (
        ("msg_perm", ipc64_perm),
        ("msg_stime", kernel_long_t),
        ("msg_rtime", kernel_long_t),
        ("msg_ctime", kernel_long_t),
        ("msg_cbytes", kernel_ulong_t),
        ("msg_qnum", kernel_ulong_t),
        ("msg_qbytes", kernel_ulong_t),
        ("msg_lspid", pid_t),
        ("msg_lrpid", pid_t),
        ("_unused4", kernel_ulong_t),
        ("_unused5", kernel_ulong_t),
    )
    msg_perm: ipc64_perm
    msg_stime: int
    msg_rtime: int
    msg_ctime: int
    msg_cbytes: int
    msg_qnum: int
    msg_qbytes: int
    msg_lspid: int
    msg_lrpid: int


class semid64_ds(Structure):
    """``struct semid64_ds`` (<asm/sembuf.h>; x86_64 pads each time)."""

    _fields_ = (
        ("sem_perm", ipc64_perm),
        ("sem_otime", kernel_long_t),
        ("_unused1", kernel_ulong_t),
        ("sem_ctime", kernel_long_t),
        ("_unused2", kernel_ulong_t),
        ("sem_nsems", kernel_ulong_t),
        ("_unused3", kernel_ulong_t),
        ("_unused4", kernel_ulong_t),
    )
    sem_perm: ipc64_perm
    sem_otime: int
    sem_ctime: int
    sem_nsems: int


class shmid64_ds(Structure):
    """``struct shmid64_ds`` (<asm-generic/shmbuf.h>, 64-bit layout)."""

    _fields_ = (
        ("shm_perm", ipc64_perm),
        ("shm_segsz", c_size_t),
        ("shm_atime", kernel_long_t),
        ("shm_dtime", kernel_long_t),
        ("shm_ctime", kernel_long_t),
        ("shm_cpid", pid_t),
        ("shm_lpid", pid_t),
        ("shm_nattch", kernel_ulong_t),
        ("_unused4", kernel_ulong_t),
        ("_unused5", kernel_ulong_t),
    )
    shm_perm: ipc64_perm
    shm_segsz: int
    shm_atime: int
    shm_dtime: int
    shm_ctime: int
    shm_cpid: int
    shm_lpid: int
    shm_nattch: int


class msginfo(Structure):
    """``struct msginfo`` (<linux/msg.h>)."""

    _fields_ = (
        ("msgpool", c_int),
        ("msgmap", c_int),
        ("msgmax", c_int),
        ("msgmnb", c_int),
        ("msgmni", c_int),
        ("msgssz", c_int),
        ("msgtql", c_int),
        ("msgseg", c_ushort),
    )
    msgpool: int
    msgmap: int
    msgmax: int
    msgmnb: int
    msgmni: int
    msgssz: int
    msgtql: int
    msgseg: int


class seminfo(Structure):
    """``struct seminfo`` (<linux/sem.h>)."""

    _fields_ = (
        ("semmap", c_int),
        ("semmni", c_int),
        ("semmns", c_int),
        ("semmnu", c_int),
        ("semmsl", c_int),
        ("semopm", c_int),
        ("semume", c_int),
        ("semusz", c_int),
        ("semvmx", c_int),
        ("semaem", c_int),
    )
    semmap: int
    semmni: int
    semmns: int
    semmnu: int
    semmsl: int
    semopm: int
    semume: int
    semusz: int
    semvmx: int
    semaem: int


class shminfo64(Structure):
    """``struct shminfo64`` (<asm-generic/shmbuf.h>)."""

    _fields_ = (
        ("shmmax", kernel_ulong_t),
        ("shmmin", kernel_ulong_t),
        ("shmmni", kernel_ulong_t),
        ("shmseg", kernel_ulong_t),
        ("shmall", kernel_ulong_t),
        ("_unused1", kernel_ulong_t),
        ("_unused2", kernel_ulong_t),
        ("_unused3", kernel_ulong_t),
        ("_unused4", kernel_ulong_t),
    )
    shmmax: int
    shmmin: int
    shmmni: int
    shmseg: int
    shmall: int


class shm_info(Structure):
    """``struct shm_info`` (<linux/shm.h>)."""

    _fields_ = (
        ("used_ids", c_int),
        ("shm_tot", kernel_ulong_t),
        ("shm_rss", kernel_ulong_t),
        ("shm_swp", kernel_ulong_t),
        ("swap_attempts", kernel_ulong_t),
        ("swap_successes", kernel_ulong_t),
    )
    used_ids: int
    shm_tot: int
    shm_rss: int
    shm_swp: int
    swap_attempts: int
    swap_successes: int


class mq_attr(Structure):
    """``struct mq_attr`` (<linux/mqueue.h>)."""

    _fields_ = (
        ("mq_flags", kernel_long_t),
        ("mq_maxmsg", kernel_long_t),
        ("mq_msgsize", kernel_long_t),
        ("mq_curmsgs", kernel_long_t),
        ("_reserved", kernel_long_t * 4),
    )
    mq_flags: int
    mq_maxmsg: int
    mq_msgsize: int
    mq_curmsgs: int


class sembuf(Structure):
    """``struct sembuf`` (<linux/sem.h>)."""

    _fields_ = (("sem_num", c_ushort), ("sem_op", c_short), ("sem_flg", c_short))
    sem_num: int
    sem_op: int
    sem_flg: int


class sigval(Union):
    """``union sigval`` (<bits/types/sigval_t.h>)."""

    _fields_ = (("sival_int", c_int), ("sival_ptr", c_void_p))
    sival_int: int
    sival_ptr: int | None


class _sigev_thread(Structure):
    """The SIGEV_THREAD member of ``struct sigevent``'s union."""

    _fields_ = (("_function", c_void_p), ("_attribute", c_void_p))


class _sigev_un(Union):
    """``struct sigevent``'s ``_sigev_un`` union (padded to 64 bytes in all)."""

    _fields_ = (
        ("_pad", c_int * (64 // ctypes.sizeof(c_int) - 4)),
        ("_tid", pid_t),
        ("_sigev_thread", _sigev_thread),
    )


class sigevent(Structure):
    """``struct sigevent`` (<bits/types/sigevent_t.h>), enough for SIGEV_SIGNAL
    and SIGEV_NONE."""

    _fields_ = (
        ("sigev_value", sigval),
        ("sigev_signo", c_int),
        ("sigev_notify", c_int),
        ("_sigev_un", _sigev_un),
    )
    sigev_value: sigval
    sigev_signo: int
    sigev_notify: int


class clone_args(Structure):
    """``struct clone_args`` (<linux/sched.h>, CLONE_ARGS_SIZE_VER2)."""

    _fields_ = (
        ("flags", c_uint64),
        ("pidfd", c_uint64),
        ("child_tid", c_uint64),
        ("parent_tid", c_uint64),
        ("exit_signal", c_uint64),
        ("stack", c_uint64),
        ("stack_size", c_uint64),
        ("tls", c_uint64),
        ("set_tid", c_uint64),
        ("set_tid_size", c_uint64),
        ("cgroup", c_uint64),
    )
    flags: int
    pidfd: int
    child_tid: int
    parent_tid: int
    exit_signal: int
    stack: int
    stack_size: int
    tls: int
    set_tid: int
    set_tid_size: int
    cgroup: int


class __user_cap_header_struct(Structure):
    """``struct __user_cap_header_struct`` (<linux/capability.h>)."""

    _fields_ = (("version", c_uint32), ("pid", c_int))
    version: int
    pid: int


class __user_cap_data_struct(Structure):
    """``struct __user_cap_data_struct`` (<linux/capability.h>); capget and
    capset take an array of _LINUX_CAPABILITY_U32S_3 of them."""

    _fields_ = (("effective", c_uint32), ("permitted", c_uint32), ("inheritable", c_uint32))
    effective: int
    permitted: int
    inheritable: int


#: Names without the leading double underscore, usable inside class bodies
#: (where ``__name`` would be mangled).
user_cap_header = __user_cap_header_struct
user_cap_data = __user_cap_data_struct
user_cap_data_array = __user_cap_data_struct * _LINUX_CAPABILITY_U32S_3

# --------------------------------------------------------------------------
# Libraries


# libc is already loaded (the interpreter links it): its symbols are found
# through the process's global scope, dlopen(NULL).  ctypes.util is not
# imported for it: finding a library by name runs ldconfig, and importing
# ctypes.util alone costs tens of milliseconds, which every helper's start
# would pay.
_libc = ctypes.CDLL(None, use_errno=True)
#: The same libc loaded as a PyDLL: its functions keep the GIL held across the
#: call (like os.fork), for clone3.
_pylibc = ctypes.PyDLL(None, use_errno=True)


@functools.cache
def _librt() -> ctypes.CDLL:
    """librt, loaded on first need (glibc < 2.34 only)."""
    try:
        return ctypes.CDLL("librt.so.1", use_errno=True)
    except OSError:  # pragma: no cover - librt under another name
        from ctypes.util import find_library

        return ctypes.CDLL(find_library("rt"), use_errno=True)


def _librt_symbol(name: str) -> ctypes._NamedFuncPointer:
    """``name`` from libc (glibc >= 2.34) or else from librt."""
    try:
        return _libc[name]
    except AttributeError:
        return _librt()[name]


# --------------------------------------------------------------------------
# errcheck functions

_ErrCheck: TypeAlias = Callable[[Any, Any, tuple[Any, ...]], Any]
#: A ctypes type (typeshed's own alias for it is private).
_CType: TypeAlias = type[Any]


def _raise_errno() -> None:
    """Raise OSError for the errno the last foreign call left."""
    err = ctypes.get_errno()
    raise OSError(err, os.strerror(err))


def _check_minus_one(result: int, func: object, args: tuple[object, ...]) -> int:
    """errcheck for calls that return -1 on error: the result, or OSError."""
    if result == -1:
        _raise_errno()
    return result


_MAP_FAILED = ctypes.c_void_p(-1).value


def _check_map_failed(result: int | None, func: object, args: tuple[object, ...]) -> int:
    """errcheck for shmat: the address, or OSError for ``(void *)-1``."""
    if result is None or result == _MAP_FAILED:
        _raise_errno()
        return 0  # pragma: no cover - only when NULL comes back without errno
    return result


def _declare(
    func: ctypes._NamedFuncPointer,
    restype: _CType | None,
    argtypes: Sequence[_CType],
    errcheck: _ErrCheck | None = _check_minus_one,
) -> ctypes._NamedFuncPointer:
    """Set a foreign function's prototype; returns the function.  With
    ``errcheck`` None the C result comes back as it is (-1 on error)."""
    func.restype = restype
    func.argtypes = list(argtypes)
    if errcheck is not None:
        func.errcheck = errcheck
    return func


# --------------------------------------------------------------------------
# Functions

# <sched.h>
unshare = _declare(_libc["unshare"], c_int, [c_int])
setns = _declare(_libc["setns"], c_int, [c_int, c_int])

# <sys/mount.h>
mount = _declare(_libc["mount"], c_int, [c_char_p, c_char_p, c_char_p, c_ulong, c_void_p])
umount2 = _declare(_libc["umount2"], c_int, [c_char_p, c_int])

# <sys/prctl.h>: int prctl(int option, ...), always given four more args.
prctl = _declare(_libc["prctl"], c_int, [c_int, c_ulong, c_ulong, c_ulong, c_ulong])

# <sys/ioctl.h>: int ioctl(int fd, unsigned long request, ...), one pointer arg.
ioctl = _declare(_libc["ioctl"], c_int, [c_int, c_ulong, c_void_p])

# <sys/msg.h>
msgget = _declare(_libc["msgget"], c_int, [key_t, c_int])
msgsnd = _declare(_libc["msgsnd"], c_int, [c_int, c_void_p, c_size_t, c_int])
msgrcv = _declare(_libc["msgrcv"], c_ssize_t, [c_int, c_void_p, c_size_t, c_long, c_int])
#: The buffer is a msqid64_ds or (IPC_INFO, MSG_INFO) a msginfo.
msgctl = _declare(_libc["msgctl"], c_int, [c_int, c_int, c_void_p])

# <sys/sem.h>
semget = _declare(_libc["semget"], c_int, [key_t, c_int, c_int])
semop = _declare(_libc["semop"], c_int, [c_int, POINTER(sembuf), c_size_t])
semtimedop = _declare(
    _libc["semtimedop"], c_int, [c_int, POINTER(sembuf), c_size_t, POINTER(timespec)]
)
#: int semctl(int, int, int, ...): the variadic ``union semun`` is passed as
#: an unsigned long, which is how the x86_64 (and every LP64) ABI passes the
#: union: the int ``val`` in its low bits, or a pointer (use addressof).
semctl = _declare(_libc["semctl"], c_int, [c_int, c_int, c_int, c_ulong])
#: msgctl and semctl again, without errcheck: an inventory reads a table by
#: index with *_STAT_ANY, where a free index failing (EINVAL) is no error,
#: and an exception per free index would cost more than the call.
msgctl_unchecked = _declare(_libc["msgctl"], c_int, [c_int, c_int, c_void_p], None)
semctl_unchecked = _declare(_libc["semctl"], c_int, [c_int, c_int, c_int, c_ulong], None)

# <sys/shm.h>
shmget = _declare(_libc["shmget"], c_int, [key_t, c_size_t, c_int])
shmat = _declare(_libc["shmat"], c_void_p, [c_int, c_void_p, c_int], _check_map_failed)
shmdt = _declare(_libc["shmdt"], c_int, [c_void_p])
#: The buffer is a shmid64_ds, a shminfo64 (IPC_INFO) or a shm_info (SHM_INFO).
shmctl = _declare(_libc["shmctl"], c_int, [c_int, c_int, c_void_p])

# <mqueue.h> (librt before glibc 2.34)
#: mqd_t mq_open(const char *, int, ...): always given mode and attr.
mq_open = _declare(_librt_symbol("mq_open"), mqd_t, [c_char_p, c_int, mode_t, POINTER(mq_attr)])
mq_timedsend = _declare(
    _librt_symbol("mq_timedsend"),
    c_int,
    [mqd_t, c_void_p, c_size_t, c_uint, POINTER(timespec)],
)
mq_timedreceive = _declare(
    _librt_symbol("mq_timedreceive"),
    c_ssize_t,
    [mqd_t, c_void_p, c_size_t, POINTER(c_uint), POINTER(timespec)],
)
mq_getattr = _declare(_librt_symbol("mq_getattr"), c_int, [mqd_t, POINTER(mq_attr)])
mq_setattr = _declare(
    _librt_symbol("mq_setattr"), c_int, [mqd_t, POINTER(mq_attr), POINTER(mq_attr)]
)
mq_notify = _declare(_librt_symbol("mq_notify"), c_int, [mqd_t, POINTER(sigevent)])
mq_unlink = _declare(_librt_symbol("mq_unlink"), c_int, [c_char_p])

# <unistd.h>, <grp.h>
setresuid = _declare(_libc["setresuid"], c_int, [uid_t, uid_t, uid_t])
setresgid = _declare(_libc["setresgid"], c_int, [gid_t, gid_t, gid_t])
setgroups = _declare(_libc["setgroups"], c_int, [c_size_t, POINTER(gid_t)])

# <sys/resource.h>
getrlimit = _declare(_libc["getrlimit"], c_int, [c_int, POINTER(rlimit)])
setrlimit = _declare(_libc["setrlimit"], c_int, [c_int, POINTER(rlimit)])

# <unistd.h>: long syscall(long number, ...).  The generic declaration: pass
# every further argument as a ctypes object (c_long, c_void_p, ...), since a
# bare Python int would go as a 32-bit int.
syscall = _declare(_libc["syscall"], c_long, [c_long])

# Prototyped copies of syscall() for the calls glibc 2.36 may lack.
_sys_pidfd_open = _declare(_libc["syscall"], c_long, [c_long, c_int, c_uint])
_sys_fsopen = _declare(_libc["syscall"], c_long, [c_long, c_char_p, c_uint])
_sys_fsconfig = _declare(
    _libc["syscall"], c_long, [c_long, c_int, c_uint, c_char_p, c_void_p, c_int]
)
_sys_fsmount = _declare(_libc["syscall"], c_long, [c_long, c_int, c_uint, c_uint])
_sys_move_mount = _declare(
    _libc["syscall"], c_long, [c_long, c_int, c_char_p, c_int, c_char_p, c_uint]
)

#: clone3 through the PyDLL: the GIL stays held across the call (as os.fork
#: holds it).  No errcheck: the caller must run Python's after-fork hooks
#: before anything else, then read ctypes.get_errno() itself.
clone3_raw = _pylibc["syscall"]
clone3_raw.restype = c_long
clone3_raw.argtypes = [c_long, POINTER(clone_args), c_size_t]

# <sys/capability.h> (libcap) is not used: glibc exports capget and capset;
# without them, syscall() with the architecture's number.
_CapPtrs: list[_CType] = [POINTER(user_cap_header), POINTER(user_cap_data)]
try:
    _capget = _declare(_libc["capget"], c_int, _CapPtrs)
    _capset = _declare(_libc["capset"], c_int, _CapPtrs)
    _CAP_SYSCALLS: tuple[int, int] | None = None
except AttributeError:  # pragma: no cover - every glibc exports them
    if SYS_capget is None or SYS_capset is None:
        raise
    _capget = _declare(_libc["syscall"], c_long, [c_long, *_CapPtrs])
    _capset = _declare(_libc["syscall"], c_long, [c_long, *_CapPtrs])
    _CAP_SYSCALLS = (SYS_capget, SYS_capset)


def capget(header: user_cap_header, data: ctypes.Array[user_cap_data]) -> int:
    """capget(2) into ``data`` (_LINUX_CAPABILITY_U32S_3 structs); returns 0,
    raises OSError."""
    if _CAP_SYSCALLS is None:
        return int(_capget(ctypes.byref(header), data))
    return int(_capget(_CAP_SYSCALLS[0], ctypes.byref(header), data))  # pragma: no cover


def capset(header: user_cap_header, data: ctypes.Array[user_cap_data]) -> int:
    """capset(2) from ``data`` (_LINUX_CAPABILITY_U32S_3 structs); returns 0,
    raises OSError."""
    if _CAP_SYSCALLS is None:
        return int(_capset(ctypes.byref(header), data))
    return int(_capset(_CAP_SYSCALLS[1], ctypes.byref(header), data))  # pragma: no cover


# --------------------------------------------------------------------------
# Typed wrappers of the syscall() prototypes


def pidfd_open(pid: int, flags: int = 0) -> int:
    """pidfd_open(2); returns the pidfd, raises OSError."""
    return int(_sys_pidfd_open(SYS_pidfd_open, pid, flags))


def fsopen(fsname: bytes, flags: int) -> int:
    """fsopen(2); returns the filesystem context descriptor, raises OSError."""
    return int(_sys_fsopen(SYS_fsopen, fsname, flags))


def fsconfig(fd: int, cmd: int, key: bytes | None, value: bytes | None, aux: int) -> int:
    """fsconfig(2); returns 0, raises OSError."""
    return int(_sys_fsconfig(SYS_fsconfig, fd, cmd, key, value, aux))


def fsmount(fd: int, flags: int, attr_flags: int) -> int:
    """fsmount(2); returns the mount descriptor (an O_PATH file), raises OSError."""
    return int(_sys_fsmount(SYS_fsmount, fd, flags, attr_flags))


def move_mount(from_fd: int, from_path: bytes, to_fd: int, to_path: bytes, flags: int) -> int:
    """move_mount(2); returns 0, raises OSError."""
    return int(_sys_move_mount(SYS_move_mount, from_fd, from_path, to_fd, to_path, flags))
