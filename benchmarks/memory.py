"""Peak memory of bp on the largest inputs its bounds let through, against the budgets in the
README's Limits table.

    python benchmarks/memory.py            # the issue's sizes (a few minutes, a few GB of disk in /tmp)
    python benchmarks/memory.py --scale 0.1

Each command runs in a fresh child; its peak resident memory comes from wait4. Cases (issue:
bounds): bp grad on a 1,000,000-term sum (x+x+…, at the formula size bound) with and without
--json; x1+…+xN with a values file of every input; a values file of 4,000,000 unused keys
(about 90 MB); bp train linear on a 200 MB CSV.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import machine, table  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
BP = [sys.executable, "-m", "bpcli"]


def peak(cmd: list[str]) -> tuple[float, float, int]:
    """(peak RSS in MiB, wall seconds, exit code) of one command in a fresh child."""
    t = time.perf_counter()
    child = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    _, status, usage = os.wait4(child.pid, 0)
    return usage.ru_maxrss / 1024, time.perf_counter() - t, os.waitstatus_to_exitcode(status)


def write_inputs(folder: Path, scale: float) -> dict:
    terms = int(1_000_000 * scale)
    keys = int(4_000_000 * scale)
    csv_bytes = int(200_000_000 * scale)
    files = {"sum": folder / "sum.bp", "sum_i": folder / "sum_i.bp", "point_i": folder / "point_i.json",
             "unused": folder / "unused.json", "csv": folder / "big.csv"}
    files["sum"].write_text("+".join(["x"] * terms))
    files["sum_i"].write_text("+".join(f"x{i}" for i in range(terms)))
    files["point_i"].write_text(json.dumps({f"x{i}": 1.0 for i in range(terms)}))
    with open(files["unused"], "w") as out:
        out.write('{"x": 1')
        for i in range(keys):
            out.write(f', "unused_key_{i}": {i % 1000}.25')
        out.write("}")
    rng = random.Random(1)
    with open(files["csv"], "w") as out:
        out.write("x,y\n")
        written = 0
        while written < csv_bytes:
            lines = []
            for _ in range(10_000):
                x = rng.random() * 10
                lines.append(f"{x:.6f},{3 * x + 1 + rng.random():.6f}\n")
            block = "".join(lines)
            out.write(block)
            written += len(block)
    return {"terms": terms, "keys": keys, "files": files,
            "sizes": {k: f.stat().st_size for k, f in files.items()},
            "rows": sum(1 for _ in open(files["csv"])) - 1}


def main() -> None:
    scale = float(sys.argv[sys.argv.index("--scale") + 1]) if "--scale" in sys.argv else 1.0
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory(prefix="bp-memory-") as tmp:
        made = write_inputs(Path(tmp), scale)
        f, size, n = made["files"], made["sizes"], made["terms"]
        mb = lambda b: f"{b / 1e6:.1f} MB"  # noqa: E731
        cases = [
            (f"bp grad on x+x+… ({n:,} terms, {mb(size['sum'])})", ["grad", "-f", f["sum"], "--x", "1"], n, "node"),
            ("… with --json",
             ["grad", "-f", f["sum"], "--x", "1", "--json"], n, "node"),
            (f"bp grad on x1+…+x{n} ({mb(size['sum_i'])}, --max-size 0), --values of every input",
             ["grad", "-f", f["sum_i"], "--values", f["point_i"], "--max-size", "0"], 2 * n, "node"),
            (f"bp grad x*2, --values with {made['keys']:,} unused keys ({mb(size['unused'])})",
             ["grad", "x*2", "--values", f["unused"]], made["keys"], "key"),
            ("… with --json", ["grad", "x*2", "--values", f["unused"], "--json"], made["keys"], "key"),
            (f"bp train linear, {made['rows']:,} rows ({mb(size['csv'])}), 1 epoch",
             ["train", "linear", f["csv"], "--epochs", "1"], made["rows"], "row"),
        ]
        base, _, _ = peak(BP + ["grad", "x*2", "--x", "1"])
        rows = [("bp grad x*2 --x 1 (the baseline: Python, bp, SymPy's child)", f"{base:,.0f} MiB", "", "", 0)]
        for name, args, units, unit in cases:
            mib, seconds, code = peak(BP + [str(a) for a in args])
            rows.append((name, f"{mib:,.0f} MiB", f"{(mib - base) * 1024 * 1024 / units:,.0f} B per {unit}",
                         f"{seconds:.1f} s", code))
        print(table(rows, ("case", "peak RSS", "over the baseline", "wall", "exit")))
    print("\nexit 2: refused at a bound (the peak is what bp spent before refusing). Rerun: "
          "python benchmarks/memory.py [--scale 0.1]")


if __name__ == "__main__":
    main()
