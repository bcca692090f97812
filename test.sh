#!/usr/bin/env bash
# Install ipcns with its test tools in .venv, then lint, type-check and test.
# Run as root: the kernel tests make IPC namespaces (they clean up after
# themselves, also when killed).
set -euo pipefail
cd "$(dirname "$0")"
python3 -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
command -v nsenter >/dev/null && command -v ipcmk >/dev/null || {
    echo "test.sh: util-linux (nsenter, unshare, ipcmk, lsipc) is needed" >&2; exit 1; }
.venv/bin/python -m ruff check src tests benchmarks
.venv/bin/python -m mypy
.venv/bin/python -m pytest "$@"
