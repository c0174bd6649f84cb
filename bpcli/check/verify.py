"""Cross-checks of a gradient: SymPy's symbolic derivative and central finite differences.

SymPy works in a child process with a deadline (bpcli.sympy_bridge). Finite differences
cost two forward passes per input: past a budget of work they sample the inputs (seeded,
said in a note), and their tolerance grows with the rounding the forward pass accumulates.
"""

from __future__ import annotations

import math
import random

from bpcli.check.verdicts import (
    EPS,
    FD_ABS,
    FD_REL,
    FD_STEP,
    FD_WORK,
    SYMPY_ABS,
    SYMPY_REL,
    Check,
    InputCheck,
    Steps,
)
from bpcli.engine.numeric import close

__all__ = ["EPS", "FD_ABS", "FD_REL", "FD_STEP", "FD_WORK", "SYMPY_ABS", "SYMPY_REL", "Check", "InputCheck",
           "Steps", "close", "check", "checked_grad", "finite_differences", "central_difference"]

def central_difference(formula, point: dict[str, float], name: str, scale: float = 1.0) -> float:
    """(f(x + h) - f(x - h)) / 2h for one input, h = FD_STEP·max(1, |x|)·scale."""
    x = point[name]
    h = FD_STEP * max(1.0, abs(x)) * scale
    return (formula.evaluate({**point, name: x + h}) - formula.evaluate({**point, name: x - h})) / (2 * h)


def finite_differences(formula, point: dict[str, float], names=None) -> dict[str, float]:
    """Central differences of the output with respect to every input (or those named)."""
    return {name: central_difference(formula, point, name)
            for name in (formula.inputs if names is None else names)}


def sample_inputs(formula, seed: int = 0) -> list[str]:
    """The inputs finite differences can afford: all, or a seeded sample in input order."""
    names = list(formula.inputs)
    affordable = max(1, FD_WORK // (2 * max(1, len(formula))))
    if len(names) <= affordable:
        return names
    picked = set(random.Random(seed).sample(range(len(names)), affordable))
    return [n for k, n in enumerate(names) if k in picked]


def rounding(result) -> float:
    """First-order bound on the rounding in the output: eps · Σ |∂out/∂node · node|, over
    the terms that are numbers: a node of value 0 with an infinite adjoint (x at 0 in x^0.3)
    rounds nothing, where 0·inf = nan would make every tolerance nan and fail a right gradient."""
    total = 0.0
    for v, a in zip(result.values, result.adjoints):
        term = abs(v * a)
        if term == term:
            total += term
    return EPS * total


def sympy_derivatives(formula, point: dict[str, float]) -> dict[str, tuple[str, float | None]]:
    """{input: (derivative in bp syntax, its value at the point)} from SymPy (in this process)."""
    from bpcli.check import sympy_bridge as bridge  # deferred: the SymPy bridge, off --no-check's start-up

    sp, expr, symbols, subs = bridge.at_point(formula, point)
    out = {}
    for name, sym in symbols.items():
        d = sp.diff(expr, sym)
        # SymPy leaves some derivatives undone (sign(x/w): it cannot tell x/w is real):
        # then it has no number to offer, and finite differences decide alone.
        out[name] = (bridge.to_bp_syntax(d), None if d.has(sp.Derivative) else bridge.value_at(d, subs))
    return out


def symbolic_check(formula, point: dict[str, float], budget: float):
    """SymPy's derivatives within the budget: (derivatives, None) or ({}, why not)."""
    from bpcli.check import sympy_bridge as bridge  # deferred: the SymPy bridge, off --no-check's start-up

    why = bridge.refusal(formula)
    if why is None:
        done, answer = bridge.run(sympy_derivatives, formula, point, seconds=budget)
        if done:
            return answer, None
        why = answer
    return {}, why


def check(formula, result, point: dict[str, float], budget: float = 5.0, seed: int = 0) -> Check:
    """Compare the backprop gradient with SymPy and with finite differences.

    A verdict needs a number: a reference that has none (nan) is no disagreement, and when
    neither has one the input is marked skipped, never failed."""
    notes: list[str] = []
    at_kink = any(kind == "kink" for kind, _ in result.hits)
    sampled = sample_inputs(formula, seed)
    if len(sampled) < len(formula.inputs):
        notes.append(f"finite differences checked {len(sampled):,} of {len(formula.inputs):,} inputs "
                     f"(sampled with seed {seed}) to bound the work")
    fd = finite_differences(formula, point, sampled)
    symbolic, why = symbolic_check(formula, point, budget)
    if why is not None:
        notes.append(f"SymPy check skipped: {why}; finite differences only")
    # Finite differences divide the output's rounding by the step: a long graph's rounding
    # can outweigh FD_REL, so it widens the tolerance instead of failing a right gradient.
    noise = rounding(result)
    sympy_rel = max(SYMPY_REL, 4 * EPS * len(formula))
    checks = []
    again = max(1, FD_WORK // (4 * max(1, len(formula))))  # inputs whose difference may be retaken
    for name, g in result.gradient.items():
        c = InputCheck(name, g, finite_difference=fd.get(name))
        if name in symbolic:
            c.derivative, c.sympy = symbolic[name]
        fd_noise = 2 * noise / (FD_STEP * max(1.0, abs(point[name])))
        verdict, note = _verdict(name, g, c.sympy, c.finite_difference, name in symbolic, sympy_rel, fd_noise)
        alone = c.sympy is None or math.isnan(c.sympy)  # finite differences decided by themselves
        if verdict is False and alone and math.isfinite(c.finite_difference or math.nan):
            verdict, note = _steps_verdict(formula, point, name, g, c.finite_difference, fd_noise, again > 0)
            again -= 1
        if note:
            notes.append(note)
        if verdict is None:
            c.status = "convention" if at_kink else "skipped"
        elif not verdict:
            c.status = "convention" if at_kink else "mismatch"
        checks.append(c)
    if at_kink and any(c.status == "convention" for c in checks):
        notes.append("where bp and SymPy differ, bp follows PyTorch's convention at a kink (see notes)")
    return Check(checks, notes)


def _verdict(name, g, sympy, fd, asked: bool, sympy_rel: float, fd_noise: float):
    """(True | False | None for no verdict, a note or None) for one gradient component."""
    fd_ok = fd is not None and close(g, fd, FD_REL, FD_ABS + fd_noise)
    fd_sure = fd is not None and close(g, fd, FD_REL, FD_ABS)
    fd_number = fd is not None and math.isfinite(fd)
    # SymPy's formula can be undefined where the derivative is not: it writes d(a^w)/dx
    # as w·a^w·a'/a, nan at a = 0. A nan from SymPy against a number from bp is no
    # verdict; finite differences decide, as when SymPy leaves a derivative undone.
    if sympy is not None and (not math.isnan(sympy) or math.isnan(g)):
        agrees = close(g, sympy, sympy_rel, SYMPY_ABS)
        if agrees and fd is not None and not fd_ok:
            if fd_number:
                return True, (f"∂/∂{name}: the finite difference {fd!r} is off "
                              "(rounding or curvature); SymPy agrees with backprop")
            return True, (f"∂/∂{name}: no finite difference: the formula is not finite "
                          "on both sides of the point")
        return agrees, None
    why = None
    if asked:
        why = "is undefined (nan) at this point" if sympy is not None else "was left undone"
    if fd_number and fd_ok and not fd_sure:
        return None, (f"∂/∂{name}: inconclusive: the finite difference {fd!r} is within the rounding "
                      f"the forward pass may accumulate (±{fd_noise:.3g}), too coarse to confirm backprop")
    if fd_number or (fd is not None and fd_ok):
        note = f"∂/∂{name}: SymPy's derivative {why}; finite differences decide" if why else None
        return fd_ok, note
    if fd is None and not asked:
        return None, None
    return None, (f"∂/∂{name}: no verdict: neither SymPy nor finite differences give a number "
                  f"here, so bp's {g!r} (PyTorch's rule) stands unchecked")


def _steps_verdict(formula, point, name: str, g: float, fd: float, fd_noise: float, affordable: bool):
    """A finite difference alone disagrees with backprop: before failing, take it again at 2h
    and h/2. Extrapolated to zero step it may agree (curvature); if it moves with its step
    by as much as it misses, it is too coarse to judge (inconclusive); only a difference
    that holds still and still misses is a disagreement."""
    if not affordable:
        return None, (f"∂/∂{name}: inconclusive: the finite difference {fd!r} disagrees, and retaking it "
                      "at other steps is past the work bound")
    steps = Steps(fd, central_difference(formula, point, name, 2.0), central_difference(formula, point, name, 0.5))
    found = steps.judge(g, fd_noise)
    if found == "curvature":
        return True, (f"∂/∂{name}: the finite difference {fd!r} is off by curvature; extrapolated to "
                      f"zero step ({steps.extrapolated!r}) it agrees with backprop")
    if found == "moves":
        return None, (f"∂/∂{name}: inconclusive: the finite difference {fd!r} moves by "
                      f"{steps.spread:.3g} when its step is halved or doubled, too much to judge backprop")
    return False, None


def checked_grad(formula, point: dict, check_it: bool = True, budget: float = 5.0,
                 values_checked: bool = False):
    """Forward, backward and (if asked) the cross-check at one point, as `bp grad` runs
    them: (result, check or None); `values_checked`: the caller has checked the point."""
    result = formula.grad(point, checked=values_checked)
    if not check_it:
        return result, None
    if result.is_tensor:  # tensors: SymPy entry by entry, sampled finite differences
        from bpcli.check.tensorcheck import check as check_tensors  # deferred: the tensor check (numpy, SymPy when run)

        return result, check_tensors(formula, result, point, budget=budget)
    return result, check(formula, result, point, budget=budget)


def disagreements(checked) -> str:
    """What a check found wrong, one input after another (`∂/∂x: backprop 1.0, SymPy 2.0,
    finite difference 2.0`, the references that gave a number); '' when nothing disagrees."""
    said = []
    for c in checked.inputs:
        if not c.ok:
            refs = [("backprop", c.backprop), ("SymPy", c.sympy), ("finite difference", c.finite_difference)]
            said.append(f"∂/∂{c.name}: " + ", ".join(f"{who} {v!r}" for who, v in refs if v is not None))
    return "; ".join(said)
