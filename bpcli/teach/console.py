"""bp quiz on the terminal: the exercise as tables (its blanks numbered as on the worksheet),
and the feedback on a student's answers."""

from __future__ import annotations

from bpcli.teach.worksheet import rows
from bpcli.views.labels import ref
from bpcli.views.numbers import show_number
from bpcli.views.tables import add_row, table
from bpcli.views.text import plain


def quiz_tables(ex) -> list:
    """The exercise: its nodes and the local gradients asked, blanks as [1], [2], …"""
    nodes, edges = rows(ex)
    values = ", ".join(f"{n} = {show_number(v)}" for n, v in ex.point.items())
    head = table(f"Exercise: {ex.title}", "formula", "values", "output")
    add_row(head, ex.formula.text.strip(), values, ref(ex.formula, ex.formula.output))
    out = [head]
    made = table("Nodes: fill in the numbered blanks", "node", "name", "operation", "value", "adjoint")
    for row in nodes:
        add_row(made, *row)
    out.append(made)
    if edges:
        made = table("Local gradients asked", "edge", "local gradient", "value")
        for row in edges:
            add_row(made, *row)
        out.append(made)
    return out


def grade_text(marks: list) -> str:
    """Per-blank feedback, then the score."""
    lines = []
    for k, m in enumerate(marks, 1):
        if m.correct:
            lines.append(f"✓ [{k}] {m.blank.id} = {m.given!r}")
        else:
            lines.append(f"✗ [{k}] {m.blank.id} = {m.given!r}: {m.hint}")
    right = sum(m.correct for m in marks)
    lines.append(f"score: {right}/{len(marks)}")
    return plain("\n".join(lines)) + "\n"
