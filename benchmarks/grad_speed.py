"""bp grad's speed: start-up against its bare imports, a 100,000-operation formula, and
the gradient at every row of a 1,000,000-row CSV.

    python benchmarks/grad_speed.py            # prints a table of figures and ratios

Targets (issue: bp grad): start-up within 1.3x of the bare imports, with and without
the SymPy check; 10x the operations costs at most 12x the time. The 1,000,000-row run is
measured against a numpy script that does the same job by hand (derivatives written out).
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    alternated_medians,
    bp_runs,
    compile_bytecode,
    interleaved_best,
    machine,
    median_runs,
    steady,
    table,
)
from workloads import random_dag  # noqa: E402


def startup(runs: int) -> list[tuple]:
    bp = shutil.which("bp") or sys.exit("install bp first (pip install -e .)")
    card = ["grad", "(x*w-y)^2", "--x", "2", "--w", "3", "--y", "4", "--json"]
    base, run = alternated_medians(
        [[sys.executable, "-c", "import typer, rich.table, lark"], [bp, *card, "--no-check"]], runs)
    base2, run2 = alternated_medians(
        [[sys.executable, "-c", "import sympy, typer, rich.table, lark"], [bp, *card]], runs)
    return [
        ("start-up, --no-check --json", f"{run * 1e3:.0f} ms", f"{base * 1e3:.0f} ms (typer, rich.table, lark)",
         f"{run / base:.2f}x", "<= 1.3x"),
        ("start-up, with SymPy check", f"{run2 * 1e3:.0f} ms", f"{base2 * 1e3:.0f} ms (+ sympy)",
         f"{run2 / base2:.2f}x", "<= 1.3x"),
    ]


def scale() -> list[tuple]:
    rows = []
    timings = {}
    sizes = {"10k": 10_000, "100k": 100_000}
    texts = {tag: random_dag(n) for tag, n in sizes.items()}
    runs = {}
    for tag, (text, point) in texts.items():
        runs.update(bp_runs(text, point, tag))
    best = interleaved_best(runs, rounds=5, warm=steady(runs))  # the sizes take turns: one slow spell hits both
    for tag, n in sizes.items():
        t_parse, t_fwd, t_bwd = (best[f"{tag} {what}"] for what in ("parse", "forward", "backward"))
        timings[n] = (t_parse, t_fwd + t_bwd)
        mb = len(texts[tag][0].encode()) / 1e6
        rows.append((f"{n:,} ops: parse ({mb:.2f} MB)", f"{t_parse:.3f} s", f"{mb / t_parse:.2f} MB/s", "", ""))
        rows.append((f"{n:,} ops: forward + backward", f"{(t_fwd + t_bwd) * 1e3:.1f} ms",
                     f"forward {t_fwd * 1e3:.1f} ms, backward {t_bwd * 1e3:.1f} ms",
                     f"backward/forward {t_bwd / t_fwd:.2f}", ""))
    for i, what in enumerate(("parse", "forward + backward")):
        ratio = timings[100_000][i] / timings[10_000][i]
        rows.append((f"scaling 10k -> 100k ops: {what}", "", "", f"{ratio:.1f}x", ""))
    ratio = sum(timings[100_000]) / sum(timings[10_000])
    rows.append(("scaling 10k -> 100k ops: parse + forward + backward", "", "", f"{ratio:.1f}x", "<= 12x"))
    return rows


# The card formula's gradient at every row, by hand: what bp grad --at does, written for
# this one formula (numpy's reader, the derivatives worked out, repr for every number).
AT_SCRIPT = """
import sys
import numpy as np
x, w, y = np.loadtxt(sys.argv[1], delimiter=",", skiprows=1, ndmin=2).T
r = x * w - y
columns = [x.tolist(), w.tolist(), y.tolist(), (r * r).tolist(), (2 * r * w).tolist(), (2 * r * x).tolist(),
           (-2 * r).tolist()]
out = sys.stdout
out.write("x,w,y,value,grad_x,grad_w,grad_y\\n")
out.write("".join(",".join(map(repr, row)) + "\\n" for row in zip(*columns)))
"""


def many_points(rows: int = 1_000_000) -> list[tuple]:
    import numpy as np

    bp = shutil.which("bp") or sys.exit("install bp first (pip install -e .)")
    with tempfile.TemporaryDirectory() as tmp:
        points, script = Path(tmp) / "points.csv", Path(tmp) / "at.py"
        np.savetxt(points, np.random.default_rng(0).uniform(-2, 2, (rows, 3)), delimiter=",",
                   header="x,w,y", comments="", fmt="%.17g")
        script.write_text(AT_SCRIPT)
        (t_bp, peak), (t_np, peak_np) = median_runs(
            [bp, "grad", "(x*w-y)^2", "--at", str(points), "--no-check"], [sys.executable, str(script), str(points)],
            repeat=3)
    return [(f"{rows:,} rows: bp grad --at points.csv (end to end)", f"{t_bp:.2f} s, {peak / 1024:.0f} MiB",
             f"numpy script {t_np:.2f} s, {peak_np / 1024:.0f} MiB", f"{t_bp / t_np:.2f}x", "")]


def main() -> None:
    compile_bytecode()
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 21
    rows = startup(runs) + scale() + many_points()
    print(f"machine: {machine()}")
    print(table(rows, ("measure", "bp", "reference", "ratio", "target")))


if __name__ == "__main__":
    main()
