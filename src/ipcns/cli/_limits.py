"""``ipcns limits NS [NAME=VALUE...]``: read or set a namespace's limits.

Each value is checked against the range the kernel enforces for its sysctl
(ipc/ipc_sysctl.c, ipc/mq_sysctl.c) before anything is written, so a bad
list changes nothing.  The writes are made by a helper task inside the
namespace (the ipc sysctls are per namespace: /proc/sys shows the writer's
own), the four sem fields together as ``kernel/sem``; if the kernel refuses
one, those already written are put back.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import re
from typing import TYPE_CHECKING

from ._common import INT_MAX, ULONG_MAX, UsageError, enter_task, has_capability, open_ns, read_text
from ._output import emit, select

if TYPE_CHECKING:
    from ipcns.contract import Task

#: <linux/ipc_namespace.h>: the hard limits of the mqueue sysctls.
HARD_QUEUESMAX = 1024
HARD_MSGMAX = 65536
HARD_MSGSIZEMAX = 16 * 1024 * 1024
MIN_MSGMAX = 1
MIN_MSGSIZEMAX = 128
#: ipc/util.h: IPCMNI, and IPCMNI_EXTEND with the ipcmni_extend boot option.
IPCMNI = 32768
IPCMNI_EXTEND = 16 * 1024 * 1024
CAP_SYS_RESOURCE = 24


def ipc_mni() -> int:
    """The kernel's ipc_mni: the bound of msgmni, semmni and shmmni."""
    cmdline = read_text("/proc/cmdline") or ""
    return IPCMNI_EXTEND if "ipcmni_extend" in cmdline.split() else IPCMNI


def ranges() -> dict[str, tuple[int, int]]:
    """The values the kernel takes for each limit (msg_default and
    msgsize_default are also held to at most msg_max and msgsize_max)."""
    mni = ipc_mni()
    queues = INT_MAX if has_capability(CAP_SYS_RESOURCE) else HARD_QUEUESMAX
    return {
        "shmmax": (0, ULONG_MAX),
        "shmall": (0, ULONG_MAX),
        "shmmni": (0, mni),
        "shm_rmid_forced": (0, 1),
        "msgmax": (0, INT_MAX),
        "msgmnb": (0, INT_MAX),
        "msgmni": (0, mni),
        "semmsl": (0, INT_MAX),
        "semmns": (0, INT_MAX),
        "semopm": (0, INT_MAX),
        "semmni": (0, mni),
        "msg_next_id": (0, INT_MAX),
        "sem_next_id": (0, INT_MAX),
        "shm_next_id": (0, INT_MAX),
        "queues_max": (0, queues),
        "msg_max": (MIN_MSGMAX, HARD_MSGMAX),
        "msgsize_max": (MIN_MSGSIZEMAX, HARD_MSGSIZEMAX),
        "msg_default": (MIN_MSGMAX, HARD_MSGMAX),
        "msgsize_default": (MIN_MSGSIZEMAX, HARD_MSGSIZEMAX),
    }


#: A default value bounded by the current (or new) value of its maximum.
_BOUNDED_BY = {"msg_default": "msg_max", "msgsize_default": "msgsize_max"}


def parse_assignments(items: list[str]) -> dict[str, int]:
    """NAME=VALUE items, checked by name and range.  Raises UsageError."""
    from ipcns import Limits

    bounds = ranges()
    out: dict[str, int] = {}
    for item in items:
        name, sep, text = item.partition("=")
        name = name.strip()
        if not sep:
            raise UsageError(f"bad limit {item!r}: write NAME=VALUE")
        if name not in Limits._fields:
            raise UsageError(f"unknown limit {name!r}; known limits: {', '.join(Limits._fields)}")
        if not re.fullmatch(r"\s*[-+]?\d+\s*", text):
            raise UsageError(f"bad value for {name}: {text!r} is not a whole number")
        value = int(text)
        lo, hi = bounds[name]
        if not lo <= value <= hi:
            raise UsageError(f"{name}={value} is out of range: the kernel takes {lo}..{hi}")
        if name in out and out[name] != value:
            raise UsageError(f"{name} is given twice")
        out[name] = value
    return out


def _read_int(task: Task, path: str) -> list[int]:
    return [int(v) for v in task.read_file("/proc/sys/" + path).split()]


def apply(task: Task, wanted: dict[str, int]) -> list[tuple[str, str]]:
    """Write ``wanted`` from ``task`` (inside the namespace); returns the
    (sysctl, text) written.  Checks the default-versus-maximum pairs against
    the namespace's values first (UsageError); restores what it wrote if the
    kernel refuses a value (IpcnsError)."""
    from ipcns import IpcnsError
    from ipcns._errors import translate
    from ipcns._types import LIMIT_SYSCTLS, SEM_FIELDS

    for low, high in _BOUNDED_BY.items():
        if low in wanted or high in wanted:
            lo_v = wanted.get(low)
            if lo_v is None:
                lo_v = _read_int(task, LIMIT_SYSCTLS[low])[0]
            hi_v = wanted.get(high)
            if hi_v is None:
                hi_v = _read_int(task, LIMIT_SYSCTLS[high])[0]
            if lo_v > hi_v:
                raise UsageError(f"{low}={lo_v} is out of range: it may not exceed "
                                 f"{high} ({hi_v})")
    writes: dict[str, str] = {}
    old: dict[str, str] = {}
    for name, value in wanted.items():
        path = LIMIT_SYSCTLS[name]
        if path not in old:
            old[path] = " ".join(map(str, _read_int(task, path)))
        if name in SEM_FIELDS:
            fields = writes.get(path, old[path]).split()
            fields[SEM_FIELDS.index(name)] = str(value)
            writes[path] = " ".join(fields)
        else:
            writes[path] = str(value)
    done: list[str] = []
    for path, text in writes.items():
        try:
            task.write_file("/proc/sys/" + path, text.encode())
        except OSError as err:
            for back in reversed(done):
                with contextlib.suppress(OSError):
                    task.write_file("/proc/sys/" + back, old[back].encode())
            dotted = path.replace("/", ".")
            if err.errno == errno.EINVAL:
                raise IpcnsError(f"cannot set {dotted} = {text}: the kernel refused it "
                                 "(Invalid argument)") from err
            raise translate(err, f"cannot set {dotted} = {text}") from err
        done.append(path)
    return [(path.replace("/", "."), text) for path, text in writes.items()]


def run(args: argparse.Namespace) -> int:
    """``ipcns limits NS [NAME=VALUE...]``."""
    from ._list import limit_columns, limit_rows

    if args.assignments:
        if args.json or args.output:
            raise UsageError("--json and --output are for reading limits, not setting them")
        wanted = parse_assignments(args.assignments)
        ns = open_ns(args.ns)
        from ipcns.linux.kernel import LinuxKernel

        with LinuxKernel() as kernel:
            task = kernel.spawn()
            enter_task(task, ns)
            written = apply(task, wanted)
        for dotted, text in written:
            print(f"{dotted} = {text}")
        return 0
    spans = {name: f"{lo}..{hi}" for name, (lo, hi) in ranges().items()}
    columns = select(args.output, limit_columns(spans),
                     ["NAME", "SYSCTL", "VALUE", "USED", "USE%"])
    ns = open_ns(args.ns)
    snap = ns.snapshot()
    emit(args, limit_rows(snap.limits, snap.counters(), unbounded=False), columns, "limits")
    return 0
