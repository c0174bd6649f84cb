"""Reductions with an axis and keepdim, and the cumulative ops: against PyTorch float64 over
random shapes (hypothesis), ties, 0-size axes, axes out of range, batch norm as makemore
writes it."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bpcli import ShapeError, parse

torch = pytest.importorskip("torch", reason="the reference numbers are PyTorch's")

REDUCTIONS = ["sum", "mean", "logsumexp", "amax", "amin", "prod", "var", "std"]
ALONG = ["cumsum", "cumprod", "logcumsumexp"]


def _torch(name, A, dim, keepdim):
    if name == "logsumexp":
        return torch.logsumexp(A, -1 if dim is None else dim, keepdim=keepdim)
    if dim is None:
        if name == "prod":
            out = torch.prod(A)
            return out.reshape([1] * A.dim()) if keepdim else out
        return getattr(torch, name)(A, dim=(), keepdim=keepdim) if name in ("amax", "amin") else \
            getattr(torch, name)(A, dim=None, keepdim=keepdim)
    return getattr(torch, name)(A, dim, keepdim=keepdim)


def _compare(text: str, values: dict, reference):
    r = parse(text).grad(values)
    leaves = {n: torch.tensor(v, dtype=torch.float64, requires_grad=True) for n, v in values.items()}
    out = reference(**leaves)
    out.backward()
    assert np.allclose(float(r.value), out.item(), rtol=1e-11, atol=1e-12, equal_nan=True), text
    for n, x in leaves.items():
        assert np.allclose(r.gradient[n], x.grad.numpy(), rtol=1e-9, atol=1e-12, equal_nan=True), (text, n)


@settings(max_examples=40)
@given(st.sampled_from(REDUCTIONS), st.lists(st.integers(1, 4), min_size=1, max_size=3),
       st.data(), st.booleans(), st.integers(0, 2**31))
def test_every_reduction_with_any_axis_and_keepdim_agrees_with_pytorch(name, shape, data, keepdim, seed):
    rank = len(shape)
    dim = data.draw(st.one_of(st.none(), st.integers(-rank, rank - 1)))
    rng = np.random.default_rng(seed)
    A = rng.uniform(-1.5, 1.5, shape)
    out_shape = tuple(_torch(name, torch.tensor(A), dim, keepdim).shape)
    W = rng.uniform(-1, 1, out_shape)
    args = ("" if dim is None else f", {dim}") + (", keepdim=True" if keepdim else "")
    _compare(f"sum({name}(A{args}) * W)", {"A": A, "W": W},
             lambda A, W: (_torch(name, A, dim, keepdim) * W).sum())


@settings(max_examples=30)
@given(st.sampled_from(ALONG), st.lists(st.integers(1, 5), min_size=1, max_size=3), st.data(),
       st.integers(0, 2**31))
def test_every_cumulative_op_along_any_axis_agrees_with_pytorch(name, shape, data, seed):
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    rng = np.random.default_rng(seed)
    A, W = rng.uniform(-1.5, 1.5, shape), rng.uniform(-1, 1, shape)
    _compare(f"sum({name}(A, {dim}) * W)", {"A": A, "W": W},
             lambda A, W: (getattr(torch, name)(A, dim) * W).sum())


@pytest.mark.parametrize("name", ["cumprod", "prod"])
def test_products_are_exact_at_zeros(name):
    A = np.array([[2.0, 0.0, 3.0, 0.5], [0.0, 0.0, 1.5, 2.0]])
    W = np.array([[1.0, -2.0, 0.5, 3.0], [2.0, 1.0, -1.0, 0.5]])
    if name == "prod":
        _compare("sum(prod(A, 1) * v)", {"A": A, "v": W[:, 0]}, lambda A, v: (torch.prod(A, 1) * v).sum())
    else:
        _compare("sum(cumprod(A, 1) * W)", {"A": A, "W": W}, lambda A, W: (torch.cumprod(A, 1) * W).sum())


@pytest.mark.parametrize("name", ["amax", "amin"])
def test_ties_share_the_gradient_evenly_as_pytorch(name):
    A = np.array([[3.0, 1.0, 3.0, 3.0], [-1.0, -1.0, 2.0, -1.0]])
    v = np.array([1.0, 2.0])
    _compare(f"sum({name}(A, 1) * v)", {"A": A, "v": v}, lambda A, v: (getattr(torch, name)(A, 1) * v).sum())
    _compare(f"{name}(A)", {"A": A}, lambda A: getattr(torch, name)(A))
    g = parse("amax(A, 1)[0]").grad({"A": A}).gradient["A"]
    assert g.tolist() == [[1 / 3, 0, 1 / 3, 1 / 3], [0, 0, 0, 0]]


def test_a_tie_is_said_aloud_and_the_check_calls_it_pytorch_s_convention(bp):
    r = bp("grad", "amax(v)", "--v", "[1, 3, 3]")
    assert r.exit_code == 0, r.stdout + r.stderr
    assert "[0.  0.5 0.5]" in r.stdout
    assert "ties share the gradient evenly" in r.stdout + r.stderr


def test_amax_without_ties_is_checked_by_finite_differences(bp_json):
    doc = bp_json("grad", "amax(v) * sum(v)", "--v", "[1, 4, 2]")
    assert doc["gradient"]["v"] == [4.0, 11.0, 4.0]  # sum(v)·[0, 1, 0] + amax(v)
    assert doc["check"]["v"]["status"] == "ok" and doc["check"]["v"]["sympy"] is None
    assert any("amax has no SymPy counterpart; finite differences only" in n["message"] for n in doc["notes"])


@pytest.mark.parametrize("text, expected", [
    ("sum(sum(A, 0))", 0.0), ("sum(prod(A, 0))", 3.0), ("sum(cumsum(A, 0))", 0.0),
    ("sum(logsumexp(A, 0))", -np.inf),
])
def test_reductions_over_a_0_size_axis_as_pytorch(text, expected):
    A = np.zeros((0, 3))
    from bpcli.engine.tensor import evaluate

    r = evaluate(parse(text), {"A": A})
    assert float(r.value) == expected
    name = text[4:text.index("(", 4)]
    ref = {"sum": torch.sum, "prod": torch.prod, "cumsum": torch.cumsum, "logsumexp": torch.logsumexp}[name]
    assert float(ref(torch.zeros(0, 3, dtype=torch.float64), 0).sum()) == expected


def test_mean_over_a_0_size_axis_is_nan_as_pytorch():
    from bpcli.engine.tensor import evaluate

    r = evaluate(parse("mean(A, 0)"), {"A": np.zeros((0, 2))})
    assert np.isnan(r.value).all() and torch.mean(torch.zeros(0, 2, dtype=torch.float64), 0).isnan().all()


@pytest.mark.parametrize("text, message", [
    ("amax(A, 0)", "amax over axis 0 of a 0×3 tensor: the axis has no entries"),
    ("amin(A)", "amin of a 0×3 tensor: it has no entries"),
])
def test_amax_over_no_entries_is_refused_as_pytorch_refuses_it(text, message):
    from bpcli.engine.tensor import evaluate

    with pytest.raises(ShapeError, match=message):
        evaluate(parse(text), {"A": np.zeros((0, 3))})
    with pytest.raises((RuntimeError, IndexError)):
        torch.amax(torch.zeros(0, 3), 0 if "0" in text else ())


@pytest.mark.parametrize("name", REDUCTIONS[:3] + REDUCTIONS[3:] + ALONG)
def test_an_axis_out_of_range_is_refused_with_its_place(bp, name):
    r = bp("grad", f"sum({name}(A, 2))", "--A", "[[1,2],[3,4]]")
    assert r.exit_code == 2
    assert f"{name} over axis 2 of a 2×2 tensor: its axes are 0 to 1" in r.stderr
    assert "^" in r.stderr  # the caret under the call


def test_batch_norm_as_makemore_writes_it_gives_pytorch_s_gradients():
    """makemore part 4: batch norm written with mean, var and keepdim, trained through."""
    rng = np.random.default_rng(0)
    values = {"x": rng.normal(size=(8, 5)), "gamma": rng.normal(size=(1, 5)), "beta": rng.normal(size=(1, 5)),
              "W": rng.normal(size=(5, 3))}
    text = """
    mu = mean(x, 0, keepdim=True)
    v = var(x, 0, keepdim=True, correction=0)
    xhat = (x - mu) / sqrt(v + 0.00001)
    h = gamma * xhat + beta
    sum(tanh(h @ W)^2)
    """

    def reference(x, gamma, beta, W):
        mu = x.mean(0, keepdim=True)
        v = x.var(0, keepdim=True, unbiased=False)
        h = gamma * (x - mu) / torch.sqrt(v + 1e-5) + beta
        return (torch.tanh(h @ W) ** 2).sum()

    _compare(text, values, reference)


def test_batch_norm_with_bessel_s_correction_as_makemore_s_var():
    rng = np.random.default_rng(1)
    values = {"x": rng.normal(size=(6, 4)), "W": rng.normal(size=(4,))}
    text = "sum(((x - mean(x, 0, keepdim=True)) / sqrt(var(x, 0, keepdim=True) + 0.00001)) @ W)^2"
    _compare(text, values, lambda x, W: ((((x - x.mean(0, keepdim=True))
                                            / torch.sqrt(x.var(0, keepdim=True) + 1e-5)) @ W).sum()) ** 2)
