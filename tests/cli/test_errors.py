"""Errors as a shell sees them: one line on stderr, status 1 or 2, no
traceback (unless --debug), and nothing made."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

import ipcns
from ipcns.linux.namespace import Namespace
from tests.cli.helpers import Result, assert_one_line_error, run_child
from tests.support import python_env

#: Run the command as root without CAP_SYS_ADMIN: dropped from the bounding
#: set (so no exec regains it) and from the process's own sets.
UNPRIVILEGED = textwrap.dedent("""
    import runpy, sys
    from ipcns import abi
    from ipcns.linux import syscalls
    s = syscalls.Syscalls()
    syscalls.prctl(abi.PR_CAPBSET_DROP, abi.CAP_SYS_ADMIN)
    eff, perm, inh = s.capabilities()
    drop = ~(1 << abi.CAP_SYS_ADMIN)
    s.set_capabilities(eff & drop, perm & drop, inh & drop)
    sys.argv = ["ipcns", *sys.argv[1:]]
    runpy.run_module("ipcns.cli", run_name="__main__", alter_sys=True)
""")


def run_unprivileged(*argv: str) -> Result:
    proc = subprocess.run([sys.executable, "-c", UNPRIVILEGED, *argv], capture_output=True,
                          text=True, env=python_env(), timeout=30, check=False)
    return Result(proc.returncode, proc.stdout, proc.stderr)


@pytest.mark.parametrize(("argv", "code"), [
    (["show", "no-such-ns"], 1),
    (["ipcs", "ipc:[12345]"], 1),
    (["ipcs", "/etc/hostname"], 2),
    (["add", "../x"], 2),
    (["mk", "NS", "-M", "-5"], 2),
    (["mk", "NS", "-Q", "--key", "0xnope"], 2),
    (["limits", "NS", "nosuch=1"], 2),
    (["limits", "NS", "msgmni=99999"], 2),
    (["rm", "NS", "-q", "12345"], 1),
    (["frob"], 2),
])
def test_bad_input_is_one_line_with_status(named_ns: Namespace, argv: list[str],
                                           code: int) -> None:
    name = named_ns.name or ""
    names, limits = ipcns.names(), named_ns.limits()
    res = run_child(*[name if a == "NS" else a for a in argv])
    assert_one_line_error(res, code)
    assert ipcns.names() == names
    assert named_ns.objects() == [] and named_ns.limits() == limits


def test_debug_adds_the_traceback() -> None:
    res = run_child("--debug", "show", "no-such-ns")
    assert res.code == 1 and "Traceback" in res.err
    assert res.err.splitlines()[-1] == "ipcns: no namespace named 'no-such-ns' (none in " \
        "/run/ipcns)"
    res = run_child("show", "no-such-ns", "--debug")
    assert "Traceback" in res.err


def test_without_cap_sys_admin_each_command_says_what_is_missing(
        named_ns: Namespace, ns_name: str) -> None:
    name = named_ns.name or ""
    before = ipcns.names()
    for argv in (["add", ns_name], ["list"], ["ipcs", name], ["mk", name, "-Q"],
                 ["limits", name, "msgmni=5"], ["exec", name, "--", "true"],
                 ["unshare", "--", "true"], ["unshare", "--name", ns_name, "--", "true"],
                 ["delete", name]):
        res = run_unprivileged(*argv)
        assert_one_line_error(res, 1)
        assert "CAP_SYS_ADMIN" in res.err, (argv, res.err)
    assert ipcns.names() == before
    assert named_ns.objects() == []
    assert named_ns.limits().msgmni != 5
