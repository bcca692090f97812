"""Every command README.md shows prints what README.md shows.

The console blocks of README.md are run in order, as root, in this test
process's private /run (see tests/conftest.py).  Outputs are compared line
by line, trailing blanks aside, with namespace numbers (which differ from
run to run) masked.  For ``ipcns list`` the header must match and the rows
of the namespaces the README names must appear in order; the host's own
row and other namespaces of the host may differ (the README did not make
them).
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

from tests.support import python_env

README = Path(__file__).resolve().parents[2] / "README.md"
_NS = re.compile(r"\b4026\d{6}\b")


def console_blocks(text: str) -> list[list[tuple[str, list[str]]]]:
    """Each ```console block as [(command, expected output lines)]."""
    blocks = []
    for body in re.findall(r"^```console\n(.*?)^```", text, flags=re.M | re.S):
        steps: list[tuple[str, list[str]]] = []
        for line in body.splitlines():
            if line.startswith("$ "):
                steps.append((line[2:], []))
            elif steps:
                steps[-1][1].append(line)
        blocks.append(steps)
    return blocks


def normal(lines: list[str]) -> list[str]:
    return [_NS.sub("<ns>", line.rstrip()) for line in lines]


def run(command: str) -> list[str]:
    argv = shlex.split(command)
    if argv[0] == "sudo":
        argv = argv[1:]
    if argv[0] == "ipcns":
        argv = [sys.executable, "-m", "ipcns.cli", *argv[1:]]
    out = subprocess.run(argv, capture_output=True, text=True, env=python_env(), check=False,
                         timeout=60)
    assert out.returncode == 0, f"{command}: exit {out.returncode}: {out.stderr}"
    return out.stdout.splitlines()


def is_subsequence(part: list[str], whole: list[str]) -> bool:
    it = iter(whole)
    return all(line in it for line in part)


def test_readme_has_commands_to_check() -> None:
    blocks = console_blocks(README.read_text())
    assert blocks and sum(len(b) for b in blocks) >= 10


def test_every_readme_command_prints_what_readme_shows() -> None:
    for steps in console_blocks(README.read_text()):
        for command, expected in steps:
            got = normal(run(command))
            want = normal(expected)
            if " list" in command:
                assert got[:1] == want[:1], command
                named = [row for row in want[1:] if row.split()[1] != "-"]
                assert named, "the README's list shows a named namespace"
                assert is_subsequence(named, got[1:]), f"{command}:\n" + "\n".join(got)
            else:
                assert got == want, f"{command}:\n" + "\n".join(got)
