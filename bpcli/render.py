"""Results for people (Rich tables) and for programs (strict JSON)."""

from __future__ import annotations

import json
import math

SCHEMA = "bp.grad/1"


# -- numbers ------------------------------------------------------------------------
def json_number(v):
    """A float for strict JSON: finite numbers as numbers, others as "inf", "-inf", "nan"."""
    v = float(v)
    if math.isfinite(v):
        return v
    return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")


def dumps(doc) -> str:
    """Strict RFC 8259 JSON: NaN and Infinity can never slip through."""
    return json.dumps(doc, ensure_ascii=False, allow_nan=False)


def show_number(v) -> str:
    """A number as Python prints the float: shortest text that reads back exactly."""
    return repr(float(v))


# -- JSON ---------------------------------------------------------------------------
def grad_document(result, point: dict, check=None) -> dict:
    f = result.formula
    doc = {
        "schema": SCHEMA,
        "formula": f.text,
        "inputs": {name: json_number(point[name]) for name in f.inputs},
        "value": json_number(result.value),
        "gradient": {name: json_number(g) for name, g in result.gradient.items()},
        "nodes": [
            {"id": n.id, "op": n.op, "label": n.label, "operands": n.operands,
             "value": json_number(n.value),
             "adjoint": None if n.adjoint is None else json_number(n.adjoint)}
            for n in result.nodes
        ],
        "edges": [
            {"parent": e.parent, "child": e.child, "slot": e.slot,
             "local": json_number(e.local),
             "formula": result.edge_formula(int(e.parent[1:]), e.slot),
             "contribution": json_number(e.contribution)}
            for e in result.edges
        ],
        "notes": list(result.notes) + (check.notes if check else []),
        "check": None,
        "ok": True,
    }
    if check is not None:
        doc["check"] = {
            c.name: {"backprop": json_number(c.backprop), "derivative": c.derivative,
                     "sympy": None if c.sympy is None else json_number(c.sympy),
                     "finite_difference": json_number(c.finite_difference),
                     "status": c.status, "ok": c.ok}
            for c in check.inputs
        }
        doc["ok"] = check.ok
    return doc


# -- Rich ---------------------------------------------------------------------------
MARKS = {"ok": "✓", "convention": "✓ (convention)", "mismatch": "✗", "skipped": "–"}


def _table(title: str, *columns: str):
    from rich.table import Table

    table = Table(title=title, title_justify="left", title_style="bold")
    for name in columns:
        numeric = name in _NUMERIC  # numbers never wrap or get cut; text columns give way
        table.add_column(name, justify="right" if numeric else "left", no_wrap=numeric)
    return table


_NUMERIC = {"value", "adjoint", "local", "contribution", "backprop", "SymPy",
            "finite difference", "parent adjoint"}


def _rows(items: list, limit: int | None):
    """All items, or the first and last when there are more than `limit`."""
    if limit is None or len(items) <= limit:
        return items, 0
    half = limit // 2
    return items[:half] + [None] + items[-half:], len(items) - 2 * half


def grad_tables(result, check=None, limit: int | None = 200) -> list:
    """The four tables of `bp grad`: formula, forward, backward, gradient."""
    from rich.text import Text

    f = result.formula
    out = []
    summary = _table("Formula", "formula", "value", "nodes", "edges")
    summary.add_row(f.text.strip(), show_number(result.value), str(len(f)),
                    str(sum(len(a) for a in f.args)))
    out.append(summary)

    forward = _table("Forward: a value per node (topological order)",
                     "node", "label", "operation", "value", "adjoint")
    nodes, hidden = _rows(list(range(len(f))), limit)
    for i in nodes:
        if i is None:
            forward.add_row("…", f"{hidden} more rows (--all shows them)", "", "", "")
            continue
        adjoint = result.adjoint(i)
        forward.add_row(f"n{i}", f.label(i), f.show(i), show_number(result.values[i]),
                        "–" if adjoint is None else show_number(adjoint))
    out.append(forward)

    backward = _table("Backward: a local gradient per edge, from the output back",
                      "edge", "local gradient", "local", "parent adjoint", "contribution")
    edges, hidden = _rows(result.edges, limit)
    for e in edges:
        if e is None:
            backward.add_row("…", f"{hidden} more rows (--all shows them)", "", "", "")
            continue
        parent = int(e.parent[1:])
        backward.add_row(f"{e.parent} ← {e.child}", result.edge_formula(parent, e.slot),
                         show_number(e.local), show_number(result.adjoints[parent]),
                         show_number(e.contribution))
    out.append(backward)

    if check is None:
        gradient = _table("Gradient", "input", "backprop")
        for name, g in result.gradient.items():
            gradient.add_row(name, show_number(g))
    else:
        gradient = _table("Gradient, cross-checked", "input", "backprop", "SymPy derivative",
                          "SymPy", "finite difference", "check")
        for c in check.inputs:
            mark = Text(MARKS[c.status], style="green" if c.ok else "bold red")
            gradient.add_row(c.name, show_number(c.backprop), c.derivative or "–",
                             "–" if c.sympy is None else show_number(c.sympy),
                             show_number(c.finite_difference), mark)
    out.append(gradient)
    return out


def notes_text(notes: list[str]):
    from rich.text import Text

    text = Text()
    for note in notes:
        text.append("note: ", style="yellow")
        text.append(note + "\n")
    return text
