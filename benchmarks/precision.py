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

from common import machine, table  # noqa: E402
from precision_cases import table as precision_table  # noqa: E402


def main() -> None:
    rows = []
    for name, n, ours, arrays, theirs, where in precision_table():
        verdict = "bp better" if max(ours, arrays) < theirs else "equal" if max(ours, arrays) == theirs else "PyTorch better"
        rows.append((name, str(n), f"{ours:.2e}", f"{arrays:.2e}", f"{theirs:.2e}",
                     ", ".join(f"{x:g}" for x in where), verdict))
    print(f"machine: {machine()}")
    print(table(rows, ("function", "points", "bp floats", "bp arrays", "PyTorch float64", "PyTorch's worst point",
                       "")))


if __name__ == "__main__":
    main()
