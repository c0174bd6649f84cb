"""IEEE semantics: inf and nan, never an exception or a complex number."""

import math

import pytest

from bpcli import grad, parse
from bpcli.engine.numeric import ArrayMath
from bpcli.views import labels as view

CASES = [
    ("exp(x)", {"x": 1000}, math.inf),
    ("x / y", {"x": 1, "y": 0}, math.inf),
    ("x / y", {"x": -1, "y": 0}, -math.inf),
    ("x / y", {"x": 0, "y": 0}, math.nan),
    ("log(x)", {"x": 0}, -math.inf),
    ("log(x)", {"x": -1}, math.nan),
    ("sqrt(x)", {"x": -1}, math.nan),
    ("x ^ y", {"x": -8, "y": 1 / 3}, math.nan),
    ("x ^ y", {"x": 10, "y": 400}, math.inf),
    ("x ^ y", {"x": -10, "y": 401}, -math.inf),
    ("x ^ y", {"x": 0, "y": -1}, math.inf),
    ("sin(x * y)", {"x": 1e308, "y": 10}, math.nan),
    ("sigmoid(x)", {"x": 1000}, 1.0),
    ("sigmoid(x)", {"x": -1000}, 0.0),
    ("softplus(x)", {"x": 1000}, 1000.0),
    ("softplus(x)", {"x": -1000}, 0.0),
    ("x * y", {"x": 1e200, "y": 1e200}, math.inf),
    ("2^2^2^2^2^2", {}, math.inf),
]


@pytest.mark.parametrize("text, point, expected", CASES)
def test_value_follows_ieee(text, point, expected):
    value = grad(text, point).value
    assert isinstance(value, float)
    if math.isnan(expected):
        assert math.isnan(value)
    else:
        assert value == expected


def test_sigmoid_and_softplus_gradients_stay_finite_at_1000():
    for x in (1000, -1000):
        g = grad("sigmoid(x) + softplus(x)", {"x": x}).gradient["x"]
        assert math.isfinite(g)


def test_domain_and_overflow_are_noted():
    assert any("outside its domain" in n.message for n in view.notes(grad("log(x)", {"x": -1})))
    assert any("overflows" in n.message for n in view.notes(grad("exp(x)", {"x": 1000})))


def test_right_associative_power_of_constants():
    assert grad("2^3^2", {}).value == 512.0


@pytest.mark.parametrize("text, point, name", [
    ("x*y + x*z", {"x": 3.0, "y": -0.0, "z": -0.0}, "x"),  # -0 + -0 stays -0
    ("x*y", {"x": 3.0, "y": -0.0}, "x"),
    ("x*y - x*z", {"x": 3.0, "y": -0.0, "z": 0.0}, "x"),
])
def test_gradient_keeps_the_sign_of_zero_as_pytorch_does_for_floats_and_arrays(text, point, name):
    """Adjoint sums start from -0.0 (the float pass) or from the first term (the array pass):
    either way a sum of negative zeros is -0.0, as PyTorch's autograd gives."""
    import numpy as np

    f = parse(text)
    one = f.grad(point).gradient[name]
    many = f.grad({k: np.array([v]) for k, v in point.items()}, ArrayMath("float64")).gradient[name][0]
    tensor = f.grad({k: np.array(v) for k, v in point.items()}).gradient[name]
    assert one == 0.0 and math.copysign(1, one) == -1
    assert math.copysign(1, many) == -1 and math.copysign(1, tensor) == -1


# -- numbers as text: one formatter for tables, trees, notes, programs and pages -------------
@pytest.mark.parametrize("v, digits, whole, text", [
    (2.0, None, True, "2"), (2.0, None, False, "2.0"), (0.1 + 0.2, None, True, "0.30000000000000004"),
    (12.00000000007759, 10, False, "12.0"), (12.00000000007759, None, False, "12.00000000007759"),
    (1234567.5, 6, True, "1.23457e+06"), (4.0, 6, True, "4"), (1e300, None, True, "1e+300"),
    (float("inf"), 10, False, "inf"), (float("-inf"), None, True, "-inf"), (float("nan"), 6, True, "nan"),
    (-1e-300, 10, False, "-1e-300"), (1e16, None, True, "1e+16"), (9007199254740993.0, None, True,
                                                                     "9007199254740992"),
])
def test_number_text_writes_each_number_once_for_every_face(v, digits, whole, text):
    from bpcli.engine.numtext import number_text

    assert number_text(v, digits, whole) == text


def test_the_faces_share_the_one_formatter():
    from bpcli.cli.train import trace_numbers as _trace_numbers
    from bpcli.views import numbers
    from bpcli.views.web.layout import short

    assert numbers.show_number(12.00000000007759) == "12.0" and numbers.show_number(3.0) == "3.0"
    assert short(1234567.5) == "1.23457e+06" and short(4.0) == "4"
    assert _trace_numbers({"x": 1e300, "y": 2.0, "z": 0.5}, ["x", "y", "z"]) == ["1e+300", "2", "0.5"]
