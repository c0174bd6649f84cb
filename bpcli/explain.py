"""The chain rule out loud: every path from the output back to an input, its local
gradients as formulas and numbers, their product, and the sum over paths."""

from __future__ import annotations

from dataclasses import dataclass

from .ops import OPS, partial_display
from .view import ref


@dataclass
class Path:
    edges: list[tuple[int, int, int]]  # (parent, slot, child), from the output down
    factors: list[float]
    product: float


@dataclass
class Explanation:
    name: str
    total_paths: int  # may be astronomically large in a DAG
    paths: list[Path]  # at most max_paths of them
    adjoint: float  # the exact sum, from the backward pass


def path_counts(formula, target: int) -> list[int]:
    """How many paths lead from each node down to `target` (exact integers)."""
    counts = [0] * len(formula)
    counts[target] = 1
    for i in range(target + 1, len(formula)):
        counts[i] = sum(counts[a] for a in formula.args[i])
    return counts


def explain(result, name: str, max_paths: int = 4) -> Explanation:
    f = result.formula
    target = f.inputs[name]
    counts = path_counts(f, target)
    paths: list[Path] = []
    stack = [(f.output, [])]  # depth first, left operands first; no recursion
    while stack and len(paths) < max_paths:
        node, edges = stack.pop()
        if node == target:
            factors = [result.local(p)[slot] for p, slot, _ in edges]
            product = 1.0
            for x in factors:
                product *= x
            paths.append(Path(edges, factors, product))
            continue
        for slot in range(len(f.args[node]) - 1, -1, -1):
            child = f.args[node][slot]
            if counts[child]:
                stack.append((child, edges + [(node, slot, child)]))
    return Explanation(name, counts[f.output], paths, result.gradient[name])


def describe(result, e: Explanation) -> list[str]:
    """Lines of text, a path a line: ∂loss/∂r · ∂r/∂w = 2·r · x = (-4.0) · 2.0 = -8.0."""
    f = result.formula
    out = ref(f, f.output)
    lines = [f"∂{out}/∂{e.name}: {e.total_paths:,} path{'s' if e.total_paths != 1 else ''} from {out} to {e.name}"]
    for p in e.paths:
        symbols = " · ".join(_symbol(f, parent, slot, child) for parent, slot, child in p.edges) or "1"
        formulas = " · ".join(
            _wrap(partial_display(OPS[f.kinds[parent]], slot, [ref(f, a) for a in f.args[parent]]))
            for parent, slot, _ in p.edges) or "1"
        numbers = " · ".join(_num(x) for x in p.factors) or "1"
        lines.append(f"  {symbols} = {formulas} = {numbers} = {p.product!r}")
    if e.total_paths > len(e.paths):
        lines.append(f"  … and {e.total_paths - len(e.paths):,} more paths; their sum is not listed, but the "
                     "adjoint below is exact: the backward pass adds every path at once")
    else:
        shown = sum(p.product for p in e.paths)
        lines.append(f"  sum over the paths: {shown!r}")
    lines.append(f"  ∂{out}/∂{e.name} = {e.adjoint!r} (the backward pass)")
    return lines


def _symbol(f, parent: int, slot: int, child: int) -> str:
    """∂parent/∂child, with the operand slot when the same child fills both (x*x)."""
    mark = "₀₁"[slot] if len(set(f.args[parent])) < len(f.args[parent]) else ""
    return f"∂{ref(f, parent)}/∂{ref(f, child)}{mark}"


def _wrap(text: str) -> str:
    return text if text.replace("·", "").replace("_", "").isalnum() else f"({text})"


def _num(x: float) -> str:
    return f"({x!r})" if x < 0 else repr(x)
