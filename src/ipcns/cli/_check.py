"""``ipcns check``: run the conformance scenarios on a backend."""

from __future__ import annotations

import argparse
import sys

from ._common import UsageError


def run(args: argparse.Namespace) -> int:
    """Run (or list) the selected scenarios; 0 only when none failed."""
    import ipcns
    from ipcns.conformance import runner

    scenarios = runner.select(args.pattern)
    if not scenarios:
        raise UsageError(f"check: no scenario matches {args.pattern!r} (see 'ipcns check --list')")
    if args.list_only:
        for sc in scenarios:
            print(f"{','.join(sc.items):<8} {sc.name}  {sc.doc}")
        return 0
    backend = args.backend
    results = []
    for result in runner.run(scenarios, lambda: ipcns.kernel(backend)):
        results.append(result)
        if args.format == "text":
            print(runner.text_line(result), flush=True)
    if args.format == "text":
        print(runner.summary(results))
    elif args.format == "json":
        print(runner.to_json(results, backend))
    elif args.format == "tap":
        print(runner.to_tap(results))
    else:
        print(runner.to_junit(results, backend))
    sys.stdout.flush()
    return 1 if any(r.status == "FAIL" for r in results) else 0
