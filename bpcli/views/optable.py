"""bp ops: the op table, every operation with its syntax, what it computes, its partials and
its convention at a kink, as JSON and as a table."""

from __future__ import annotations

from bpcli.engine.ops import OPS
from bpcli.views.tables import add_row, table


def _syntax(op) -> str:
    if op.syntax:
        return op.syntax.format("a", "b")
    return op.written_signature() if op.signature else f"{op.name}({', '.join('abc'[:op.arity])})"


def _parameters(op) -> list:
    return [{"name": p.name, "kind": p.kind, "default": p.default, "keyword_only": p.keyword,
             "means": p.doc} for p in op.signature]


def ops_document() -> list:
    """The op table as JSON: `partials` as people read them (the textbook form, as the table),
    `computed_partials` the form bp computes with (bp syntax, right at the kinks too; the same
    where no mask is needed), `note` where the two differ."""
    return [{"name": op.name, "arity": op.arity, "syntax": _syntax(op), "computes": op.doc,
             "partials": {v: d for v, d in zip("abc", op.shown_derivative)},
             "computed_partials": {v: d for v, d in zip("abc", op.derivative)},
             "rules": {v: op.rule_of(slot) for slot, v in enumerate("abc"[:op.arity])},
             "convention": op.convention or None, "note": op.textbook_note or None,
             "parameters": _parameters(op)} for op in OPS.values()]


def ops_table():
    made = table("Operations (bp's op table)", "syntax", "computes", "∂/∂a", "∂/∂b", "at a kink")
    for op in OPS.values():
        shown = op.shown_derivative
        rules = [f"({op.rule_of(slot)} rule)" for slot in range(op.arity)]
        rest = [f"∂/∂{v}: {d}" if v == "c" else d for v, d in zip("bc", shown[1:])]
        rest = "\n".join(f"{d}\n{r}" for d, r in zip(rest, rules[1:]))
        kink = "\n".join(t for t in (op.convention, op.textbook_note) if t)
        add_row(made, _syntax(op), op.doc, f"{shown[0]}\n{rules[0]}", rest, kink)
    return made
