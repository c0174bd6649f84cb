"""Issue 24's operations against a 50-digit reference (tests/op_precision_cases.py): bp's value
and gradients are within PyTorch float64's own error on the same inputs, and exact where
PyTorch's are (benchmarks/precision.py prints the table)."""

import mpmath as mp
import numpy as np
import pytest
from op_precision_cases import BY_LABEL, CASES, LABELS, ORDER, errors, point, reference

pytest.importorskip("torch", reason="the peer's errors are PyTorch's")


@pytest.mark.parametrize("label", LABELS)
def test_bp_is_within_pytorch_float64s_error_against_50_digits(label):
    """Exact where PyTorch is exact; elsewhere at most PyTorch's worst error over the same 12
    points, give or take one rounding of summation order."""
    e = errors(BY_LABEL[label])
    for part, ours, theirs in zip(("value", "gradient"), e["bp"], e["torch"]):
        assert ours <= (0.0 if theirs == 0.0 else theirs + ORDER), (part, ours, theirs)


@pytest.mark.parametrize("label", [c.label for c in CASES if c.formula.startswith(
    ("reshape", "flatten", "transpose", "permute", "squeeze", "unsqueeze", "cat", "stack", "pad", "flip", "tril",
     "triu", "A[", "amax", "amin", "max_pool2d", "where(A > B"))])
def test_ops_that_only_move_or_pick_entries_are_exact(label):
    assert errors(BY_LABEL[label], range(3))["bp"] == (0.0, 0.0)


@pytest.mark.parametrize("label", ["var(A), mean 1e6", "std(A, 1, correction=0), mean 1e6"])
def test_variance_stays_accurate_far_from_zero_where_pytorchs_gradient_loses_six_digits(label):
    """The corrected two-pass deviations: bp's error stays at rounding, PyTorch's (x minus a
    rounded mean of 1e6) is a million times larger."""
    e = errors(BY_LABEL[label], range(5))
    assert max(e["bp"]) <= 2 * ORDER
    assert e["torch"][1] > 1e5 * ORDER


def test_the_reference_gradient_is_good_to_fifty_digits():
    """Central differences at 100 digits against prod's exact partials, the product of the others."""
    case = BY_LABEL["prod(A, 1)"]
    values = point(case, 0)
    _, grads = reference(case, values)
    with mp.workdps(100):
        a, w = (np.vectorize(mp.mpf, otypes=[object])(values[n]) for n in ("A", "W"))
        for i, j in np.ndindex(a.shape):
            exact = w[i] * np.prod(np.delete(a[i], j))
            assert abs(grads["A"][i, j] - exact) <= mp.mpf(10) ** -50 * abs(exact)


def test_prods_gradient_stays_finite_where_the_product_overflows_and_pytorchs_does_not():
    """∂(a·b)/∂a = b: bp multiplies the other entries; PyTorch's grad · prod / a turns the
    overflowed product's inf into an infinite gradient. The 50-digit reference sides with bp."""
    import torch

    from bpcli import parse

    a = np.array([[3e300, -2e299], [1e10, 5.0]])  # the first column's product overflows, the second's not
    r = parse("sum(prod(A, 0))").grad({"A": a})
    assert np.isinf(r.value)
    with mp.workdps(50):  # each entry's partial: the other entry of its column, exactly
        exact = [[float(mp.mpf(1e10)), float(mp.mpf(5.0))], [float(mp.mpf(3e300)), float(mp.mpf(-2e299))]]
    assert r.gradient["A"].tolist() == exact
    t = torch.tensor(a, requires_grad=True)
    torch.prod(t, 0).sum().backward()
    assert np.isinf(t.grad[:, 0]).all() and t.grad[:, 1].tolist() == [row[1] for row in exact]


def test_std_of_equal_entries_has_gradient_zero_as_pytorch_and_says_it_is_a_kink(bp):
    import torch

    from bpcli import parse

    a = np.array([[1.0, 1.0], [2.0, 3.0]])
    r = parse("sum(std(A, 1, correction=0))").grad({"A": a})
    t = torch.tensor(a, requires_grad=True)
    torch.std(t, 1, correction=0).sum().backward()
    assert r.gradient["A"].tolist() == t.grad.tolist() == [[0.0, 0.0], [-0.5, 0.5]]
    out = bp("grad", "sum(std(A, 1, correction=0))", "--A", "[[1, 1], [2, 3]]")
    assert out.exit_code == 0 and out.stderr == ""
    assert "note: n1 std: 1 entry at a kink: std = 0 (all entries equal): its gradient is \ntaken as 0" in out.stdout


@pytest.mark.parametrize("text, row, exact", [
    # Σ_j Π_{0<k<=j} a_k: its last term is 1.6e600, beyond float64: the true gradient overflows to +inf
    ("sum(cumprod(A, -1))", [-1.19145745e300, -1.68425966e300, -9.63455348e299], float("inf")),
    # the first entry is the largest: d/da0 of log(e^a0) + log(e^a0 + e^a1) is 1 + 1
    ("sum(logcumsumexp(A, 1))", [1.09319899e300, -6.82528964e299], 2.0),
])
def test_where_pytorchs_gradient_breaks_at_huge_entries_bps_is_the_exact_one(text, row, exact):
    """PyTorch gives nan for the first (its rule divides inf by the entry) and 1.0 for the second;
    the 2,000-digit sum says bp's numbers are right."""
    import torch

    from bpcli import parse

    a = np.array([row])
    with mp.workdps(2000):
        x = [mp.mpf(v) for v in row]
        if "cumprod" in text:
            true = sum(mp.fprod(x[1:j + 1]) for j in range(len(x)))
        else:
            true = sum(mp.exp(x[0]) / sum(mp.exp(x[k]) for k in range(j + 1)) for j in range(len(x)))
        assert float(true) == exact  # float() of 1.6e600 is inf: float64's rounding of the true value
    assert parse(text).grad({"A": a}).gradient["A"][0, 0] == exact
    t = torch.tensor(a, requires_grad=True)
    (torch.cumprod(t, -1) if "cumprod" in text else torch.logcumsumexp(t, 1)).sum().backward()
    assert not t.grad[0, 0].item() == exact  # PyTorch's differs
