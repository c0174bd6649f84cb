"""The chain rule out loud: every path from the output back to an input, its local
gradients as formulas and numbers, their product, and the sum over paths."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from bpcli.engine.graph import CONST
from bpcli.engine.numtext import count_text, number_text
from bpcli.engine.ops import OPS, partial_display
from bpcli.errors import setting
from bpcli.views.labels import ref, rule_name, vjp_rule
from bpcli.views.numbers import show_inline

STEPS = 1_000_000  # steps of path listing, over every input: a short wait at most
SHOWN_FACTORS = 12  # factors a path shows in text; a longer path shows its two ends
SHOWN_LOCALS = 200  # local gradients --explain fills in (--json); a larger graph lists the first of its paths'
LISTED_LOCALS = 2 * SHOWN_FACTORS  # of those, the ones the text lists


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
    complete: bool = True  # False: the step budget ran out before max_paths were listed


class Budget:
    """Steps of graph walking left for listing paths, shared by every input explained."""

    def __init__(self, steps: int = STEPS):
        self.left = steps

    def spend(self, steps: int = 1) -> bool:
        self.left -= steps
        return self.left >= 0


def path_counts(formula) -> list[int]:
    """How many paths lead from the output down to each node (exact integers, one sweep)."""
    counts = [0] * len(formula)
    counts[formula.output] = 1
    for i in range(formula.output, -1, -1):
        c = counts[i]
        if c:
            for a in formula.args[i]:
                counts[a] += c
    return counts


def _reaching(f, target: int, budget: Budget) -> bytearray | None:
    """Which nodes have a path down to `target` (None if the budget ran out finding out)."""
    reach = bytearray(len(f))
    reach[target] = 1
    for i in range(target + 1, len(f)):
        if not budget.spend(len(f.args[i]) + 1):
            return None
        for a in f.args[i]:
            if reach[a]:
                reach[i] = 1
                break
    return reach


def explain(result, name: str, max_paths: int = 4, budget: Budget | None = None,
            counts: list[int] | None = None) -> Explanation:
    """The first `max_paths` paths from the output to input `name` (depth first, left operands
    first), within the budget; a path is a linked list while it is searched (no copies)."""
    f = result.formula
    budget = budget or Budget()
    target = f.inputs[name]
    total = (counts or path_counts(f))[target]
    if name in result.labels():  # a class label: no gradient flows to it
        total = 0
    reach = _reaching(f, target, budget) if total else None
    paths: list[Path] = []
    stack = [(f.output, None)] if reach is not None else []
    while stack and len(paths) < max_paths:
        node, link = stack.pop()
        if not budget.spend():
            break
        if node == target:
            paths.append(_path(result, link, budget))
            continue
        for slot in range(len(f.args[node]) - 1, -1, -1):
            child = f.args[node][slot]
            if reach[child]:
                stack.append((child, ((node, slot, child), link)))
    complete = len(paths) == min(max_paths, total)
    return Explanation(name, total, paths, result.gradient.get(name, 0.0), complete)  # a label: none


def _path(result, link, budget: Budget) -> Path:
    edges = []
    while link is not None:
        edges.append(link[0])
        link = link[1]
    edges.reverse()
    budget.spend(len(edges))
    if result.is_tensor:
        return _tensor_path(result, edges)
    factors = [result.local(p)[slot] for p, slot, _ in edges]
    product = 1.0
    for x in factors:
        product *= x
    return Path(edges, factors, product)


def _tensor_path(result, edges: list) -> Path:
    """A path of a tensor formula: a gradient of 1 at the output pulled back edge by edge (each
    edge's vector-Jacobian product); `factors` holds what reaches each edge's operand, and the
    last of them is the path's share of the input's gradient."""
    g = result.m.np.ones(result.shapes[result.formula.output], dtype=result.m.dtype)
    factors = []
    for parent, slot, _ in edges:
        g = result.pull(parent, slot, g)
        factors.append(g)
    return Path(edges, factors, g)


def describe(result, e: Explanation) -> list[str]:
    """Lines of text, a path a line: ∂loss/∂r · ∂r/∂w = 2·r · x = (-4.0) · 2.0 = -8.0."""
    f = result.formula
    out = ref(f, f.output)
    lines = [f"∂{out}/∂{e.name}: {count_text(e.total_paths)} path{'s' if e.total_paths != 1 else ''} "
             f"from {out} to {e.name}"]
    for p in e.paths:
        lines += _tensor_path_text(result, p) if result.is_tensor else ["  " + _path_text(f, p)]
    if e.total_paths > len(e.paths):
        more = f"{count_text(e.total_paths - len(e.paths))} more paths"
        if not e.complete:
            more += f" (the listing stopped at its step budget: {setting('explain_steps')} raises it)"
        lines.append(f"  … and {more}; their sum is not listed, but the "
                     "adjoint below is exact: the backward pass adds every path at once")
    else:
        shown = sum(p.product for p in e.paths)
        lines.append(f"  sum over the paths: {_shown(shown)}")
    lines.append(f"  ∂{out}/∂{e.name} = {_shown(e.adjoint)} (the backward pass)")
    return lines


class Local(NamedTuple):  # a NamedTuple, not a dataclass: cheaper to define, at every start-up
    """One local gradient with the numbers filled in, as Mazur writes them:
    ∂net_o1/∂w5 = out_h1 = 0.593269992."""

    parent: int
    slot: int
    child: int
    rule: str  # the rule's name (product, power, chain, …)
    formula: str  # ∂parent/∂child in the operands' names: x
    filled: str  # the same with each operand's value put in: 2.0
    value: float


def locals_on_paths(result, explanations: list, most: int = SHOWN_LOCALS) -> tuple[list[Local], int]:
    """The local gradient of each edge on the paths listed (output first, each edge once),
    numbers filled in, at most `most`; and how many more edges those paths hold. Numbers only:
    a tensor edge's rule is its vector-Jacobian product in words."""
    if result.is_tensor:
        return [], 0
    f, seen, out, more = result.formula, set(), [], 0
    for e in explanations:
        for path in e.paths:
            for parent, slot, child in path.edges:
                if (parent, slot) in seen:
                    continue
                seen.add((parent, slot))
                if len(out) == most:
                    more += 1
                    continue
                op = OPS[f.kinds[parent]]
                names = [ref(f, a) for a in f.args[parent]]
                numbers = [f.names[a] if f.kinds[a] == CONST else _num(result.values[a]) for a in f.args[parent]]
                out.append(Local(parent, slot, child, rule_name(f, parent, slot),
                                 partial_display(op, slot, names), partial_display(op, slot, numbers),
                                 result.local(parent)[slot]))
    return out, more


def local_text(f, local: Local) -> str:
    """∂loss/∂r = 2·r = 2·(-2.0) = -4.0 (power rule): the steps that say nothing new left out."""
    steps = [_symbol(f, local.parent, local.slot, local.child), local.formula]
    try:
        said = float(local.formula) == local.value  # a constant partial: 1, -1
    except ValueError:
        said = False
    for text in () if said else (local.filled, _shown(local.value)):
        if text not in steps and text.strip("()") not in steps:
            steps.append(text)
    return f"{' = '.join(steps)}   ({local.rule} rule)"


def _shown(x) -> str:
    """A number in full (repr), an array on one line as the tables summarise it."""
    if isinstance(x, float):
        return repr(x)
    return show_inline(x)


def _path_text(f, p: Path) -> str:
    """One path; a long one shows its first and last factors and how many lie between."""
    edges, factors = p.edges, p.factors
    if len(edges) > SHOWN_FACTORS:
        half = SHOWN_FACTORS // 2
        gap = f"… {len(edges) - 2 * half:,} more factors …"
        keep = list(range(half)) + [None] + list(range(len(edges) - half, len(edges)))
    else:
        gap, keep = "", list(range(len(edges)))

    def join(piece) -> str:
        return " · ".join(gap if k is None else piece(k) for k in keep) or "1"

    symbols = join(lambda k: _symbol(f, *edges[k]))
    formulas = join(lambda k: _wrap(partial_display(OPS[f.kinds[edges[k][0]]], edges[k][1],
                                                    [ref(f, a) for a in f.args[edges[k][0]]])))
    numbers = join(lambda k: _num(factors[k]))
    return f"{symbols} = {formulas} = {numbers} = {p.product!r}"


def _tensor_path_text(result, p: Path) -> list[str]:
    """A tensor path: the nodes it goes through, then a line per edge, its vector-Jacobian
    rule in words and what it sends on (a long path shows its two ends)."""
    f, edges = result.formula, p.edges
    nodes = [ref(f, f.output)] + [ref(f, child) for _, _, child in edges]
    lines = ["  " + " → ".join(nodes if len(nodes) <= SHOWN_FACTORS + 1 else
                                nodes[:SHOWN_FACTORS // 2] + ["…"] + nodes[-SHOWN_FACTORS // 2:])]
    half = SHOWN_FACTORS // 2
    for k, (parent, slot, _) in enumerate(edges):
        if len(edges) > SHOWN_FACTORS and half <= k < len(edges) - half:
            if k == half:
                lines.append(f"    … {len(edges) - 2 * half:,} more edges …")
            continue
        rule = vjp_rule(f, parent, slot, result.broadcast_axes(parent, slot))
        lines.append(f"    {rule} = {_shown(p.factors[k])}")
    return lines


def _symbol(f, parent: int, slot: int, child: int) -> str:
    """∂parent/∂child, with the operand slot when the same child fills both (x*x)."""
    mark = "₀₁"[slot] if len(set(f.args[parent])) < len(f.args[parent]) else ""
    return f"∂{ref(f, parent)}/∂{ref(f, child)}{mark}"


def _wrap(text: str) -> str:
    return text if text.replace("·", "").replace("_", "").isalnum() else f"({text})"


def _num(x: float) -> str:
    """A factor of a product: negative ones in parentheses."""
    text = number_text(x, whole=False)
    return f"({text})" if x < 0 else text
