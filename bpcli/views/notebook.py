"""How a result shows itself in Jupyter (the page of bp view, in a frame) and at a prompt
(the tables of bp grad, as text). The core calls this only when asked to display a result."""

from __future__ import annotations

import html as markup
import io
import sys

from bpcli.engine.result import Result

FRAME_HEIGHT = 620  # px: the controls, the chain-rule line and a graph of a dozen nodes


def _single(result) -> bool:
    return all(isinstance(v, float) for v in result.values)


def _point(result) -> dict:
    f = result.formula
    return {name: result.values[i] for name, i in f.inputs.items()}


def document(result) -> dict:
    """The document `bp grad --json --no-check` prints for this result."""
    from bpcli.views import render

    return render.grad_document(result, _point(result), None, render.grad_notes(result))


def text(result) -> str:
    """The forward, backward and gradient tables, as plain text."""
    f = result.formula
    one_example = _single(result) or getattr(result, "batch", 0) is None  # numbers, or tensors
    if not one_example:
        return f"<Result of {f.text.strip()!r} at many points: .value, .gradient>"
    from rich.console import Console

    from bpcli.views import render

    out = io.StringIO()
    # Not Rich's Jupyter mode, which would display the tables itself and return nothing.
    console = Console(file=out, width=100, no_color=True, color_system=None, force_jupyter=False)
    for table in render.grad_tables(result, None):
        console.print(table)
    notes = render.grad_notes(result)
    if notes:
        console.print(render.notes_text(notes), end="")
    return out.getvalue().rstrip("\n")


def html(result) -> str | None:
    """The page of bp view in a frame of its own (its script runs apart from the notebook's)."""
    if not _single(result):
        return None
    from bpcli.views.web import page, view_data

    whole = page(view_data(result.formula, document(result)))
    return (f'<iframe srcdoc="{markup.escape(whole, quote=True)}" sandbox="allow-scripts" '
            f'style="width: 100%; height: {FRAME_HEIGHT}px; border: 1px solid #ccc"></iframe>')


def register() -> None:
    """Results show themselves through this module from now on: text() at a prompt, html() in
    Jupyter (bpcli's library API calls this when it is imported)."""
    Result.display = sys.modules[__name__]
