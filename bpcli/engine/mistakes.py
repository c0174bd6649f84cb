"""The classic mistakes of a hand-written backward pass, run beside the right one.

Each is a backward pass over the same forward values as a learner writes it wrongly, and
each is wrong only on graphs of a certain shape, which is the lesson:

- `recursive`: a depth-first walk from the output with no topological order, as
  `def backward(v): for each operand c: c.grad += v.grad * local; if c not yet visited:
  backward(c)`. A node fires (sends its gradient on) the first time a contribution reaches
  it, before the others have arrived; those arrive later and go no further. Wrong where a
  non-leaf node is reused (`b = a + a; c = b + b`); a leaf never fires, so `x*x` is safe.
  Run here with an explicit stack in exactly that order (no Python recursion: 100,000
  levels work), each node firing once.
- `assign`: the right order, but `c.grad = v.grad * local` instead of `+=`: a node used
  twice keeps only the last contribution (`x*x`).
- `detach`: a path cut off, as `.detach()`, `.item()` or `.data` in the middle of a formula:
  the edges into the chosen node carry nothing, so neither it nor what lies only below it
  gets a gradient.

(The fourth, gradients never zeroed between training steps, lives in the training loop.)
Everything here is numbers: which node, which edge, what it held; views/mistakes.py words it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from bpcli.engine.graph import incoming

MISTAKES = ("recursive", "assign", "detach", "no-zero-grad")  # no-zero-grad: bp train's


@dataclass
class Mistaken:
    """A wrong backward pass beside the right one, on one scalar result."""

    name: str
    adjoints: list  # the wrong pass's ∂output/∂node per node (0.0 where nothing reached)
    first: int | None  # the first node, in the backward pass's order, where the two part; None: they agree
    reused: list[int]  # the nodes the mistake can hurt: reused ones (recursive: non-leaf ones), or the cut one
    early: list[tuple[int, float]] = field(default_factory=list)  # recursive: (node, what it held when it fired)
    lost: dict = field(default_factory=dict)  # assign: node -> the contributions `=` overwrote
    cut: list[tuple[int, int]] = field(default_factory=list)  # detach: (parent, slot) edges that carry nothing


def same(a: float, b: float, scale: float) -> bool:
    """Equal up to rounding: the wrong passes add the same terms in another order."""
    return a == b or math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12 * scale)


def first_difference(result, adjoints: list) -> int | None:
    """The first node, output first (the order the right pass finishes them), whose adjoint
    differs from the right pass's."""
    f, right = result.formula, result.adjoints
    scale = max([1.0] + [abs(v) for v in right if math.isfinite(v)])
    for i in range(len(f) - 1, -1, -1):
        if f.differentiable[i] and not same(adjoints[i], right[i], scale):
            return i
    return None


def recursive(result) -> Mistaken:
    """The depth-first backward pass without a topological order (see the module's doc)."""
    f, vals = result.formula, result.values
    n, live = len(f), f.differentiable
    adj = [0.0] * n
    adj[f.output] = 1.0
    fired = bytearray(n)
    held: dict[int, tuple] = {}  # a fired node: (its gradient when it fired, its local gradients)
    order = []  # the nodes in the order they fired

    def fire(v: int) -> None:
        fired[v] = 1
        held[v] = (adj[v], f.local_gradients(vals, v, result.m))
        order.append(v)

    fire(f.output)
    stack = [[f.output, 0]]  # frames of backward(v): the node and its next operand slot
    while stack:
        frame = stack[-1]
        v, slot = frame
        operands = f.args[v]
        if slot == len(operands):
            stack.pop()
            continue
        frame[1] = slot + 1
        c = operands[slot]
        if not live[c]:
            continue
        g, local = held[v]
        adj[c] += g * local[slot]
        if not fired[c] and f.args[c]:
            fire(c)
            stack.append([c, 0])
    counts = incoming(f)
    reused = [i for i in range(n) if counts[i] > 1 and f.args[i]]
    # fired before all its contributions arrived: it held less than it ends with
    early = [(v, held[v][0]) for v in order if counts[v] > 1
             and not same(held[v][0], adj[v], max(1.0, abs(adj[v])))]
    return Mistaken("recursive", adj, first_difference(result, adj), reused, early=early)


def assign(result) -> Mistaken:
    """The backward pass in the right order, each contribution assigned (=) instead of added."""
    f, vals = result.formula, result.values
    n, live = len(f), f.differentiable
    adj = [0.0] * n
    adj[f.output] = 1.0
    reached = bytearray(n)
    lost: dict[int, list] = {}
    for v in range(n - 1, -1, -1):
        if not (live[v] and f.args[v]):
            continue
        local = f.local_gradients(vals, v, result.m)
        for slot, c in enumerate(f.args[v]):
            if live[c]:
                if reached[c]:
                    lost.setdefault(c, []).append(adj[c])
                adj[c] = adj[v] * local[slot]
                reached[c] = 1
    counts = incoming(f)
    reused = [i for i in range(n) if counts[i] > 1]
    return Mistaken("assign", adj, first_difference(result, adj), reused, lost=lost)


def default_cut(f) -> tuple[int, int] | None:
    """The edge `detach` cuts when no node is named: the last use, in the backward pass's
    order, of the first reused node (x*x becomes x * x.detach()); None when no node is reused."""
    counts = incoming(f)
    for c in range(len(f) - 1, -1, -1):
        if counts[c] > 1:
            last = None
            for v in range(len(f) - 1, c, -1):
                for slot, a in enumerate(f.args[v]):
                    if a == c:
                        last = (v, slot)
            return last
    return None


def edges_into(f, node: int) -> list[tuple[int, int]]:
    """Every use of a node: the (parent, slot) edges it feeds."""
    return [(v, slot) for v in range(node + 1, len(f)) for slot, a in enumerate(f.args[v]) if a == node]


def detach(result, cut: list[tuple[int, int]]) -> Mistaken:
    """The right backward pass with the edges `cut` carrying nothing."""
    f, vals = result.formula, result.values
    n, live = len(f), f.differentiable
    dead = set(cut)
    adj = [0.0] * n
    adj[f.output] = 1.0
    for v in range(n - 1, -1, -1):
        if not (live[v] and f.args[v]):
            continue
        local = f.local_gradients(vals, v, result.m)
        for slot, c in enumerate(f.args[v]):
            if live[c] and (v, slot) not in dead:
                adj[c] += adj[v] * local[slot]
    children = sorted({f.args[v][slot] for v, slot in cut})
    return Mistaken("detach", adj, first_difference(result, adj), children, cut=list(cut))
