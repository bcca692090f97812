"""The command line of ``ipcns``: every subcommand, its options and examples.

Only argparse and the parsers of ``_common`` are imported here; each
subcommand's module is imported when that subcommand runs.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable
from typing import Any, NoReturn

from ._common import (
    UsageError,
    as_type,
    parse_count,
    parse_id,
    parse_key,
    parse_mode,
    parse_mq_name,
    parse_pid,
    parse_size,
)
from ._output import add_listing_options

NS_HELP = ("the namespace: a name under /run/ipcns, an nsfs path (/proc/PID/ns/ipc, a file "
           "of 'unshare --ipc=FILE'), pid:N, ipc:[N] or an inode number")

DESCRIPTION = """\
See, make, enter and change Linux IPC namespaces: the System V message
queues, semaphore sets and shared memory segments, and the POSIX message
queues each one holds, its limits, and who holds it.  Named namespaces
live under /run/ipcns (the 'ip netns' convention: nsenter --ipc=/run/ipcns/NAME
enters them).  Most commands need root (CAP_SYS_ADMIN); check and demo
also run on the reference model (--backend model) as any user."""

EPILOG = """\
NS, wherever a command takes one, is a name under /run/ipcns, an nsfs path
(/proc/PID/ns/ipc, a file bound by 'unshare --ipc=FILE'), pid:N, ipc:[N] or
a bare inode number.

examples:
  ipcns list                       every IPC namespace and what it holds
  ipcns add web                    a new namespace, /run/ipcns/web
  ipcns mk web -Q                  a message queue inside it (like ipcmk -Q)
  ipcns ipcs web                   its objects (like lsipc)
  ipcns exec web -- ipcs -q        run a command inside (like nsenter)
  ipcns limits web msgmni=64       change one of its limits
  ipcns delete web                 drop the name
  ipcns check --backend model      the conformance suite on the reference model
                                   (any user: nothing on the host is touched)

Exit status: 0 on success, 1 on failure, 2 for bad usage.  Errors are one
line on stderr; --debug adds a traceback."""


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """argparse's formatter, told the terminal's width: left to itself it
    imports shutil (and with it bz2, lzma, fnmatch) to ask, and argparse
    makes a formatter for every argument it adds, so every command paid."""

    def __init__(self, prog: str, indent_increment: int = 2, max_help_position: int = 24,
                 width: int | None = None) -> None:
        if width is None:
            width = _columns() - 2  # as argparse does
        super().__init__(prog, indent_increment, max_help_position, width)


def _columns() -> int:
    """The terminal's width, the way shutil.get_terminal_size finds it."""
    try:
        columns = int(os.environ["COLUMNS"])
        if columns > 0:
            return columns
    except (KeyError, ValueError):
        pass
    try:
        return os.get_terminal_size(sys.__stdout__.fileno()).columns if sys.__stdout__ else 80
    except (AttributeError, ValueError, OSError):
        return 80


class Parser(argparse.ArgumentParser):
    """argparse with one-line usage errors (raised as UsageError)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        sub = self.prog.partition(" ")[2]
        where = f"{sub}: " if sub else ""
        hint = f"ipcns {sub} --help" if sub else "ipcns --help"
        raise UsageError(f"{where}{message} (see '{hint}')")


def _lazy(module: str, func: str) -> Callable[[argparse.Namespace], int]:
    def call(args: argparse.Namespace) -> int:
        mod = importlib.import_module(f"ipcns.cli.{module}")
        result: int = getattr(mod, func)(args)
        return result

    return call


class _Skipped(Parser):
    """Stands for the parser of a subcommand that is not being run: adding
    arguments to it does nothing (building every subcommand's parser costs
    more than a short command takes to run)."""

    def __init__(self) -> None:  # no ArgumentParser state: nothing uses it
        pass

    def add_argument(self, *args: Any, **kwargs: Any) -> Any:
        return None

    def add_argument_group(self, *args: Any, **kwargs: Any) -> Any:
        return self


def _sub(subs: argparse._SubParsersAction[Parser], name: str, summary: str, description: str,
         examples: str, func: Callable[[argparse.Namespace], int],
         common: Parser, only: str | None = None) -> Parser:
    if only is not None and name != only:
        return _Skipped()
    p = subs.add_parser(name, help=summary, description=description,
                        epilog="examples:\n" + examples,
                        parents=[common])
    p.set_defaults(func=func)
    return p


def build(only: str | None = None) -> Parser:
    """The whole parser; with ``only``, one whose sole subcommand is that
    one (what parsing a command line that names it needs)."""
    common = Parser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show a traceback with an error")
    parser = Parser(prog="ipcns", description=DESCRIPTION, epilog=EPILOG)
    parser.add_argument("--debug", action="store_true", help="show a traceback with an error")
    parser.add_argument("-V", "--version", action="version", version=_version())
    subs = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)

    p = _sub(subs, "list", "every IPC namespace on the host, with what it holds",
             "Every IPC namespace on the host (like lsns -t ipc): held by a process, a\n"
             "thread, an nsfs bind mount or an open descriptor; with, for each, its\n"
             "message queues, semaphore sets, segments, POSIX queues, shared memory\n"
             "bytes, its fullest limit in percent, its processes and what holds it\n"
             "(its name, its container or nsfs file; 'host' for the host's).",
             "  ipcns list\n"
             "  ipcns list -o NS,NAME,MSGQ,POSIXMQ\n"
             "  ipcns list -o +CONTAINER,ONS --json\n"
             "  ipcns list -o help\n",
             _lazy("_list", "run_list"), common, only)
    add_listing_options(p, sizes=True)

    p = _sub(subs, "show", "one namespace: identity, owner, limits beside usage, objects",
             "One namespace as the kernel holds it: its identity (inode, name, nsfs\n"
             "files), its owner (owning user namespace and that namespace's owner uid),\n"
             "its processes and containers; every limit beside its usage (the fields of\n"
             "struct ipc_namespace); and its objects.",
             "  ipcns show web\n"
             "  ipcns show pid:1234 --json\n",
             _lazy("_list", "run_show"), common, only)
    p.add_argument("ns", metavar="NS", help=NS_HELP)
    p.add_argument("-J", "--json", action="store_true", help="use JSON output")
    p.add_argument("-b", "--bytes", action="store_true", help="print sizes in bytes")
    p.add_argument("-P", "--numeric-perms", action="store_true",
                   help="print numeric permissions")

    p = _sub(subs, "ipcs", "objects of namespaces, like lsipc, each row naming its namespace",
             "The objects of one or more namespaces (default: this process's), or of\n"
             "every namespace with --all, like lsipc and with its column names; the NS\n"
             "column names each row's namespace.  Without -q/-s/-m/-Q all four kinds\n"
             "are shown, each in a section of its own.",
             "  ipcns ipcs web\n"
             "  ipcns ipcs --all -q\n"
             "  ipcns ipcs web -m -o KEY,ID,SIZE,NATTCH --bytes\n"
             "  ipcns ipcs /tmp/ns-file -Q --json\n",
             _lazy("_ipcs", "run"), common, only)
    p.add_argument("ns", metavar="NS", nargs="*", help=NS_HELP)
    p.add_argument("-A", "--all", action="store_true", help="every namespace on the host")
    p.add_argument("-q", "--queues", dest="kind_q", action="store_true",
                   help="System V message queues")
    p.add_argument("-s", "--semaphores", dest="kind_s", action="store_true",
                   help="System V semaphore sets")
    p.add_argument("-m", "--shmems", dest="kind_m", action="store_true",
                   help="System V shared memory segments")
    p.add_argument("-Q", "--posix-mqueues", dest="kind_Q", action="store_true",
                   help="POSIX message queues")
    p.add_argument("-P", "--numeric-perms", action="store_true",
                   help="print numeric permissions")
    add_listing_options(p, sizes=True)

    p = _sub(subs, "add", "make a named namespace (/run/ipcns/NAME)",
             "Make a new IPC namespace that persists as /run/ipcns/NAME (an nsfs bind\n"
             "mount, as 'ip netns add' makes them) until 'ipcns delete NAME'.  NAME is\n"
             "1 to 64 letters, digits and _.@+- (not first), not only digits.",
             "  ipcns add web\n"
             "  nsenter --ipc=/run/ipcns/web ipcs\n",
             _lazy("_names", "run_add"), common, only)
    p.add_argument("name", metavar="NAME", help="the new name")

    p = _sub(subs, "delete", "remove named namespaces",
             "Remove names under /run/ipcns.  A namespace dies once nothing else holds\n"
             "it (no process, no other nsfs file, no open descriptor), and its objects\n"
             "with it.  Every name is checked before any is removed.",
             "  ipcns delete web\n"
             "  ipcns delete web db\n",
             _lazy("_names", "run_delete"), common, only)
    p.add_argument("names", metavar="NAME", nargs="+", help="a name under /run/ipcns")

    p = _sub(subs, "identify", "the name of a process's namespace",
             "Print the name(s) under /run/ipcns of PID's IPC namespace, or ipc:[N] when\n"
             "it has none (like 'ip netns identify').  Default PID: this process.",
             "  ipcns identify 1234\n"
             "  ipcns identify $$\n",
             _lazy("_names", "run_identify"), common, only)
    p.add_argument("pid", metavar="PID", nargs="?", type=as_type(parse_pid, "pid"),
                   help="a process id")

    p = _sub(subs, "pids", "the processes in a namespace",
             "The processes (and threads that moved alone) in the namespace, like\n"
             "'ip netns pids'; '-n -o PID' prints bare pids.",
             "  ipcns pids web\n"
             "  ipcns pids web -n -o PID\n",
             _lazy("_names", "run_pids"), common, only)
    p.add_argument("ns", metavar="NS", help=NS_HELP)
    add_listing_options(p)

    p = _sub(subs, "exec", "run a command inside a namespace (nsenter --ipc)",
             "Run CMD (default: $SHELL) inside NS, like 'nsenter --ipc=...', but with\n"
             "/dev/mqueue showing NS's own POSIX queues: this process joins NS, moves\n"
             "to a mount namespace of its own, mounts NS's mqueue filesystem on\n"
             "/dev/mqueue, then executes CMD.  The exit status is CMD's (126: it could\n"
             "not be run; 127: not found).",
             "  ipcns exec web -- ipcs\n"
             "  ipcns exec web -- ls /dev/mqueue\n"
             "  ipcns exec pid:1234 -- sh\n",
             _lazy("_run", "run_exec"), common, only)
    p.add_argument("--no-mqueue", action="store_true",
                   help="leave /dev/mqueue as it is (it then shows the old namespace's queues)")
    p.add_argument("ns", metavar="NS", help=NS_HELP)
    p.add_argument("command", metavar="CMD", nargs=argparse.REMAINDER,
                   help="the command and its arguments (after --)")

    p = _sub(subs, "unshare", "run a command in a new namespace (unshare --ipc)",
             "Run CMD (default: $SHELL) in a new IPC namespace with its own\n"
             "/dev/mqueue, like 'unshare --ipc'.  Without --name this process makes the\n"
             "namespace and executes CMD; the namespace dies with CMD.  With --name\n"
             "the namespace is also kept as /run/ipcns/NAME, made before CMD starts:\n"
             "ipcns waits for CMD and exits with its status.",
             "  ipcns unshare -- sh -c 'ipcmk -Q; ipcs -q'\n"
             "  ipcns unshare --name job -- ./server\n",
             _lazy("_run", "run_unshare"), common, only)
    p.add_argument("--name", metavar="NAME", help="also keep the namespace as /run/ipcns/NAME")
    p.add_argument("--no-mqueue", action="store_true", help="leave /dev/mqueue as it is")
    p.add_argument("command", metavar="CMD", nargs=argparse.REMAINDER,
                   help="the command and its arguments (after --)")

    p = _sub(subs, "mk", "make objects inside a namespace (ipcmk)",
             "Make objects inside NS without entering it, and print what ipcmk prints.\n"
             "The key is random, as ipcmk picks it, unless --key gives one (hex or\n"
             "decimal) or --private asks for IPC_PRIVATE.  Several kinds may be made at\n"
             "once (in ipcmk's order: segment, queue, set, then the POSIX queue); if one\n"
             "fails, those already made are removed.",
             "  ipcns mk web -Q\n"
             "  ipcns mk web -M 1M --key 0x1234 -p 600\n"
             "  ipcns mk web -S 3 --private\n"
             "  ipcns mk web -q /jobs --maxmsg 8 --msgsize 256\n",
             _lazy("_objects", "run_mk"), common, only)
    p.add_argument("ns", metavar="NS", help=NS_HELP)
    p.add_argument("-M", "--shmem", metavar="SIZE", type=as_type(parse_size, "size"),
                   help="a shared memory segment of SIZE bytes (K, M, G: powers of 1024)")
    p.add_argument("-Q", "--queue", action="store_true", help="a message queue")
    p.add_argument("-S", "--semaphore", metavar="NSEMS", type=as_type(parse_count, "number"),
                   help="a semaphore set of NSEMS semaphores")
    p.add_argument("-q", "--posix-mqueue", metavar="NAME", type=as_type(parse_mq_name, "name"),
                   help="a POSIX message queue /NAME")
    p.add_argument("--key", metavar="KEY", type=as_type(parse_key, "key"),
                   help="the SysV key (hex 0x... or decimal; default: random)")
    p.add_argument("--private", action="store_true", help="use IPC_PRIVATE as the key")
    p.add_argument("-p", "--mode", metavar="MODE", type=as_type(parse_mode, "mode"),
                   default=0o644, help="permissions in octal (default 644)")
    p.add_argument("--maxmsg", metavar="N", type=as_type(parse_count, "number"),
                   help="the POSIX queue's capacity in messages (default: msg_default)")
    p.add_argument("--msgsize", metavar="N", type=as_type(parse_count, "number"),
                   help="the POSIX queue's largest message (default: msgsize_default)")

    p = _sub(subs, "rm", "remove objects inside a namespace (ipcrm)",
             "Remove objects inside NS without entering it, with ipcrm's options: by id\n"
             "(-q, -m, -s) or by key (-Q, -M, -S; hex or decimal), POSIX queues by\n"
             "name (--mqueue), or all of some kinds (-a).  Each option may be repeated.\n"
             "A failure is reported on a line of its own and the others still happen;\n"
             "the exit status is then 1.",
             "  ipcns rm web -q 0\n"
             "  ipcns rm web -M 0x1234 -s 1\n"
             "  ipcns rm web --mqueue /jobs\n"
             "  ipcns rm web -a msg\n",
             _lazy("_objects", "run_rm"), common, only)
    p.add_argument("ns", metavar="NS", help=NS_HELP)
    p.add_argument("-q", "--queue-id", metavar="ID", action="append",
                   type=as_type(parse_id, "id"), help="a message queue by id")
    p.add_argument("-Q", "--queue-key", metavar="KEY", action="append",
                   type=as_type(parse_key, "key"), help="a message queue by key")
    p.add_argument("-m", "--shmem-id", metavar="ID", action="append",
                   type=as_type(parse_id, "id"), help="a shared memory segment by id")
    p.add_argument("-M", "--shmem-key", metavar="KEY", action="append",
                   type=as_type(parse_key, "key"), help="a shared memory segment by key")
    p.add_argument("-s", "--semaphore-id", metavar="ID", action="append",
                   type=as_type(parse_id, "id"), help="a semaphore set by id")
    p.add_argument("-S", "--semaphore-key", metavar="KEY", action="append",
                   type=as_type(parse_key, "key"), help="a semaphore set by key")
    p.add_argument("--mqueue", "--posix-mqueue", dest="mqueue", metavar="NAME",
                   action="append", type=as_type(parse_mq_name, "name"),
                   help="a POSIX message queue by name")
    p.add_argument("-a", "--all", metavar="KIND", nargs="?", const="all", action="append",
                   choices=["all", "shm", "msg", "sem", "mqueue"],
                   help="every object (or those of KIND: shm, msg, sem, mqueue)")
    p.add_argument("-v", "--verbose", action="store_true", help="say what is being removed")

    p = _sub(subs, "limits", "read or set a namespace's limits",
             "Without NAME=VALUE: every per-namespace limit (name, sysctl, value) with\n"
             "the usage the kernel checks against it.  With NAME=VALUE items: set\n"
             "them, from a helper inside NS (the four sem fields are written together\n"
             "as kernel.sem).  Names are the Limits fields (msgmni, semmsl, queues_max,\n"
             "...); each value must be in the range the kernel takes (-o +RANGE shows\n"
             "them), or nothing is written.  A value the kernel still refuses puts back\n"
             "what was written.",
             "  ipcns limits web\n"
             "  ipcns limits web msgmni=64 queues_max=16\n"
             "  ipcns limits web semmsl=100 semmni=8\n"
             "  ipcns limits web -o NAME,VALUE,RANGE\n",
             _lazy("_limits", "run"), common, only)
    p.add_argument("ns", metavar="NS", help=NS_HELP)
    p.add_argument("assignments", metavar="NAME=VALUE", nargs="*", help="a limit to set")
    add_listing_options(p)

    p = _sub(subs, "check", "the conformance suite: IPC namespace semantics, checked",
             "Run the scenarios of the conformance spec (SEMANTICS.md: N01-N38 for\n"
             "namespaces, C01-C10 for the IPC calls) on a backend: one line per\n"
             "scenario (PASS, FAIL with expected and got, or SKIP naming the missing\n"
             "kernel feature), then 'N passed, N failed, N skipped'.  Exit status 0\n"
             "only when nothing failed.  Every scenario works in namespaces it makes.\n"
             "The backend is the host's kernel (linux, the default: needs root) or\n"
             "the reference model (model: pure Python, any user, nothing on the host\n"
             "is touched).",
             "  ipcns check\n"
             "  ipcns check -k N12\n"
             "  ipcns check -k 'C0*' --format tap\n"
             "  ipcns check --format junit > ipcns-check.xml\n"
             "  ipcns check --backend model\n",
             _lazy("_check", "run"), common, only)
    p.add_argument("--backend", choices=("linux", "model"), default="linux",
                   help="the kernel to check: linux (the host's, the default) or model "
                        "(the reference model)")
    p.add_argument("-k", metavar="PATTERN", dest="pattern",
                   help="only scenarios whose id (items and name) contains PATTERN, "
                        "or matches it as a glob")
    p.add_argument("--format", choices=("text", "json", "tap", "junit"), default="text",
                   help="how to report (default: text)")
    p.add_argument("--list", action="store_true", dest="list_only",
                   help="list the scenarios, run none")

    p = _sub(subs, "demo", "the two-shell walk-through, run for real",
             "The classic demonstration of IPC namespaces, run for real and narrated:\n"
             "a first shell's namespace and queue (a namespace A made for the demo, not\n"
             "the host's); a second shell that does unshare -iu (namespace B, hostname\n"
             "container001) and makes its own queue; isolation both ways; joining B by\n"
             "pid (nsenter -t PID -u -i).  Everything it makes ends with it.  It runs\n"
             "on the host's kernel (--backend linux, the default: needs root) or on the\n"
             "reference model (--backend model: any user, nothing on the host is\n"
             "touched).",
             "  ipcns demo\n"
             "  ipcns demo --pause\n"
             "  ipcns demo --backend model\n",
             _lazy("_demo", "run"), common, only)
    p.add_argument("--backend", choices=("linux", "model"), default="linux",
                   help="the kernel to run on: linux (the host's, the default) or model "
                        "(the reference model)")
    p.add_argument("--pause", action="store_true", help="wait for Enter between the steps")
    return parser


#: The subcommands, in the order --help lists them.
COMMANDS = ("list", "show", "ipcs", "add", "delete", "identify", "pids", "exec", "unshare", "mk",
            "rm", "limits", "check", "demo")


def _version() -> str:
    import ipcns

    return f"ipcns {ipcns.__version__}"


def parse(argv: list[str]) -> argparse.Namespace:
    """Parse ``argv``; raises UsageError, or SystemExit for --help."""
    first = next((a for a in argv if not a.startswith("-")), None)
    wants_top = any(a in ("-h", "--help", "-V", "--version") for a in argv[:argv.index(first)]
                    ) if first is not None else True
    parser = build(first if first in COMMANDS and not wants_top else None)
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        raise UsageError("no command given (see 'ipcns --help')")
    return args
