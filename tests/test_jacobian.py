"""`Formula.jacobian` and `bp grad --jacobian`: one backward pass per output entry, against
torch.autograd.functional.jacobian in float64; the bound; tables at 80 columns; JSON."""

import json

import numpy as np
import pytest
import torch

from bpcli.errors import LimitError
from bpcli.language.parser import parse

W = [[1.0, 2.0, -0.5], [3.0, -4.0, 0.25]]
X3 = [0.5, -1.0, 2.0]
CASES = [
    ("W @ x", {"W": W, "x": X3}, lambda W, x: W @ x),
    ("softmax(W @ x)", {"W": W, "x": X3}, lambda W, x: torch.softmax(W @ x, -1)),
    ("tanh(A * b + c)", {"A": W, "b": X3, "c": 0.75}, lambda A, b, c: torch.tanh(A * b + c)),
    ("exp(A)[1, 0] * v", {"A": W, "v": X3}, lambda A, v: torch.exp(A)[1, 0] * v),
    ("log_softmax(W @ x)[1]", {"W": W, "x": X3}, lambda W, x: torch.log_softmax(W @ x, -1)[1]),
    ("transpose(W) @ W", {"W": W}, lambda W: W.T @ W),
]


@pytest.mark.parametrize("text,values,torch_fn", CASES, ids=[c[0] for c in CASES])
def test_jacobian_equals_pytorch_float64(text, values, torch_fn):
    jac = parse(text).jacobian(values)
    leaves = tuple(torch.tensor(v, dtype=torch.float64) for v in values.values())
    expected = torch.autograd.functional.jacobian(torch_fn, leaves)
    assert list(jac.matrices) == list(values)
    for name, want in zip(values, expected):
        got = jac.matrices[name]
        assert got.shape == tuple(want.shape)
        np.testing.assert_allclose(got, want.numpy(), rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(jac.value, torch_fn(*leaves).numpy(), rtol=1e-15)


def test_scalar_output_gives_the_gradient_as_one_row():
    f = parse("(x*w - y)^2")
    point = {"x": 2.0, "w": 3.0, "y": 4.0}
    jac = f.jacobian(point)
    assert jac.output_shape == ()
    assert {n: float(a) for n, a in jac.matrices.items()} == f.grad(point).gradient


def test_class_labels_get_no_jacobian():
    jac = parse("-log_softmax(W @ x)[y]").jacobian({"W": W, "x": X3, "y": 1})
    assert list(jac.matrices) == ["W", "x"]


def test_outputs_over_the_bound_are_refused_with_data():
    f = parse("x * 2")
    with pytest.raises(LimitError) as e:
        f.jacobian({"x": list(range(101))})
    assert (e.value.entries, e.value.limit, e.value.shape) == (101, 100, (101,))
    assert f.jacobian({"x": list(range(101))}, limit=0).matrices["x"].shape == (101, 101)
    assert f.jacobian({"x": list(range(100))}).matrices["x"].shape == (100, 100)


def test_cli_prints_a_table_per_input_labelled_by_entry(bp):
    r = bp("grad", "softmax(W @ x)", "--W", "[[1,2],[3,4]]", "--x", "[1,-1]", "--jacobian")
    assert r.exit_code == 0, r.stderr
    assert r.stderr == ""
    out = r.stdout
    assert "Jacobian ∂out/∂W" in out and "Jacobian ∂out/∂x" in out
    for label in ("W[0,0]", "W[1,1]", "x[0]", "x[1]", "out[0]", "out[1]"):
        assert label in out
    row = next(line for line in out.splitlines() if "out[0]" in line and "0.25" in line)
    assert row.split("│")[2:6] == [" " * 3 + "0.25 ", "  -0.25 ", "  -0.25 ", "   0.25 "]
    assert all(len(line) <= 80 for line in out.splitlines())


@pytest.mark.slow
def test_cli_splits_wide_jacobians_to_fit_80_columns(bp):
    r = bp("grad", "tanh(W @ x)", "--W", json.dumps([[0.123456789 * (i - j) for j in range(12)] for i in range(3)]),
           "--x", json.dumps([1.0] * 12), "--jacobian")
    assert r.exit_code == 0, r.stderr
    lines = r.stdout.splitlines()
    assert all(len(line) <= 80 for line in lines)
    assert "(columns 1–" in r.stdout and "of 36)" in r.stdout
    assert "W[2,11]" in r.stdout and "x[11]" in r.stdout


def test_cli_names_a_bound_output(bp):
    r = bp("grad", "h = W @ x; p = softmax(h)", "--W", "[[1,2],[3,4]]", "--x", "[1,-1]", "--jacobian")
    assert r.exit_code == 0, r.stderr
    assert "Jacobian ∂p/∂W" in r.stdout and "p[1]" in r.stdout


def test_cli_json_has_nested_lists_of_output_and_input_shape(bp_json):
    doc = bp_json("grad", "exp(W @ x)", "--W", "[[1000,0],[0,1]]", "--x", "[1,-1]", "--jacobian")
    assert doc["value"] == ["inf", 0.36787944117144233]
    # 0 · inf = nan in exp's backward, as in PyTorch (which gives these same entries)
    e = 0.36787944117144233
    assert doc["jacobian"]["W"] == [[["inf", "-inf"], [0.0, -0.0]], [["nan", "nan"], [e, -e]]]
    assert doc["jacobian"]["x"] == [["inf", "nan"], ["nan", "nan"]]


def test_cli_json_scalar_output_adds_the_jacobian_to_the_grad_document(bp_json):
    doc = bp_json("grad", "(x*w-y)^2", "--x", "2", "--w", "3", "--y", "4", "--jacobian")
    assert doc["jacobian"] == doc["gradient"] == {"x": 12.0, "w": 8.0, "y": -4.0}
    assert doc["ok"] is True


def test_cli_refuses_a_large_output_naming_the_bound_and_the_flag(bp):
    r = bp("grad", "x * 2", "--x", json.dumps(list(range(101))), "--jacobian")
    assert r.exit_code == 2
    assert r.stdout == ""
    assert "101 entries" in r.stderr and "at most 100" in r.stderr and "--max-jacobian N" in r.stderr
    wide = json.dumps(list(range(101)))
    assert bp("grad", "x * 2", "--x", wide, "--jacobian", "--max-jacobian", "101").exit_code == 0


def test_tensor_output_without_jacobian_is_refused_with_both_ways_out(bp):
    r = bp("grad", "softmax(W @ x)", "--W", "[[1,2],[3,4]]", "--x", "[1,-1]")
    assert r.exit_code == 2
    assert "sum(softmax(W @ x))" in r.stderr and "--jacobian" in r.stderr


def test_jacobian_does_not_go_with_scalar_only_views(bp):
    r = bp("grad", "x^2", "--x", "3", "--jacobian", "--hessian")
    assert r.exit_code == 2
    assert "--jacobian does not go with --hessian" in r.stderr


def test_jacobian_does_not_go_with_many_points(bp):
    r = bp("grad", "x^2", "--at", "points.csv", "--jacobian")
    assert r.exit_code == 2
    assert "--jacobian does not go with --at" in r.stderr


# -- random formulas, and the check ------------------------------------------------------------
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from tensor_strategies import SHAPES, tensor_formulas  # noqa: E402

from bpcli.check.tensorcheck import check_jacobian  # noqa: E402


def _random_values(seed: int, names) -> dict:
    rng = np.random.default_rng(seed)
    return {n: rng.uniform(-1.5, 1.5, SHAPES[n]) for n in names}


@given(tensor_formulas(max_steps=5, summed=False), st.integers(0, 2**32 - 1))
def test_jacobians_of_random_formulas_equal_pytorch_float64(expr, seed):
    f = parse(expr.text)
    values = _random_values(seed, f.inputs)
    jac = f.jacobian(values)
    names = list(values)
    leaves = tuple(torch.tensor(values[n], dtype=torch.float64) for n in names)
    expected = torch.autograd.functional.jacobian(lambda *ts: expr.torch(dict(zip(names, ts))), leaves)
    assert jac.output_shape == expr.shape
    for name, want in zip(names, expected):
        assert jac.matrices[name].shape == expr.shape + SHAPES[name], expr.text
        np.testing.assert_allclose(jac.matrices[name], want.numpy(), rtol=1e-10, atol=1e-12, err_msg=expr.text)


@pytest.mark.slow
@settings(max_examples=15, deadline=None)
@given(tensor_formulas(max_steps=4, summed=False), st.integers(0, 2**32 - 1))
def test_the_jacobian_check_agrees_on_random_formulas(expr, seed):
    f = parse(expr.text)
    values = _random_values(seed, f.inputs)
    check = check_jacobian(f, f.jacobian(values), values, budget=20.0)
    assert all(c.status in ("ok", "convention") for c in check.inputs), (expr.text, check.notes)


def test_a_wrong_jacobian_is_a_mismatch_and_the_cli_exits_3(bp, monkeypatch):
    f = parse("softmax(W @ x)")
    values = {"W": np.array(W), "x": np.array(X3)}
    jac = f.jacobian(values)
    jac.matrices["x"] = jac.matrices["x"] + 1e-3
    check = check_jacobian(f, jac, values)
    assert [c.status for c in check.inputs] == ["ok", "mismatch"] and not check.ok
    from bpcli.engine import tensor

    real = tensor.jacobian

    def off(*args, **kwargs):
        j = real(*args, **kwargs)
        j.matrices["W"] = j.matrices["W"] * 1.01
        return j

    monkeypatch.setattr(tensor, "jacobian", off)
    r = bp("grad", "softmax(W @ x)", "--W", json.dumps(W), "--x", json.dumps(X3), "--jacobian")
    assert r.exit_code == 3
    assert "✗" in r.stdout and "∂/∂W: backprop" in r.stderr


@pytest.mark.slow
def test_the_check_samples_big_inputs_and_skips_sympy_past_its_bound(bp):
    W = [[0.01 * (i - j) for j in range(100)] for i in range(30)]
    r = bp("grad", "tanh(W @ x)", "--W", json.dumps(W), "--x", json.dumps([1.0] * 100), "--jacobian")
    assert r.exit_code == 0, r.output
    text = " ".join(r.stdout.split())
    assert "64 of 3000 columns" in text and "64 of 100 columns" in text
    assert "finite differences at 64 of 3000 entries (seeded sample, seed 0)" in text
    assert "SymPy check skipped: 93,000 Jacobian entries (more than 2,000)" in text


def test_the_jacobian_json_document_is_complete(bp_json):
    doc = bp_json("grad", "softmax(W @ x)", "--W", "[[1,2],[3,4]]", "--x", "[1,-1]", "--jacobian")
    assert list(doc) == ["schema", "formula", "inputs", "value", "shape", "input_shapes", "jacobian",
                         "check", "notes", "ok"]
    assert doc["schema"] == "bp.grad/2" and doc["ok"] is True and doc["notes"] == []
    assert doc["value"] == [0.5, 0.5] and doc["shape"] == [2]
    assert doc["input_shapes"] == {"W": [2, 2], "x": [2]}
    assert doc["jacobian"]["x"] == [[-0.5, -0.5], [0.5, 0.5]]
    check = doc["check"]["W"]
    assert check["status"] == "ok" and check["derivative"] == "elementwise"
    assert np.shape(check["sympy"]) == np.shape(check["finite_difference"]) == (2, 2, 2)
    np.testing.assert_allclose(check["sympy"], doc["jacobian"]["W"], atol=1e-15)
    np.testing.assert_allclose(check["finite_difference"], doc["jacobian"]["W"], atol=1e-9)


def test_no_check_leaves_the_check_out(bp_json):
    doc = bp_json("grad", "softmax(W @ x)", "--W", "[[1,2],[3,4]]", "--x", "[1,-1]", "--jacobian", "--no-check")
    assert doc["check"] is None and doc["ok"] is True
