"""Small helpers shared by the tests."""

from __future__ import annotations

import os
import subprocess
import sys


def gone(pid: int) -> bool:
    """True once ``pid`` has exited (a zombie has exited too)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True


def python_env() -> dict[str, str]:
    """The environment for a child Python that must import this ipcns."""
    return dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))


def sh(*argv: str) -> str:
    """Run a command; its stdout.  Raises CalledProcessError."""
    return subprocess.run(argv, check=True, capture_output=True, text=True).stdout
