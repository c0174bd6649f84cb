"""Cross-checks of a gradient: SymPy's symbolic derivative and central finite differences.

SymPy only ever sees expressions built from bp's own graph (never user text), and
its work runs against a time budget so a huge formula cannot hang bp.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field

from .graph import CONST, INPUT, NAMED_CONSTANTS
from .ops import OPS

# Tolerances, documented in the README: |a - b| <= ABS + REL * max(|a|, |b|).
SYMPY_REL, SYMPY_ABS = 1e-9, 1e-12
FD_REL, FD_ABS = 1e-5, 1e-6
FD_STEP = 6.06e-6  # about the cube root of float64's epsilon, scaled by max(1, |x|)


@dataclass
class InputCheck:
    """How one gradient component compares with SymPy and finite differences."""

    name: str
    backprop: float
    derivative: str | None = None  # SymPy's derivative, printed
    sympy: float | None = None
    finite_difference: float | None = None
    status: str = "ok"  # ok | convention | mismatch | skipped

    @property
    def ok(self) -> bool:
        return self.status != "mismatch"


@dataclass
class Check:
    inputs: list[InputCheck]
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.inputs)


def close(a: float, b: float, rel: float, abs_: float) -> bool:
    """Equal within tolerance; non-finite values agree only with the same non-finite value."""
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    if math.isinf(a) or math.isinf(b):
        return a == b
    return abs(a - b) <= abs_ + rel * max(abs(a), abs(b))


def finite_differences(formula, point: dict[str, float]) -> dict[str, float]:
    """Central differences of the output with respect to every input."""
    out = {}
    for name in formula.inputs:
        x = point[name]
        h = FD_STEP * max(1.0, abs(x))
        up = formula.evaluate({**point, name: x + h})
        down = formula.evaluate({**point, name: x - h})
        out[name] = (up - down) / (2 * h)
    return out


def to_sympy(formula, sp):
    """The SymPy expression of every node, built along the tape (no recursion).

    A subgraph of constants reaches SymPy as the float bp computed for it: SymPy would
    compute 2^2^2^2^2^2 exactly, a number of 20,000 digits to the power 2.
    """
    exprs: list = [None] * len(formula)
    folded = None
    for i, kind in enumerate(formula.kinds):
        if kind == INPUT:
            exprs[i] = sp.Symbol(formula.names[i], real=True)
        elif kind == CONST:
            exprs[i] = _sympy_constant(sp, formula.names[i], formula.consts[i])
        elif not formula.differentiable[i]:
            if folded is None:
                folded = formula.forward({n: math.nan for n in formula.inputs})
            exprs[i] = _sympy_constant(sp, "", folded[i])
        else:
            exprs[i] = OPS[kind].sympy(sp, *(exprs[a] for a in formula.args[i]))
    return exprs


def _sympy_constant(sp, text: str, value: float):
    if text in NAMED_CONSTANTS:
        return getattr(sp, NAMED_CONSTANTS[text][1])
    if math.isinf(value):
        return sp.oo if value > 0 else -sp.oo
    if math.isnan(value):
        return sp.nan
    if value.is_integer() and abs(value) < 2**53:
        return sp.Integer(int(value))
    return sp.Float(value)


def _to_float(v) -> float:
    """A SymPy number as a float; anything not real (complex, zoo, nan) is nan."""
    try:
        c = complex(v)
    except (TypeError, ValueError):
        return math.nan
    if c.imag != 0:
        return math.nan
    return c.real


def sympy_at(formula, point: dict[str, float]):
    """SymPy, the output's expression, a symbol per input, and the point as substitutions.

    The point is given as 30-digit numbers (each the double's exact value): substituted
    with xreplace, SymPy evaluates as it rebuilds; evalf(subs=…) is a thousand times slower.
    """
    import sympy as sp

    expr = to_sympy(formula, sp)[formula.output]
    symbols = {name: sp.Symbol(name, real=True) for name in formula.inputs}
    subs = {symbols[n]: sp.Float(v, 30) for n, v in point.items() if n in symbols}
    return sp, expr, symbols, subs


def sympy_derivatives(formula, point: dict[str, float]) -> dict[str, tuple[str, float]]:
    """{input: (derivative as text, its value at the point)} from SymPy."""
    sp, expr, symbols, subs = sympy_at(formula, point)
    out = {}
    for name, sym in symbols.items():
        d = sp.diff(expr, sym)
        # SymPy leaves some derivatives undone (sign(x/w): it cannot tell x/w is real):
        # then it has no number to offer, and finite differences decide alone.
        out[name] = (str(d), None if d.has(sp.Derivative) else value_at(d, subs))
    return out


def value_at(d, subs) -> float:
    """A SymPy expression's value at the substituted point, nan where it has none."""
    try:
        return _to_float(d.xreplace(subs).evalf(30))
    except (ArithmeticError, ValueError, TypeError):  # e.g. 1/(2*sqrt(x)) at x = 0
        return math.nan


def with_budget(fn, seconds: float):
    """Run fn in a daemon thread; (True, result) or (False, reason) if it ran out of time or failed."""
    box: dict = {}

    def run():
        try:
            box["result"] = fn()
        except RecursionError:
            box["error"] = "the formula is too deep for SymPy"
        except Exception as e:  # SymPy's own failures must not take bp down
            box["error"] = f"SymPy failed: {type(e).__name__}: {e}"

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        return False, f"SymPy did not finish within {seconds:g} s"
    if "error" in box:
        return False, box["error"]
    return True, box["result"]


def check(formula, result, point: dict[str, float], budget: float = 5.0) -> Check:
    """Compare the backprop gradient with SymPy and with finite differences."""
    import sympy  # noqa: F401 - imported here, in the main thread, so the budget is for the maths

    notes: list[str] = []
    at_kink = bool(result.hits)
    fd = finite_differences(formula, point)
    done, symbolic = with_budget(lambda: sympy_derivatives(formula, point), budget)
    if not done:
        notes.append(f"SymPy check skipped: {symbolic}; finite differences only")
        symbolic = {}
    checks = []
    for name, g in result.gradient.items():
        c = InputCheck(name, g, finite_difference=fd[name])
        fd_ok = close(g, fd[name], FD_REL, FD_ABS)
        if name in symbolic:
            c.derivative, c.sympy = symbolic[name]
        # SymPy's formula can be undefined where the derivative is not: it writes d(a^w)/dx
        # as w·a^w·a'/a, nan at a = 0. A nan from SymPy against a number from bp is no
        # verdict; finite differences decide, as when SymPy leaves a derivative undone.
        sympy_undefined = c.sympy is not None and math.isnan(c.sympy) and not math.isnan(g)
        if c.sympy is not None and not sympy_undefined:
            agrees = close(g, c.sympy, SYMPY_REL, SYMPY_ABS)
        else:
            agrees = fd_ok
            if name in symbolic:
                why = "is undefined (nan) at this point" if sympy_undefined else "was left undone"
                notes.append(f"∂/∂{name}: SymPy's derivative {why}; finite differences decide")
        if not agrees:
            c.status = "convention" if at_kink else "mismatch"
        elif not fd_ok and math.isfinite(fd[name]):
            notes.append(f"∂/∂{name}: the finite difference {fd[name]!r} is off "
                         "(rounding or curvature); SymPy agrees with backprop")
        elif not fd_ok:
            notes.append(f"∂/∂{name}: no finite difference: the formula is not finite "
                         "on both sides of the point")
        checks.append(c)
    if at_kink and any(c.status == "convention" for c in checks):
        notes.append("where bp and SymPy differ, bp follows PyTorch's convention at a kink (see notes)")
    return Check(checks, notes)


def checked_grad(formula, point: dict, check_it: bool = True, budget: float = 5.0,
                 values_checked: bool = False):
    """Forward, backward and (if asked) the cross-check at one point, as `bp grad` runs
    them: (result, check or None); `values_checked`: the caller has checked the point."""
    result = formula.grad(point, checked=values_checked)
    if not check_it:
        return result, None
    if hasattr(result, "shapes"):  # tensors: SymPy entry by entry, sampled finite differences
        from .tensorcheck import check as check_tensors

        return result, check_tensors(formula, result, point, budget=budget)
    return result, check(formula, result, point, budget=budget)
