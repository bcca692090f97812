"""``ipcns check`` and ``ipcns demo`` on the reference model, run by an
unprivileged user.

Each command runs in a child process as uid and gid 65534 (nobody, no
supplementary groups), with PYTHONPATH pointing at this source tree (or at
a copy nobody can read), through a small wrapper that reports the child's
uid and every ``ipcns.linux`` module it imported: on the model the command
must neither need root nor touch the Linux backend (ctypes system calls,
ioctl-based discovery).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ipcns.conformance import load
from tests.cli.helpers import Result
from tests.cli.test_demo import check_walkthrough

NOBODY = 65534
SRC = Path(__file__).resolve().parents[2] / "src"

#: Runs ``ipcns ARGV`` (with both subcommands' modules imported first), then
#: says on a last line of stderr who ran it and which Linux modules it loaded.
WRAPPER = """\
import os, sys
import ipcns.cli._check, ipcns.cli._demo
from ipcns.cli import main
code = main(sys.argv[1:])
sys.stdout.flush()
linux = sorted(m for m in sys.modules if m == "ipcns.linux" or m.startswith("ipcns.linux."))
print(f"[uid={os.geteuid()} ipcns.linux={','.join(linux) or 'none'}]", file=sys.stderr)
sys.exit(code)
"""

#: Exits 0 when the tree at argv[1] can be read, every file and directory.
READABLE = """\
import os, sys
def fail(err):
    raise err
for top, dirs, files in os.walk(sys.argv[1], onerror=fail):
    for d in dirs:
        if not os.access(os.path.join(top, d), os.R_OK | os.X_OK):
            sys.exit(1)
    for f in files:
        with open(os.path.join(top, f), "rb"):
            pass
"""


@dataclass
class Run:
    """One run of the command as nobody."""

    result: Result  # stderr without the wrapper's line
    uid: int
    linux_modules: str


def _as_nobody(argv: list[str], env: dict[str, str], cwd: str,
               timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, user=NOBODY, group=NOBODY, extra_groups=[], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=timeout, check=False)


def _interpreter(env: dict[str, str], cwd: str) -> str:
    """A Python 3.11+ that nobody can run: this one if its path allows it
    (a venv under /root does not), else the one it was made from, else the
    system's."""
    candidates = [sys.executable, os.path.realpath(sys.executable),
                  getattr(sys, "_base_executable", sys.executable),
                  shutil.which("python3.11") or "", "/usr/bin/python3"]
    for python in dict.fromkeys(c for c in candidates if c):
        try:
            probe = _as_nobody([python, "-c", "import sys; sys.exit(sys.version_info < (3, 11))"],
                               env, cwd)
        except OSError:
            continue
        if probe.returncode == 0:
            return python
    pytest.skip(f"no Python 3.11+ that uid {NOBODY} can run (tried {candidates})")


def _readable_source(python: str, env: dict[str, str], workdir: str) -> str:
    """SRC if nobody can read all of it, else a world-readable copy."""
    if _as_nobody([python, "-c", READABLE, str(SRC)], env, workdir).returncode == 0:
        return str(SRC)
    copy = Path(workdir) / "src"
    shutil.copytree(SRC, copy, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for top, dirs, files in os.walk(copy):
        for d in dirs:
            os.chmod(os.path.join(top, d), 0o755)
        for f in files:
            os.chmod(os.path.join(top, f), 0o644)
    os.chmod(copy, 0o755)
    assert _as_nobody([python, "-c", READABLE, str(copy)], env, workdir).returncode == 0
    return str(copy)


@pytest.fixture(scope="module")
def nobody() -> Iterator[Callable[..., Run]]:
    """``nobody("check", "--backend", "model")``: the command as uid 65534."""
    # Not under pytest's own temporary directory: its top is private to root.
    with tempfile.TemporaryDirectory(prefix="ipcns-nobody-") as workdir:
        os.chmod(workdir, 0o755)
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": workdir, "LANG": "C.UTF-8",
               "PYTHONDONTWRITEBYTECODE": "1"}
        python = _interpreter(env, workdir)
        env["PYTHONPATH"] = _readable_source(python, env, workdir)

        def run(*argv: str, timeout: float = 60) -> Run:
            proc = _as_nobody([python, "-s", "-c", WRAPPER, *argv], env, workdir, timeout)
            lines = proc.stderr.splitlines()
            m = re.fullmatch(r"\[uid=(\d+) ipcns\.linux=(.*)\]", lines[-1] if lines else "")
            assert m, f"the wrapper did not finish: exit {proc.returncode}\n{proc.stderr}"
            err = "".join(line + "\n" for line in lines[:-1])
            return Run(Result(proc.returncode, proc.stdout, err), int(m.group(1)), m.group(2))

        yield run


def test_the_commands_import_no_linux_module(nobody: Callable[..., Run]) -> None:
    for argv in (["check", "--backend", "model", "--list"], ["demo", "--help"],
                 ["check", "--help"]):
        run = nobody(*argv)
        assert run.result.code == 0, run.result.err
        assert (run.uid, run.linux_modules) == (NOBODY, "none"), argv


def test_check_on_the_model_as_nobody(nobody: Callable[..., Run]) -> None:
    run = nobody("check", "--backend", "model", timeout=600)
    res = run.result
    not_passed = [line for line in res.lines() if not line.startswith("PASS ")][:-1]
    assert res.code == 0, "\n".join(not_passed) or res.err
    assert res.err == ""
    assert res.lines()[-1] == f"{len(load())} passed, 0 failed, 0 skipped", not_passed
    assert len(res.lines()) == len(load()) + 1
    assert (run.uid, run.linux_modules) == (NOBODY, "none")


def test_demo_on_the_model_as_nobody(nobody: Callable[..., Run]) -> None:
    run = nobody("demo", "--backend", "model")
    res = run.result
    assert res.code == 0, res.err
    assert res.err == ""
    assert res.out.startswith(
        "IPC namespaces, shown with two shells (after the classic ipcmk/unshare/nsenter\n"
        "walk-through), run on the reference model: nothing on the host is touched.\n"
        "Every output below is read from the model as it happens.\n")
    check_walkthrough(res.out)
    assert (run.uid, run.linux_modules) == (NOBODY, "none")


def test_demo_on_linux_as_nobody_says_root_is_needed(nobody: Callable[..., Run]) -> None:
    res = nobody("demo").result
    assert res.code == 1
    assert res.err.splitlines() == [
        "ipcns: cannot make the demo's namespace: Operation not permitted "
        "(needs CAP_SYS_ADMIN; run as root)"]


def test_an_unknown_backend_is_bad_usage(nobody: Callable[..., Run]) -> None:
    for sub in ("check", "demo"):
        run = nobody(sub, "--backend", "nosuch")
        assert run.result.code == 2 and run.result.out == ""
        assert run.result.err == (f"ipcns: {sub}: argument --backend: invalid choice: 'nosuch' "
                                  f"(choose from 'linux', 'model') (see 'ipcns {sub} --help')\n")
        assert run.linux_modules == "none"
