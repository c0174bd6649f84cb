"""The tensor gradient check on a network: SymPy is not asked where its work is known to be past
its budget (no 5 s wait), and finite differences that sampled some entries show the others as
not sampled (— in the table, null in JSON), never as nan (#22 item 11)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bpcli.check import sympy_bridge, tensorcheck

MLP = ("h1 = tanh(W1 @ x + b1); h2 = tanh(W2 @ h1 + b2); yhat = sigmoid(W3 @ h2 + b3); "
       "loss = -(y*log(yhat) + (1-y)*log(1-yhat))")


def mlp_args(width: int = 16) -> list[str]:
    r = np.random.default_rng(0)
    values = {"W1": r.normal(size=(width, 2)).round(2).tolist(), "b1": [0.0] * width,
              "W2": r.normal(size=(width, width)).round(2).tolist(), "b2": [0.0] * width,
              "W3": r.normal(size=width).round(2).tolist(), "b3": 0.1, "x": [0.5, -1.0], "y": 1.0}
    return [w for k, v in values.items() for w in (f"--{k}", json.dumps(v))]


@pytest.fixture
def sympy_forbidden(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("SymPy was asked")

    monkeypatch.setattr(sympy_bridge, "run", refuse)


def test_sympy_is_not_asked_about_a_network_it_cannot_finish(bp, sympy_forbidden):
    r = bp("grad", MLP, *mlp_args(), "--json")
    assert r.exit_code == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["ok"] and all(c["sympy"] is None for c in doc["check"].values())
    [note] = [n["message"] for n in doc["notes"] if "SymPy check skipped" in n["message"]]
    assert "SymPy check skipped: entry by entry the gradient takes about 2," in note
    assert "derivative steps, more than SymPy finishes in 5 s (about 2,500); finite differences only" in note


def test_the_work_estimate_tells_small_and_polynomial_formulas_from_networks():
    from bpcli.language.parser import parse

    one = {"W1": np.ones((4, 2)), "b1": np.zeros(4), "W3": np.ones(4), "b3": 0.0, "x": np.ones(2), "y": 1.0}
    small = tensorcheck.sympy_work(parse("yhat = sigmoid(W3 @ tanh(W1 @ x + b1) + b3); loss = (yhat - y)^2"), one,
                                   [])
    assert 1_000 < small < 5_000  # measured: about 5 s of SymPy's at this size
    big = {"W1": np.ones((16, 2)), "b1": np.zeros(16), "W2": np.ones((16, 16)), "b2": np.zeros(16),
           "W3": np.ones(16), "b3": 0.0, "x": np.ones(2), "y": 1.0}
    assert tensorcheck.sympy_work(parse(MLP), big, []) > 1_000_000


def test_small_tensor_formulas_are_still_checked_by_sympy(bp):
    doc = json.loads(bp("grad", "h = W1 @ x + b1; y_hat = W2 @ h + b2; loss = sum((y_hat - y)^2)",
                        "--W1", "[[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]]", "--b1", "[0, 0, 0]", "--W2", "[[1, -1, 0.5]]",
                        "--b2", "[0.1]", "--x", "[1, 2]", "--y", "[1]", "--json").stdout)
    assert doc["check"]["W1"]["sympy"] == pytest.approx(np.array(doc["check"]["W1"]["backprop"]), rel=1e-12)
    rows = [[float(k + j) for j in range(9)] for k in range(8)]  # 72 entries, polynomial: SymPy is quick
    doc = json.loads(bp("grad", "sum(W @ x)", "--W", json.dumps(rows), "--x", json.dumps(list(range(9))),
                        "--json").stdout)
    assert doc["check"]["W"]["sympy"] is not None


def test_entries_not_sampled_show_as_not_sampled_in_the_table_and_null_in_json(bp, sympy_forbidden):
    r = bp("grad", MLP, *mlp_args())
    assert r.exit_code == 0, r.stderr
    [line] = [line for line in r.stdout.splitlines() if "finite difference" in line and "16×16" in line]
    assert "—" in line and "nan" not in line
    assert "note: ∂/∂W2: finite differences at 64 of 256 entries (seeded sample, seed 0)" in r.stdout
    doc = json.loads(bp("grad", MLP, *mlp_args(), "--json").stdout)
    w2 = doc["check"]["W2"]
    flat = [d for row in w2["finite_difference"] for d in row]
    assert flat.count(None) == 256 - 64 and "nan" not in flat
    assert w2["finite_difference_sampled"] == {"entries": 64, "of": 256}
    assert "finite_difference_sampled" not in doc["check"]["W1"]  # 32 entries: all taken


def test_a_small_array_shows_its_unsampled_entries_as_a_dash():
    from bpcli.views.numbers import show_sampled

    taken = np.array([[True, False], [True, True]])
    assert show_sampled(np.array([[1.5, np.nan], [3.0, -4.0]]), taken, 30) == "[[1.5 —]\n [3 -4]]"
    assert show_sampled(np.array([1.5, np.nan]), np.array([True, True])) == "[1.5 nan]"  # a real nan stays
