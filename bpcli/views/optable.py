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
    return [{"name": op.name, "arity": op.arity, "syntax": _syntax(op), "computes": op.doc,
             "partials": {v: d for v, d in zip("abc", op.derivative)},
             "convention": op.convention or None, "parameters": _parameters(op)} for op in OPS.values()]


def ops_table():
    made = table("Operations (bp's op table)", "syntax", "computes", "∂/∂a", "∂/∂b", "at a kink")
    for op in OPS.values():
        rest = [f"∂/∂{v}: {d}" if v == "c" else d for v, d in zip("bc", op.derivative[1:])]
        add_row(made, _syntax(op), op.doc, op.derivative[0], "\n".join(rest), op.convention)
    return made
