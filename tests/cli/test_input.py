"""Input parsing and output formatting of the command, without namespaces."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from ipcns.cli._common import (
    UsageError,
    human_size,
    parse_count,
    parse_id,
    parse_key,
    parse_mode,
    parse_mq_name,
    parse_size,
    perms_text,
)
from ipcns.cli._output import Column, select, table, to_json
from tests.cli.helpers import Cli
from tests.support import python_env


@pytest.mark.parametrize(("text", "size"), [
    ("4096", 4096), ("1", 1), ("4K", 4096), ("4KiB", 4096), ("4kb", 4000), ("1M", 1 << 20),
    ("2G", 2 << 30), ("3MB", 3_000_000), ("512B", 512),
])
def test_sizes_take_ipcmk_suffixes(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["-5", "0", "", "1.5M", "4X", "K", "0x10", "99999999999E"])
def test_bad_sizes_are_refused(text: str) -> None:
    with pytest.raises(UsageError, match="bad size"):
        parse_size(text)


@pytest.mark.parametrize(("text", "key"), [
    ("0x1234", 0x1234), ("0XDEADBEEF", 0xDEADBEEF), ("4660", 4660), ("0", 0),
    ("-559038737", 0xDEADBEEF), ("0xffffffff", 0xFFFFFFFF),
])
def test_keys_are_hex_or_decimal(text: str, key: int) -> None:
    assert parse_key(text) == key


@pytest.mark.parametrize("text", ["0x", "0xZZ", "12ab", "key", "0x100000000", "4294967296",
                                  "1_000", ""])
def test_bad_keys_are_refused(text: str) -> None:
    with pytest.raises(UsageError, match="bad key"):
        parse_key(text)


def test_ids_modes_counts_and_names() -> None:
    assert parse_id("17") == 17
    assert parse_mode("644") == parse_mode("0644") == parse_mode("0o644") == 0o644
    assert parse_count("3") == 3
    assert parse_mq_name("jobs") == parse_mq_name("/jobs") == "/jobs"
    for bad, fn in (("-1", parse_id), ("2147483648", parse_id), ("888", parse_mode),
                    ("1000", parse_mode), ("0", parse_count), ("-3", parse_count),
                    ("/a/b", parse_mq_name), ("/", parse_mq_name)):
        with pytest.raises(UsageError):
            fn(bad)


def test_sizes_and_perms_print_as_lsipc_prints_them() -> None:
    assert [human_size(n) for n in (0, 512, 4096, 1536, 1 << 20, 18446744073692774399)] == \
        ["0B", "512B", "4K", "1.5K", "1M", "16E"]
    assert perms_text(0o644) == "rw-r--r--"
    assert perms_text(0o600, numeric=True) == "0600"


def test_tables_align_and_select_columns() -> None:
    cols = [Column[tuple[str, int]]("NAME", "a name", lambda r: r[0]),
            Column[tuple[str, int]]("SIZE", "a size", lambda r: r[1], right=True)]
    assert table([("a", 1), ("bbb", 100)], cols).splitlines() == [
        "NAME SIZE", "a       1", "bbb   100"]
    assert [c.name for c in select("size", cols, ["NAME"])] == ["SIZE"]
    assert [c.name for c in select("+SIZE", cols, ["NAME"])] == ["NAME", "SIZE"]
    with pytest.raises(UsageError, match=r"unknown column 'NOPE'.*NAME, SIZE"):
        select("NOPE", cols, ["NAME"])


def test_help_for_every_subcommand_has_examples(cli: Cli) -> None:
    for sub in ("list", "show", "ipcs", "add", "delete", "identify", "pids", "exec", "unshare",
                "mk", "rm", "limits", "demo"):
        res = cli(sub, "--help")
        assert res.code == 0
        assert "examples:" in res.out and f"ipcns {sub}" in res.out.split("examples:")[1]


def test_importing_the_command_is_cheap() -> None:
    code = ("import sys; from ipcns.cli import main; main(['mk', '--help']); "
            "print(sorted(m for m in ('ctypes', 'ipcns.linux.syscalls', 'ipcns.cli._objects') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=python_env(), check=True).stdout
    assert out.splitlines()[-1] == "[]"


def test_usage_errors_are_one_line_with_status_2(cli: Cli) -> None:
    for argv in (["frob"], [], ["mk"], ["list", "--bogus"], ["rm", "x", "-q", "x"]):
        res = cli(*argv)
        assert res.code == 2, argv
        assert len(res.err.splitlines()) == 1 and res.err.startswith("ipcns: "), res.err


def test_json_is_indented_as_json_dumps_would() -> None:
    doc = {"namespaces": [{"ns": 4026531839, "name": None, "nsfs": ["/run/ipcns/a\"b", "é\n"],
                           "pids": [1, 2], "none": [], "map": {}, "use%": 0.39, "yes": True,
                           "no": False, "deep": {"a": [1, {"z": None}]}}], "empty": []}
    assert to_json(doc) == json.dumps(doc, indent=3, ensure_ascii=False)
