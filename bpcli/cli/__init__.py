"""The `bp` command: turns arguments into calls of the library and results into output.

    program.py   the Typer app: bp's group and command classes, `command`, the one decorator
    exits.py     errors -> messages on stderr and the documented exit codes, in one place
    options.py   the options several commands share, declared once, and the one number check
    inputs.py    the formula, the point and files, read within their bounds
    output.py    the terminal, files written whole, the verdict of a check
    grad.py, points.py       bp grad (one point; --at: every row of a file)
    train.py, export.py      bp train; bp export (a script, or --loop: bp train's loop)
    pictures.py              bp graph, bp view, bp serve
    formulas.py, quiz.py     bp diff, bp lint, bp ops; bp quiz
"""

from __future__ import annotations

import importlib
import os
import signal
import sys

from typer.main import get_command_name

from bpcli.cli import exits, program
from bpcli.cli.options import LISTED_NODES, MAX_SIZE
from bpcli.streams import guard_standard_streams
from bpcli.views.text import setup_streams

__all__ = ["app", "main", "LISTED_NODES", "MAX_SIZE"]

# Each command and the module that declares it, in the order --help lists them. `bp grad` loads
# only grad's modules (as Click's lazily loaded subcommands); `bpcli.cli.app` has them all.
COMMANDS = program.COMMANDS


def declare(names=COMMANDS):
    """The Typer app with the named commands declared (their modules imported), in --help's order."""
    for module in dict.fromkeys(COMMANDS[n] for n in names):
        importlib.import_module(f"bpcli.cli.{module}")
    order = list(COMMANDS)
    program.app.registered_commands.sort(key=lambda c: order.index(_name(c)))
    return program.app


def __getattr__(name: str):
    if name == "app":  # every command, for tests and programs that drive the app
        return declare()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main() -> None:
    """Entry point of the `bp` script: never lets a traceback reach the user."""
    guard_standard_streams()
    setup_streams()  # before Click parses anything: `bp --help` is written in the same spelling
    signal.signal(signal.SIGTERM, _terminated)
    # bp's matrix products are small (a chunk of rows by a layer): BLAS threads would only
    # contend for the cores with each other and other programs. Read when numpy loads.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    app = declare([n for n in COMMANDS if n in sys.argv[1:2]] or COMMANDS)
    every = list(app.registered_commands)
    app.registered_commands[:] = _asked_for(every, sys.argv[1:2])
    try:
        app()
    except SystemExit:
        raise
    except BaseException as e:  # Ctrl-C, a stream that cannot take the output, or a bug in bp
        code = exits.exit_code(e)
        sys.exit(exits.internal_error(e) if code is None else code)
    finally:
        app.registered_commands[:] = every


def _terminated(signum, frame):
    """A kill (SIGTERM) unwinds like an exit, so that no half-written file is left behind."""
    raise SystemExit(128 + signum)


def _asked_for(commands: list, first: list[str]) -> list:
    """The one command the first word names, or all: Typer reads every command's signature
    and type hints on each run, and only the one that runs needs its options built."""
    named = [c for c in commands if _name(c) in first]
    return named or commands


def _name(command) -> str:
    return command.name or get_command_name(command.callback.__name__)
