"""bp train mlp against the same network in a PyTorch CPU script: time and peak memory.

    python benchmarks/mlp_speed.py

An MLP 2-16-16-1 (tanh, sigmoid output, binary cross-entropy), float64, Adam at lr 0.01,
100 full-batch epochs over 100,000 rows, end to end (start-up, reading the CSV, training).
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "examples"))

from common import compile_bytecode, machine, median_runs, table  # noqa: E402
from make_moons import moons  # noqa: E402

ROWS, EPOCHS = 100_000, 100

TORCH_SCRIPT = """
import sys
import numpy as np
import torch

data = np.loadtxt(sys.argv[1], delimiter=",", skiprows=1)
x = torch.tensor(data[:, :2], dtype=torch.float64)
y = torch.tensor(data[:, 2], dtype=torch.float64)
torch.manual_seed(0)
model = torch.nn.Sequential(
    torch.nn.Linear(2, 16), torch.nn.Tanh(), torch.nn.Linear(16, 16), torch.nn.Tanh(),
    torch.nn.Linear(16, 1), torch.nn.Sigmoid(),
).double()
optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
for epoch in range(%d):
    optimizer.zero_grad()
    loss = torch.nn.functional.binary_cross_entropy(model(x)[:, 0], y)
    loss.backward()
    optimizer.step()
print(float(loss))
""" % EPOCHS


def write_data(path: Path, rows: int) -> None:
    points, labels = moons(rows, 0.1, 0)
    with open(path, "w") as out:
        out.write("x1,x2,y\n")
        out.writelines(f"{a!r},{b!r},{int(c)}\n" for (a, b), c in zip(points.tolist(), labels.tolist()))


def main() -> None:
    compile_bytecode()
    bp = [shutil.which("bp")] if shutil.which("bp") else [sys.executable, "-m", "bpcli"]
    train = ["train", "mlp", "--hidden", "16,16", "--activation", "tanh", "--optimizer", "adam",
             "--lr", "0.01", "--batch-size", "all", "--json"]
    with tempfile.TemporaryDirectory() as tmp:
        big, tiny, script = Path(tmp) / "moons.csv", Path(tmp) / "tiny.csv", Path(tmp) / "mlp_torch.py"
        write_data(big, ROWS)
        write_data(tiny, 8)
        script.write_text(TORCH_SCRIPT)
        (t_bp, peak_bp), (t_torch, peak_torch) = median_runs(
            [*bp, train[0], train[1], str(big), *train[2:], "--epochs", str(EPOCHS)],
            [sys.executable, str(script), str(big)], repeat=3)
        (_, base), = median_runs([*bp, train[0], train[1], str(tiny), *train[2:], "--epochs", "1"], repeat=3)
    data_mib = ROWS * 3 * 8 / 2**20
    rows = [
        (f"MLP 2-16-16-1, {ROWS:,} rows, {EPOCHS} full-batch epochs, Adam (end to end)",
         f"{t_bp:.2f} s", f"PyTorch script {t_torch:.2f} s", f"{t_bp / t_torch:.2f}x", "<= 1.5x"),
        ("  peak memory (max RSS)", f"{peak_bp / 1024:.0f} MiB",
         f"PyTorch script {peak_torch / 1024:.0f} MiB; bp on 8 rows {base / 1024:.0f} MiB",
         f"{(peak_bp - base) / 1024 / data_mib:.1f}x the data ({data_mib:.1f} MiB) over bp on 8 rows",
         "<= 3x the data + the interpreter"),
    ]
    print(f"machine: {machine()}")
    print(table(rows, ("measure", "bp", "peer", "ratio", "target")))


if __name__ == "__main__":
    main()
