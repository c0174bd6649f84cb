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
