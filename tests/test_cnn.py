"""The digits CNN of docs/train.md from the command line: scikit-learn's 8×8 digits as a CSV
(tools/digits_csv.py), a formula over the row's 64 pixels, --val 0.2 with seed 0."""

import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CNN = ("h = max_pool2d(relu(conv2d(reshape(features, 1, 8, 8), k, padding=1) + c), 2)\n"
       "flatten(h) @ W + b")
OPTIONS = ["--param", "k=8x1x3x3", "--param", "c=8x1x1", "--param", "W=128x10", "--param", "b=10",
           "--loss", "ce", "--optimizer", "adam", "--lr", "0.01", "--batch-size", "32", "--shuffle",
           "--val", "0.2", "--seed", "0"]


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    pytest.importorskip("sklearn", reason="the digits come from scikit-learn (a test extra)")
    path = tmp_path_factory.mktemp("digits") / "digits.csv"
    subprocess.run([sys.executable, str(ROOT / "tools" / "digits_csv.py"), str(path)], check=True,
                   capture_output=True)
    return str(path)


@pytest.mark.slow
def test_the_digits_cnn_reaches_95_percent_on_held_out_rows_within_two_minutes(bp_json, digits):
    start = time.perf_counter()
    doc = bp_json("train", CNN, digits, *OPTIONS, "--epochs", "15")
    seconds = time.perf_counter() - start
    assert doc["classes"] == list(range(10)) and doc["validation"]["rows"] == 359
    assert doc["final_val_accuracy"] >= 0.95, doc["val_accuracy"]
    assert seconds < 120


def test_the_digits_cnn_trains_a_few_steps_with_every_face_of_the_run(bp, digits):
    r = bp("train", CNN, digits, *OPTIONS, "--epochs", "1")
    assert r.exit_code == 0 and r.stderr == ""
    assert "val accuracy" in r.stdout and "8×1×3×3" in r.stdout and "128×10" in r.stdout
