"""Run scenarios on a backend and report them as text, JSON, TAP or JUnit."""

from __future__ import annotations

import fnmatch
import json
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Literal
from xml.etree import ElementTree as ET

from ..contract import Kernel
from ._core import SCENARIOS, Failure, Lab, Scenario, Skip

Status = Literal["PASS", "FAIL", "SKIP"]


@dataclass(frozen=True)
class Result:
    """How one scenario went; ``message`` says why it failed or skipped."""

    scenario: Scenario
    status: Status
    message: str = ""
    seconds: float = 0.0


def load() -> list[Scenario]:
    """Every scenario (importing the scenario modules registers them)."""
    from . import scenarios  # noqa: F401 - registers on import

    return list(SCENARIOS)


def select(pattern: str | None) -> list[Scenario]:
    """The scenarios whose id matches ``pattern`` (a substring, or a glob
    with * ? [ ]; case-insensitive); all of them for None."""
    found = load()
    if not pattern:
        return found
    pat = pattern.lower()
    if not any(c in pat for c in "*?["):
        return [s for s in found if pat in s.id.lower()]
    return [s for s in found if fnmatch.fnmatch(s.id.lower(), pat)]


def run_one(sc: Scenario, make_kernel: Callable[[], Kernel]) -> Result:
    """Run one scenario in a lab of its own; never raises (but for
    KeyboardInterrupt)."""
    start = time.monotonic()
    lab = Lab(make_kernel())
    status: Status = "PASS"
    message = ""
    try:
        sc.fn(lab)
    except Failure as err:
        status, message = "FAIL", str(err)
    except Skip as err:
        status, message = "SKIP", str(err)
    except Exception as err:
        status = "FAIL"
        where = traceback.extract_tb(err.__traceback__)[-1]
        message = f"unexpected {type(err).__name__}: {err} (at {where.name}:{where.lineno})"
    finally:
        try:
            lab.close()
        except Exception as err:
            if status != "FAIL":
                status, message = "FAIL", f"clean-up failed: {type(err).__name__}: {err}"
    return Result(sc, status, message, time.monotonic() - start)


def run(scenarios: Iterable[Scenario], make_kernel: Callable[[], Kernel]) -> Iterator[Result]:
    """Run each scenario, yielding its result as soon as it is known."""
    for sc in scenarios:
        yield run_one(sc, make_kernel)


def summary(results: list[Result]) -> str:
    """``N passed, N failed, N skipped``."""
    count = {s: sum(r.status == s for r in results) for s in ("PASS", "FAIL", "SKIP")}
    return f"{count['PASS']} passed, {count['FAIL']} failed, {count['SKIP']} skipped"


def text_line(r: Result) -> str:
    """One line: status, items, name and (on failure or skip) why."""
    items = ",".join(r.scenario.items)
    line = f"{r.status} {items} {r.scenario.name} ({r.seconds:.2f}s)"
    return f"{line}: {r.message}" if r.message else line


def to_json(results: list[Result], backend: str) -> str:
    """The results as a JSON document."""
    return json.dumps({
        "backend": backend,
        "scenarios": [{"id": r.scenario.id, "items": list(r.scenario.items),
                       "name": r.scenario.name, "status": r.status, "message": r.message,
                       "seconds": round(r.seconds, 4)} for r in results],
        "summary": summary(results),
    }, indent=2)


def to_tap(results: list[Result]) -> str:
    """The results in TAP version 13."""
    lines = ["TAP version 13", f"1..{len(results)}"]
    for n, r in enumerate(results, 1):
        desc = f"{','.join(r.scenario.items)} {r.scenario.name}"
        if r.status == "SKIP":
            lines.append(f"ok {n} - {desc} # SKIP {r.message}")
        elif r.status == "PASS":
            lines.append(f"ok {n} - {desc}")
        else:
            lines.append(f"not ok {n} - {desc}")
            lines.append(f"  # {r.message}")
    lines.append(f"# {summary(results)}")
    return "\n".join(lines)


def to_junit(results: list[Result], backend: str) -> str:
    """The results as JUnit XML (one testsuite)."""
    suite = ET.Element("testsuite", name=f"ipcns-check-{backend}", tests=str(len(results)),
                       failures=str(sum(r.status == "FAIL" for r in results)),
                       skipped=str(sum(r.status == "SKIP" for r in results)),
                       time=f"{sum(r.seconds for r in results):.3f}")
    for r in results:
        case = ET.SubElement(suite, "testcase", classname=",".join(r.scenario.items),
                             name=r.scenario.name, time=f"{r.seconds:.3f}")
        if r.status == "FAIL":
            ET.SubElement(case, "failure", message=r.message)
        elif r.status == "SKIP":
            ET.SubElement(case, "skipped", message=r.message)
    return ET.tostring(suite, encoding="unicode")
