"""The shape operations: refusals with their place, PyTorch's edge cases (squeeze of a longer
axis, 0-size axes, a 0-d tensor), and a batch riding along (bp train's rows)."""

from __future__ import annotations

import numpy as np
import pytest

from bpcli import ParseError, parse
from bpcli.engine.tensor import evaluate
from bpcli.engine.tensor import grad as tensor_grad

torch = pytest.importorskip("torch", reason="the reference numbers are PyTorch's")


@pytest.mark.parametrize("text, message", [
    ("sum(reshape(A, 5, -1))", "cannot reshape a 2×3 tensor (6 entries) to 5, -1: 5 does not divide 6"),
    ("sum(reshape(A, 4, 2))", "cannot reshape a 2×3 tensor (6 entries) to 4×2 (8 entries)"),
    ("sum(reshape(A, -1, -1))", "one of them may be -1"),
    ("sum(permute(A, 0, 0))", "the dims must name each of its 2 axes once"),
    ("sum(transpose(A, 0, 2))", "transpose: dim1 2 is out of range for a tensor of 2 axes (its axes are 0 to 1)"),
    ("sum(unsqueeze(A, 3))", "unsqueeze: dim 3 is out of range"),
    ("sum(cat(A, v))", "cat joins tensors of the same number of axes"),
    ("sum(cat(A, A, 2))", "cat: dim 2 is out of range"),
    ("sum(cat(A, transpose(A), 0))", "cat along axis 0: 2×3 and 3×2 differ on another axis"),
    ("sum(stack(A, transpose(A)))", "stack joins tensors of one shape, not 2×3 and 3×2"),
    ("sum(pad(A, 1, 1, 1))", "widths come in pairs"),
    ("sum(flip(A, 0, -2))", "an axis is named twice"),
    ("sum(tril(v))", "tril keeps a triangle of a matrix: a 3 tensor has fewer than 2 axes"),
    ("sum(flatten(v[0], 1))", "flatten of a number: start_dim 1 is out of range (0 or -1, as PyTorch)"),
])
def test_shapes_that_do_not_fit_are_refused_with_the_place(bp, text, message):
    values = {"A": ["--A", "[[1,2,3],[4,5,6]]"], "v": ["--v", "[1,2,3]"]}
    r = bp("grad", text, *[a for n in sorted(parse(text).inputs) for a in values[n]])
    assert r.exit_code == 2, r.stdout
    assert message in r.stderr and "^" in r.stderr


def test_reshape_needs_its_sizes():
    with pytest.raises(ParseError, match=r"reshape\(\) needs shape: reshape\(a, \*shape\)"):
        parse("reshape(A)")


def test_a_size_must_be_a_constant():
    with pytest.raises(ParseError) as e:
        parse("reshape(A, n, 2)")
    assert "must be an integer constant" in e.value.reason and e.value.position.column == 10


@pytest.mark.parametrize("text, torch_fn", [
    ("squeeze(A, 0)", lambda A: A.squeeze(0)),  # an axis longer than 1 stays, as PyTorch
    ("squeeze(A)", lambda A: A.squeeze()),
    ("reshape(Z, 3, 0)", None),
    ("cat(Z, Z, 0)", None),
    ("flatten(s)", None),
])
def test_edge_cases_keep_pytorch_s_shapes(text, torch_fn):
    values = {"A": np.ones((2, 1, 3)), "Z": np.zeros((0, 3)), "s": np.array(2.0)}
    f = parse(text)
    out = evaluate(f, {n: values[n] for n in f.inputs}).value
    leaves = {n: torch.tensor(values[n]) for n in f.inputs}
    reference = {"squeeze(A, 0)": lambda: leaves["A"].squeeze(0), "squeeze(A)": lambda: leaves["A"].squeeze(),
                 "reshape(Z, 3, 0)": lambda: leaves["Z"].reshape(3, 0),
                 "cat(Z, Z, 0)": lambda: torch.cat((leaves["Z"], leaves["Z"]), 0),
                 "flatten(s)": lambda: torch.flatten(leaves["s"])}[text]()
    assert np.shape(out) == tuple(reference.shape)
    assert np.array_equal(out, reference.numpy())


@pytest.mark.parametrize("text", [
    "sum(reshape(x, 2, 3) @ w)", "sum(flatten(reshape(x, 3, 2)) * x)", "sum(transpose(reshape(x, 2, 3), 0, 1) @ v)",
    "sum(permute(reshape(x, 1, 2, 3), 2, 0, 1) * x[0])", "sum(cat(x, x) * cat(x, flip(x, 0)))",
    "sum(stack(x, x, 1) * unsqueeze(x, -1))", "sum(pad(x, 1) * pad(x, 1))", "sum(flip(x, 0) * x)",
    "sum(tril(reshape(x, 2, 3)) * triu(reshape(x, 2, 3)))", "sum(squeeze(reshape(x, 1, 6)) * x)",
])
def test_a_batch_rides_along_row_by_row(text):
    """bp train feeds rows as a batch (vmap): each row's numbers are one example's."""
    rng = np.random.default_rng(0)
    xs, w, v = rng.normal(size=(4, 6)), rng.normal(size=(3,)), rng.normal(size=(2,))
    f = parse(text)
    shared = {n: a for n, a in {"w": w, "v": v}.items() if n in f.inputs}
    batch = tensor_grad(f, {"x": xs, **shared}, batched=("x",))
    for row in range(4):
        one = tensor_grad(f, {"x": xs[row], **shared})
        assert np.allclose(batch.value[row], one.value, rtol=1e-13, atol=1e-14)
        assert np.allclose(batch.gradient["x"][row], one.gradient["x"], rtol=1e-13, atol=1e-14)
