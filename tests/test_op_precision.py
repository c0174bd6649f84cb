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
