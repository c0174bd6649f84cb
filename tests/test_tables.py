"""Tables for people at 60, 80 and 120 columns: names, edges, formulas and marks are never cut."""

import json
import re

import pytest
from rich.cells import cell_len

CARD = ["(x*w-y)^2", "--x", "2", "--w", "3", "--y", "4"]
NEURON = ["n = x1*w1 + x2*w2 + b; o = tanh(n)", "--x1", "2", "--x2", "0", "--w1", "-3", "--w2", "1",
          "--b", "6.8813735870195432"]  # micrograd's README neuron


def _fits(text: str, width: int) -> None:
    assert "…" not in text
    assert max(cell_len(line) for line in text.splitlines()) <= width


@pytest.mark.parametrize("width", [60, 80, 120])
@pytest.mark.parametrize("args", [CARD, NEURON], ids=["card", "neuron"])
def test_grad_tables_keep_every_name_edge_formula_and_mark(bp, monkeypatch, width, args):
    monkeypatch.setenv("COLUMNS", str(width))
    doc = json.loads(bp("grad", *args, "--json").stdout)
    r = bp("grad", *args)
    assert r.exit_code == 0 and r.stderr == ""
    _fits(r.stdout, width)
    for name in doc["inputs"]:
        assert re.search(rf"│ {name}\s", r.stdout), name
    for e in doc["edges"]:
        assert f"{e['parent']} ← {e['child']}" in r.stdout
    words = " ".join(r.stdout.replace("│", " ").split())
    for c in doc["check"].values():
        assert c["derivative"].split()[0] in words
    assert r.stdout.count("✓") == len(doc["inputs"])


@pytest.mark.parametrize("width", [60, 80, 120])
def test_train_tables_keep_epochs_and_parameters(bp, monkeypatch, tmp_path, width):
    monkeypatch.setenv("COLUMNS", str(width))
    data = tmp_path / "d.csv"
    data.write_text("x,y\n1,3\n2,5\n3,7.1\n")
    r = bp("train", "affine", str(data), "--epochs", "20", "--predict", "4")
    assert r.exit_code == 0, r.stderr
    _fits(r.stdout, width)
    for epoch in (0, 10, 19):
        assert re.search(rf"│\s+{epoch} │", r.stdout)
    assert re.search(r"│ w\s+│ scalar │ 1.886081856 │", r.stdout)
    assert re.search(r"│ b\s+│ scalar │ 1.322172826 │", r.stdout)


def test_numbers_are_shortened_in_tables_and_whole_in_json_and_with_precision_full(bp):
    short = bp("grad", *CARD).stdout
    assert "12.00000000007759" not in short and "│              12.0 │" in short
    assert "12.00000000007759" in bp("grad", *CARD, "--precision", "full").stdout
    assert "12.00000000007759" in bp("grad", *CARD, "--json").stdout


@pytest.mark.parametrize("digits, shown", [("3", "0.333"), ("10", "0.3333333333"), ("full", "0.3333333333333333")])
def test_precision_sets_the_significant_digits(bp, digits, shown):
    r = bp("grad", "x/3", "--x", "1", "--no-check", "--precision", digits)
    assert r.exit_code == 0 and f" {shown} " in r.stdout


def test_a_bad_precision_is_a_usage_error(bp):
    r = bp("grad", "x", "--x", "1", "--precision", "0")
    assert r.exit_code == 2 and "--precision must be a whole number from 1 to 17 or full" in r.stderr


def test_too_narrow_for_a_row_stacks_each_row_as_lines(bp, monkeypatch):
    monkeypatch.setenv("COLUMNS", "60")
    r = bp("grad", *CARD)
    assert "│ n6 ← n4" in r.stdout and "│ local gradient ∂(n4^2)/∂n4 = 2·n4" in r.stdout


def test_small_arrays_show_in_full_and_large_ones_on_one_line_with_their_shape():
    import numpy as np

    from bpcli.views.numbers import show_value

    assert show_value(np.array([1.0, 2.5, -3.0])) == "[ 1.   2.5 -3. ]"
    assert show_value(np.array([[1.0, 2.0], [3.0, 4.0]])) == "[[1. 2.]\n [3. 4.]]"
    big = np.arange(60.0).reshape(6, 10) / 10
    assert show_value(big, 24) == "[[0 … 0.9] … [5 … 5.9]] (6×10)"
    assert show_value(big, 60) == "[[0 0.1 … 0.8 0.9] … [5 5.1 … 5.8 5.9]] (6×10)"
    assert show_value(big, 64) == "[[0 0.1 0.2 … 0.7 0.8 0.9] … [5 5.1 5.2 … 5.7 5.8 5.9]] (6×10)"
    assert show_value(np.arange(100.0), 36) == "[0 1 2 … 97 98 99] (100)"
    assert show_value(np.zeros((2, 3, 4)), 36) == "[[[0 0 0 0] … [0 0 0 0]]] (2×3×4)"
    tall = np.arange(12.0) * 1e6  # twelve entries, but too many lines at this width
    assert "\n" not in show_value(tall, 20) and show_value(tall, 20).endswith("(12)")


def test_an_80_column_table_never_wraps_a_big_matrix(bp, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    W = json.dumps([[round(0.01 * (i + j), 2) for j in range(30)] for i in range(20)])
    x = json.dumps([1.0] * 30)
    r = bp("grad", "sum(tanh(W @ x))", "--W", W, "--x", x, "--no-check")
    assert r.exit_code == 0, r.output
    assert max(cell_len(line) for line in r.stdout.splitlines()) <= 80
    assert "[[0 … 0.29] … [0.19 … 0.48]] (20×30)" in r.stdout
    assert len(r.stdout.splitlines()) < 80  # each of the six nodes a few lines, not one per matrix row


@pytest.mark.slow
def test_large_tables_show_their_first_and_last_rows_and_say_how_many_more(bp):
    names = [f"x{i}" for i in range(300)]
    args = [a for n in names for a in (f"--{n}", "1")]
    r = bp("grad", "+".join(names), *args)
    assert r.exit_code == 0
    gradient = r.stdout[r.stdout.index("Gradient, cross-checked"):]
    assert "100 more rows (--all shows them)" in gradient  # 300 inputs, 200 rows shown
    assert "│ x99 " in gradient and "│ x200 " in gradient and "│ x100 " not in gradient
    backward = r.stdout[r.stdout.index("Backward"):r.stdout.index("Gradient")]
    assert "398 more rows" in backward and "n598 ← n596" in backward and "n2 ← n1" in backward
    everything = bp("grad", "+".join(names), *args, "--all").stdout
    assert "more rows" not in everything and "│ x150 " in everything
