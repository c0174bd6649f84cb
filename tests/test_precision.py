"""Each new function's precision at its awkward points: bp's largest relative error against
mpmath at 50 digits, beside PyTorch float64's on the same points (benchmarks/precision.py
prints the table; benchmarks/RESULTS.md holds it)."""

import math
import subprocess
import sys

import mpmath as mp
import pytest
from precision_cases import NEW_OPS, REFERENCE, bp_values, max_error, points, torch_values

pytest.importorskip("torch")


@pytest.mark.parametrize("name", NEW_OPS)
@pytest.mark.parametrize("arrays", [False, True], ids=["floats", "arrays"])
def test_bp_is_as_precise_as_pytorch_float64(name, arrays):
    """bp's error is at most PyTorch's on the same points, as the issue asks: no slack."""
    pts = points(name)
    ours, where = max_error(name, bp_values(name, pts, arrays), pts)
    theirs, _ = max_error(name, torch_values(name, pts), pts)
    assert ours <= theirs, (name, ours, where, theirs)


@pytest.mark.parametrize("name, bound", [("gelu", 1e-13), ("silu", 1e-13), ("cbrt", 3e-16), ("sinc", 3e-16),
                                         ("log1p", 2e-16), ("expm1", 2e-16), ("logaddexp", 2e-16),
                                         ("hypot", 2e-16), ("cosh", 2e-16)])
def test_where_the_naive_form_fails_bp_stays_within_its_stated_bound(name, bound):
    pts = points(name)
    assert max_error(name, bp_values(name, pts), pts)[0] <= bound


def test_the_points_include_the_awkward_ones():
    assert (5e-324,) in points("log1p") and (710.0,) in points("cosh") and (1e200, 1e200) in points("hypot")
    assert (800.0, 800.0) in points("logaddexp") and (-8.0,) not in points("asin")


@pytest.mark.parametrize("name, x, rounded", [("expm1", 0.75, 1.1170000166126746), ("expm1", 1.0, 1.7182818284590453),
                                              ("log10", 700.0, 2.845098040014257), ("log10", 0.1, -1.0),
                                              ("erfc", 3.0, 2.209049699858544e-05), ("erfc", -0.1, 1.1124629160182848)])
@pytest.mark.parametrize("arrays", [False, True], ids=["floats", "arrays"])
def test_expm1_log10_erfc_round_once_where_libm_rounds_the_other_way(name, x, rounded, arrays):
    """The correctly rounded float64 (mpmath at 50 digits agrees) where glibc's is an ulp off."""
    assert bp_values(name, [(x,)], arrays) == [rounded]
    assert float(mp.mpf(float(rounded))) == rounded and abs(mp.mpf(rounded) - REFERENCE[name](mp.mpf(x))) <= \
        abs(mp.mpf(math.nextafter(rounded, math.inf)) - mp.mpf(rounded)) / 2


@pytest.mark.parametrize("name, x, expected", [("expm1", 0.0, 0.0), ("expm1", -0.0, -0.0), ("expm1", 1e-300, 1e-300),
                                               ("expm1", 709.79, math.inf), ("expm1", -1e300, -1.0),
                                               ("log10", 0.0, -math.inf), ("log10", -1.0, math.nan),
                                               ("log10", math.inf, math.inf), ("erfc", -math.inf, 2.0),
                                               ("erfc", 30.0, 0.0), ("erfc", math.nan, math.nan)])
@pytest.mark.parametrize("arrays", [False, True], ids=["floats", "arrays"])
def test_the_rounded_once_functions_keep_c_values_at_the_edges(name, x, expected, arrays):
    got = bp_values(name, [(x,)], arrays)[0]
    assert got == expected or (math.isnan(got) and math.isnan(expected))
    assert math.copysign(1, got) == math.copysign(1, expected) or math.isnan(expected)


def test_start_up_does_not_import_mpmath():
    code = ("import sys; from bpcli.cli import app; from typer.testing import CliRunner;"
            "CliRunner().invoke(app, ['grad', 'x^2', '--x', '3', '--no-check']); print('mpmath' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.split() == ["False"]


@pytest.mark.parametrize("name, low, high", [("cr_expm1", -45.0, 712.0), ("cr_expm1", -1e-3, 1e-3),
                                             ("cr_log10", 0.0, 3.0), ("cr_log10", 1e-300, 1e300)])
def test_arrays_round_expm1_and_log10_as_floats_do_bit_for_bit(name, low, high):
    """The array pass evaluates them in long double and asks mpmath only where that cannot
    decide the rounding; every element equals the float pass's correctly rounded value."""
    import numpy as np

    from bpcli.engine.numeric import FLOAT, ArrayMath

    rng = np.random.default_rng(13)
    x = rng.uniform(low, high, 4000) if high / max(low, 1e-300) < 1e10 or low <= 0 else \
        np.exp(rng.uniform(math.log(low), math.log(high), 4000))
    got = getattr(ArrayMath("float64"), name)(x)
    assert [repr(float(g)) for g in got] == [repr(getattr(FLOAT, name)(float(v))) for v in x]
