"""Derivatives as formulas (bp diff): what they print parses back to the derivative."""

from __future__ import annotations

import math

from hypothesis import assume, example, given

from bpcli import parse
from bpcli.printer import to_text
from bpcli.symbolic import derivatives, formula_text
from strategies import points, rebinding_programs

RNN = "h = tanh(w*h0 + x1)\nh = tanh(w*h + x2)\nh = tanh(w*h + x3)\nh"


def _same(u: float, v: float) -> bool:
    return u == v or (math.isnan(u) and math.isnan(v))


def _value(text: str, point: dict) -> float:
    f = parse(text)
    return f.evaluate({n: point[n] for n in f.inputs})


def test_a_rebound_name_gets_a_fresh_name_in_the_printed_derivative(bp):
    r = bp("diff", "a = x; a = a*a; a = a*a; a = a*a", "--no-simplify")
    assert r.exit_code == 0, r.stderr
    assert math.isclose(_value(r.stdout, {"x": 1.1}), 8 * 1.1**7, rel_tol=1e-15)
    lines = r.stdout.strip().split("; ")
    bound = [line.split(" = ")[0] for line in lines if " = " in line]
    assert len(bound) == len(set(bound))


def test_the_tanh_rnn_derivative_equals_backprop():
    point = {"w": 0.7, "h0": 0.3, "x1": 0.5, "x2": -0.4, "x3": 0.9}
    f = parse(RNN)
    expected = f.grad(point).gradient["w"]
    for simplify in (False, True):
        text = formula_text(derivatives(f, ["w"])["w"], simplify)
        assert math.isclose(_value(text, point), expected, rel_tol=1e-12), (simplify, text)


@given(rebinding_programs(), points)
@example("a = (x) * (x)\na = (a) * (a)\na = (a) * (a)", {"x": 1.1, "w": 1.0, "y": 1.0})
@example("x = (x) * (w)\nw = (x) + (w)\nx = sin(w)", {"x": 0.3, "w": 1.2, "y": 1.0})
def test_printed_derivatives_evaluate_to_backprop_on_programs_that_rebind_names(text, point):
    f = parse(text)
    point = {n: v for n, v in point.items() if n in f.inputs}
    r = f.grad(point)
    assume(not r.hits and all(math.isfinite(v) and abs(v) < 1e6 for v in r.values))
    for name, d in derivatives(f).items():
        direct = d.evaluate({n: point[n] for n in d.inputs})
        printed = to_text(d)
        assert _same(_value(printed, point), direct), (text, printed)
        assert math.isclose(direct, r.gradient[name], rel_tol=1e-9, abs_tol=1e-9), (text, name, printed)
