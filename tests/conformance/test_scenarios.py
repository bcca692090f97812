"""The conformance scenarios, run by pytest on every backend."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

import ipcns
from ipcns.conformance import ITEMS, Scenario, load, run_one
from ipcns.contract import Kernel

SCENARIOS = load()
BACKENDS: dict[str, Callable[[], Kernel]] = {
    "linux": lambda: ipcns.kernel("linux"),
    "model": lambda: ipcns.kernel("model"),
}
#: Only the host kernel needs root; the model runs anywhere.
_BACKEND_PARAMS = [pytest.param("linux", marks=pytest.mark.kernel), "model"]
SPEC = Path(__file__).resolve().parents[3] / "shared" / "SEMANTICS.md"


@pytest.mark.parametrize("backend", _BACKEND_PARAMS)
@pytest.mark.parametrize("sc", SCENARIOS, ids=[s.id for s in SCENARIOS])
def test_scenario(sc: Scenario, backend: str) -> None:
    result = run_one(sc, BACKENDS[backend])
    if result.status == "SKIP":
        pytest.skip(result.message)
    assert result.status == "PASS", result.message


def test_every_item_has_a_scenario() -> None:
    covered = {item for s in SCENARIOS for item in s.items}
    assert sorted(set(ITEMS) - covered) == []


def test_scenarios_name_only_known_items() -> None:
    assert sorted({i for s in SCENARIOS for i in s.items} - set(ITEMS)) == []


@pytest.mark.skipif(not SPEC.exists(), reason="the spec (../shared/SEMANTICS.md) is not beside")
def test_items_match_the_spec() -> None:
    ids = re.findall(r"^- ([NC]\d\d) ", SPEC.read_text(), flags=re.M)
    assert sorted(ids) == sorted(ITEMS)
