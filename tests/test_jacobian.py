"""`Formula.jacobian` and `bp grad --jacobian`: one backward pass per output entry, against
torch.autograd.functional.jacobian in float64; the bound; tables at 80 columns; JSON."""

import json

import numpy as np
import pytest
import torch

from bpcli.errors import LimitError
from bpcli.parser import parse

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
    assert bp("grad", "x * 2", "--x", json.dumps(list(range(101))), "--jacobian", "--max-jacobian", "101").exit_code == 0


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
