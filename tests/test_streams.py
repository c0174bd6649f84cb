"""bp on terminals and pipes that cannot take Unicode, and when it is interrupted."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest


def run_ascii(*args, **kw):
    env = {**os.environ, "PYTHONIOENCODING": "ascii"}
    return subprocess.run([sys.executable, "-m", "bpcli", *args], env=env, capture_output=True, **kw)


def test_ascii_output_uses_ascii_symbols_and_never_crashes():
    r = run_ascii("grad", "relu(x)*y", "--x", "0", "--y", "2")
    assert r.returncode == 0, r.stderr
    out = r.stdout.decode("ascii")  # every byte is ASCII
    assert "d(relu(x))/dx" in out and "ok" in out and "Traceback" not in r.stderr.decode()


def test_ascii_json_escapes_unicode_names_and_stays_valid():
    r = run_ascii("grad", "𝜔*x", "ω=1", "x=2", "--json", "--no-check")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout.decode("ascii"))["gradient"] == {"ω": 2.0, "x": 1.0}


def test_ascii_errors_are_readable():
    r = run_ascii("grad", "w(x+1)")
    assert r.returncode == 2
    assert "write w*(...) for a product" in r.stderr.decode("ascii")


@pytest.mark.parametrize("args", [
    ["graph", "(x*w-y)^2 + ω", "--x", "2", "--w", "3", "--y", "4", "ω=1"],
    ["graph", "(x*w-y)^2 + ω", "--x", "2", "--w", "3", "--y", "4", "ω=1", "--format", "dot"],
    ["graph", "(x*w-y)^2 + ω", "--x", "2", "--w", "3", "--y", "4", "ω=1", "--format", "mermaid"],
    ["grad", "x*w^2", "--x", "2", "--w", "3", "--hessian"],
    ["grad", "sum(A@B)", "--A", "[[1,2],[3,4]]", "--B", "[[1],[2]]"],
    ["ops"],
    ["grad", "--help"],
])
def test_every_text_output_spells_symbols_in_ascii_where_unicode_cannot_go(args):
    r = run_ascii(*args)
    assert r.returncode == 0, r.stderr
    out = r.stdout.decode("ascii")
    assert "\\x" not in out and "\\u2" not in out  # no escaped symbol (·, ∂, ², ×, ±, ᵀ)
    if args[0] == "graph":
        assert "adjoint = 1.0" in out and "x * w" in out
    if "dot" in args:  # a name bp cannot spell: the format's own character reference
        assert "&#969;" in out
    if "mermaid" in args:
        assert "#969;" in out
    if args[0] == "graph" and len(args) == 9:  # the tree, on a stream: a Python escape, as bp grad
        assert "n8: n6 + \\u03c9" in out


def test_ctrl_c_during_training_exits_130_with_the_parameters(tmp_path):
    data = tmp_path / "d.csv"
    data.write_text("x,y\n" + "".join(f"{i % 7},{2 * (i % 7)}\n" for i in range(2000)))
    p = subprocess.Popen([sys.executable, "-m", "bpcli", "train", "linear", str(data), "--epochs", "100000",
                          "--lr", "0.001"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(3)  # let it import and start training; not a timing assertion
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 130
    assert "parameters reached: w = " in err and "Traceback" not in err
