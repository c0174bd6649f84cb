"""The notes under a result: the engine's findings at the point, the CLI's about the values
given, the check's; and how they read on a terminal."""

from __future__ import annotations

from bpcli.views import labels as view
from bpcli.views.text import plain


def grad_notes(result, extra: list[str] = (), check=None) -> list:
    """Every note of a point: the engine's findings, then `extra` (the CLI's), then the check's."""
    return view.notes(result) + input_notes(extra) + check_notes(check.notes if check else [])


def input_notes(texts: list[str]) -> list:
    """The CLI's notes about the values given, as note objects."""
    return [view.Note("input", None, n) for n in texts]


def check_notes(texts: list[str]) -> list:
    """The check's notes (of the gradient or the Hessian) as note objects."""
    return [view.Note("check", None, n) for n in texts]


def notes_text(notes: list):
    """The notes as Rich Text, a line each."""
    from rich.text import Text

    text = Text()
    for note in notes:
        text.append("note: ", style="yellow")
        text.append(plain(str(note)) + "\n")
    return text
