"""Precision of issue 13's functions: the largest relative error over each function's
awkward points (near 0, ±1, the overflow and underflow edges, subnormals) against mpmath at
50 digits, for bp on floats, bp on numpy arrays and PyTorch float64, on the same points.

    python benchmarks/precision.py            # prints the table (tests/test_precision.py checks it)
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from common import best_of, machine, table  # noqa: E402
from precision_cases import table as precision_table  # noqa: E402


def main() -> None:
    rows = []
    for name, n, ours, arrays, theirs, where in precision_table():
        worst = max(ours, arrays)
        verdict = "bp better" if worst < theirs else "equal" if worst == theirs else "PyTorch better"
        rows.append((name, str(n), f"{ours:.2e}", f"{arrays:.2e}", f"{theirs:.2e}",
                     ", ".join(f"{x:g}" for x in where), verdict))
    print(f"machine: {machine()}")
    print(table(rows, ("function", "points", "bp floats", "bp arrays", "PyTorch float64", "PyTorch's worst point",
                       "")))
    print()
    print(table(array_speed(), ("100,000 points in one array", "bp (correctly rounded)", "numpy's libm", "ratio")))


def array_speed(n: int = 100_000) -> list:
    """The correctly rounded functions on an array against numpy's own (libm) ufunc."""
    import numpy as np

    from bpcli.engine.numeric import ArrayMath

    m, x = ArrayMath("float64"), np.random.default_rng(0).uniform(0.0, 3.0, n)
    rows = []
    for name, plain in [("expm1", np.expm1), ("log10", np.log10), ("erfc", None)]:
        ours = best_of(lambda name=name: getattr(m, "cr_" + name)(x), 3)
        theirs = best_of(lambda plain=plain: plain(x), 3) if plain else None
        rows.append((name, f"{ours * 1e3:.1f} ms", f"{theirs * 1e3:.1f} ms" if theirs else "none (numpy has no erfc)",
                     f"{ours / theirs:.0f}x" if theirs else ""))
    return rows


if __name__ == "__main__":
    main()
