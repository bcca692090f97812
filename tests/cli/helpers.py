"""Helpers of the command's tests."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tests.support import python_env


@dataclass
class Result:
    """What one run of the command gave."""

    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)

    def lines(self) -> list[str]:
        return self.out.splitlines()


#: The ``cli`` fixture: main(ARGV) in-process, returning a Result.
Cli = Callable[..., Result]


def run_child(*argv: str, timeout: float = 30, **kwargs: Any) -> Result:
    """``python -m ipcns.cli ARGV`` in a child process."""
    proc = subprocess.run([sys.executable, "-m", "ipcns.cli", *argv], capture_output=True,
                          text=True, env=python_env(), timeout=timeout, check=False, **kwargs)
    return Result(proc.returncode, proc.stdout, proc.stderr)


def nsenter(ns_path: str, *argv: str) -> str:
    """Run a util-linux command inside the namespace at ``ns_path``."""
    return subprocess.run(["nsenter", f"--ipc={ns_path}", *argv], check=True,
                          capture_output=True, text=True).stdout


def assert_one_line_error(res: Result, code: int | tuple[int, ...] = (1, 2)) -> None:
    """A failure as the command must report one: the status, one line on
    stderr starting with ``ipcns:``, no traceback, nothing on stdout."""
    codes = (code,) if isinstance(code, int) else code
    assert res.code in codes, res
    lines = res.err.splitlines()
    assert len(lines) == 1, res.err
    assert lines[0].startswith("ipcns: "), res.err
    assert "Traceback" not in res.err
    assert res.out == ""
