"""Derivatives as formulas: reverse mode run on the graph itself, building new nodes.

Each edge's local partial comes from the op table's derivative in bp syntax, copied into
the graph with its operands; adjoints are sums of products of those nodes. The result is
a bp formula per input, which bp can evaluate, print, and differentiate again.
"""

from __future__ import annotations

import math
from functools import lru_cache

from .graph import GraphBuilder
from .ops import OPS


@lru_cache(maxsize=None)
def _template(op_name: str, slot: int):
    from .parser import parse

    return parse(OPS[op_name].derivative[slot])


def derivatives(formula, wrt: list[str] | None = None) -> dict:
    """{input: Formula of ∂output/∂input}, for `wrt` (default: every input)."""
    wrt = list(formula.inputs) if wrt is None else wrt
    wanted = formula._depends_on(set(wrt))
    g = GraphBuilder()
    ids = g.insert(formula, {})
    one = g.const(1.0)
    adj: dict[int, int] = {formula.output: one}
    for i in range(len(formula) - 1, -1, -1):
        kind = formula.kinds[i]
        if i not in adj or kind not in OPS:
            continue
        args = formula.args[i]
        env = dict(zip("abc", (ids[a] for a in args)))
        for slot, a in enumerate(args):
            if not wanted[a]:
                continue
            local = g.insert(_template(kind, slot), env)[-1]
            term = local if adj[i] == one else adj[i] if local == one else g.apply("mul", (adj[i], local))
            adj[a] = term if a not in adj else g.apply("add", (adj[a], term))
    out = {}
    for name in wrt:
        node = adj.get(formula.inputs[name])
        if node is None:
            node = g.const(0.0)
        out[name] = g.freeze(node, f"d({formula.text.strip()})/d{name}")
    return out


def hessian(formula, point: dict[str, float]) -> dict[str, dict[str, float]]:
    """Second derivatives at a point: reverse mode over each differentiated graph."""
    rows = {}
    for name, d in derivatives(formula).items():
        local = {n: v for n, v in point.items() if n in d.inputs}
        grad = d.grad(local).gradient if d.inputs else {}
        rows[name] = {col: float(grad.get(col, 0.0)) for col in formula.inputs}
    return rows


def sympy_hessian(formula, point: dict[str, float]) -> dict[str, dict[str, float]]:
    """The same matrix from SymPy, for the cross-check."""
    from .verify import sympy_at, value_at

    sp, expr, symbols, subs = sympy_at(formula, point)
    return {r: {c: value_at(sp.diff(expr, symbols[r], symbols[c]), subs) for c in symbols} for r in symbols}


def checked_hessian(formula, point: dict[str, float], budget: float | None = 5.0):
    """bp's Hessian, and whether SymPy agrees: True, False, or None when not checked
    (budget None) or when SymPy ran out of its budget."""
    from .verify import SYMPY_ABS, SYMPY_REL, with_budget, close

    ours = hessian(formula, point)
    if budget is None:
        return ours, None
    done, theirs = with_budget(lambda: sympy_hessian(formula, point), budget)
    if not done:
        return ours, None
    # A nan from SymPy beside a number from bp is no verdict (SymPy's x^y·log(x)² is nan at
    # x = 0, where bp's convention gives the limit 0), as in the gradient's check.
    return ours, all(close(ours[r][c], theirs[r][c], SYMPY_REL, SYMPY_ABS)
                     or (math.isnan(theirs[r][c]) and not math.isnan(ours[r][c])) for r in ours for c in ours[r])


def pretty(formula, simplify: bool = True, budget: float = 5.0):
    """The SymPy expression of a derivative formula, simplified within a time budget."""
    import sympy as sp

    from .verify import with_budget, to_sympy

    expr = to_sympy(formula, sp)[formula.output]
    if simplify:
        done, simpler = with_budget(lambda: sp.simplify(expr), budget)
        if done:
            expr = simpler
    return expr


def to_bp_syntax(expr) -> str:
    """A SymPy expression in bp's syntax (Abs → abs, Heaviside → step, E → e, …)."""
    from sympy.printing.str import StrPrinter

    class BpPrinter(StrPrinter):
        def _print_Abs(self, e):
            return f"abs({self._print(e.args[0])})"

        def _print_Heaviside(self, e):
            return f"step({self._print(e.args[0])})"

        def _print_sign(self, e):
            return f"sign({self._print(e.args[0])})"

        def _print_Exp1(self, e):
            return "e"

        def _print_Pi(self, e):
            return "pi"

        def _nested(self, name, args):
            text = self._print(args[-1])
            for a in reversed(args[:-1]):
                text = f"{name}({self._print(a)}, {text})"
            return text

        def _print_Max(self, e):
            return self._nested("max", e.args)

        def _print_Min(self, e):
            return self._nested("min", e.args)

    return BpPrinter({"full_prec": False}).doprint(expr)


def formula_text(formula, simplify: bool = True, budget: float = 5.0) -> str:
    """A derivative formula as bp source: SymPy's tidier form when bp can parse it back
    (simplify may bring in cosh or Piecewise, which bp does not have), else bp's own."""
    from .errors import BPError
    from .parser import parse
    from .printer import to_text

    if simplify:
        for candidate in (pretty(formula, True, budget), pretty(formula, False)):
            text = to_bp_syntax(candidate)
            try:
                parse(text)
            except BPError:
                continue
            return text
    return to_text(formula).strip().replace("\n", "; ")
