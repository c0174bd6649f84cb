"""bp lint's report: the hazard notes found over sampled points, as JSON and as tables."""

from __future__ import annotations

from bpcli.engine.ops import OPS
from bpcli.views.numbers import show_number
from bpcli.views.tables import add_row, table

LINT_SCHEMA = "bp.lint/1"


def _lint_message(f, finding) -> str:
    return f"n{finding.node} {OPS[f.kinds[finding.node]].name}: {finding.message}"


def lint_document(f, report) -> dict:
    notes = [{"node": f"n{x.node}", "kind": x.kind, "message": _lint_message(f, x), "suggestion": x.suggestion,
              "points": x.points, "example": x.example} for x in report.findings]
    return {"schema": LINT_SCHEMA, "formula": f.text, "samples": report.samples, "seed": report.seed,
            "ranges": {n: r.text() for n, r in report.ranges.items()}, "notes": notes, "ok": not notes}


def lint_tables(f, report) -> list:
    """How the points were drawn, then one row per note (or a line saying there is none)."""
    from rich.text import Text

    drawn = table(f"{report.samples:,} points, seed {report.seed}", "input", "drawn from")
    for name, r in report.ranges.items():
        add_row(drawn, name, r.text())
    if not report.findings:
        return [drawn, Text("no hazard notes at any of the points")]
    found = table("Hazard notes", "note", "try", "points", "first at")
    for x in report.findings:
        at = ", ".join(f"{n} = {show_number(v)}" for n, v in x.example.items())
        add_row(found, _lint_message(f, x), x.suggestion or "", f"{x.points:,}", at)
    return [drawn, found]
