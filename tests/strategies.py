"""Hypothesis strategies: random bp programs drawn from the op table, and points."""

from __future__ import annotations

from hypothesis import strategies as st

from bpcli.engine.ops import ELEMENTWISE, OPS

INFIX = {"add": "+", "sub": "-", "mul": "*", "div": "/", "pow": "^",
         "gt": ">", "lt": "<", "ge": ">=", "le": "<=", "eq": "==", "ne": "!="}
NAMES = ["x", "w", "y"]


def _application(draw, ops: tuple, operand) -> str:
    """One op of `ops` applied to operands drawn from `operand`, in bp syntax."""
    op = OPS[draw(st.sampled_from(ops))]
    args = [draw(operand) for _ in range(op.arity)]
    if op.name in INFIX:
        return f"({args[0]}) {INFIX[op.name]} ({args[1]})"
    if op.name == "neg":
        return f"-({args[0]})"
    return f"{op.name}({', '.join(args)})"


@st.composite
def programs(draw, max_ops: int = 8, ops: tuple = tuple(ELEMENTWISE)):
    """A program of assignments t0…tk over inputs x, w, y: a random DAG with sharing.

    Built as a list (no recursion): each line applies an op (of `ops`, by default every
    elementwise row) to earlier names or small constants.
    """
    refs = list(NAMES)
    lines = []
    for k in range(draw(st.integers(1, max_ops))):
        expr = _application(draw, ops, st.one_of(st.sampled_from(refs), st.sampled_from(["2", "0.5", "3"])))
        lines.append(f"t{k} = {expr}")
        refs.append(f"t{k}")
    return "\n".join(lines)


points = st.fixed_dictionaries({n: st.floats(-3, 3, allow_nan=False).filter(lambda v: abs(v) > 1e-3)
                                for n in NAMES})


@st.composite
def rebinding_programs(draw, max_lines: int = 8, ops: tuple = tuple(ELEMENTWISE)):
    """A program whose assignments rebind names, inputs' names included (`a = a*a`,
    `x = x + w`): later lines see the new binding, earlier nodes keep the old one."""
    bound = list(NAMES)
    lines = []
    for _ in range(draw(st.integers(1, max_lines))):
        expr = _application(draw, ops, st.one_of(st.sampled_from(bound), st.sampled_from(["2", "0.5"])))
        target = draw(st.sampled_from(["a", "b", "x", "w"]))
        lines.append(f"{target} = {expr}")
        if target not in bound:
            bound.append(target)
    return "\n".join(lines)
