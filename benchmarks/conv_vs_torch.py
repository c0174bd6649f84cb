"""A conv2d layer's forward + backward on a batch of 64 8×8 images, and an epoch of the digits CNN
(docs/cnn.md), in bp and in PyTorch CPU, side by side, one thread each; prints the times and bp's
ratio to PyTorch (the target: at most 2×).

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 python benchmarks/conv_vs_torch.py [digits.csv]

Without a digits CSV (python tools/digits_csv.py digits.csv writes one) random images stand in."""

from __future__ import annotations

import math
import os
import sys
import time

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # before numpy loads: one thread, as torch.set_num_threads(1)

import numpy as np  # noqa: E402
import torch  # noqa: E402

from bpcli.engine import tensor  # noqa: E402
from bpcli.engine.numeric import ArrayMath  # noqa: E402
from bpcli.language.parser import parse  # noqa: E402

torch.set_num_threads(1)
F = torch.nn.functional


def side_by_side(bp, pt, repeat: int = 9, number: int = 20) -> tuple[float, float]:
    """The best of `repeat` timings of `number` runs of each, per run, in seconds, bp's and
    PyTorch's blocks interleaved so that a busy machine slows both alike."""
    bp(), pt()
    best = [math.inf, math.inf]
    for _ in range(repeat):
        for k, run in enumerate((bp, pt)):
            start = time.perf_counter()
            for _ in range(number):
                run()
            best[k] = min(best[k], (time.perf_counter() - start) / number)
    return best[0], best[1]


def layer() -> tuple[float, float]:
    rng = np.random.default_rng(0)
    x, w, u = rng.random((64, 1, 8, 8)), rng.standard_normal((8, 1, 3, 3)), rng.standard_normal((64, 8, 8, 8))
    f = parse("sum(conv2d(x, w, padding=1) * u)")
    m = ArrayMath("float64")
    values = {"x": x, "w": w, "u": u}

    def bp():
        tensor.grad(f, values, m, wrt=["x", "w"])

    xt, wt, ut = (torch.tensor(a, requires_grad=k < 2) for k, a in enumerate((x, w, u)))

    def pt():
        xt.grad = wt.grad = None
        (F.conv2d(xt, wt, padding=1) * ut).sum().backward()

    return side_by_side(bp, pt)


CNN = ("h = max_pool2d(relu(conv2d(reshape(features, 1, 8, 8), k, padding=1) + c), 2)\n"
       "flatten(h) @ W + b")


def digits(path: str | None):
    if path:
        data = np.loadtxt(path, delimiter=",", skiprows=1)
        return data[:, :64], data[:, 64]
    rng = np.random.default_rng(0)
    return rng.random((1437, 64)), rng.integers(0, 10, 1437).astype(float)


def epoch(path: str | None) -> tuple[float, float]:
    """One epoch of mini-batches of 32 with Adam, as bp train runs it (docs/cnn.md) and as PyTorch does."""
    from bpcli.training import loop

    X, y = digits(path)
    X, y = X[:1437], y[:1437]  # the 80 % that --val 0.2 trains on
    columns = {f"p{k}": X[:, k] for k in range(64)} | {"y": y}
    from bpcli.training.tables import from_columns

    net = loop.NetOptions(shapes={"k": (8, 1, 3, 3), "c": (8, 1, 1), "W": (128, 10), "b": (10,)})
    spec, table = from_columns(CNN, columns, "digits", "y", "ce", net)
    settings = loop.Settings(lr=0.01, epochs=1, batch_size=32, optimizer="adam", init_scheme="uniform")

    def bp():
        loop.Trainer(spec, table, settings).run()

    k = torch.nn.Conv2d(1, 8, 3, padding=1, dtype=torch.float64)
    lin = torch.nn.Linear(128, 10, dtype=torch.float64)
    params = list(k.parameters()) + list(lin.parameters())
    Xt, yt = torch.tensor(X).reshape(-1, 1, 8, 8), torch.tensor(y).long()

    def pt():
        opt = torch.optim.Adam(params, lr=0.01)
        for s in range(0, len(Xt), 32):
            opt.zero_grad()
            z = lin(F.max_pool2d(torch.relu(k(Xt[s:s + 32])), 2).flatten(1))
            F.cross_entropy(z, yt[s:s + 32]).backward()
            opt.step()

    return side_by_side(bp, pt, 5, 1)


def main() -> None:
    path = sys.argv[1] if len(sys.argv) > 1 else None
    rows = [("conv2d layer, forward + backward, 64 images 8×8, 8 filters 3×3", *layer())]
    try:
        rows.append(("digits CNN, one epoch (1,437 rows, batches of 32, Adam)", *epoch(path)))
    except Exception as e:  # noqa: BLE001 - the epoch needs reshape/flatten in the language
        print(f"(the CNN epoch could not run: {e})")
    print(f"{'':66} {'bp':>9} {'PyTorch':>9} {'ratio':>6}")
    for what, b, t in rows:
        print(f"{what:66} {b * 1e3:7.3f}ms {t * 1e3:7.3f}ms {b / t:5.2f}×")


if __name__ == "__main__":
    main()
