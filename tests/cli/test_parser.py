"""The parser builds only the subcommand a command line names."""

from __future__ import annotations

import argparse

import pytest

from ipcns.cli import _parser
from ipcns.cli._common import UsageError


def _commands(parser: argparse.ArgumentParser) -> list[str]:
    subs = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return list(subs.choices)


def test_commands_lists_every_subcommand_in_order() -> None:
    assert _commands(_parser.build()) == list(_parser.COMMANDS)


@pytest.mark.parametrize("name", _parser.COMMANDS)
def test_a_subcommand_alone_parses_as_in_the_whole_parser(name: str) -> None:
    alone = _parser.build(name)
    assert _commands(alone) == [name]
    whole = _parser.build()
    sub_alone = next(a for a in alone._actions if isinstance(a, argparse._SubParsersAction))
    sub_whole = next(a for a in whole._actions if isinstance(a, argparse._SubParsersAction))
    opts_alone = [a.option_strings for a in sub_alone.choices[name]._actions]
    opts_whole = [a.option_strings for a in sub_whole.choices[name]._actions]
    assert opts_alone == opts_whole


def test_parse_builds_only_the_named_subcommand(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[str | None] = []
    real = _parser.build

    def spy(only: str | None = None) -> _parser.Parser:
        built.append(only)
        return real(only)

    monkeypatch.setattr(_parser, "build", spy)
    args = _parser.parse(["--debug", "list", "-J"])
    assert (args.command, args.json, built) == ("list", True, ["list"])
    built.clear()
    with pytest.raises(UsageError, match="invalid choice"):
        _parser.parse(["lsit"])
    assert built == [None]  # an unknown command gets the whole parser's error
    built.clear()
    with pytest.raises(SystemExit):
        _parser.parse(["--help", "list"])
    assert built == [None]
