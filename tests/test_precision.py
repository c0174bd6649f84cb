"""Each new function's precision at its awkward points: bp's largest relative error against
mpmath at 50 digits, beside PyTorch float64's on the same points (benchmarks/precision.py
prints the table; benchmarks/RESULTS.md holds it)."""

import pytest

from precision_cases import NEW_OPS, bp_values, max_error, points, torch_values

pytest.importorskip("torch")

ULP = 2.0**-52  # one unit in the last place, relative: the floor below which libms differ by rounding


@pytest.mark.parametrize("name", NEW_OPS)
@pytest.mark.parametrize("arrays", [False, True], ids=["floats", "arrays"])
def test_bp_is_as_precise_as_pytorch_float64(name, arrays):
    """bp's error is at most PyTorch's, or within one ulp where both are (glibc's expm1, log10
    and erfc round a few points the other way from PyTorch's, by less than an ulp)."""
    pts = points(name)
    ours, where = max_error(name, bp_values(name, pts, arrays), pts)
    theirs, _ = max_error(name, torch_values(name, pts), pts)
    assert ours <= max(theirs, ULP), (name, ours, where, theirs)


@pytest.mark.parametrize("name, bound", [("gelu", 1e-13), ("silu", 1e-13), ("cbrt", 3e-16), ("sinc", 3e-16),
                                         ("log1p", 2e-16), ("expm1", 2e-16), ("logaddexp", 2e-16),
                                         ("hypot", 2e-16), ("cosh", 2e-16)])
def test_where_the_naive_form_fails_bp_stays_within_its_stated_bound(name, bound):
    pts = points(name)
    assert max_error(name, bp_values(name, pts), pts)[0] <= bound


def test_the_points_include_the_awkward_ones():
    assert (5e-324,) in points("log1p") and (710.0,) in points("cosh") and (1e200, 1e200) in points("hypot")
    assert (800.0, 800.0) in points("logaddexp") and (-8.0,) not in points("asin")
