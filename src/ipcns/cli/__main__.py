"""``python -m ipcns.cli``: the ipcns command."""

from ipcns.cli import run

run()
