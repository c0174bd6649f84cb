"""Issue 13's functions: the values and conventions the issue names, and clamp's three operands
through both passes, against PyTorch float64."""

import json
import math

import numpy as np
import pytest

from bpcli import parse
from bpcli.engine.numeric import ArrayMath


def grad(text, **point):
    r = parse(text).grad({k: float(v) for k, v in point.items()})
    return r.value, r.gradient


def test_cbrt_is_the_real_odd_cube_root():
    assert grad("cbrt(x)", x=-8) == (-2.0, {"x": pytest.approx(1 / 12)})


def test_sinc_is_one_with_derivative_zero_at_zero():
    assert grad("sinc(x)", x=0) == (1.0, {"x": 0.0})


def test_round_takes_halves_to_even_with_derivative_zero():
    assert [grad("round(x)", x=v)[0] for v in (0.5, 1.5, 2.5, -0.5)] == [0.0, 2.0, 2.0, -0.0]
    assert grad("round(x)", x=2.5)[1] == {"x": 0.0}


def test_mod_has_the_sign_of_the_divisor_as_python_and_torch_remainder():
    assert grad("mod(a, b)", a=5.5, b=-2) == (-0.5, {"a": 1.0, "b": 3.0})
    assert grad("mod(a, b)", a=-5.5, b=2)[0] == 0.5


def test_stable_forms_where_the_naive_ones_fail():
    assert grad("cosh(x)", x=710)[0] == pytest.approx(1.1169973830808557e308)
    assert grad("hypot(x, y)", x=1e200, y=1e200)[0] == pytest.approx(1.4142135623730951e200)
    assert grad("hypot(x, y)", x=1e-200, y=1e-200)[0] == pytest.approx(1.4142135623730951e-200)
    assert grad("logaddexp(a, b)", a=800, b=800)[0] == pytest.approx(800 + math.log(2))
    assert grad("logaddexp(a, b)", a=-800, b=-800)[0] == pytest.approx(-800 + math.log(2))
    assert grad("log1p(x)", x=1e-10)[0] == pytest.approx(9.9999999995e-11, rel=1e-15)
    assert grad("expm1(x)", x=1e-10)[0] == pytest.approx(1.00000000005e-10, rel=1e-15)
    assert grad("gelu(x)", x=-10)[0] == pytest.approx(-7.619853024160525e-23, rel=1e-12)


def test_swish_is_silu():
    assert parse("swish(x)").kinds == parse("silu(x)").kinds


CLAMP_POINTS = [(0.5, 0, 1), (-1, 0, 1), (2, 0, 1), (0, 0, 1), (1, 0, 1), (0.5, 1, 0), (2, 1, 0), (-1, 1, 0),
                (1, 1, 1), (0, 1, 1), (2, 1, 1)]


@pytest.mark.parametrize("x, lo, hi", CLAMP_POINTS)
def test_clamp_value_and_gradients_are_pytorchs(x, lo, hi):
    torch = pytest.importorskip("torch")
    t = [torch.tensor(float(v), dtype=torch.float64, requires_grad=True) for v in (x, lo, hi)]
    y = torch.clamp(*t) * t[0]
    y.backward()
    value, g = grad("clamp(x, lo, hi)*x", x=x, lo=lo, hi=hi)
    assert value == y.item()
    assert [g["x"], g["lo"], g["hi"]] == [v.grad.item() for v in t]


def test_clamp_over_arrays_equals_clamp_point_by_point():
    f = parse("c = clamp(x, lo, hi); c*x + lo*c")
    cols = {k: np.array([float(p[i]) for p in CLAMP_POINTS]) for i, k in enumerate(("x", "lo", "hi"))}
    batch = f.grad(cols, ArrayMath("float64"))  # arrays as many points
    for row, p in enumerate(CLAMP_POINTS):
        one = f.grad(dict(zip(("x", "lo", "hi"), map(float, p))))
        assert batch.value[row] == one.value
        assert {k: batch.gradient[k][row] for k in one.gradient} == one.gradient


def test_clamp_gradient_for_some_inputs_only():
    f = parse("clamp(x, lo, hi)*x")
    vals = f.forward({"x": 3.0, "lo": 0.0, "hi": 1.0})
    adj = f.backward(vals, wrt=("hi",))
    assert adj[f.inputs["hi"]] == 3.0 and adj[f.inputs["x"]] == 0.0


@pytest.mark.parametrize("text, point, torch_fn", [
    ("relu6(x)", {"x": 0}, lambda t, x: t.nn.functional.relu6(x)),
    ("relu6(x)", {"x": 6}, lambda t, x: t.nn.functional.relu6(x)),
    ("leaky_relu(x, 0.1)", {"x": 0}, lambda t, x: t.nn.functional.leaky_relu(x, 0.1)),
    ("elu(x)", {"x": 0}, lambda t, x: t.nn.functional.elu(x)),
    ("floor(x)", {"x": 1}, lambda t, x: t.floor(x)),
    ("sinc(x)", {"x": 0}, lambda t, x: t.sinc(x)),
    ("rsqrt(x)", {"x": 0}, lambda t, x: t.rsqrt(x)),
    ("asin(x)", {"x": 1}, lambda t, x: t.asin(x)),
    ("atan2(x, 0)", {"x": 0}, lambda t, x: t.atan2(x, t.zeros_like(x))),
    ("hypot(x, 0)", {"x": 0}, lambda t, x: t.hypot(x, t.zeros_like(x))),
])
def test_conventions_at_kinks_are_pytorchs(text, point, torch_fn):
    torch = pytest.importorskip("torch")
    x = torch.tensor(float(point["x"]), dtype=torch.float64, requires_grad=True)
    y = torch_fn(torch, x)
    y.backward()
    value, g = grad(text, **point)
    assert value == y.item()
    assert g["x"] == x.grad.item() or (math.isnan(g["x"]) and math.isnan(x.grad.item()))


def test_nonfinite_values_are_refused_with_the_flag_that_allows_them(bp):
    r = bp("grad", "exp(x)", "--x", "inf")
    assert r.exit_code == 2 and r.stdout == ""
    assert "the value of x must be a finite number, got 'inf'" in r.stderr
    assert "--allow-nonfinite" in r.stderr


def test_allow_nonfinite_shows_what_ieee_arithmetic_does(bp):
    r = bp("grad", "exp(x) + atan(x)*y", "--x", "-inf", "y=nan", "--allow-nonfinite", "--json", "--no-check")
    assert r.exit_code == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["inputs"] == {"x": "-inf", "y": "nan"}
    assert doc["value"] == "nan" and doc["gradient"]["y"] == -math.pi / 2
    assert any("x = -inf, y = nan: not finite" in str(n) for n in doc["notes"])


def test_allow_nonfinite_reaches_a_values_file(bp, tmp_path):
    values = tmp_path / "v.json"
    values.write_text('{"x": Infinity}')
    assert bp("grad", "atan(x)", "--values", str(values)).exit_code == 2
    r = bp("grad", "atan(x)", "--values", str(values), "--allow-nonfinite", "--json")
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["value"] == math.pi / 2


# -- second derivatives at the awkward points of x^y ---------------------------------------
def test_second_derivatives_of_powers_take_the_limits_where_they_exist():
    from bpcli.check.symbolic import hessian

    assert hessian(parse("x^0"), {"x": 0.0}) == {"x": {"x": 0.0}}
    assert hessian(parse("0^y"), {"y": 2.0}) == {"y": {"y": 0.0}}
    assert hessian(parse("x^y"), {"x": 0.0, "y": 2.0}) == {"x": {"x": 2.0, "y": 0.0}, "y": {"x": 0.0, "y": 0.0}}


def test_second_derivatives_of_powers_are_unchanged_elsewhere():
    from bpcli.check.symbolic import hessian

    h = hessian(parse("x^y"), {"x": 1.5, "y": 2.5})
    x, y = 1.5, 2.5
    assert h["x"]["x"] == pytest.approx(y * (y - 1) * x ** (y - 2), rel=1e-14)
    assert h["y"]["y"] == pytest.approx(x**y * math.log(x) ** 2, rel=1e-14)
    assert h["x"]["y"] == pytest.approx(x ** (y - 1) * (1 + y * math.log(x)), rel=1e-14)


def test_bp_diff_of_x_to_the_0_evaluates_to_0_at_0(bp):
    r = bp("diff", "x^0")
    assert r.exit_code == 0, r.stderr
    printed = r.stdout.strip().splitlines()[-1]
    f = parse(printed)
    assert f.evaluate({"x": 0.0} if f.inputs else {}) == 0.0


def test_hessian_check_passes_where_sympy_is_nan_and_bp_has_the_limit(bp):
    r = bp("grad", "x^y", "--x", "0", "--y", "2", "--hessian", "--json")
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["hessian"]["y"]["y"] == 0.0


# -- second derivatives of the new functions at their awkward points -----------------------
def _sinc_second_derivative(x):
    import mpmath as mp

    mp.mp.dps = 40
    if x == 0:
        return -mp.pi**2 / 3
    return mp.diff(lambda t: mp.sinpi(t) / (mp.pi * t), mp.mpf(x), 2)


@pytest.mark.parametrize("x", [0.0, 1e-300, 1e-9, -1e-6, 1e-4, 0.01, -0.1, 0.2499, 0.25, 0.3, 1.0, -2.5])
def test_sinc_second_derivative_is_the_limit_at_0_and_exact_near_it(x):
    """sinc''(0) = -π²/3 (PyTorch's Hessian there is nan, and 0 at 1e-9): the derivative formula
    carries sinc'(x)'s series near 0, so differentiating it again does not cancel."""
    from bpcli.check.symbolic import hessian

    ours = hessian(parse("sinc(x)"), {"x": x})["x"]["x"]
    assert ours == pytest.approx(float(_sinc_second_derivative(x)), rel=1e-15, abs=0)


def test_bp_diff_twice_of_sinc_evaluates_to_minus_pi_squared_over_3_at_0(bp):
    once = bp("diff", "sinc(x)", "--no-simplify").stdout.strip()
    twice = bp("diff", once, "--no-simplify")
    assert twice.exit_code == 0, twice.stderr
    assert parse(once).evaluate({"x": 0.0}) == 0.0
    assert parse(twice.stdout.strip()).evaluate({"x": 0.0}) == pytest.approx(-math.pi**2 / 3, rel=1e-15)


def test_sinc_hessian_through_the_cli_at_0(bp):
    r = bp("grad", "sinc(x)", "--x", "0", "--hessian", "--json")
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["hessian"]["x"]["x"] == pytest.approx(-math.pi**2 / 3, rel=1e-15)


HESSIAN_KINKS = [  # (formula, x, PyTorch's function): the table's kinks and the new functions' awkward points
    ("relu6(x)", 0, lambda t, x: t.nn.functional.relu6(x)),
    ("relu6(x)", 6, lambda t, x: t.nn.functional.relu6(x)),
    ("leaky_relu(x, 0.1)", 0, lambda t, x: t.nn.functional.leaky_relu(x, 0.1)),
    ("elu(x)", 0, lambda t, x: t.nn.functional.elu(x)),
    ("elu(x)", -1e-300, lambda t, x: t.nn.functional.elu(x)),
    ("floor(x)", 1, lambda t, x: t.floor(x)),
    ("ceil(x)", 1, lambda t, x: t.ceil(x)),
    ("round(x)", 0.5, lambda t, x: t.round(x)),
    ("mod(x, 2)", 2, lambda t, x: t.remainder(x, 2.0)),
    ("clamp(x, 0, 1)", 0, lambda t, x: t.clamp(x, 0.0, 1.0)),
    ("clamp(x, 0, 1)", 1, lambda t, x: t.clamp(x, 0.0, 1.0)),
    ("clamp(x, 1, 1)", 1, lambda t, x: t.clamp(x, 1.0, 1.0)),
    ("rsqrt(x)", 0, lambda t, x: t.rsqrt(x)),
    ("cbrt(x)", 0, lambda t, x: t.sign(x) * t.abs(x) ** (1 / 3)),
    ("atan2(x, 0)", 0, lambda t, x: t.atan2(x, t.zeros_like(x))),
    ("hypot(x, 0)", 0, lambda t, x: t.hypot(x, t.zeros_like(x))),
    ("gelu(x)", 0, lambda t, x: t.nn.functional.gelu(x)),
    ("silu(x)", 0, lambda t, x: t.nn.functional.silu(x)),
    ("logaddexp(x, 0)", 0, lambda t, x: t.logaddexp(x, t.zeros_like(x))),
    ("square(x)", 0, lambda t, x: t.square(x)),
    ("sinc(x)", 0.3, lambda t, x: t.sinc(x)),
]


@pytest.mark.parametrize("text, x, torch_fn", HESSIAN_KINKS, ids=[f"{t}@{x}" for t, x, _ in HESSIAN_KINKS])
def test_hessians_at_kinks_are_pytorchs_and_never_a_mismatch(bp, text, x, torch_fn):
    torch = pytest.importorskip("torch")
    theirs = torch.autograd.functional.hessian(lambda v: torch_fn(torch, v),
                                               torch.tensor(float(x), dtype=torch.float64)).item()
    r = bp("grad", text, "--x", str(x), "--hessian", "--json")
    assert r.exit_code == 0, r.stderr
    doc = json.loads(r.stdout)
    ours = doc["hessian"]["x"]["x"]
    ours = float(ours) if isinstance(ours, str) else ours
    assert ours == pytest.approx(theirs, rel=1e-15, abs=0) or (math.isnan(ours) and math.isnan(theirs))
    assert doc["hessian_status"] != "mismatch" and doc["ok"]


# -- --allow-nonfinite for tensor inputs ----------------------------------------------------
@pytest.mark.parametrize("how", ["inline", "npy", "values"])
def test_a_tensor_with_an_inf_or_nan_is_refused_naming_the_entry(bp, tmp_path, how):
    W = [[1.0, 2.0], [math.nan, math.inf]]
    args = _tensor_args(how, W, tmp_path)
    r = bp("grad", "sum(W*x)", *args, "--x", "2")
    assert r.exit_code == 2 and r.stdout == ""
    assert "W[1][0] must be a finite number, got nan" in r.stderr.replace("'", "")
    assert "--allow-nonfinite" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize("how", ["inline", "npy", "values"])
def test_allow_nonfinite_takes_tensor_entries_and_says_which(bp, tmp_path, how):
    W = [[1.0, 2.0], [math.nan, math.inf]]
    r = bp("grad", "sum(W*x)", *_tensor_args(how, W, tmp_path), "--x", "2", "--allow-nonfinite", "--json")
    assert r.exit_code == 0, r.stderr
    assert r.stderr == ""  # no numpy RuntimeWarning from the checks
    doc = json.loads(r.stdout)
    assert doc["inputs"]["W"] == [[1.0, 2.0], ["nan", "inf"]] and doc["value"] == "nan"
    assert doc["gradient"]["W"] == [[2.0, 2.0], [2.0, 2.0]] and doc["gradient"]["x"] == "nan"
    notes = [n["message"] for n in doc["notes"] if n["kind"] == "input"]
    assert notes and notes[0].startswith("W[1][0] = nan, W[1][1] = inf: not finite (--allow-nonfinite)")


def _tensor_args(how, W, tmp_path):
    if how == "inline":
        return ["--W", json.dumps(W).replace("NaN", "NaN")]
    if how == "npy":
        np.save(tmp_path / "W.npy", np.array(W))
        return ["--W", str(tmp_path / "W.npy")]
    (tmp_path / "v.json").write_text(json.dumps({"W": W}))
    return ["--values", str(tmp_path / "v.json")]


def test_the_tensor_check_beside_an_inf_says_there_is_no_finite_difference(bp):
    r = bp("grad", "sum(W*x)", "--W", "[1, Infinity]", "--x", "2", "--allow-nonfinite", "--json")
    assert r.exit_code == 0, r.stderr
    notes = [n["message"] for n in json.loads(r.stdout)["notes"]]
    assert "∂/∂W: no finite difference at 2 of 2 entries: the formula is not finite on both sides of them" in notes
    assert not any("a finite difference is off" in n for n in notes)
