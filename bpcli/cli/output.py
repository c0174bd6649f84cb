"""Where a command's results go: the terminal (a Rich console), a file written whole, and the
verdict of a cross-check (exit 3 when it truly disagrees)."""

from __future__ import annotations

from bpcli.cli.exits import say_error
from bpcli.errors import CheckError
from bpcli.streams import write_output
from bpcli.views.notes import notes_text


def stdout_console():
    from rich.console import Console  # deferred: loads Rich's console, which bp grad --json does not use

    return Console(soft_wrap=False)


def print_all(renderables, notes: list = (), console=None) -> None:
    """Tables and texts on standard output, one after the other, then the notes."""
    console = console or stdout_console()
    for item in renderables:
        console.print(item)
    if notes:
        console.print(notes_text(notes), end="")


def write_file(path: str, data: bytes, what: str | None = "") -> None:
    """DATA to PATH (- for stdout), whole or not at all; then `bp: wrote PATH (WHAT)` on stderr
    (what=None: nothing said)."""
    write_output(path, data)
    if path != "-" and what is not None:
        say_error(f"bp: wrote {path}" + (f" ({what})" if what else ""))


def fail_on_mismatch(checked) -> None:
    """Exit 3 when the cross-check found a real disagreement."""
    if checked is not None and not checked.ok:
        bad = [c for c in checked.inputs if not c.ok]
        raise CheckError("; ".join(_disagreement(c) for c in bad))


def _disagreement(c) -> str:
    """∂/∂x: backprop 1.0, SymPy 2.0, finite difference 2.0 (the references that gave a number)."""
    said = [("backprop", c.backprop), ("SymPy", c.sympy), ("finite difference", c.finite_difference)]
    return f"∂/∂{c.name}: " + ", ".join(f"{who} {v!r}" for who, v in said if v is not None)
