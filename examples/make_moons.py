"""Write two interleaving half-moons as a CSV (x1, x2, y), as scikit-learn's make_moons draws them.

    python examples/make_moons.py 200 0.1 0 > examples/moons.csv
"""

import sys

import numpy as np


def moons(n: int, noise: float, seed: int):
    """n points: the upper moon (label 0) and the lower, shifted one (label 1), with Gaussian noise."""
    rng = np.random.default_rng(seed)
    upper, lower = n // 2 + n % 2, n // 2
    t_up = np.linspace(0, np.pi, upper)
    t_low = np.linspace(0, np.pi, lower)
    x = np.concatenate([np.cos(t_up), 1 - np.cos(t_low)])
    y = np.concatenate([np.sin(t_up), 0.5 - np.sin(t_low)])
    labels = np.concatenate([np.zeros(upper), np.ones(lower)])
    points = np.column_stack([x, y]) + rng.normal(0.0, noise, size=(n, 2))
    order = rng.permutation(n)
    return points[order], labels[order]


def main() -> None:
    n, noise, seed = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
    points, labels = moons(n, noise, seed)
    print("x1,x2,y")
    for (a, b), c in zip(points, labels):
        print(f"{float(a)!r},{float(b)!r},{int(c)}")


if __name__ == "__main__":
    main()
