"""``ipcns check``: the conformance suite from the shell."""

from __future__ import annotations

import json
from collections.abc import Iterator
from xml.etree import ElementTree as ET

import pytest

from ipcns.conformance import SCENARIOS, Failure, Lab, Scenario, load
from tests.cli.helpers import Cli


def test_one_line_per_scenario_then_the_summary(cli: Cli) -> None:
    r = cli("check", "-k", "N04")
    assert r.code == 0, r.err
    lines = r.lines()
    assert lines[0].startswith("PASS N04 clone_newipc_with_sysvsem_is_einval (")
    assert lines[-1] == "1 passed, 0 failed, 0 skipped"


def test_every_scenario_passes_on_this_kernel(cli: Cli) -> None:
    r = cli("check", "--format", "json")
    doc = json.loads(r.out)
    assert r.code == 0, [s for s in doc["scenarios"] if s["status"] != "PASS"]
    assert len(doc["scenarios"]) == len(load())
    assert doc["summary"] == f"{len(load())} passed, 0 failed, 0 skipped"


def test_tap_and_junit(cli: Cli) -> None:
    tap = cli("check", "-k", "C0[12]*", "--format", "tap").lines()
    assert tap[:2] == ["TAP version 13", f"1..{len(tap) - 3}"]
    assert all(line.startswith("ok ") for line in tap[2:-1])
    suite = ET.fromstring(cli("check", "-k", "N12", "--format", "junit").out)
    assert (suite.tag, suite.get("tests"), suite.get("failures")) == ("testsuite", "1", "0")


@pytest.fixture
def failing() -> Iterator[Scenario]:
    def wrong(lab: Lab) -> None:
        t = lab.task()
        raise Failure("first msqid", 1, t.msgget(0, 0o1600))

    sc = Scenario(("C01",), "zz_deliberately_wrong", wrong)
    load()
    SCENARIOS.append(sc)
    try:
        yield sc
    finally:
        SCENARIOS.remove(sc)


def test_a_failure_says_expected_and_got_and_exits_1(cli: Cli, failing: Scenario) -> None:
    r = cli("check", "-k", "zz_deliberately")
    assert r.code == 1
    assert r.lines()[0].startswith("FAIL C01 zz_deliberately_wrong")
    assert r.lines()[0].endswith("first msqid: expected 1, got 0")
    assert r.lines()[-1] == "0 passed, 1 failed, 0 skipped"


def test_no_match_is_a_usage_error(cli: Cli) -> None:
    r = cli("check", "-k", "no-such-scenario")
    assert r.code == 2
    assert r.err.strip() == ("ipcns: check: no scenario matches 'no-such-scenario' "
                             "(see 'ipcns check --list')")


def test_backend_is_linux_or_model(cli: Cli) -> None:
    r = cli("check", "--backend", "nosuch", "-k", "N04")
    assert r.code == 2 and r.out == ""
    assert r.err.strip() == ("ipcns: check: argument --backend: invalid choice: 'nosuch' "
                             "(choose from 'linux', 'model') (see 'ipcns check --help')")
    r = cli("check", "--backend", "linux", "-k", "N04", "--format", "json")
    assert r.code == 0, r.err
    assert r.json()["backend"] == "linux"
