"""The classic mistakes of a hand-written backward pass, run beside the right one.

Each is a backward pass over the same forward values as a learner writes it wrongly, and
each is wrong only on graphs of a certain shape, which is the lesson:

- `recursive`: a depth-first walk from the output with no topological order, as
  `def backward(v): for each operand c: c.grad += v.grad * local; if c not yet visited:
  backward(c)`. A node fires (sends its gradient on) the first time a contribution reaches
  it, before the others have arrived; those arrive later and go no further. Wrong where a
  non-leaf node is reused (`b = a + a; c = b + b`); a leaf never fires, so `x*x` is safe.
  Run here with an explicit stack in exactly that order (no Python recursion: 100,000
  levels work), each node firing once. A recursion that passes each path's own share down
  (`backward(c, g * local)`, no visited set) gets every number right, with a call per path
  from the output to each node: `visits` counts those calls (never making them) beside the
  topological pass's one per node.
- `assign`: the right order, but `c.grad = v.grad * local` instead of `+=`: a node used
  twice keeps only the last contribution (`x*x`).
- `detach`: a path cut off, as `.detach()`, `.item()` or `.data` in the middle of a formula:
  the edges into the chosen node carry nothing, so neither it nor what lies only below it
  gets a gradient.

Each pass takes its contributions from the right pass's own rules (`sends`): a float's
adjoint times its local partial, a tensor's vector-Jacobian product from the op table
(engine/tensor.py `sends`, which the tensor pass's `backward` adds up), so a wrong pass
differs from the right one in the mistake alone, on numbers and on tensors alike.

(The fourth, gradients never zeroed between training steps, lives in the training loop.)
Everything here is numbers: which node, which edge, what it held; views/mistakes.py words it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from bpcli.engine.sweep import accumulate, reverse
from bpcli.engine.values import is_number

MISTAKES = ("recursive", "assign", "detach", "no-zero-grad")  # no-zero-grad: bp train's


@dataclass
class Mistaken:
    """A wrong backward pass beside the right one, on one scalar result (of numbers or tensors)."""

    name: str
    adjoints: list  # the wrong pass's ∂output/∂node per node (0 where nothing reached; arrays for tensors)
    first: int | None  # the first node, in the backward pass's order, where the two part; None: they agree
    reused: list[int]  # the nodes the mistake can hurt: reused ones (recursive: non-leaf ones), or the cut one
    early: list[tuple[int, object]] = field(default_factory=list)  # recursive: (node, what it held when it fired)
    lost: dict = field(default_factory=dict)  # assign: node -> the contributions `=` overwrote
    cut: list[tuple[int, int]] = field(default_factory=list)  # detach: (parent, slot) edges that carry nothing
    visits: tuple[int, int] | None = None  # recursive: (the nodes a gradient reaches, calls of one per path)


def same(a, b, scale: float) -> bool:
    """Equal up to rounding: the wrong passes add the same terms in another order (arrays:
    entry by entry, nan beside nan counting as the same)."""
    if is_number(a) and is_number(b):
        return a == b or math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12 * scale)
    if a is b:
        return True
    import numpy as np  # deferred: numpy, for tensor results only

    a, b = np.asarray(a), np.asarray(b)
    with np.errstate(invalid="ignore", over="ignore"):  # np.allclose's rule, without its cost
        near = np.abs(a - b) <= 1e-12 * scale + 1e-9 * np.abs(b)
        if near.all() and np.isfinite(b).all():
            return True
        near &= np.isfinite(a) & np.isfinite(b)  # an infinity is near only itself
    return bool((near | (a == b) | (np.isnan(a) & np.isnan(b))).all())


def magnitude(v) -> float:
    """The largest finite |entry| of a number or an array (0 where none is finite)."""
    if is_number(v):
        return abs(v) if math.isfinite(v) else 0.0
    import numpy as np  # deferred: numpy, for tensor results only

    a = np.abs(np.asarray(v, dtype=np.float64))
    a = a[np.isfinite(a)]
    return float(a.max()) if a.size else 0.0


def uses(result) -> list[int]:
    """How many edges that can carry a gradient lead into each node (more than one: reused)."""
    f, count = result.formula, [0] * len(result.formula)
    for v, operands in enumerate(f.args):
        for slot, a in enumerate(operands):
            if result.carries(v, slot, a):
                count[a] += 1
    return count


def visits(result) -> tuple[int, int]:
    """(nodes, calls): how many nodes the backward pass visits (once each, in a topological
    order), and how many calls a recursion passing each path's share down makes, one per path
    from the output to each node (an exact integer, however large: b = a + a; c = b + b makes
    7 for 3)."""
    f, carried = result.formula, result.carries
    paths: list = [0] * len(f)
    paths[f.output] = 1
    nodes = calls = 0
    for i in range(f.output, -1, -1):
        c, paths[i] = paths[i], 0  # sent on: only the frontier's counts are held
        if not c:
            continue
        nodes, calls = nodes + 1, calls + c
        for slot, a in enumerate(f.args[i]):
            if carried(i, slot, a):
                paths[a] += c
    return nodes, calls


def _filled(result, adj: list) -> list:
    """The adjoints nothing reached as zeros of the node's shape (0.0 for a number)."""
    return [result.zero_adjoint(i) if a is None else a for i, a in enumerate(adj)]


def _seeded(result) -> list:
    """The adjoints before a backward pass: the right pass's seed at the output, None elsewhere."""
    adj: list = [None] * len(result.formula)
    adj[result.formula.output] = result.adjoints[result.formula.output]
    return adj


def first_difference(result, adjoints: list) -> int | None:
    """The first node, output first (the order the right pass finishes them), whose adjoint
    differs from the right pass's."""
    f, right, live = result.formula, result.adjoints, result.carrying
    scale = max([1.0] + [magnitude(right[i]) for i in range(len(f)) if live[i]])
    for i in range(len(f) - 1, -1, -1):
        if live[i] and not same(adjoints[i], right[i], scale):
            return i
    return None


def recursive(result) -> Mistaken:
    """The depth-first backward pass without a topological order (see the module's doc)."""
    f, send = result.formula, result.sends
    n = len(f)
    adj = _seeded(result)
    fired = bytearray(n)
    held: dict[int, tuple] = {}  # a fired node: (its gradient when it fired, what that sends its operands)
    order = []  # the nodes in the order they fired

    def fire(v: int) -> None:
        fired[v] = 1
        held[v] = (adj[v], send(v, adj[v]))
        order.append(v)

    fire(f.output)
    stack = [[f.output, 0]]  # frames of backward(v): the node and its next contribution
    while stack:
        frame = stack[-1]
        v, k = frame
        g, out = held[v]
        if k == len(out):
            stack.pop()
            held[v] = (g, ())  # sent: only what it held stays
            continue
        frame[1] = k + 1
        _, c, contribution = out[k]
        accumulate(adj, c, contribution)
        if not fired[c] and f.args[c]:
            fire(c)
            stack.append([c, 0])
    adj = _filled(result, adj)
    counts = uses(result)
    reused = [i for i in range(n) if counts[i] > 1 and f.args[i]]
    # fired before all its contributions arrived: it held less than it ends with
    early = [(v, held[v][0]) for v in order if counts[v] > 1
             and not same(held[v][0], adj[v], max(1.0, magnitude(adj[v])))]
    return Mistaken("recursive", adj, first_difference(result, adj), reused, early=early, visits=visits(result))


def _steps(f) -> list:
    """The right pass's steps: every node with operands, output first (a topological order)."""
    return [(i,) for i in range(len(f) - 1, -1, -1) if f.args[i]]


def assign(result) -> Mistaken:
    """The backward pass in the right order, each contribution assigned (=) instead of added."""
    f, send = result.formula, result.sends
    lost: dict[int, list] = {}

    def step(s, g, adj):
        for _, c, contribution in send(s[0], g):
            if adj[c] is not None:
                lost.setdefault(c, []).append(adj[c])
            adj[c] = contribution  # the mistake: accumulate(adj, c, contribution) adds it

    adj = _filled(result, reverse(_seeded(result), _steps(f), step))
    counts = uses(result)
    reused = [i for i in range(len(f)) if counts[i] > 1]
    return Mistaken("assign", adj, first_difference(result, adj), reused, lost=lost)


def default_cut(result) -> tuple[int, int] | None:
    """The edge `detach` cuts when no node is named: the last use, in the backward pass's
    order, of the first reused node (x*x becomes x * x.detach()); None when no node is reused."""
    f, counts, carried = result.formula, uses(result), result.carries
    for c in range(len(f) - 1, -1, -1):
        if counts[c] > 1:
            last = None
            for v in range(len(f) - 1, c, -1):
                for slot, a in enumerate(f.args[v]):
                    if a == c and carried(v, slot, a):
                        last = (v, slot)
            return last
    return None


def edges_into(f, node: int) -> list[tuple[int, int]]:
    """Every use of a node: the (parent, slot) edges it feeds."""
    return [(v, slot) for v in range(node + 1, len(f)) for slot, a in enumerate(f.args[v]) if a == node]


def detach(result, cut: list[tuple[int, int]]) -> Mistaken:
    """The right backward pass with the edges `cut` carrying nothing."""
    f, send = result.formula, result.sends
    dead = set(cut)

    def step(s, g, adj):
        for slot, c, contribution in send(s[0], g):
            if (s[0], slot) not in dead:  # the mistake: a cut edge's contribution is dropped
                accumulate(adj, c, contribution)

    adj = _filled(result, reverse(_seeded(result), _steps(f), step))
    children = sorted({f.args[v][slot] for v, slot in cut})
    return Mistaken("detach", adj, first_difference(result, adj), children, cut=list(cut))
