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

import os
import signal
import sys

from typer.main import get_command_name

from bpcli.cli import exits, export, formulas, grad, pictures, quiz, train  # noqa: F401  (each declares its commands)
from bpcli.cli.options import LISTED_NODES, MAX_SIZE
from bpcli.cli.program import app
from bpcli.streams import guard_standard_streams
from bpcli.views import render

__all__ = ["app", "main", "LISTED_NODES", "MAX_SIZE"]

COMMANDS = ("grad", "train", "graph", "view", "serve", "diff", "export", "quiz", "lint", "ops")  # as --help lists them
app.registered_commands.sort(key=lambda c: COMMANDS.index(c.name or get_command_name(c.callback.__name__)))


def main() -> None:
    """Entry point of the `bp` script: never lets a traceback reach the user."""
    guard_standard_streams()
    render.setup_streams()  # before Click parses anything: `bp --help` is written in the same spelling
    signal.signal(signal.SIGTERM, _terminated)
    # bp's matrix products are small (a chunk of rows by a layer): BLAS threads would only
    # contend for the cores with each other and other programs. Read when numpy loads.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
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
    named = [c for c in commands if (c.name or get_command_name(c.callback.__name__)) in first]
    return named or commands
