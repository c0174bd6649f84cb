"""Write scikit-learn's bundled 8×8 digits (1,797 images) as a CSV: p0 … p63, the pixels row by
row scaled to [0, 1] (sklearn's are 0-16), then the digit y. The data of docs/cnn.md's CNN.

    python tools/digits_csv.py digits.csv

scikit-learn is a test and docs extra only (pip install 'backprop-cli[test]'); bp never imports it.
"""

from __future__ import annotations

import sys


def main(path: str) -> None:
    from sklearn.datasets import load_digits

    digits = load_digits()
    header = ",".join([f"p{k}" for k in range(64)] + ["y"])
    with open(path, "w", encoding="utf-8") as out:
        out.write(header + "\n")
        for pixels, label in zip(digits.data, digits.target):
            out.write(",".join([repr(float(v) / 16.0) for v in pixels] + [str(int(label))]) + "\n")
    print(f"wrote {path}: {len(digits.target):,} images", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "digits.csv")
