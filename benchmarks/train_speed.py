"""bp train's speed against the lecture's PyTorch loop and hand-written scripts.

    python benchmarks/train_speed.py          # prints a table of figures and ratios

Targets (issue: bp train):
- the lecture loop (3 rows x 100 epochs, per-sample) at least 10x faster than PyTorch's;
- 1,000,000 rows, full batch, 100 epochs, end to end from the CSV: within 2x a numpy script;
- 100,000 rows, per-sample SGD, 1 epoch, end to end: within 5x a csv-module + float-loop script;
- peak memory of the 1,000,000-row run, against the size of its data.
PyTorch is optional (pip install torch==2.13.0); without it that row says so.
"""

from __future__ import annotations

import random
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import compile_bytecode, interleaved_best, machine, median_runs, table  # noqa: E402

NUMPY_SCRIPT = """
import sys
import numpy as np
data = np.loadtxt(sys.argv[1], delimiter=",", skiprows=1)
x, y = data[:, 0], data[:, 1]
w = 1.0
for epoch in range(100):
    w -= 0.01 * np.mean(2 * (w * x - y) * x)
print(w)
"""

CSV_SCRIPT = """
import csv, sys
with open(sys.argv[1], newline="") as f:
    reader = csv.reader(f)
    next(reader)
    rows = [(float(a), float(b)) for a, b in reader]
w = 1.0
for x, y in rows:
    w -= 0.01 * (2 * (x * w - y) * x)
print(w)
"""


def write_csv(path: Path, rows: int, seed: int) -> None:
    rng = random.Random(seed)
    with open(path, "w") as f:
        f.write("x,y\n")
        for _ in range(rows):
            x = rng.uniform(-1, 1)
            f.write(f"{x!r},{2 * x + 0.1 * rng.gauss(0, 1)!r}\n")


def lecture_loop_bp():
    """bp's loop on the lecture's data (in-process, after start-up): 300 steps a call."""
    import numpy as np

    from bpcli.data.files import Table
    from bpcli.training.loop import Settings, Trainer, build_model

    data = Table("lecture", ["x", "y"], {"x": np.array([1.0, 2.0, 3.0]), "y": np.array([2.0, 4.0, 6.0])}, 3)
    model = build_model("linear", data.columns, "y", "lecture")
    return lambda: Trainer(model, data, Settings()).run()


def lecture_loop_torch():
    """The lecture's PyTorch script (prints removed): 300 steps a call; None without torch."""
    try:
        import torch
    except ImportError:
        return None
    x_data, y_data = [1.0, 2.0, 3.0], [2.0, 4.0, 6.0]

    def lecture():
        w = torch.tensor([1.0])
        w.requires_grad = True
        for _epoch in range(100):
            for x, y in zip(x_data, y_data):
                loss = (x * w - y) ** 2
                loss.backward()
                w.grad.item()
                w.data = w.data - 0.01 * w.grad.data
                w.grad.data.zero_()
        return w

    return lecture


def main() -> None:
    compile_bytecode()
    bp = shutil.which("bp") or sys.exit("install bp first (pip install -e .)")
    rows = []
    # Blocks of whole runs take turns (warm caches within a block, the same spell of the
    # machine for both): bp 10 runs a block, PyTorch 2; 300 steps a run.
    ours_loop, torch_loop = lecture_loop_bp(), lecture_loop_torch()
    blocks = {"bp": lambda: [ours_loop() for _ in range(10)]}
    if torch_loop is not None:
        blocks["torch"] = lambda: [torch_loop() for _ in range(2)]
    best = interleaved_best(blocks, rounds=15)
    ours, theirs = best["bp"] / 3000, best["torch"] / 600 if "torch" in best else None  # s a step
    if theirs is None:
        rows.append(("lecture loop, per step", f"{ours * 1e6:.1f} us", "PyTorch not installed", "", ">= 10x faster"))
    else:
        rows.append(("lecture loop, per step", f"{ours * 1e6:.1f} us", f"PyTorch {theirs * 1e6:.1f} us",
                     f"{theirs / ours:.1f}x faster", ">= 10x faster"))
    with tempfile.TemporaryDirectory() as tmp:
        big, mid = Path(tmp) / "big.csv", Path(tmp) / "mid.csv"
        write_csv(big, 1_000_000, 1)
        write_csv(mid, 100_000, 2)
        np_script, csv_script = Path(tmp) / "np_script.py", Path(tmp) / "csv_script.py"
        np_script.write_text(NUMPY_SCRIPT)
        csv_script.write_text(CSV_SCRIPT)

        (t_bp, peak_bp), (t_np, peak_np) = median_runs(
            [bp, "train", "linear", str(big), "--batch-size", "all", "--json"],
            [sys.executable, str(np_script), str(big)])
        rows.append(("1M rows, full batch, 100 epochs (end to end)", f"{t_bp:.2f} s", f"numpy script {t_np:.2f} s",
                     f"{t_bp / t_np:.2f}x", "<= 2x"))
        data_mb = 1_000_000 * 2 * 8 / 2**20
        rows.append(("  peak memory (max RSS)", f"{peak_bp / 1024:.0f} MiB",
                     f"numpy script {peak_np / 1024:.0f} MiB; data {data_mb:.0f} MiB as float64",
                     f"{peak_bp / 1024 / data_mb:.1f}x the data", "small multiple"))

        (t_bp, _), (t_csv, _) = median_runs(
            [bp, "train", "linear", str(mid), "--epochs", "1", "--json"], [sys.executable, str(csv_script), str(mid)])
        rows.append(("100k rows, per-sample SGD, 1 epoch (end to end)", f"{t_bp:.2f} s",
                     f"csv + float loop {t_csv:.2f} s", f"{t_bp / t_csv:.2f}x", "<= 5x"))
    print(f"machine: {machine()}")
    print(table(rows, ("measure", "bp", "peer", "ratio", "target")))


if __name__ == "__main__":
    main()
