"""Why the passes scale past 10x from 10k to 100k operations: instructions against cache misses.

    python benchmarks/cache_profile.py      # needs valgrind; about 10 minutes

Runs the engine benchmark's random DAG under valgrind's cachegrind with a simulated 1 MiB
last-level cache (the size of one core's L2 here), once parsing only and once parsing and
running forward + backward 4 times; the difference is what the passes cost. Instruction
counts are exact and repeatable, so they show whether the work per operation stays the same
as the graph grows; the misses show what the wall clock pays on top.
Not part of run_all.py: it is an explanation, not a measurement against a peer.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from common import table

PASSES = 4
RUN = """
import sys
sys.path.insert(0, {bench!r})
from workloads import random_dag
from bpcli import parse
f_text, point = random_dag({ops})
f = parse(f_text)
for _ in range({passes}):
    f.backward(f.forward(point))
"""


def counts(ops: int, passes: int, out: Path) -> tuple[int, int]:
    """(instructions, last-level data misses) of one run under cachegrind."""
    script = RUN.format(bench=str(Path(__file__).resolve().parent), ops=ops, passes=passes)
    done = subprocess.run(
        ["valgrind", "--tool=cachegrind", "--cache-sim=yes", "--LL=1048576,8,64",
         f"--cachegrind-out-file={out}", sys.executable, "-c", script],
        capture_output=True, text=True, check=True)
    log = done.stderr

    def number(label: str) -> int:
        return int(re.search(rf"{label}:\s+([\d,]+)", log).group(1).replace(",", ""))

    return number("I +refs"), number("LLd misses")


def main() -> None:
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is not installed (apt-get install valgrind)")
    rows, per_op = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for ops in (10_000, 100_000):
            base = counts(ops, 0, Path(tmp) / "base")
            run = counts(ops, PASSES, Path(tmp) / "run")
            instructions, misses = ((r - b) / (PASSES * ops) for r, b in zip(run, base))
            per_op[ops] = instructions, misses
            rows.append((f"{ops:,} ops: forward + backward, per operation",
                         f"{instructions:,.0f}", f"{misses:.1f}"))
    (i10, m10), (i100, m100) = per_op[10_000], per_op[100_000]
    rows.append(("100k against 10k, per operation", f"{i100 / i10:.2f}x", f"{m100 / m10:.2f}x"))
    print(table(rows, ("measure", "instructions", "misses of a 1 MiB cache")))


if __name__ == "__main__":
    main()
