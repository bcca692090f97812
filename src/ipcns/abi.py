"""Constants of the Linux IPC ABI, shared by every backend.

The values are those of the Linux uapi headers (they are the same on every
architecture Linux supports for the names here).  Both the host backend and
the reference model take and return these numbers, so a caller writes
``task.msgget(key, abi.IPC_CREAT | 0o600)`` whichever kernel it drives.
"""

from __future__ import annotations

# <linux/ipc.h>
IPC_PRIVATE = 0
IPC_CREAT = 0o1000
IPC_EXCL = 0o2000
IPC_NOWAIT = 0o4000
IPC_RMID = 0
IPC_SET = 1
IPC_STAT = 2
IPC_INFO = 3

# <linux/msg.h>
MSG_STAT = 11
MSG_INFO = 12
MSG_STAT_ANY = 13
MSG_NOERROR = 0o10000
MSG_EXCEPT = 0o20000
MSG_COPY = 0o40000

# <linux/sem.h>
SEM_UNDO = 0x1000
GETPID = 11
GETVAL = 12
GETALL = 13
GETNCNT = 14
GETZCNT = 15
SETVAL = 16
SETALL = 17
SEM_STAT = 18
SEM_INFO = 19
SEM_STAT_ANY = 20
SEMVMX = 32767

# <linux/shm.h>
SHM_RDONLY = 0o10000
SHM_RND = 0o20000
SHM_REMAP = 0o40000
SHM_EXEC = 0o100000
SHM_LOCK = 11
SHM_UNLOCK = 12
SHM_STAT = 13
SHM_INFO = 14
SHM_STAT_ANY = 15
SHM_DEST = 0o1000
SHM_LOCKED = 0o2000
SHM_HUGETLB = 0o4000
SHM_NORESERVE = 0o10000
SHMMIN = 1

# <linux/sched.h>
CLONE_NEWTIME = 0x00000080
CLONE_VM = 0x00000100
CLONE_FS = 0x00000200
CLONE_FILES = 0x00000400
CLONE_SIGHAND = 0x00000800
CLONE_PIDFD = 0x00001000
CLONE_THREAD = 0x00010000
CLONE_NEWNS = 0x00020000
CLONE_SYSVSEM = 0x00040000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

#: The namespace type names of /proc/PID/ns/NAME, by CLONE_NEW* flag.
NS_NAMES = {
    CLONE_NEWIPC: "ipc",
    CLONE_NEWUSER: "user",
    CLONE_NEWNS: "mnt",
    CLONE_NEWUTS: "uts",
    CLONE_NEWPID: "pid",
    CLONE_NEWNET: "net",
    CLONE_NEWCGROUP: "cgroup",
    CLONE_NEWTIME: "time",
}

# <linux/nsfs.h>: _IO(0xb7, n)
NSIO = 0xB7
NS_GET_USERNS = (NSIO << 8) | 0x1
NS_GET_PARENT = (NSIO << 8) | 0x2
NS_GET_NSTYPE = (NSIO << 8) | 0x3
NS_GET_OWNER_UID = (NSIO << 8) | 0x4

# <linux/mount.h>
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_BIND = 4096
MS_MOVE = 8192
MS_REC = 16384
MS_PRIVATE = 1 << 18
MS_SLAVE = 1 << 19
MS_SHARED = 1 << 20
MNT_FORCE = 1
MNT_DETACH = 2
UMOUNT_NOFOLLOW = 8

# <linux/capability.h>: the capabilities the IPC code checks.
CAP_DAC_OVERRIDE = 1
CAP_SETGID = 6
CAP_SETUID = 7
CAP_IPC_LOCK = 14
CAP_IPC_OWNER = 15
CAP_SYS_ADMIN = 21
CAP_SYS_RESOURCE = 24
CAP_LAST_CAP = 40

# <linux/prctl.h>
PR_SET_PDEATHSIG = 1
PR_GET_PDEATHSIG = 2
PR_SET_NAME = 15
PR_CAPBSET_DROP = 24
PR_SET_CHILD_SUBREAPER = 36

# <asm-generic/resource.h>
RLIMIT_NOFILE = 7
RLIMIT_MSGQUEUE = 12

# <asm-generic/fcntl.h>: Linux's values, also where the model runs elsewhere.
O_RDONLY = 0o0
O_WRONLY = 0o1
O_RDWR = 0o2
O_CREAT = 0o100
O_EXCL = 0o200
O_TRUNC = 0o1000
O_NONBLOCK = 0o4000
O_DIRECTORY = 0o200000
O_CLOEXEC = 0o2000000

# <asm-generic/signal.h>
SIGKILL = 9
SIGUSR1 = 10
SIGTERM = 15
SIGCHLD = 17
