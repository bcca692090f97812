"""Test isolation and the rule that kernel tests never skip under CI.

The host is not a fixture.  Before any test runs, a root test process moves
itself into a mount namespace of its own and mounts a tmpfs on /run, so
every name under /run/ipcns, every nsfs bind mount and every mqueue mount a
test makes lives in that mount namespace and vanishes with the process,
however it ends (even kill -9).  IPC namespaces die with their last holder:
the helpers die with the test process, the bind mounts with its mount
namespace.  /dev is the host's: a /dev/mqueue that ``ns.run`` made where
there was none is removed at the end.

Tests under tests/linux/ (and any marked ``kernel``) need the host kernel and
root.  Without root they skip, saying so; with ``CI=true`` a skipped kernel
test is a failure.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Generator, Iterator

import pytest

from ipcns import abi

IS_ROOT = os.geteuid() == 0
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _isolate() -> None:
    from ipcns.linux import syscalls

    syscalls.Syscalls().unshare(abi.CLONE_NEWNS)
    syscalls.mount(None, "/", None, abi.MS_REC | abi.MS_PRIVATE, None)
    syscalls.mount("tmpfs", "/run", "tmpfs", abi.MS_NOSUID | abi.MS_NODEV, "mode=755")


#: Whether /dev/mqueue was missing when the session began.  ``ns.run``
#: creates it, as systemd does at boot, and /dev is the host's own: the
#: session removes it again at its end.
_NO_DEV_MQUEUE = not os.path.lexists("/dev/mqueue")


def pytest_configure(config: pytest.Config) -> None:
    if IS_ROOT and not os.environ.get("IPCNS_TEST_NO_ISOLATION"):
        _isolate()


def pytest_unconfigure(config: pytest.Config) -> None:
    if _NO_DEV_MQUEUE and os.path.isdir("/dev/mqueue"):
        with contextlib.suppress(OSError):  # not empty, or in use elsewhere
            os.rmdir("/dev/mqueue")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/linux/" in item.nodeid or "tests/cli/" in item.nodeid:
            item.add_marker(pytest.mark.kernel)
        if item.get_closest_marker("kernel") and not IS_ROOT:
            item.add_marker(pytest.mark.skip(reason="needs root (CAP_SYS_ADMIN)"))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]
                              ) -> Generator[None, pytest.TestReport, None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if IN_CI and report.skipped and item.get_closest_marker("kernel"):
        report.outcome = "failed"
        report.longrepr = f"kernel test skipped under CI=true: {report.longrepr}"


_counter = iter(range(1_000_000))


@pytest.fixture
def ns_name() -> str:
    """A fresh, unused namespace name."""
    return f"t{os.getpid()}-{next(_counter)}"


@pytest.fixture
def named_ns(ns_name: str) -> Iterator[object]:
    """A named namespace made for this test, deleted after it."""
    import ipcns

    ns = ipcns.create(ns_name)
    try:
        yield ns
    finally:
        if ns_name in ipcns.names():
            ipcns.delete(ns_name)
