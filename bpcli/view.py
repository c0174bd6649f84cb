"""How a graph and a result are shown: names, labels, operations in words, notes, and the
Node/Edge views that render, pictures and explain read. The engine (tape.py) holds only
integer node ids; everything a person reads is made here."""

from __future__ import annotations

from dataclasses import dataclass

from .graph import CONST, INPUT, number_text
from .ops import OPS, partial_display


@dataclass(frozen=True)
class Node:
    """One node of the graph as a result shows it."""

    id: str
    op: str
    label: str
    operands: list[str]
    value: float
    adjoint: float | None  # None: depends on no input, so no gradient flows into it


@dataclass(frozen=True)
class Edge:
    """One operand slot: the child feeds the parent; `local` is ∂parent/∂child."""

    parent: str
    child: str
    slot: int
    local: float
    contribution: float  # parent's adjoint × local


# -- naming -------------------------------------------------------------------------
def label(f, i: int) -> str:
    """The names a node goes by: bound names, an input's name or a constant's text."""
    bound = f.labels.get(i, [])
    own = f.names.get(i)
    parts = ([own] if own is not None and own not in bound else []) + bound
    return " = ".join(parts)


def ref(f, i: int) -> str:
    """How a node is referred to inside a formula: its name if it has one, else n<id>."""
    bound = f.labels.get(i)
    if bound:
        return bound[-1]
    return f.names.get(i) or f"n{i}"


def show(f, i: int, refer=None) -> str:
    """The node's operation with its operands, e.g. `n1 · n2`."""
    refer = refer or (lambda j: f"n{j}")
    kind = f.kinds[i]
    if kind == INPUT:
        return "input"
    if kind == CONST:
        return f"constant {f.names[i]}"
    return OPS[kind].show.format(*(refer(a) for a in f.args[i]))


def edge_formula(f, parent: int, slot: int) -> str:
    """The local gradient as a formula, e.g. ∂(x·w)/∂w = x."""
    kind = f.kinds[parent]
    refs = [ref(f, a) for a in f.args[parent]]
    whole = OPS[kind].show.format(*refs)
    return f"∂({whole})/∂{refs[slot]} = {partial_display(OPS[kind], slot, refs)}"


# -- a result -----------------------------------------------------------------------
def nodes(result) -> list[Node]:
    f = result.formula
    return [
        Node(f"n{i}", kind, label(f, i), [f"n{a}" for a in f.args[i]],
             result.values[i], result.adjoint(i))
        for i, kind in enumerate(f.kinds)
    ]


def edges(result) -> list[Edge]:
    """The edges gradient flows along, in the order the backward pass visits them:
    output first, operands left to right. Edges into constants carry none."""
    f = result.formula
    out = []
    for i in range(len(f) - 1, -1, -1):
        if not f.args[i]:
            continue
        local = result.local(i)
        out.extend(
            Edge(f"n{i}", f"n{a}", slot, local[slot], result.adjoints[i] * local[slot])
            for slot, a in enumerate(f.args[i])
            if f.differentiable[a]
        )
    return out


_FINDINGS = {
    "domain": "outside its domain",
    "overflow": "overflows",
}


def notes(result) -> list[str]:
    """What a reader must know about the point, in words (the engine finds it: `hits`)."""
    f, vals = result.formula, result.values
    out = []
    for kind, i in result.hits:
        op = OPS[f.kinds[i]]
        call = f"n{i} {op.name}({', '.join(number_text(vals[a]) for a in f.args[i])})"
        if kind == "kink":
            out.append(f"{call}: {op.convention}")
        else:
            out.append(f"{call} = {vals[i]}: {_FINDINGS[kind]}")
    return out
