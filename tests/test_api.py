"""The public surface: every exported name exists, is documented and tested."""

from __future__ import annotations

import pathlib
import re

import ipcns

TESTS = pathlib.Path(__file__).parent


def test_every_exported_name_exists_and_is_documented() -> None:
    for name in ipcns.__all__:
        obj = getattr(ipcns, name)
        assert (obj.__doc__ or "").strip(), f"ipcns.{name} has no docstring"


def test_every_exported_function_is_called_by_a_test() -> None:
    text = "\n".join(p.read_text() for p in TESTS.rglob("test_*.py"))
    untested = [name for name in ipcns.__all__
                if callable(getattr(ipcns, name)) and name[0].islower()
                and not re.search(rf"ipcns\.{name}\(", text)]
    assert untested == []


def test_fixed_names_of_the_issue_are_there() -> None:
    for name in ("namespaces", "open", "create", "delete", "kernel"):
        assert callable(getattr(ipcns, name))
    ns = ipcns.Namespace(4026531839, "/proc/self/ns/ipc", name="n", path="/run/ipcns/n")
    assert (ns.inode, ns.name, ns.path) == (4026531839, "n", "/run/ipcns/n")
    for method in ("objects", "limits", "usage", "run", "call", "snapshot", "popen"):
        assert callable(getattr(ns, method))
    assert isinstance(type(ns).pids, property)
