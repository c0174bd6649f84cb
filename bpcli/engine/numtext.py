"""Numbers as text: the one formatter behind every table, tree, note, program and page."""

from __future__ import annotations

import math


def number_text(v, digits: int | None = None, whole: bool = True) -> str:
    """A float as bp writes it: `whole` numbers as integers (2, not 2.0; below 1e16, where every
    integer is exact), else Python's shortest round-trip text (repr); cut to `digits`
    significant digits when it has more (12.00000000007759 -> 12.0 at 10). inf, -inf, nan as
    Python writes them."""
    v = float(v)
    if not math.isfinite(v):
        return repr(v)
    text = str(int(v)) if whole and v.is_integer() and abs(v) < 1e16 else repr(v)
    if digits is None or _significant(text) <= digits:
        return text
    short = f"{v:.{digits}g}"
    return short if whole or any(c in short for c in ".e") else short + ".0"


WRITABLE_BITS = 14_000  # integers below 4,300 decimal digits, which Python will write


def count_text(n: int) -> str:
    """A count of paths: with thousands separators, or in scientific form past 10^15
    (Python will not print an integer of more than 4,300 digits)."""
    if n < 10**15:
        return f"{n:,}"
    exponent = int(math.log10(n))
    unit = 10 ** (exponent - 2)
    lead = (n + unit // 2) // unit  # three digits, rounded
    if lead >= 1000:  # log10 rounded up past a power of ten, or 9.995… rounded to 10.0
        exponent, lead = exponent + 1, (lead + 5) // 10
    return f"{lead / 100:.2f}e+{exponent}"


def _significant(text: str) -> int:
    """Digits of a number's text that carry information (leading zeros do not)."""
    return len(text.split("e")[0].lstrip("-").replace(".", "").lstrip("0"))


def shape_text(shape: tuple) -> str:
    """2×3 for a matrix, 3 for a vector, scalar for ()."""
    return "×".join(map(str, shape)) if shape else "scalar"
