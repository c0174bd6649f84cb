"""How a graph and a result are shown: names, labels, operations in words, notes, and the
Node/Edge views that the tables, documents, pictures and explain read. The engine (tape.py) holds only
integer node ids; everything a person reads is made here."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from bpcli.check.hazards import find
from bpcli.engine.graph import CONST, INPUT, incoming
from bpcli.engine.numtext import number_text
from bpcli.engine.ops import OPS, partial_display


@dataclass(frozen=True)
class Node:
    """One node of the graph as a result shows it."""

    id: str
    op: str
    label: str
    operands: list[str]
    value: float  # or an array
    adjoint: float | None  # None: depends on no input, so no gradient flows into it
    shape: tuple = ()  # per example


@dataclass(frozen=True)
class Edge:
    """One operand slot: the child feeds the parent; `local` is ∂parent/∂child (None on a
    tensor edge, which carries its vector-Jacobian rule in words instead)."""

    parent: str
    child: str
    slot: int
    local: float | None
    contribution: float  # what the parent's adjoint sends the child (an array on tensor edges)
    rule: str | None = None
    summed: int = 1  # > 1: the child was broadcast, so its contribution sums this many entries
    rule_name: str = ""  # the differentiation rule of the local gradient (sum, product, chain, …)
    accumulates: bool = False  # the child's adjoint adds this contribution to others (a reused node)


@dataclass(frozen=True)
class Note:
    """Something a reader must know: kind ("kink", "domain", "overflow", "input", "check", …),
    the node it is about (n3, or None), the message and maybe a suggestion."""

    kind: str
    node: str | None
    message: str
    suggestion: str | None = None

    def __str__(self) -> str:
        return self.message if not self.suggestion else f"{self.message} (try {self.suggestion})"


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
    """The node's operation with its operands named as the Backward table and the formula
    name them (`ref`: x · w, n2 - y), or as `refer` names them."""
    refer = refer or (lambda j: ref(f, j))
    kind = f.kinds[i]
    if kind == INPUT:
        return "input"
    if kind == CONST:
        return f"constant {f.names[i]}"
    return _written(f, i, [refer(a) for a in f.args[i]])


def _written(f, i: int, refs: list[str]) -> str:
    """An operation over operands written as `refs`, its static parameters included."""
    kind, params = f.kinds[i], f.params.get(i)
    if kind == "index":
        return f"{refs[0]}[{', '.join(map(str, params))}]"
    text = OPS[kind].show.format(*refs)
    written = OPS[kind].written(params or ())
    return f"{text[:-1]}, {', '.join(written)})" if written and text.endswith(")") else text


def edge_formula(f, parent: int, slot: int) -> str:
    """The local gradient as a formula, e.g. ∂(x·w)/∂w = x."""
    kind = f.kinds[parent]
    refs = [ref(f, a) for a in f.args[parent]]
    whole = OPS[kind].show.format(*refs)
    return f"∂({whole})/∂{refs[slot]} = {partial_display(OPS[kind], slot, refs)}"


def rule_name(f, parent: int, slot: int) -> str:
    """The rule the local gradient of this edge applies, as the op table names it."""
    return OPS[f.kinds[parent]].rule_of(slot)


def rule_words(e) -> str:
    """An edge's rule for people: `product rule`, and `product rule, accumulated` where
    the child is reused (its adjoint adds, +=, this contribution to the others)."""
    return f"{e.rule_name} rule" + (", accumulated" if e.accumulates else "")


def vjp_rule(f, parent: int, slot: int, summed: int = 1) -> str:
    """What the backward pass does on a tensor edge, in words: ∂L/∂W = ∂L/∂n2 @ xᵀ."""
    op = OPS[f.kinds[parent]]
    refs = [ref(f, a) for a in f.args[parent]]
    y = ref(f, parent)
    if op.elementwise:
        rule = f"∂L/∂{y} ⊙ {_factor(partial_display(op, slot, refs))}"
        rule = f"∂L/∂{y}" if rule.endswith(" ⊙ 1") else rule
    else:
        rule = op.rule[slot].format(*refs, y=y)
    text = f"∂L/∂{refs[slot]} = {rule}"
    return text + (f", summed over broadcast ({summed} → 1)" if summed > 1 else "")


def _factor(text: str) -> str:
    return text if text.replace("·", "").replace("_", "").replace(".", "").isalnum() else f"({text})"


# -- a result -----------------------------------------------------------------------
def nodes(result) -> list[Node]:
    f = result.formula
    shapes = result.shapes or [()] * len(f)
    return [
        Node(f"n{i}", kind, label(f, i), [f"n{a}" for a in f.args[i]],
             result.values[i], result.adjoint(i), shapes[i])
        for i, kind in enumerate(f.kinds)
    ]


def edges(result) -> list[Edge]:
    """The edges gradient flows along, in the order the backward pass visits them:
    output first, operands left to right. Edges into constants carry none."""
    f = result.formula
    if result.is_tensor:
        return _tensor_edges(result)
    out = []
    uses = incoming(f)
    for i in range(len(f) - 1, -1, -1):
        if not f.args[i]:
            continue
        local = result.local(i)
        out.extend(
            Edge(f"n{i}", f"n{a}", slot, local[slot], result.adjoints[i] * local[slot],
                 rule_name=rule_name(f, i, slot), accumulates=uses[a] > 1)
            for slot, a in enumerate(f.args[i])
            if f.differentiable[a]
        )
    return out


def shown_edges(result, limit: int | None) -> tuple[list, int]:
    """The edges a table shows: all, or past `limit` the first and last halves with None
    between them, and how many were left out. Only those shown are made: a table of a
    million-node graph shows 200 edges and costs no more."""
    if limit is None or result.is_tensor:
        found = edges(result)
        if limit is None or len(found) <= limit:
            return found, 0
        half = limit // 2
        return found[:half] + [None] + found[-half:], len(found) - 2 * half
    f = result.formula
    total = sum(1 for _ in _edge_slots(f))
    if total <= limit:
        return edges(result), 0
    half = limit // 2
    uses = incoming(f)
    head = [_edge(result, i, s, uses) for i, s in itertools.islice(_edge_slots(f), half)]
    tail = [_edge(result, i, s, uses) for i, s in itertools.islice(_edge_slots(f, backwards=True), half)]
    return head + [None] + tail[::-1], total - 2 * half


def _edge_slots(f, backwards: bool = False):
    """(parent, slot) of each edge that carries a gradient, in backward-pass order (or reversed)."""
    parents = range(len(f)) if backwards else range(len(f) - 1, -1, -1)
    for i in parents:
        slots = range(len(f.args[i]))
        for slot in (reversed(slots) if backwards else slots):
            if f.differentiable[f.args[i][slot]]:
                yield i, slot


def _edge(result, i: int, slot: int, uses: list[int]) -> Edge:
    local = result.local(i)[slot]
    a = result.formula.args[i][slot]
    return Edge(f"n{i}", f"n{a}", slot, local, result.adjoints[i] * local,
                rule_name=rule_name(result.formula, i, slot), accumulates=uses[a] > 1)


def _tensor_edges(result) -> list[Edge]:
    """Tensor edges: the rule in words and the contribution; `local` only where it is one
    number for every entry (a scalar edge inside a tensor formula)."""
    f = result.formula
    out = []
    uses = [0] * len(f)
    for i, operands in enumerate(f.args):
        op = OPS.get(f.kinds[i])
        for slot, a in enumerate(operands):
            uses[a] += result.adjoint(a) is not None and (op.elementwise or op.vjp[slot] is not None)
    for i in range(len(f) - 1, -1, -1):
        if not f.args[i]:
            continue
        local = result.local(i)
        op = OPS[f.kinds[i]]
        for slot, a in enumerate(f.args[i]):
            if result.adjoint(a) is None or (not op.elementwise and op.vjp[slot] is None):
                continue
            summed = result.broadcast_axes(i, slot)
            scalar = not result.shapes[i] and result.batch is None and local[slot] is not None
            out.append(Edge(f"n{i}", f"n{a}", slot, float(local[slot]) if scalar else None,
                            result.contribution(i, slot), vjp_rule(f, i, slot, summed), summed,
                            rule_name(f, i, slot), uses[a] > 1))
    return out


_FINDINGS = {
    "domain": "outside its domain",
    "overflow": "overflows",
}


def notes(result) -> list[Note]:
    """What a reader must know about the point, in words (the engine finds it: `hits`)."""
    f, vals = result.formula, result.values
    out = []
    for kind, i in result.hits:
        op = OPS[f.kinds[i]]
        if result.is_tensor:
            n = result.entries(i, kind)
            what = f"n{i} {op.name}: {n} entr{'y' if n == 1 else 'ies'}"
            text = op.convention if kind == "kink" else _FINDINGS[kind]
            out.append(Note(kind, f"n{i}", f"{what} {'at a kink' if kind == 'kink' else 'not finite'}: {text}"))
            continue
        call = f"n{i} {op.name}({', '.join(number_text(vals[a]) for a in f.args[i])})"
        if kind == "kink":
            out.append(Note(kind, f"n{i}", f"{call}: {op.convention}"))
        else:
            out.append(Note(kind, f"n{i}", f"{call} = {vals[i]}: {_FINDINGS[kind]}"))
    return out + [Note(h.kind, f"n{h.node}", f"n{h.node} {OPS[f.kinds[h.node]].name}: {h.message}", h.suggestion)
                  for h in hazards(result)]


def hazards(result) -> list:
    """The numerical hazards at the point (bpcli.check.hazards), with their stable rewrites."""
    return find(result.formula, result.values, result.shapes)
