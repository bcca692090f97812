"""The conformance suite: SEMANTICS.md as executable scenarios.

Every item of the spec (N01-N38: namespace semantics; C01-C10: the IPC
calls inside one namespace) has scenarios written only against the backend
contract, so the host kernel and the reference model answer the same
checks.  Run them with ``ipcns check`` or through pytest.
"""

from ._core import (
    SCENARIOS,
    Failure,
    Lab,
    Scenario,
    Skip,
    expect,
    expect_errno,
    expect_ok,
    scenario,
)
from .items import ITEMS
from .runner import Result, load, run, run_one, select, summary

__all__ = [
    "ITEMS",
    "SCENARIOS",
    "Failure",
    "Lab",
    "Result",
    "Scenario",
    "Skip",
    "expect",
    "expect_errno",
    "expect_ok",
    "load",
    "run",
    "run_one",
    "scenario",
    "select",
    "summary",
]
