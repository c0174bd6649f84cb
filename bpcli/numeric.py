"""Arithmetic with IEEE semantics: inf and nan instead of Python's exceptions.

The op table's rules are written once against a namespace `m`; `FLOAT` evaluates
them on Python floats (float64), `ArrayMath` on numpy arrays of any float dtype.
"""

from __future__ import annotations

import math

INF = math.inf
NAN = math.nan
# The seed of the backward pass and the partials of + and -: the array pass tests for this
# very object to skip multiplications by one (each a full pass over an array of a batch).
ONE = 1.0


def _guard(fn, on_overflow, on_invalid=lambda x: NAN):
    """Wrap a math function: overflow gives `on_overflow(x)`, an invalid argument
    `on_invalid(x)` (nan, or C's ±inf at a pole such as log2(0))."""

    def safe(x):
        try:
            return fn(x)
        except OverflowError:
            return on_overflow(x)
        except ValueError:
            return on_invalid(x)

    safe.__name__ = fn.__name__
    return safe


def _div(a: float, b: float) -> float:
    """a / b as IEEE 754 divides: x/0 is ±inf, 0/0 is nan."""
    try:
        return a / b
    except ZeroDivisionError:
        if a == 0 or a != a:
            return NAN
        return math.copysign(INF, a) * math.copysign(1.0, b)


def _pow(a: float, b: float) -> float:
    """a ** b as C's pow: a negative base with a fractional exponent is nan, never complex."""
    try:
        return math.pow(a, b)
    except OverflowError:
        # |a| > 1 with a large exponent; the sign survives only for odd integer exponents.
        odd = b == b // 1 and b % 2 == 1
        return -INF if a < 0 and odd else INF
    except ValueError:
        if a == 0:  # 0 ** negative
            odd = b == b // 1 and b % 2 == 1
            return math.copysign(INF, a) if odd else INF
        return NAN


def _log(x: float) -> float:
    """Natural log; log(0) is -inf and a negative argument nan, as in C."""
    if x > 0:
        return math.log(x)
    return -INF if x == 0 else NAN


def _where(cond, x, y):
    return x if cond else y


def _signed_inf(x):
    return math.copysign(INF, x)


def _pole_at(pole, sign):
    """C's value at a pole: ±inf exactly there (log2(0) = -inf), nan elsewhere outside the domain."""
    return lambda x: sign * INF if x == pole else NAN


def _atanh_pole(x):
    return math.copysign(INF, x) if abs(x) == 1 else NAN


def _integral(fn):
    """floor, ceil, round as floats: inf and nan stay as they are (Python's give ints and raise)."""

    def safe(x):
        return float(fn(x)) if math.isfinite(x) else x

    safe.__name__ = fn.__name__
    return safe


def _remainder(a: float, b: float) -> float:
    """a mod b with the sign of b (Python's %, numpy.remainder, torch.remainder); mod 0 is nan."""
    try:
        return a % b
    except ZeroDivisionError:
        return NAN


def _two_product(a: float, b: float) -> tuple[float, float]:
    """a·b as an unevaluated sum hi + lo, exactly (Dekker's product, no fma needed)."""
    hi = a * b
    a1, a2 = _split(a)
    b1, b2 = _split(b)
    return hi, ((a1 * b1 - hi) + a1 * b2 + a2 * b1) + a2 * b2


def _split(a: float) -> tuple[float, float]:
    c = 134217729.0 * a  # 2^27 + 1
    hi = c - (c - a)
    return hi, a - hi


_LOG10E_HI = 0.4342944819032518
_LOG10E_LO = 1.098319650216765e-17  # log10(e) - _LOG10E_HI


def _log10(x: float) -> float:
    """log10 as ln(x)·log10(e) with the constant in two parts: glibc's own log10 is off by
    up to an ulp more (log10(710))."""
    if not 0 < x < INF:
        return _guard(math.log10, lambda v: INF, _pole_at(0.0, -1))(x)
    y = math.log(x)
    hi, lo = _two_product(y, _LOG10E_HI)
    return hi + (lo + y * _LOG10E_LO)


def _erfc(x: float) -> float:
    """erfc; for x < 0 as 1 + erf(-x) or 2 - erfc(-x), which round once at the end (libm's
    erfc(-0.1) is off by more than half an ulp)."""
    if x >= 0 or x != x:
        return math.erfc(x)
    return 1.0 + math.erf(-x) if x > -0.5 else 2.0 - math.erfc(-x)


def _fmod(a: float, b: float) -> float:
    """C's fmod (exact, the sign of a); nan for b = 0 or an infinite a."""
    try:
        return math.fmod(a, b)
    except ValueError:
        return NAN


def _floordiv(a: float, b: float) -> float:
    """floor(a / b) as numpy.floor_divide gives it: ±inf or nan for b = 0."""
    try:
        return a // b
    except ZeroDivisionError:
        return _div(a, b)


class FloatMath:
    """Scalar float64 arithmetic that never raises."""

    exp = staticmethod(_guard(math.exp, lambda x: INF))
    log = staticmethod(_log)
    log1p = staticmethod(_guard(math.log1p, lambda x: INF, _pole_at(-1.0, -1)))
    expm1 = staticmethod(_guard(math.expm1, lambda x: INF))
    exp2 = staticmethod(_guard(math.exp2, lambda x: INF))
    log2 = staticmethod(_guard(math.log2, lambda x: INF, _pole_at(0.0, -1)))
    log10 = staticmethod(_log10)
    asin = staticmethod(_guard(math.asin, lambda x: NAN))
    acos = staticmethod(_guard(math.acos, lambda x: NAN))
    atan = staticmethod(math.atan)
    atan2 = staticmethod(math.atan2)
    sinh = staticmethod(_guard(math.sinh, _signed_inf))
    cosh = staticmethod(_guard(math.cosh, lambda x: INF))
    asinh = staticmethod(math.asinh)
    acosh = staticmethod(_guard(math.acosh, lambda x: INF))
    atanh = staticmethod(_guard(math.atanh, lambda x: NAN, _atanh_pole))
    cbrt = staticmethod(math.cbrt)
    hypot = staticmethod(math.hypot)
    erf = staticmethod(math.erf)
    erfc = staticmethod(_erfc)
    floor = staticmethod(_integral(math.floor))
    ceil = staticmethod(_integral(math.ceil))
    rint = staticmethod(_integral(round))  # round half to even, as torch.round and numpy.rint
    fmod = staticmethod(_fmod)
    remainder = staticmethod(_remainder)
    floordiv = staticmethod(_floordiv)
    sqrt = staticmethod(_guard(math.sqrt, lambda x: INF))
    sin = staticmethod(_guard(math.sin, lambda x: NAN))
    cos = staticmethod(_guard(math.cos, lambda x: NAN))
    tan = staticmethod(_guard(math.tan, lambda x: NAN))
    tanh = staticmethod(math.tanh)
    fabs = staticmethod(math.fabs)
    div = staticmethod(_div)
    pow = staticmethod(_pow)
    where = staticmethod(_where)


FLOAT = FloatMath()


# FloatMath's names -> numpy's ufuncs.
_UFUNCS = {
    "exp": "exp", "log1p": "log1p", "sqrt": "sqrt", "sin": "sin", "cos": "cos", "tan": "tan",
    "tanh": "tanh", "fabs": "abs", "expm1": "expm1", "log2": "log2",
    "log10": "log10", "asin": "arcsin", "acos": "arccos", "atan": "arctan", "atan2": "arctan2",
    "sinh": "sinh", "asinh": "arcsinh", "acosh": "arccosh", "atanh": "arctanh",
    "cbrt": "cbrt", "hypot": "hypot", "floor": "floor", "ceil": "ceil", "rint": "rint",
    "fmod": "fmod", "remainder": "remainder", "floordiv": "floor_divide",
}


_ELEMENTWISE = ("erf", "erfc", "cosh", "exp2")


class ArrayMath:
    """The same operations on numpy arrays (or numpy scalars) of one float dtype."""

    def __init__(self, dtype):
        import numpy as np

        keep_freed_memory()
        self.np = np
        self.dtype = np.dtype(dtype)
        for name, ufunc in _UFUNCS.items():
            setattr(self, name, getattr(np, ufunc))
        # numpy has no erf; its cosh and exp2 are less precise than libm's (by a fraction of
        # an ulp at 710 and 0.001): the float pass's, element by element.
        for name in _ELEMENTWISE:
            setattr(self, name, np.vectorize(getattr(FloatMath, name), otypes=[self.dtype]))

    def log(self, x):
        return self.np.log(x)

    def div(self, a, b):
        return self.np.divide(a, b)

    def pow(self, a, b):
        if isinstance(b, float) and b == 1.0:  # r^(2-1) in the partial of r^2: no pass over r
            return a
        return self.np.power(a, b)

    def where(self, cond, x, y):
        if isinstance(cond, (bool, self.np.bool_)):  # a scalar condition picks a side whole
            return x if cond else y
        return self.np.where(cond, x, y).astype(self.dtype, copy=False)


_KEPT = False


def keep_freed_memory() -> None:
    """Ask glibc to keep freed memory for reuse instead of returning it to the system.

    Array passes allocate the same few arrays of megabytes again and again (every epoch of
    a large batch, every chunk of points). By default glibc hands each freed block back and
    every new one costs page faults: on a 1,000,000-row full batch that made each epoch
    3-4x slower. PyTorch's caching allocator does the same job for its tensors. Done once,
    when bp first works on arrays; a no-op where the C library is not glibc.
    """
    global _KEPT
    if _KEPT:
        return
    _KEPT = True
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        m_trim_threshold, m_mmap_threshold = -1, -3
        libc.mallopt(m_mmap_threshold, 1 << 30)
        libc.mallopt(m_trim_threshold, 1 << 30)
    except (OSError, AttributeError):
        pass
