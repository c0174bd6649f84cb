"""How a result shows itself in Jupyter (the page of bp view, in a frame) and at a prompt
(the tables of bp grad, as text). The engine knows none of this: `register()` hands the
engine's Result an object with `text` and `html`, which its __repr__ and _repr_html_ call."""

from __future__ import annotations

import html as markup
import io
from collections.abc import Callable
from dataclasses import dataclass

from bpcli.engine.result import Result
from bpcli.views.documents import grad_document
from bpcli.views.notes import grad_notes, notes_text
from bpcli.views.results import grad_tables
from bpcli.views.web import page, view_data

FRAME_HEIGHT = 620  # px: the controls, the chain-rule line and a graph of a dozen nodes


def _single(result) -> bool:
    return all(isinstance(v, float) for v in result.values)


def _point(result) -> dict:
    f = result.formula
    return {name: result.values[i] for name, i in f.inputs.items()}


def document(result) -> dict:
    """The document `bp grad --json --no-check` prints for this result."""
    return grad_document(result, _point(result), None, grad_notes(result))


def text(result) -> str:
    """The forward, backward and gradient tables, as plain text."""
    f = result.formula
    one_example = _single(result) or getattr(result, "batch", 0) is None  # numbers, or tensors
    if not one_example:
        return f"<Result of {f.text.strip()!r} at many points: .value, .gradient>"
    from rich.console import Console

    out = io.StringIO()
    # Not Rich's Jupyter mode, which would display the tables itself and return nothing.
    console = Console(file=out, width=100, no_color=True, color_system=None, force_jupyter=False)
    for table in grad_tables(result, None):
        console.print(table)
    notes = grad_notes(result)
    if notes:
        console.print(notes_text(notes), end="")
    return out.getvalue().rstrip("\n")


def html(result) -> str | None:
    """The page of bp view in a frame of its own (its script runs apart from the notebook's)."""
    if not _single(result):
        return None
    whole = page(view_data(result.formula, document(result)))
    return (f'<iframe srcdoc="{markup.escape(whole, quote=True)}" sandbox="allow-scripts" '
            f'style="width: 100%; height: {FRAME_HEIGHT}px; border: 1px solid #ccc"></iframe>')


@dataclass(frozen=True)
class Display:
    """What the engine's Result.display holds: a result as text (repr) and as HTML (Jupyter)."""

    text: Callable[[object], str]
    html: Callable[[object], str | None]


def register() -> None:
    """Make results show themselves with this module's text and html (bpcli.api calls it)."""
    Result.display = Display(text, html)
