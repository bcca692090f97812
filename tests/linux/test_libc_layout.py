"""The ctypes structures and constants of ipcns.linux.libc against the C headers.

A small C program, compiled with gcc at test time, prints ``sizeof`` and
``offsetof`` of every structure and field (and the value of the constants
libc.py defines itself); each must equal what ctypes computes.
"""

from __future__ import annotations

import ctypes
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

if not sys.platform.startswith("linux"):
    pytest.skip("Linux-only: the layouts are those of the Linux headers", allow_module_level=True)

from ipcns.linux import libc

#: (ctypes structure, C type) pairs.  Kernel structures come from the uapi
#: headers (<linux/...>), the rest from glibc's.
STRUCTS: list[tuple[type[ctypes.Structure] | type[ctypes.Union], str]] = [
    (libc.ipc64_perm, "struct ipc64_perm"),
    (libc.msqid64_ds, "struct msqid64_ds"),
    (libc.semid64_ds, "struct semid64_ds"),
    (libc.shmid64_ds, "struct shmid64_ds"),
    (libc.msginfo, "struct msginfo"),
    (libc.seminfo, "struct seminfo"),
    (libc.shminfo64, "struct shminfo64"),
    (libc.shm_info, "struct shm_info"),
    (libc.mq_attr, "struct mq_attr"),
    (libc.sembuf, "struct sembuf"),
    (libc.timespec, "struct timespec"),
    (libc.rlimit, "struct rlimit"),
    (libc.sigval, "union sigval"),
    (libc.sigevent, "struct sigevent"),
    (libc.clone_args, "struct clone_args"),
    (libc.user_cap_header, "struct __user_cap_header_struct"),
    (libc.user_cap_data, "struct __user_cap_data_struct"),
]

#: Fields whose C name is not the ctypes name with "_" prefixed to a leading
#: "_" (the kernel's "__unused1" is "_unused1" in ctypes): checked by size only.
UNNAMED = {("struct sigevent", "_sigev_un")}

#: Constants defined in libc.py, by their C expression.
CONSTANTS: dict[str, int] = {
    "SYS_move_mount": libc.SYS_move_mount,
    "SYS_fsopen": libc.SYS_fsopen,
    "SYS_fsconfig": libc.SYS_fsconfig,
    "SYS_fsmount": libc.SYS_fsmount,
    "SYS_pidfd_open": libc.SYS_pidfd_open,
    "SYS_clone3": libc.SYS_clone3,
    "FSOPEN_CLOEXEC": libc.FSOPEN_CLOEXEC,
    "FSCONFIG_SET_FLAG": libc.FSCONFIG_SET_FLAG,
    "FSCONFIG_SET_STRING": libc.FSCONFIG_SET_STRING,
    "FSCONFIG_CMD_CREATE": libc.FSCONFIG_CMD_CREATE,
    "FSMOUNT_CLOEXEC": libc.FSMOUNT_CLOEXEC,
    "MOVE_MOUNT_F_EMPTY_PATH": libc.MOVE_MOUNT_F_EMPTY_PATH,
    "MOVE_MOUNT_T_EMPTY_PATH": libc.MOVE_MOUNT_T_EMPTY_PATH,
    "SIGEV_SIGNAL": libc.SIGEV_SIGNAL,
    "SIGEV_NONE": libc.SIGEV_NONE,
    "SIGEV_THREAD": libc.SIGEV_THREAD,
    "_LINUX_CAPABILITY_VERSION_3": libc._LINUX_CAPABILITY_VERSION_3,
    "_LINUX_CAPABILITY_U32S_3": libc._LINUX_CAPABILITY_U32S_3,
    "RLIM_INFINITY": libc.RLIM_INFINITY,
    "IPC_64": libc.IPC_64,
}
if libc.SYS_capget is not None and libc.SYS_capset is not None:
    CONSTANTS["SYS_capget"] = libc.SYS_capget
    CONSTANTS["SYS_capset"] = libc.SYS_capset

HEADERS = """
#define _GNU_SOURCE
#include <stddef.h>
#include <stdio.h>
#include <signal.h>
#include <time.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <linux/ipc.h>
#include <linux/msg.h>
#include <linux/sem.h>
#include <linux/shm.h>
#include <linux/mqueue.h>
#include <linux/mount.h>
#include <linux/sched.h>
#include <linux/capability.h>
"""


def _c_field(ctype: str, name: str) -> str | None:
    """The C name of a ctypes field, or None where it has none to check."""
    if (ctype, name) in UNNAMED:
        return None
    return "_" + name if name.startswith("_") else name


def _expected() -> dict[str, int]:
    """What ctypes says: "TYPE" -> size, "TYPE.field" -> offset, "NAME" -> value."""
    out: dict[str, int] = {}
    for cls, ctype in STRUCTS:
        out[ctype] = ctypes.sizeof(cls)
        for entry in cls._fields_:
            cname = _c_field(ctype, entry[0])
            if cname is not None:
                out[f"{ctype}.{cname}"] = getattr(cls, entry[0]).offset
    out.update(CONSTANTS)
    return out


def _program(keys: list[str]) -> str:
    lines = [HEADERS, "int main(void) {"]
    for key in keys:
        if key in CONSTANTS:
            expr = f"(unsigned long long)({key})"
        elif "." in key:
            ctype, fieldname = key.split(".")
            expr = f"(unsigned long long)offsetof({ctype}, {fieldname})"
        else:
            expr = f"(unsigned long long)sizeof({key})"
        lines.append(f'    printf("%s=%llu\\n", "{key}", {expr});')
    lines += ["    return 0;", "}"]
    return "\n".join(lines)


@pytest.fixture(scope="module")
def measured(tmp_path_factory: pytest.TempPathFactory) -> dict[str, int]:
    """What gcc says, for every key of _expected()."""
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.skip("gcc is not installed: cannot compare the ctypes layouts with the C headers")
    tmp: Path = tmp_path_factory.mktemp("layout")
    src = tmp / "layout.c"
    exe = tmp / "layout"
    src.write_text(_program(list(_expected())))
    subprocess.run([gcc, "-Wall", "-Werror", "-o", str(exe), str(src)], check=True)
    run = subprocess.run([str(exe)], check=True, capture_output=True, text=True)
    result: dict[str, int] = {}
    for line in run.stdout.splitlines():
        key, _, value = line.rpartition("=")
        result[key] = int(value)
    return result


@pytest.mark.parametrize(("cls", "ctype"), STRUCTS, ids=[c for _, c in STRUCTS])
def test_struct_layout(
    measured: dict[str, int], cls: type[ctypes.Structure], ctype: str
) -> None:
    expected = _expected()
    keys = [k for k in expected if k == ctype or k.startswith(ctype + ".")]
    assert len(keys) > 1
    assert {k: expected[k] for k in keys} == {k: measured[k] for k in keys}


def test_constants(measured: dict[str, int]) -> None:
    assert {k: measured[k] for k in CONSTANTS} == CONSTANTS


def test_cap_data_array() -> None:
    assert ctypes.sizeof(libc.user_cap_data_array) == 2 * ctypes.sizeof(libc.user_cap_data)
