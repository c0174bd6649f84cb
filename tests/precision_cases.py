"""bp's precision against a 50-digit reference (mpmath) and PyTorch float64's on the same
points: the awkward ones of each function (near 0, ±1, the overflow and underflow edges,
subnormals). Shared by tests/test_precision.py and benchmarks/precision.py."""

from __future__ import annotations

import math

import mpmath as mp

from bpcli.engine.numeric import FLOAT, ArrayMath
from bpcli.engine.ops import OPS

mp.mp.dps = 50
TINY = 2.2250738585072014e-308  # the smallest normal float64: errors are relative to at least this

# Every unary function meets these (and their negatives); points outside a domain are skipped.
UNARY = [0.0, 5e-324, 1e-310, 1e-300, 1e-20, 1e-10, 1e-5, 0.001, 0.1, 0.5, 0.75, 0.9999999, 1 - 2**-53, 1.0,
         1 + 2**-52, 1.5, 2.0, 2.5, 3.0, 10.0, 30.0, 100.0, 700.0, 709.7, 710.0, 745.0, 1e10, 1e20, 1e300]
UNARY = UNARY + [-x for x in UNARY if x]
BINARY = {
    "atan2": [(y, x) for y in (0.0, 1e-300, 1.0, -1.0, 1e300) for x in (1e-300, 1.0, -1.0, 1e300, -2.0)],
    "hypot": [(1e200, 1e200), (1e-200, 1e-200), (3.0, 4.0), (1e308, 1e308), (5e-324, 5e-324), (1.0, 1e-10),
              (1e-300, 1.0), (0.0, 2.0), (-3.0, 1e154)],
    "logaddexp": [(800.0, 800.0), (-800.0, -800.0), (0.0, 0.0), (1.0, 2.0), (-40.0, 0.0), (1000.0, -1000.0),
                  (1e-10, -1e-10), (-745.0, -745.0), (30.0, 30.5), (-1e10, 3.0)],
    "mod": [(5.5, 2.0), (-5.5, 2.0), (5.5, -2.0), (1e300, 3.0), (1e-300, 1.0), (-1e-300, 1.0), (7.0, 0.1),
            (1e20, 0.3), (2.0**60, 7.0), (-1e10, 1e-3)],
    "leaky_relu": [(x, s) for x in (-1e300, -3.0, -1e-300, -5e-324, 0.5, 1e300) for s in (0.01, 0.2)],
}
TERNARY = {"clamp": [(x, 0.0, 1.0) for x in (-1e300, -5e-324, 0.0, 0.5, 1.0, 1 + 2**-52, 1e300)]}


def _cbrt(x):
    return mp.sign(x) * mp.cbrt(abs(x))


def _mod(a, b):
    r = mp.fmod(a, b)
    return r + b if r != 0 and (r < 0) != (b < 0) else r


def _sinc(x):
    # sinpi: sin(pi*x) with pi to 50 digits would lose every digit at x = 1e300.
    return mp.mpf(1) if x == 0 else mp.sinpi(x) / (mp.pi * x)


REFERENCE = {
    "asin": mp.asin, "acos": mp.acos, "atan": mp.atan, "atan2": mp.atan2, "sinh": mp.sinh, "cosh": mp.cosh,
    "asinh": mp.asinh, "acosh": mp.acosh, "atanh": mp.atanh, "log1p": mp.log1p, "expm1": mp.expm1,
    "log2": lambda x: mp.log(x, 2), "log10": mp.log10, "exp2": lambda x: mp.power(2, x), "cbrt": _cbrt,
    "hypot": mp.hypot, "logaddexp": lambda a, b: mp.log(mp.exp(a) + mp.exp(b)), "erf": mp.erf, "erfc": mp.erfc,
    "floor": mp.floor, "ceil": mp.ceil, "round": lambda x: mp.mpf(round(float(x))), "mod": _mod,
    "clamp": lambda x, lo, hi: min(max(x, lo), hi), "relu6": lambda x: min(max(x, 0), 6),
    "leaky_relu": lambda x, s: x if x > 0 else x * s, "elu": lambda x: x if x > 0 else mp.expm1(x),
    "gelu": lambda x: x / 2 * mp.erfc(-x / mp.sqrt(2)), "silu": lambda x: x / (1 + mp.exp(-x)),
    "square": lambda x: x * x, "rsqrt": lambda x: 1 / mp.sqrt(x), "sinc": _sinc,
}
NEW_OPS = list(REFERENCE)


def torch_function(name):
    """PyTorch's float64 counterpart, on tensors (cbrt: PyTorch has none; its users write
    sign(x)·|x|^(1/3))."""
    import torch
    import torch.nn.functional as F

    special = {
        "cbrt": lambda x: torch.sign(x) * torch.abs(x) ** (1 / 3), "mod": torch.remainder,
        "relu6": F.relu6, "leaky_relu": lambda x, s: F.leaky_relu(x, float(s)), "elu": F.elu, "gelu": F.gelu,
        "silu": F.silu, "hypot": torch.hypot, "logaddexp": torch.logaddexp, "clamp": torch.clamp,
    }
    return special.get(name) or getattr(torch, name)


def points(name: str) -> list[tuple]:
    """The awkward points of one function where its true value is a real number."""
    if name in BINARY:
        candidates = BINARY[name]
    elif name in TERNARY:
        candidates = TERNARY[name]
    else:
        candidates = [(x,) for x in UNARY]
    out = []
    for p in candidates:
        ref = reference(name, p)
        if ref is not None:
            out.append(p)
    return out


def reference(name: str, p: tuple):
    """The 50-digit value, or None where it is not a real number (outside the domain, a pole)."""
    try:
        v = REFERENCE[name](*(mp.mpf(x) for x in p))
    except (ValueError, ZeroDivisionError, OverflowError):  # mpmath's erfc at 1e300
        return None
    if not isinstance(v, mp.mpf) or mp.isnan(v) or mp.isinf(v):
        return None
    return v


def rel_error(got: float, ref) -> float:
    """|got - ref| / max(|ref|, TINY); a value beyond float64's range rounds to ±inf or 0."""
    if math.isnan(got):
        return math.inf
    if math.isinf(got):
        return 0.0 if abs(ref) > 1.7976931348623157e308 and (got > 0) == (ref > 0) else math.inf
    return float(abs(mp.mpf(got) - ref) / max(abs(ref), mp.mpf(TINY)))


def bp_values(name: str, pts: list[tuple], arrays: bool = False) -> list[float]:
    op = OPS[name]
    if not arrays:
        return [op.forward(FLOAT, *p) for p in pts]
    import numpy as np

    m = ArrayMath("float64")
    with np.errstate(all="ignore"):
        out = op.forward(m, *(np.array(col, dtype=np.float64) for col in zip(*pts)))
    return [float(v) for v in np.broadcast_to(out, (len(pts),))]


def torch_values(name: str, pts: list[tuple]) -> list[float]:
    import torch

    f = torch_function(name)
    out = []
    for p in pts:
        args = [torch.tensor(x, dtype=torch.float64) for x in p]
        if name == "leaky_relu":
            args[1] = p[1]
        out.append(float(f(*args)))
    return out


def max_error(name: str, values: list[float], pts: list[tuple]) -> tuple[float, tuple]:
    """The largest relative error over the points and where it is."""
    worst = (0.0, pts[0])
    for v, p in zip(values, pts):
        e = rel_error(v, reference(name, p))
        if e > worst[0]:
            worst = (e, p)
    return worst


def table() -> list[tuple]:
    """(function, points, bp float, bp arrays, PyTorch, PyTorch's worst point) per new function."""
    rows = []
    for name in NEW_OPS:
        pts = points(name)
        bp_f, _ = max_error(name, bp_values(name, pts), pts)
        bp_a, _ = max_error(name, bp_values(name, pts, arrays=True), pts)
        pt, where = max_error(name, torch_values(name, pts), pts)
        rows.append((name, len(pts), bp_f, bp_a, pt, where))
    return rows
