"""The ``ipcns`` command: see, make, enter and change IPC namespaces.

``main(argv)`` runs one subcommand and returns the exit status: 0 on
success, 1 when something failed, 2 for bad usage.  Errors are one line on
stderr (``ipcns: ...``); ``--debug`` adds the traceback.  Importing this
package is cheap: the parser, and each subcommand's module (and ctypes),
are imported only when used.
"""

from __future__ import annotations

__all__ = ["main", "run"]


def _wants_debug(argv: list[str]) -> bool:
    head = argv[: argv.index("--")] if "--" in argv else argv
    return "--debug" in head


def _report(message: str, debug: bool) -> None:
    import sys

    if debug:
        import traceback

        traceback.print_exc()
    print(f"ipcns: {message}", file=sys.stderr)


#: Subcommands that read namespaces through the shared kernel's helpers.
_READERS = frozenset({"list", "show", "ipcs", "limits"})


def _start_helpers_early(argv: list[str]) -> None:
    """Fork the helpers' root now for a subcommand that will use it: its
    start-up (importing ctypes and the syscall layer, in the new process)
    then runs on another CPU while this one imports and parses."""
    first = next((a for a in argv if not a.startswith("-")), None)
    if first in _READERS and not {"-h", "--help"} & set(argv):
        from ipcns.linux.namespace import shared_kernel

        shared_kernel()


def main(argv: list[str] | None = None) -> int:
    """Run ``ipcns`` with ``argv`` (default: sys.argv[1:]); the exit status."""
    import sys

    from ipcns import InvalidSpec, IpcnsError

    from ._common import Done, UsageError

    args_list = sys.argv[1:] if argv is None else list(argv)
    debug = _wants_debug(args_list)
    try:
        _start_helpers_early(args_list)
        from ._parser import parse

        args = parse(args_list)
        debug = debug or bool(getattr(args, "debug", False))
        return int(args.func(args))
    except SystemExit as done:  # --help, --version
        code = done.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    except Done as done:
        return done.code
    except UsageError as err:
        _report(str(err), debug)
        return 2
    except InvalidSpec as err:
        _report(str(err), debug)
        return 2
    except IpcnsError as err:
        _report(str(err), debug)
        return 1
    except KeyboardInterrupt:
        _report("interrupted", debug)
        return 130
    except BrokenPipeError:
        # The reader went away (ipcns list | head): say nothing more.
        import os

        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return 1
    except OSError as err:
        what = f"{err.filename}: " if err.filename else ""
        _report(f"{what}{err.strerror or err}", debug)
        return 1
    except Exception as err:
        hint = "" if debug else " (--debug shows where)"
        _report(f"unexpected error: {type(err).__name__}: {err}{hint}", debug)
        return 1


def run() -> None:
    """The ``ipcns`` console script (and ``python -m ipcns.cli``): main(),
    then a quick exit.

    By the time main() returns, a command has done and undone all it does
    (namespaces, mounts and files are cleaned up in its own ``finally``
    blocks) and its helpers die when their sockets close with this
    process.  Python's own shutdown (tearing modules down, a last garbage
    collection) would add some 15 ms to every command and do nothing it
    needs, so the output is flushed and the process ends at once.
    """
    import os
    import sys

    status = main()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (BrokenPipeError, OSError, ValueError):
            status = status or 1  # the reader went away, or it was closed
    os._exit(status)
