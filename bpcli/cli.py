"""The `bp` command: turns arguments into calls of the core and results into output."""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import Optional

import typer

from .errors import BPError, CheckError, UsageError

app = typer.Typer(
    help="bp: type a formula, see its computational graph and backpropagated gradients.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

EXIT_CODES = """Exit codes: 0 ok; 2 bad input or usage; 3 a gradient check failed;
4 training diverged; 5 an optional dependency is missing; 130 interrupted."""



def _version(value: bool) -> None:
    if value:
        from . import __version__

        print(f"bp {__version__}")
        raise typer.Exit()


@app.callback()
def _group(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                        help="Print the version and exit.")) -> None:
    """bp: type a formula, see its computational graph and backpropagated gradients."""


VALUE_ARGS = {"allow_extra_args": True, "ignore_unknown_options": True}


def say_error(message: str) -> None:
    """One place where errors reach the user: stderr, no traceback."""
    sys.stderr.write(message.rstrip("\n") + "\n")
    sys.stderr.flush()


def handles_errors(command):
    """Map bp's errors (and Ctrl-C) to messages on stderr and documented exit codes."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except BPError as e:
            say_error(f"bp: {e.kind}: {e}")
            raise typer.Exit(e.exit_code) from None
        except KeyboardInterrupt:
            say_error("bp: interrupted")
            raise typer.Exit(130) from None

    return wrapper


def read_text(path: str, what: str) -> str:
    """A text file, or stdin for `-`; errors name the file."""
    if path == "-":
        return sys.stdin.read()
    p = Path(path)
    try:
        data = p.read_bytes()
    except IsADirectoryError:
        raise UsageError(f"{what} {path} is a directory, not a file") from None
    except OSError as e:
        raise UsageError(f"cannot read {what} {path}: {e.strerror}") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise UsageError(f"{what} {path} is not UTF-8 text (byte {e.start})") from None


def load_formula(formula: Optional[str], file: Optional[str]):
    from . import parse

    if formula is not None and file is not None:
        raise UsageError("give the formula as an argument or with --file, not both")
    if formula is None and file is None:
        raise UsageError('no formula: try bp grad "(x*w-y)^2" --x 2 --w 3 --y 4')
    text = read_text(file, "formula file") if file is not None else formula
    if formula == "-":
        text = sys.stdin.read()
    return parse(text)


def gather_values(formula, extra: list[str], given_formula: Optional[str], values_file: Optional[str]):
    """The point: values from --values, then from the command line (which win)."""
    from .values import from_json, split_arguments

    if values_file == "-" and given_formula == "-":
        raise UsageError("stdin can hold the formula or the values, not both")
    point: dict[str, float] = {}
    notes = []
    if values_file is not None:
        source = "stdin" if values_file == "-" else values_file
        for name, v in from_json(read_text(values_file, "values file"), source).items():
            if name in formula.inputs:
                point[name] = v
            else:
                notes.append(f"{source}: {name} is not an input of the formula; ignored")
    _, cli_values = split_arguments(extra, formula_given=True)
    point.update(cli_values)
    formula.check_values(point)
    return point, notes


def split_formula(formula: Optional[str], extra: list[str], file: Optional[str]):
    """Click puts the first free word in `formula`; re-sort all free words ourselves."""
    from .values import split_arguments

    words = ([formula] if formula is not None else []) + list(extra)
    if file is not None:
        return None, words
    found, _ = split_arguments(words, formula_given=False)
    rest = list(words)
    if found is not None:
        rest.remove(found)
    return found, rest


@app.command(context_settings=VALUE_ARGS, epilog=EXIT_CODES)
@handles_errors
def grad(
    ctx: typer.Context,
    formula: Optional[str] = typer.Argument(
        None, metavar="FORMULA", help='e.g. "(x*w-y)^2" or "y_hat = x*w; r = y_hat - y; loss = r^2"; - reads stdin',
        show_default=False),
    file: Optional[str] = typer.Option(None, "--file", "-f", metavar="FILE", help="Read the formula from FILE (- for stdin)."),
    values_file: Optional[str] = typer.Option(
        None, "--values", metavar="FILE", help="JSON object of values (or a bp train --json document); - for stdin."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document to stdout."),
    check: bool = typer.Option(True, "--check/--no-check", help="Cross-check with SymPy and finite differences."),
    check_timeout: float = typer.Option(5.0, "--check-timeout", min=0.1, help="Seconds SymPy may take."),
    show_all: bool = typer.Option(False, "--all", help="Show every row of large tables."),
):
    """Forward and backward pass of FORMULA at a point: give values as --x 2 or x=2."""
    from . import render

    formula_text, extra = split_formula(formula, ctx.args, file)
    f = load_formula(formula_text, file)
    point, notes = gather_values(f, extra, formula_text, values_file)
    result = f.grad(point)
    checked = None
    if check:
        from .verify import check as run_check

        checked = run_check(f, result, point, budget=check_timeout)
        checked.notes[:0] = notes
    elif notes:
        result.notes.extend(notes)
    if as_json:
        print(render.dumps(render.grad_document(result, point, checked)))
    else:
        console = stdout_console()
        for table in render.grad_tables(result, checked, limit=None if show_all else 200):
            console.print(table)
        all_notes = list(result.notes) + (checked.notes if checked else [])
        if all_notes:
            console.print(render.notes_text(all_notes), end="")
    if checked is not None and not checked.ok:
        bad = [c for c in checked.inputs if not c.ok]
        raise CheckError("; ".join(
            f"∂/∂{c.name}: backprop {c.backprop!r}, SymPy {c.sympy!r}, finite difference "
            f"{c.finite_difference!r}" for c in bad))


def stdout_console():
    from rich.console import Console

    return Console(soft_wrap=False)


def main() -> None:
    """Entry point of the `bp` script: never lets a traceback reach the user.

    A closed pipe (`bp … | head`) is Click's to handle: it stops quietly with exit code 1.
    """
    try:
        app()
    except KeyboardInterrupt:
        say_error("bp: interrupted")
        sys.exit(130)
    except SystemExit:
        raise
    except Exception as e:  # a bug in bp: say so plainly, without a traceback
        say_error(f"bp: internal error: {type(e).__name__}: {e}\n"
                  "This is a bug in bp; please report it with the command you ran.")
        sys.exit(1)
