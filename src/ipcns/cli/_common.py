"""What every subcommand shares: input parsing, errors, names and formats.

Parsers raise :class:`UsageError` (exit status 2); runtime failures are the
library's :class:`ipcns.IpcnsError` (exit status 1).  Nothing here imports
ctypes, so ``--help`` stays cheap.
"""

from __future__ import annotations

import argparse
import functools
import os
import re
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from ipcns.contract import Task
    from ipcns.linux.namespace import Namespace

T = TypeVar("T")

INT_MAX = (1 << 31) - 1
ULONG_MAX = (1 << 64) - 1


class UsageError(Exception):
    """The command line is wrong: a one-line message, exit status 2."""


class Done(Exception):
    """Stop here with ``code`` (after ``--output help`` printed the columns)."""

    def __init__(self, code: int = 0) -> None:
        super().__init__(code)
        self.code = code


def as_type(parse: Callable[[str], T], what: str) -> Callable[[str], T]:
    """An argparse ``type=`` from a parser that raises UsageError (argparse
    only reports ArgumentTypeError's own message)."""

    def convert(text: str) -> T:
        try:
            return parse(text)
        except UsageError as err:
            raise argparse.ArgumentTypeError(str(err)) from None

    convert.__name__ = what
    return convert


# -- numbers ---------------------------------------------------------------------

_SIZE = re.compile(r"(\d+)\s*(?:([KMGTPE])(iB|B)?|(B))?", re.IGNORECASE)
_NUMBER = re.compile(r"([-+]?)(?:0x([0-9a-f]+)|(\d+))", re.IGNORECASE)


def _number(m: re.Match[str]) -> int:
    value = int(m.group(2), 16) if m.group(2) else int(m.group(3), 10)
    return -value if m.group(1) == "-" else value


def parse_size(text: str) -> int:
    """A size in bytes: ``4096``, ``64K``, ``1MiB`` (powers of 1024) or
    ``1MB`` (powers of 1000), as ipcmk takes it; at least 1."""
    m = _SIZE.fullmatch(text.strip())
    if not m:
        raise UsageError(f"bad size {text!r}: give bytes, optionally with K, M, G, T "
                         "(KiB...: powers of 1024) or KB, MB... (powers of 1000)")
    value = int(m.group(1))
    if m.group(2):
        power = "KMGTPE".index(m.group(2).upper()) + 1
        base = 1000 if (m.group(3) or "").upper() == "B" else 1024
        value *= base ** power
    if value < 1:
        raise UsageError(f"bad size {text!r}: a segment has at least 1 byte")
    if value > ULONG_MAX:
        raise UsageError(f"bad size {text!r}: larger than 2^64 - 1 bytes")
    return value


def parse_key(text: str) -> int:
    """A SysV key, ``0x1234abcd`` or decimal, as an unsigned 32-bit number
    (a negative decimal is taken as the signed key_t ipcs shows in
    /proc/sysvipc)."""
    m = _NUMBER.fullmatch(text.strip())
    if not m:
        raise UsageError(f"bad key {text!r}: give a number in hex (0x1234abcd) or decimal")
    value = _number(m)
    if not -(1 << 31) <= value <= 0xFFFFFFFF:
        raise UsageError(f"bad key {text!r}: a key is a 32-bit number")
    return value & 0xFFFFFFFF


def parse_id(text: str) -> int:
    """A SysV identifier: 0 to INT_MAX."""
    m = _NUMBER.fullmatch(text.strip())
    if not m:
        raise UsageError(f"bad id {text!r}: give the number ipcs shows")
    value = _number(m)
    if not 0 <= value <= INT_MAX:
        raise UsageError(f"bad id {text!r}: ids run from 0 to {INT_MAX}")
    return value


def parse_mode(text: str) -> int:
    """Permission bits in octal: ``644``, ``0600``, ``0o640``."""
    t = text.strip().lower().removeprefix("0o")
    if not t or not re.fullmatch(r"[0-7]+", t):
        raise UsageError(f"bad mode {text!r}: give permission bits in octal, like 644")
    value = int(t, 8)
    if value > 0o777:
        raise UsageError(f"bad mode {text!r}: only the permission bits (at most 777)")
    return value


def parse_count(text: str) -> int:
    """A positive count (semaphores in a set, messages in a queue)."""
    t = text.strip()
    if not re.fullmatch(r"\+?\d+", t):
        raise UsageError(f"bad number {text!r}: give a positive whole number")
    value = int(t)
    if not 1 <= value <= INT_MAX:
        raise UsageError(f"bad number {text!r}: must be 1 to {INT_MAX}")
    return value


def parse_pid(text: str) -> int:
    """A process id (``1234`` or ``pid:1234``)."""
    t = text.strip().removeprefix("pid:")
    if not t.isdigit() or int(t) < 1:
        raise UsageError(f"bad pid {text!r}: give a process id")
    return int(t)


def parse_mq_name(text: str) -> str:
    """A POSIX queue name, with its leading slash (added when missing)."""
    name = text if text.startswith("/") else "/" + text
    if len(name) < 2 or "/" in name[1:] or "\0" in name or len(name) > 256:
        raise UsageError(f"bad POSIX queue name {text!r}: one slash, then 1 to 255 "
                         "characters without '/'")
    return name


# -- formats ---------------------------------------------------------------------


def human_size(n: int) -> str:
    """Bytes the way lsipc prints them: 0B, 512B, 4K, 1.5M, 16E."""
    if n < 1024:
        return f"{n}B"
    for i, suffix in enumerate("KMGTPE", 1):
        unit = 1 << (10 * i)
        if n < unit << 10 or suffix == "E":
            whole, rest = divmod(n, unit)
            tenth = (rest * 10 + unit // 2) // unit
            if tenth == 10:
                whole, tenth = whole + 1, 0
            if whole >= 1024 and suffix != "E":
                continue
            return f"{whole}.{tenth}{suffix}" if tenth else f"{whole}{suffix}"
    return f"{n}B"  # pragma: no cover - the loop always returns


def size_text(n: int | None, raw: bool) -> str:
    """A size for a table: bytes with ``raw`` (--bytes), else human."""
    if n is None:
        return "-"
    return str(n) if raw else human_size(n)


def perms_text(mode: int, numeric: bool = False) -> str:
    """``rw-r--r--`` (or ``0644`` with ``numeric``), as lsipc prints PERMS."""
    if numeric:
        return f"0{mode & 0o777:o}"
    bits = "rwxrwxrwx"
    return "".join(c if mode & (1 << (8 - i)) else "-" for i, c in enumerate(bits))


def key_text(key: int) -> str:
    """A key as ipcs prints it: 0x0000abcd."""
    return f"0x{key & 0xFFFFFFFF:08x}"


def time_text(t: int | None) -> str | None:
    """A timestamp as ISO 8601 local time, None for "never" (0)."""
    if not t:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(t))


def percent(used: int, limit: int | None) -> float | None:
    """``used`` in percent of ``limit`` (None without a positive limit)."""
    if limit is None or limit <= 0:
        return None
    return round(100.0 * used / limit, 2)


def percent_text(p: float | None) -> str:
    """A percentage as lsipc prints USE%: 0.02%."""
    return "-" if p is None else f"{p:.2f}%"


@functools.cache
def user_name(uid: int) -> str | None:
    """The login name of ``uid``, None when it has none."""
    try:
        import pwd
    except ImportError:  # not a Unix: no user database
        return None
    try:
        return pwd.getpwuid(uid).pw_name
    except (KeyError, OverflowError):
        return None


@functools.cache
def group_name(gid: int) -> str | None:
    """The name of group ``gid``, None when it has none."""
    try:
        import grp
    except ImportError:  # not a Unix: no user database
        return None
    try:
        return grp.getgrgid(gid).gr_name
    except (KeyError, OverflowError):
        return None


def owner_text(uid: int) -> str:
    """User name, else the number: lsipc's OWNER."""
    return user_name(uid) or str(uid)


def read_text(path: str) -> str | None:
    """A small /proc file's text, None when it cannot be read."""
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace")
    except OSError:
        return None


def command_line(pid: int) -> str | None:
    """The command line of ``pid`` (its comm in brackets for a kernel thread)."""
    raw = read_text(f"/proc/{pid}/cmdline")
    if raw:
        return " ".join(raw.rstrip("\0").split("\0"))
    stat = read_text(f"/proc/{pid}/stat")
    if not stat or stat.rsplit(")", 1)[-1].split()[:1] in (["Z"], ["X"]):
        return None  # gone, or a zombie: no command line any more
    return f"[{stat.partition('(')[2].rpartition(')')[0]}]"


def has_capability(cap: int) -> bool:
    """True if this process has capability ``cap`` in its effective set."""
    status = read_text("/proc/self/status") or ""
    m = re.search(r"^CapEff:\s*([0-9a-f]+)", status, re.MULTILINE)
    return bool(m and int(m.group(1), 16) >> cap & 1)


# -- namespaces --------------------------------------------------------------------


def open_ns(spec: str) -> Namespace:
    """The namespace NS names (what ipcns.open takes)."""
    import ipcns

    return ipcns.open(spec)


def names_by_inode() -> dict[int, list[str]]:
    """Every name under /run/ipcns, by the inode of its namespace."""
    import ipcns
    from ipcns.linux.discovery import RUN_DIR

    found: dict[int, list[str]] = {}
    for name in ipcns.names():
        try:
            inode = os.stat(os.path.join(RUN_DIR, name)).st_ino
        except OSError:
            continue
        found.setdefault(inode, []).append(name)
    return found


def enter_task(task: Task, ns: Namespace) -> None:
    """Move ``task`` into ``ns`` (setns on its reference) and check that
    it landed there.  Raises PrivilegeError, NamespaceNotFound."""
    from ipcns import NamespaceNotFound, abi
    from ipcns._errors import translate

    try:
        task.setns(ns.ref, abi.CLONE_NEWIPC)
    except OSError as err:
        raise translate(err, f"cannot enter ipc:[{ns.inode}]") from err
    if task.ns_inode() != ns.inode:
        raise NamespaceNotFound(f"ipc:[{ns.inode}] is gone ({ns.ref} is another namespace now)")
