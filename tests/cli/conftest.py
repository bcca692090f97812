"""Fixtures of the command's tests: ``ipcns`` run in-process, and
namespaces made by util-linux (``unshare --ipc=FILE``).

Every namespace a test makes is its own and is gone after it: named ones
through the ``named_ns``/``ns_name`` fixtures (tests/conftest.py), nsfs
files through ``ul_ns`` (unmounted after), the rest die with their helpers.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from ipcns.cli import main
from tests.cli.helpers import Cli, Result


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Cli:
    """``cli("list", "--json")``: main() in this process, with its output."""
    capsys.readouterr()

    def run(*argv: str) -> Result:
        code = main(list(argv))
        out, err = capsys.readouterr()
        return Result(code, out, err)

    return run


@pytest.fixture
def ul_ns(tmp_path: Path) -> Iterator[str]:
    """An IPC namespace made by util-linux: ``unshare --ipc=FILE true``."""
    path = tmp_path / "ul-ipc"
    path.touch()
    subprocess.run(["unshare", f"--ipc={path}", "true"], check=True, capture_output=True)
    try:
        yield str(path)
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False, capture_output=True)
