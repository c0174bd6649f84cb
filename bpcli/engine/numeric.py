"""Arithmetic with IEEE semantics: inf and nan instead of Python's exceptions.

The op table's rules are written once against a namespace `m`; `FLOAT` evaluates
them on Python floats (float64), `ArrayMath` on numpy arrays of any float dtype.
"""

from __future__ import annotations

import math
from functools import cache

from bpcli.errors import IndexValueError

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


_log10_libm = _guard(math.log10, lambda x: INF, _pole_at(0.0, -1))


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


def _erfc(x: float) -> float:
    """erfc; for x < 0 as 1 + erf(-x) or 2 - erfc(-x), which round once at the end (libm's
    erfc(-0.1) is off by more than half an ulp)."""
    if x >= 0 or x != x:
        return math.erfc(x)
    return 1.0 + math.erf(-x) if x > -0.5 else 2.0 - math.erfc(-x)


# The expm1, log10 and erfc rows round once from 96 bits: libm's (glibc's, numpy's) are within
# an ulp but round some points the wrong way (expm1(0.75), log10(700), erfc(3)), where
# PyTorch's do not. mpmath is SymPy's own dependency, so always installed; it is imported
# on the first such call, never at start-up. Each call costs microseconds, not nanoseconds:
# the op rows pay it, elu and gelu keep libm's.
_BITS = 96


def _rounded_once(evaluate):
    """Evaluate `evaluate(libmp, x, prec)` as an mpmath number and round it to float64 once."""
    from mpmath import libmp

    return lambda x, prec=_BITS: libmp.to_float(evaluate(libmp, libmp.from_float(x), prec), rnd=libmp.round_nearest)


@cache
def _mp(name):
    evaluators = {
        "expm1": lambda lib, x, prec: lib.mpf_sub(lib.mpf_exp(x, prec), lib.fone, prec),
        "log10": lambda lib, x, prec: lib.mpf_div(lib.mpf_log(x, prec), lib.mpf_log(lib.from_int(10), prec), prec),
        "erfc": lambda lib, x, prec: lib.mpf_erfc(x, prec),
    }
    return _rounded_once(evaluators[name])


# Outside (-40, 709.8), and for |x| < 2^-54 where it is x, libm's expm1 is already the
# correctly rounded value (-1, inf, x): the float and the array pass both leave it to libm.
_EXPM1_LO, _EXPM1_HI, _EXPM1_TINY = -40.0, 709.8, 2.0**-54


def _cr_expm1(x: float) -> float:
    """expm1 correctly rounded (libm's outside the range above)."""
    if not _EXPM1_LO < x < _EXPM1_HI or abs(x) < _EXPM1_TINY:
        return FloatMath.expm1(x)
    return _mp("expm1")(x, _BITS - min(0, math.frexp(x)[1]))  # bits that exp(x) - 1 cancels


def _cr_log10(x: float) -> float:
    """log10 correctly rounded (C's values at 0, below 0, inf and nan)."""
    if not 0 < x < INF:
        return _log10_libm(x)
    return _mp("log10")(x)


def _cr_erfc(x: float) -> float:
    """erfc correctly rounded; from 26 on the value is subnormal or 0, libm's there."""
    if not -6.0 < x < 26.0:  # below -6 erfc is 2 to the last bit
        return _erfc(x)
    return _mp("erfc")(x)


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
    cr_expm1 = staticmethod(_cr_expm1)
    cr_log10 = staticmethod(_cr_log10)
    cr_erfc = staticmethod(_cr_erfc)
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
    "asin": "arcsin", "acos": "arccos", "atan": "arctan", "atan2": "arctan2",
    "sinh": "sinh", "asinh": "arcsinh", "acosh": "arccosh", "atanh": "arctanh",
    "cbrt": "cbrt", "hypot": "hypot", "floor": "floor", "ceil": "ceil", "rint": "rint",
    "fmod": "fmod", "remainder": "remainder", "floordiv": "floor_divide",
}


_ELEMENTWISE = ("erf", "erfc", "cosh", "exp2", "cr_erfc")


def _rounded_from_long(np, ufunc: str, exact, libm_where):
    """A correctly rounded ufunc on float64 arrays, fast: evaluated in long double (64 bits
    on x86, so within about 2^-11 of a float64 ulp) and rounded to float64; the few elements
    whose long double lies within 2^-8 ulp of a float64 midpoint, or whose result is a power
    of two (where the ulp changes), are handed to `exact`, the float pass's function, so
    arrays and floats agree bit for bit. `libm_where(x)` marks the elements the float pass
    leaves to libm. Without a long double wider than float64, every element goes to `exact`."""
    wide = np.finfo(np.longdouble).nmant >= 63
    plain, slow = getattr(np, ufunc), np.vectorize(exact, otypes=[np.float64])

    def evaluate(x):
        x = np.asarray(x, dtype=np.float64)
        if not wide:
            return slow(x)
        with np.errstate(all="ignore"):
            long = getattr(np, ufunc)(x.astype(np.longdouble))
            out = long.astype(np.float64)
            ulps = (long - out.astype(np.longdouble)) / np.spacing(np.abs(out)).astype(np.longdouble)
            hard = (np.abs(np.abs(ulps) - 0.5) < 2.0**-8) | (np.frexp(out)[0] == 0.5)
            libm = libm_where(x)
            out = np.where(libm, plain(x), out)
            hard &= ~libm
            if hard.any():
                out[hard] = slow(x[hard])
        return out

    return evaluate


@cache
def _array_functions(np, dtype) -> dict:
    """ArrayMath's functions that are not numpy's own, built once per dtype: np.vectorize
    is slow to build, and tensor passes make an ArrayMath per call."""
    # numpy has no erf or erfc, and its cosh and exp2 are less precise than libm's (by a
    # fraction of an ulp at 710 and 0.001): the float pass's, element by element.
    out = {name: np.vectorize(getattr(FloatMath, name), otypes=[dtype]) for name in _ELEMENTWISE}
    # expm1 and log10 round correctly, as the float pass's do, at long double's speed.
    expm1 = _rounded_from_long(np, "expm1", _cr_expm1,
                               lambda x: ~((_EXPM1_LO < x) & (x < _EXPM1_HI)) | (np.abs(x) < _EXPM1_TINY))
    log10 = _rounded_from_long(np, "log10", _cr_log10, lambda x: ~((0 < x) & (x < INF)))
    out["cr_expm1"] = lambda x: expm1(x).astype(dtype, copy=False)
    out["cr_log10"] = lambda x: log10(x).astype(dtype, copy=False)
    return out


class ArrayMath:
    """The same operations on numpy arrays (or numpy scalars) of one float dtype."""

    def __init__(self, dtype):
        import numpy as np

        keep_freed_memory()
        self.np = np
        self.dtype = np.dtype(dtype)
        for name, ufunc in _UFUNCS.items():
            setattr(self, name, getattr(np, ufunc))
        self.__dict__.update(_array_functions(np, self.dtype))

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
    every new one costs page faults, on every epoch of a full batch. PyTorch's caching
    allocator does the same job for its tensors. Done once,
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


def close(a: float, b: float, rel: float, abs_: float) -> bool:
    """Equal within tolerance; non-finite values agree only with the same non-finite value."""
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    if math.isinf(a) or math.isinf(b):
        return a == b
    return abs(a - b) <= abs_ + rel * max(abs(a), abs(b))


def whole_indices(np, index, n: int, what: str):
    """An index tensor's entries as integers, each checked to be a whole number from 0 to n - 1;
    else an IndexValueError naming the first bad entry and its place. `what` names the index as
    the message says it: "the index", "the class labels", "gather's index along axis 1"."""
    values = np.asarray(index)
    whole = values.astype(np.int64)
    bad = ~((whole == values) & (0 <= whole) & (whole < n))
    if not bad.any():
        return whole
    at = tuple(int(k) for k in np.argwhere(bad)[0])
    which = f"entry [{', '.join(map(str, at))}] is" if at else "it is"
    hint = ("an index tensor counts from 0; a negative entry is not read from the end (only a slice's "
            "or an integer's is, as x[-1])") if values[at] < 0 and whole[at] == values[at] else None
    allowed = f"must hold whole numbers from 0 to {n - 1}" if n else "picks along an axis with no entries"
    refused = IndexValueError(f"{what} {allowed}; {which} {float(values[at]):g}", hint)
    refused.value, refused.limit = float(values[at]), n
    raise refused
