"""Formula → bp source text that parses back into the same graph.

A node used once is written inline where it is used; a node used more than once, or
bound to a name, gets a line of its own (`name = …`), so the text stays linear in the
size of the graph. Every line binds a name no other line binds: a name the program
rebinds (`a = a*a` twice) gets a fresh name for each later node, since a graph copied
elsewhere (a derivative) may still use the first `a` after the second. Everything is
built along the tape: no recursion.
"""

from __future__ import annotations

from bpcli.engine.graph import CONST, INPUT, NAMED_CONSTANTS
from bpcli.engine.ops import OPS

ATOM = 9


MAX_INLINE = 120  # characters an expression may have inline before it gets a line of its own


def to_text(formula) -> str:
    """bp syntax for the formula, a statement a line."""
    return "\n".join(program(formula)[0]) + "\n"


def program(formula) -> tuple[list[str], dict[int, str]]:
    """The statements of the formula as bp source, and the name each named node got.

    A node gets a line when it is bound to a name, used more than once, or too long to
    write inline (so no line, and no string built on the way, grows with the graph)."""
    uses = [0] * len(formula)
    for args in formula.args:
        for a in args:
            uses[a] += 1
    # Names a line may not bind: inputs and constants are referred to by name everywhere,
    # and every name bound anywhere is kept clear of the fresh ones.
    fixed = set(formula.inputs) | set(NAMED_CONSTANTS)
    taken = fixed | {lab for labs in formula.labels.values() for lab in labs}
    names: dict[int, str] = {}
    bound: set[str] = set()
    text: list[tuple[str, int]] = []
    lines = []
    for i, kind in enumerate(formula.kinds):
        if kind in (INPUT, CONST):
            t = formula.names[i]
            text.append((t, 3 if t.startswith("-") else ATOM))  # a negative constant reads as -c
            continue
        body, prec = apply(OPS[kind], [text[a] for a in formula.args[i]], formula.params.get(i, ()))
        label = (formula.labels.get(i) or [None])[-1]
        if label is None and (uses[i] > 1 or (uses[i] and len(body) > MAX_INLINE)):
            label = _fresh(f"n{i}", taken)
        elif label is not None and (label in fixed or label in bound):
            label = _fresh(label, taken)
        if label is None:
            text.append((body, prec))
            continue
        taken.add(label)
        bound.add(label)
        names[i] = label
        lines.append(f"{label} = {body}")
        text.append((label, ATOM))
    if formula.output not in names:  # the output is the last node: its line, if any, is the last
        lines.append(text[formula.output][0])
    return lines, names


def apply(op, operands: list[tuple[str, int]], params: tuple = ()) -> tuple[str, int]:
    """An operation over its operands' texts (and binding strengths), its static parameters
    written after them (`sum(A, 0, keepdim=True)`, `A[1, 0]`)."""
    if op.name == "index":
        t, p = operands[0]
        return f"{t if p >= op.prec else f'({t})'}[{', '.join(map(str, params))}]", op.prec
    if op.is_function:
        return f"{op.name}({', '.join([t for t, _ in operands] + op.written(params))})", ATOM
    parts = []
    for slot, (t, p) in enumerate(operands):
        # Left-associative + - * /: the right operand needs brackets at equal binding;
        # right-associative ^: the left one does. Unary minus binds looser than ^.
        if op.prec == 0:  # comparisons do not chain: brackets on both sides at equal binding
            need = p <= op.prec
        elif op.prec == 4:
            need = p <= op.prec if slot == 0 else p < 3
        elif op.arity == 1:
            need = p < op.prec
        else:
            need = p < op.prec or (slot == 1 and p == op.prec)
        parts.append(f"({t})" if need else t)
    return op.syntax.format(*parts), op.prec


def _fresh(name: str, taken: set) -> str:
    """`name` if it is free, else name_2, name_3, …"""
    if name not in taken:
        return name
    k = 2
    while f"{name}_{k}" in taken:
        k += 1
    return f"{name}_{k}"
