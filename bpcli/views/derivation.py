"""bp check's faces: the learner's answers beside bp's as a JSON document and as a table, with
where an answer is wrong and which part of it is off."""

from __future__ import annotations

import textwrap

from bpcli.check.derivation import ANSWERS_SCHEMA, ATOL, RTOL
from bpcli.errors import setting
from bpcli.views.documents import json_number, json_value
from bpcli.views.numbers import show_number, show_value
from bpcli.views.tables import add_row, table

CHECK_SCHEMA = "bp.check/1"
WIDTH = 79  # the words under the table, cut to fit 80 columns
MARK = {"exact": "✓ exact", "approximate": "≈ approximate", "wrong": "✗ wrong"}


def check_document(report) -> dict:
    return {
        "schema": CHECK_SCHEMA,
        "formula": report.formula,
        "point": {n: json_value(v) for n, v in report.point.items()},
        "seed": report.seed,
        "tolerances": {"rtol": RTOL, "atol": ATOL},
        "verdict": report.verdict,
        "ok": report.ok,
        "checks": [_check(c) for c in report.checks],
        "missing": report.missing,
        "answers_schema": ANSWERS_SCHEMA,
    }


def _check(c) -> dict:
    where = None
    if c.wrong_at is not None:
        at = c.wrong_at
        where = {"point": None if at["point"] is None else {n: json_value(v) for n, v in at["point"].items()},
                 "given": at["index"] == 0,
                 "yours": None if at["yours"] is None else json_value(at["yours"]), "bp": json_value(at["bp"])}
    culprit = None if c.culprit is None else {**c.culprit, "factor": json_number(c.culprit["factor"])}
    return {"what": c.what, "answer": c.answer, "verdict": c.verdict, "exact": c.verdict == "exact",
            "approximate": c.verdict != "wrong", "max_diff": None if c.problem else json_number(c.max_diff),
            "points": c.points, "wrong_at": where, "culprit": culprit, "problem": c.problem}


def check_tables(report) -> list:
    """The verdicts, then for each wrong answer where and what is off."""
    from rich.text import Text  # deferred: loads Rich's text, for bp check's tables only

    head = "Your derivative beside bp's" if len(report.checks) == 1 else "Your answers beside bp's"
    out = table(head, "what", "your answer", "verdict", "max diff", "points", numeric_columns=("max diff", "points"))
    for c in report.checks:
        add_row(out, c.what, c.answer, MARK[c.verdict], "–" if c.problem else show_number(c.max_diff), str(c.points))
    lines = [out]
    for c in report.checks:
        if c.verdict == "wrong":
            lines.append(Text(_wrapped(_wrong_words(c))))
    if report.missing:
        shown = ", ".join(report.missing[:8]) + (f" and {len(report.missing) - 8} more" if len(report.missing) > 8
                                                 else "")
        lines.append(Text(_wrapped(f"not in your table: {shown}")))
    lines.append(Text(f"exact: every entry equal; approximate: allclose (rtol {RTOL:g}, atol {ATOL:g}), as\n"
                      f"makemore's cmp(); points: the given one, then random ones (seed {report.seed})"))
    return lines


def _wrapped(text: str) -> str:
    """Each line cut at WIDTH columns between words, the rest indented (an array's lines kept)."""
    out = []
    for line in text.split("\n"):
        out.append(textwrap.fill(line, WIDTH, subsequent_indent="  ", break_long_words=False,
                                 break_on_hyphens=False) if len(line) > WIDTH else line)
    return "\n".join(out)


def _wrong_words(c) -> str:
    """Where an answer is wrong, with both numbers, and which part of it is off."""
    at = c.wrong_at
    words = f"{c.what} is wrong"
    if at is not None and at["point"] is not None:
        point = at["point"]
        if all(getattr(v, "ndim", 0) == 0 for v in point.values()):
            place = ", ".join(f"{n} = {show_number(v)}" for n, v in point.items())
        else:
            place = f"random point {at['index']} ({setting('json')} has its values)"
        words += " at the given point" if at["index"] == 0 else f" at {place}"
    if c.problem:
        words += f": {c.problem}"
    elif at is not None:
        yours, theirs = (show_value(at[k]).replace("\n", "\n" + " " * 8) for k in ("yours", "bp"))
        words += f":\n  yours {yours}\n  bp's  {theirs}"
    if c.culprit:
        words += f"\n  {c.culprit['message']}"
    elif c.searched:
        words += ("\n  no one change makes it right (the whole answer scaled, or one top-level term removed, "
                  "negated or scaled): a term may be missing, or a part inside a term is off")
    return words
