"""Precision against mpmath at 50 digits, bp beside PyTorch float64 on the same inputs.

Issue 13's functions: the largest relative error over each function's awkward points (near 0,
±1, the overflow and underflow edges, subnormals), bp on floats and on numpy arrays.
Issue 24's tensor operations: the worst normwise error of each op's value and gradients over
12 seeded inputs (tests/op_precision_cases.py), and how often each library's plain float64 sum
misses the correctly rounded one.

    python benchmarks/precision.py     # prints the tables (tests/test_precision.py and
                                       # tests/test_op_precision.py check them)
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from common import best_of, machine, table  # noqa: E402
from op_precision_cases import CASES, errors, summation_order, verdict  # noqa: E402
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
    print(table(op_rows(), ("operation (issue 24)", "value: bp", "PyTorch", "gradients: bp", "PyTorch", "")))
    print()
    print(table([(who, f"{missed} of 300", f"{worst:.1f} ulp") for who, (missed, worst) in summation_order().items()],
                ("float64 sum of 5-200 random terms", "not correctly rounded", "worst")))
    print()
    print(table(array_speed(), ("100,000 points in one array", "bp (correctly rounded)", "numpy's libm", "ratio")))


def op_rows() -> list:
    """Each op's worst value and gradient error, bp and PyTorch, with the verdict on both."""
    rows = []
    for case in CASES:
        e = errors(case)
        (bv, bg), (tv, tg) = e["bp"], e["torch"]
        verdicts = {verdict(bv, tv), verdict(bg, tg)}
        worst = next(v for v in ("PyTorch better", "within one rounding", "bp better", "equal") if v in verdicts)
        rows.append((case.label, f"{bv:.1e}", f"{tv:.1e}", f"{bg:.1e}", f"{tg:.1e}", worst))
    return rows


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
