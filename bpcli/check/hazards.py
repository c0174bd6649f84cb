"""Numerical hazards at a point: a node whose naive form overflows, underflows or cancels
where a stable function gives the right number, with that rewrite.

Run after the passes on one point (floats). Each finding is data: (kind, node, message,
suggestion); view.py words it. A rewrite is offered only where its pattern matches the
graph and the numbers show the hazard, so a healthy log(1 + x) at x = 3 says nothing.
"""

from __future__ import annotations

import math
from typing import NamedTuple

from bpcli.engine.graph import CONST, INPUT
from bpcli.engine.ops import OPS
from bpcli.language.printer import ATOM, apply

HALF_DIGITS = 2.0**-26  # a term below this beside 1 keeps less than half of its digits
TINY = 2.2250738585072014e-308  # the smallest normal float64
# Ops whose exact value is never 0 for a finite operand: a 0 is an underflow.
NEVER_ZERO = ("exp", "exp2", "sigmoid", "erfc", "softplus")


class Hazard(NamedTuple):
    kind: str  # "hazard": a stable rewrite exists; "underflow": a value lost to 0
    node: int
    message: str
    suggestion: str | None


def find(formula, vals: list, shapes: list | None = None) -> list[Hazard]:
    """Every hazard at this point, in node order (`shapes`: each node's per-example shape,
    for a tensor pass)."""
    if not all(isinstance(v, float) for v in vals):
        return _tensor_hazards(formula, vals, shapes) if shapes is not None else []
    g = _Graph(formula, vals)
    out = []
    for i, kind in enumerate(formula.kinds):
        rule = _RULES.get(kind)
        found = rule(g, i) if rule else None
        if found:
            out.append(Hazard("hazard", i, *found))
        elif kind in NEVER_ZERO and vals[i] == 0 and math.isfinite(vals[formula.args[i][0]]):
            out.append(Hazard("underflow", i, "underflows to 0: its exact value is smaller than float64's "
                              "smallest number (5e-324)", None))
    return out


class _Graph:
    """The formula and its values, with the questions the rules ask."""

    def __init__(self, formula, vals, shapes=None):
        self.f, self.vals, self.shapes = formula, vals, shapes
        self._text: dict[int, tuple[str, int]] = {}

    def op(self, i: int, name: str) -> bool:
        return self.f.kinds[i] == name

    def args(self, i: int) -> tuple:
        return self.f.args[i]

    def one(self, i: int) -> bool:
        return self.f.kinds[i] == CONST and self.f.consts[i] == 1.0

    def one_plus(self, i: int):
        """The other operand of 1 + t (either order), or None."""
        if not self.op(i, "add"):
            return None
        a, b = self.args(i)
        return b if self.one(a) else a if self.one(b) else None

    def square_of(self, i: int):
        """t where node i is t^2, t*t or square(t); else None."""
        k, args = self.f.kinds[i], self.args(i)
        if k == "square" or (k == "mul" and args[0] == args[1]):
            return args[0]
        if k == "pow" and self.f.kinds[args[1]] == CONST and self.f.consts[args[1]] == 2.0:
            return args[0]
        return None

    def text(self, i: int, wrap: bool = False) -> str:
        """bp syntax for node i's expression (its name where it has one), built along the tape."""
        if i not in self._text:
            self._build(i)
        t, prec = self._text[i]
        return f"({t})" if wrap and prec < ATOM else t

    def _build(self, top: int) -> None:
        f = self.f
        need = {top}
        for j in range(top, -1, -1):  # the subgraph, without recursion
            if j in need and j not in self._text and not f.labels.get(j) and f.kinds[j] not in (INPUT, CONST):
                need.update(f.args[j])
        for j in sorted(need):
            if j in self._text:
                continue
            kind = f.kinds[j]
            if kind in (INPUT, CONST) or f.labels.get(j):
                name = (f.labels.get(j) or [None])[-1] or f.names[j]
                self._text[j] = (name, 3 if name.startswith("-") else ATOM)
            else:
                self._text[j] = apply(OPS[kind], [self._text[a] for a in f.args[j]])


def _log_rule(g: _Graph, i: int):
    (a,) = g.args(i)
    v = g.vals
    t = g.one_plus(a)
    if t is not None and g.op(t, "exp"):
        (x,) = g.args(t)
        e = f"exp({g.text(x)})"
        if v[t] == math.inf:
            return f"log(1 + {e}) overflows: {e} is inf", f"softplus({g.text(x)})"
        if 0 < v[t] < HALF_DIGITS:
            return (f"log(1 + {e}) loses {e} = {v[t]:.3g} beside 1", f"softplus({g.text(x)})")
        return None
    if t is not None and v[t] != 0 and abs(v[t]) < HALF_DIGITS:
        return (f"log(1 + {g.text(t, True)}) loses most digits of {g.text(t, True)} = {v[t]:.3g} beside 1",
                f"log1p({g.text(t)})")
    if g.op(a, "sigmoid") and v[a] < TINY:
        (x,) = g.args(a)
        return (f"log(sigmoid({g.text(x)})): sigmoid({g.text(x)}) = {v[a]:.3g} has underflowed",
                f"-softplus(-{g.text(x, True)})")
    return None


def _sub_rule(g: _Graph, i: int):
    a, b = g.args(i)
    v = g.vals
    lost = v[i] == 0 or abs(v[i]) < HALF_DIGITS
    if g.op(a, "exp") and g.one(b):
        (x,) = g.args(a)
        if v[x] != 0 and lost and math.isfinite(v[x]):
            return (f"exp({g.text(x)}) - 1 cancels: most digits of {g.text(x, True)} = {v[x]:.3g} are lost",
                    f"expm1({g.text(x)})")
    if g.one(a) and g.op(b, "cos"):
        (x,) = g.args(b)
        if v[x] != 0 and lost and math.isfinite(v[x]):
            return (f"1 - cos({g.text(x)}) cancels near 0 ({g.text(x, True)} = {v[x]:.3g})",
                    f"2*sin({g.text(x, True)}/2)^2")
    return None


def _div_rule(g: _Graph, i: int):
    a, b = g.args(i)
    if g.op(a, "exp") and g.one_plus(b) == a and g.vals[a] == math.inf:
        (x,) = g.args(a)
        e = f"exp({g.text(x)})"
        return f"{e}/(1 + {e}) is inf/inf: {e} overflows", f"sigmoid({g.text(x)})"
    return None


def _sqrt_rule(g: _Graph, i: int):
    (a,) = g.args(i)
    if not g.op(a, "add"):
        return None
    squares = [g.square_of(s) for s in g.args(a)]
    if None in squares:
        return None
    v = g.vals
    bad = [s for s, t in zip(g.args(a), squares)
           if math.isfinite(v[t]) and (math.isinf(v[s]) or (v[s] < TINY and v[t] != 0))]
    if not bad:
        return None
    what = "overflows" if any(math.isinf(v[s]) for s in bad) else "underflows"
    x, y = squares
    return f"sqrt(x^2 + y^2): a square {what}", f"hypot({g.text(x)}, {g.text(y)})"


_RULES = {"log": _log_rule, "sub": _sub_rule, "div": _div_rule, "sqrt": _sqrt_rule}


# -- tensors: the same questions of whole arrays (any entry, any example of a batch) ---------
def _tensor_hazards(formula, vals: list, shapes: list) -> list[Hazard]:
    import numpy as np

    g = _Graph(formula, vals, shapes)
    out = []
    with np.errstate(all="ignore"):
        for i, kind in enumerate(formula.kinds):
            rule = _TENSOR_RULES.get(kind)
            found = rule(g, i, np) if rule else None
            if found:
                out.append(Hazard("hazard", i, *found))
    return out


def _over_the_last_axis(g: _Graph, s: int) -> bool:
    """Node s sums along an example's last axis: what logsumexp and softmax reduce over."""
    rank = len(g.shapes[g.args(s)[0]])
    axis = g.f.params.get(s, ())
    return (rank == 1 and axis in ((), (0,), (-1,))) or (rank >= 1 and axis in ((-1,), (rank - 1,)))


def _exp_of_finite(g: _Graph, e: int, np):
    """(v, where exp(v) overflows, where it underflows to 0) for node e = exp(v), v finite."""
    (v,) = g.args(e)
    finite = np.isfinite(g.vals[v])
    return v, np.isinf(g.vals[e]) & finite, (g.vals[e] == 0) & finite


def _tensor_log_rule(g: _Graph, i: int, np):
    (a,) = g.args(i)
    if g.op(a, "softmax"):
        (v,) = g.args(a)
        if np.any((g.vals[a] == 0) & np.isfinite(g.vals[v])):
            return ("log(softmax(v)): an entry of softmax(v) has underflowed to 0, so its log is -inf",
                    f"log_softmax({g.text(v)})")
        return None
    if not (g.op(a, "sum") and g.op(g.args(a)[0], "exp") and _over_the_last_axis(g, a)):
        return None
    v, over, under = _exp_of_finite(g, g.args(a)[0], np)
    if np.any(over):
        return (f"log(sum(exp({g.text(v)}))) overflows: exp({g.text(v)}) has entries that are inf",
                f"logsumexp({g.text(v)})")
    if np.any(g.vals[a] == 0) and np.any(under):
        return ("log(sum(exp(v))) is -inf: every exp(v) of a sum underflows to 0",
                f"logsumexp({g.text(v)})")
    return None


def _tensor_div_rule(g: _Graph, i: int, np):
    a, s = g.args(i)
    if not (g.op(a, "exp") and g.op(s, "sum") and g.args(s)[0] == a and len(g.shapes[a]) == 1
            and _over_the_last_axis(g, s)):
        return None
    v, over, under = _exp_of_finite(g, a, np)
    if np.any(over):
        return "exp(v)/sum(exp(v)) is inf/inf: exp(v) overflows", f"softmax({g.text(v)})"
    if np.any(g.vals[s] == 0) and np.any(under):
        return "exp(v)/sum(exp(v)) is 0/0: every exp(v) underflows", f"softmax({g.text(v)})"
    return None


_TENSOR_RULES = {"log": _tensor_log_rule, "div": _tensor_div_rule}
