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
