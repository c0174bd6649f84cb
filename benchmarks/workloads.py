"""Workloads shared by the benchmarks: deterministic random DAG programs."""

from __future__ import annotations

import random

UNARY = ["tanh", "sigmoid", "sin"]
BINARY = ["+", "-", "*"]


def random_dag(ops: int, inputs: int = 10, seed: int = 0) -> tuple[str, dict[str, float]]:
    """A bp program of `ops` scalar operations with fan-out, and a point to evaluate it at.

    Each line applies one op to the previous result and, for binary ops, to a random
    earlier one (fan-out), so every operation is live and the graph is as deep as it is long.
    """
    rng = random.Random(seed)
    names = [f"x{i}" for i in range(inputs)]
    lines = []
    for i in range(ops - 1):
        a = names[-1]
        if rng.random() < 0.5:
            expr = f"{rng.choice(UNARY)}({a})"
        else:
            b = rng.choice(names)
            expr = f"{a} {rng.choice(BINARY)} {b}"
        lines.append(f"t{i} = {expr}")
        names.append(f"t{i}")
    lines.append(f"out = {names[-1]} + {names[-2]}")
    point = {f"x{i}": rng.uniform(-1, 1) for i in range(inputs)}
    return "\n".join(lines) + "\n", point


def spec(ops: int, inputs: int = 10, seed: int = 0) -> list[tuple[str, int, int]]:
    """The same DAG as (op, a, b) triples over node indices, for peers without a parser."""
    rng = random.Random(seed)
    count = inputs
    steps = []
    for _ in range(ops - 1):
        a = count - 1
        if rng.random() < 0.5:
            steps.append((rng.choice(UNARY), a, -1))
        else:
            b = rng.randrange(count)
            steps.append((rng.choice(BINARY), a, b))
        count += 1
    steps.append(("+", count - 1, count - 2))
    return steps


def compact_dag(ops: int, inputs: int = 10, seed: int = 0) -> tuple[str, dict[str, float]]:
    """The same DAG as `spec`, written as people write formulas: a node used once is written
    inline where it is used; only nodes with fan-out get a name (`t12=…`)."""
    steps = spec(ops, inputs, seed)
    last = inputs + len(steps) - 1
    uses = [0] * (last + 1)
    for _, a, b in steps:
        uses[a] += 1
        if b >= 0:
            uses[b] += 1
    pending: dict[int, tuple[str, int]] = {}  # node -> (text, precedence) awaiting its one use

    def name(i: int) -> str:
        return f"x{i}" if i < inputs else f"t{i - inputs}"

    def operand(i: int) -> tuple[str, int]:
        return pending.pop(i) if i in pending else (name(i), 9)

    lines = []
    for k, (op, a, b) in enumerate(steps):
        i = inputs + k
        if b < 0:
            text, prec = f"{op}({operand(a)[0]})", 9
        else:
            (ta, pa), (tb, pb) = operand(a), operand(b)
            prec = 1 if op in "+-" else 2
            ta = ta if pa >= prec else f"({ta})"
            tb = tb if pb > prec else f"({tb})"
            text = f"{ta}{op}{tb}"
        if uses[i] == 1 and i != last:
            pending[i] = (text, prec)
        else:
            lines.append(f"{name(i)}={text}")
    _, point = random_dag(ops, inputs, seed)  # the same point as the long form's
    return "\n".join(lines) + "\n", point
