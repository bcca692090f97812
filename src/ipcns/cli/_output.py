"""Listings: columns, ``--output``, aligned tables and ``--json``.

A listing is rows and :class:`Column` objects.  A column gives each row a
JSON value (numbers stay numbers, absent is null) and a text for the table
(by default the value, ``-`` for absent).  Column names follow lsns and
lsipc; the JSON key is the name in lower case, as lsns -J and lsipc -J do.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Generic, NamedTuple, TypeVar

from ._common import Done, UsageError

#: json's own string encoder (the C one where there is one).
_string: Callable[[str], str] = json.encoder.encode_basestring

R = TypeVar("R")


def plain(value: object) -> str:
    """A JSON value as table text: ``-`` for None, lists joined by commas."""
    if value is None:
        return "-"
    if isinstance(value, (list, tuple)):
        return ",".join(plain(v) for v in value) or "-"
    return str(value)


class Column(NamedTuple, Generic[R]):
    """One column: its name, what it shows, and how to get it from a row."""

    name: str
    help: str
    value: Callable[[R], object]
    text: Callable[[R], str] | None = None
    right: bool = False

    @property
    def key(self) -> str:
        """The JSON key: the name in lower case."""
        return self.name.lower()

    def cell(self, row: R) -> str:
        """The row's text in a table."""
        if self.text is not None:
            return self.text(row)
        return plain(self.value(row))


def add_listing_options(parser: argparse.ArgumentParser, *, sizes: bool = False) -> None:
    """--json, --output, --noheadings (and --bytes where sizes are shown)."""
    group = parser.add_argument_group("output")
    group.add_argument("-J", "--json", action="store_true",
                       help="use JSON output (lsns/lsipc field names)")
    group.add_argument("-o", "--output", metavar="COLUMNS",
                       help="the columns to show, comma-separated ('+COL,...' adds to the "
                            "default ones; 'help' lists them)")
    group.add_argument("-n", "--noheadings", action="store_true",
                       help="do not print the header line")
    if sizes:
        group.add_argument("-b", "--bytes", action="store_true",
                           help="print sizes in bytes rather than in human-readable form")


def column_help(sections: Sequence[tuple[str, Sequence[Column[Any]]]],
                defaults: Sequence[str] = ()) -> str:
    """The valid columns, one per line with what they show (as lsns -h)."""
    lines = []
    for title, columns in sections:
        if title:
            lines.append(f"{title}:")
        width = max((len(c.name) for c in columns), default=0)
        for c in columns:
            mark = " *" if c.name in defaults else ""
            lines.append(f"  {c.name:>{width}}  {c.help}{mark}")
    if defaults:
        lines.append("(* shown by default)")
    return "\n".join(lines)


def select(spec: str | None, columns: Sequence[Column[R]], default: Sequence[str],
           *, help_text: str | None = None) -> list[Column[R]]:
    """The columns ``--output`` asks for (``default`` without it).

    ``help`` prints the valid columns and stops (Done); an unknown column is
    a UsageError whose one line lists the valid ones.
    """
    by_name = {c.name: c for c in columns}
    if spec is None:
        return [by_name[n] for n in default]
    text = spec.strip()
    if text.lower() == "help":
        print(help_text if help_text is not None
              else column_help([("Available columns", columns)], default))
        raise Done(0)
    extend = text.startswith("+")
    names = [n.strip().upper() for n in text.lstrip("+").split(",") if n.strip()]
    if not names:
        raise UsageError("--output needs a comma-separated list of columns "
                         "(--output help lists them)")
    for n in names:
        if n not in by_name:
            raise UsageError(f"unknown column {n!r} for --output; valid columns: "
                             f"{', '.join(by_name)}")
    if extend:
        names = [*default, *(n for n in names if n not in default)]
    return [by_name[n] for n in names]


def table(rows: Iterable[R], columns: Sequence[Column[R]], *, headings: bool = True) -> str:
    """An aligned table, one space between columns, numbers to the right."""
    cells = [[c.cell(r) for c in columns] for r in rows]
    head = [c.name for c in columns]
    widths = [max([len(h)] + [len(row[i]) for row in cells]) if headings
              else max([0] + [len(row[i]) for row in cells])
              for i, h in enumerate(head)]
    lines = []
    for row in ([head] if headings else []) + cells:
        parts = [cell.rjust(w) if c.right else cell.ljust(w)
                 for cell, w, c in zip(row, widths, columns, strict=True)]
        lines.append(" ".join(parts).rstrip())
    return "\n".join(lines)


def records(rows: Iterable[R], columns: Sequence[Column[R]]) -> list[dict[str, object]]:
    """The rows as JSON objects with the columns' keys."""
    getters = [(c.key, c.value) for c in columns]
    return [{key: value(r) for key, value in getters} for r in rows]


def to_json(value: object, indent: str = "") -> str:
    """``json.dumps(value, indent=3, ensure_ascii=False)``, the way util-linux
    indents, several times faster (json's indenting encoder is pure Python)
    for the documents here: dicts, lists and scalars."""
    scalar = _SCALARS.get(type(value))
    if scalar is not None:
        return scalar(value)
    inner = indent + "   "
    if isinstance(value, dict):
        if not value:
            return "{}"
        items = []
        for k, v in value.items():
            scalar = _SCALARS.get(type(v))
            text = scalar(v) if scalar is not None else to_json(v, inner)
            items.append(f"{inner}{_string(str(k))}: {text}")
        return "{\n" + ",\n".join(items) + "\n" + indent + "}"
    if isinstance(value, (list, tuple)):
        if not value:
            return "[]"
        return "[\n" + ",\n".join(inner + to_json(v, inner) for v in value) + "\n" + indent + "]"
    return json.dumps(value, ensure_ascii=False)


#: The JSON text of a scalar, by its exact type (a subclass, such as an
#: IntEnum, goes through json.dumps).
_SCALARS: dict[type, Callable[[Any], str]] = {
    type(None): lambda _v: "null",
    bool: lambda v: "true" if v else "false",
    str: _string,
    int: int.__repr__,
    float: json.dumps,
}


def dump_json(document: object) -> None:
    """Print a JSON document the way util-linux does (three-space indent)."""
    sys.stdout.write(to_json(document) + "\n")


def emit(args: argparse.Namespace, rows: Sequence[R], columns: Sequence[Column[R]],
         json_key: str) -> None:
    """Print a listing as the options ask: JSON under ``json_key``, or a table."""
    if args.json:
        dump_json({json_key: records(rows, columns)})
        return
    out = table(rows, columns, headings=not args.noheadings)
    if out:
        print(out)
