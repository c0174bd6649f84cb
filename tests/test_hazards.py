"""Hazard notes: where a naive form overflows, underflows or cancels at the point, bp names
the node and the stable rewrite. Each rewrite is checked by evaluating both forms against
mpmath at 50 digits: the rewrite is right where the naive form is not."""

import json

import mpmath as mp
import pytest

from bpcli import parse
from bpcli.hazards import find

mp.mp.dps = 50

# (formula, point, the stable rewrite bp must offer, the exact value at the point)
CASES = [
    ("log(1 + exp(x))", {"x": -40.0}, "softplus(x)", lambda x: mp.log(1 + mp.exp(x))),
    ("log(1 + exp(x))", {"x": 800.0}, "softplus(x)", lambda x: mp.log(1 + mp.exp(x))),
    ("exp(x) - 1", {"x": 1e-10}, "expm1(x)", lambda x: mp.expm1(x)),
    ("log(1 + x)", {"x": 1e-10}, "log1p(x)", lambda x: mp.log1p(x)),
    ("log(sigmoid(x))", {"x": -800.0}, "-softplus(-x)", lambda x: -mp.log(1 + mp.exp(-x))),
    ("exp(x)/(1 + exp(x))", {"x": 800.0}, "sigmoid(x)", lambda x: 1 / (1 + mp.exp(-x))),
    ("sqrt(x^2 + y^2)", {"x": 1e200, "y": 3e199}, "hypot(x, y)", lambda x, y: mp.sqrt(x**2 + y**2)),
    ("sqrt(x*x + y^2)", {"x": 1e-200, "y": 1e-200}, "hypot(x, y)", lambda x, y: mp.sqrt(x**2 + y**2)),
    ("1 - cos(x)", {"x": 1e-5}, "2*sin(x/2)^2", lambda x: 1 - mp.cos(x)),
]


def rel(got: float, exact) -> float:
    return float(abs(mp.mpf(got) - exact) / abs(exact))


@pytest.mark.parametrize("text, point, rewrite, exact", CASES, ids=[c[0] + f" at {c[1]}" for c in CASES])
def test_the_rewrite_is_offered_and_right_where_the_naive_form_is_not(text, point, rewrite, exact):
    f = parse(text)
    found = [h for h in find(f, f.forward(point)) if h.suggestion]
    assert [h.suggestion for h in found] == [rewrite]
    assert found[0].node == f.output
    truth = exact(*(mp.mpf(v) for v in point.values()))
    assert rel(parse(rewrite).evaluate(point), truth) < 1e-15
    assert not rel(f.evaluate(point), truth) < 1e-8  # the naive form lost most of its digits, or all


@pytest.mark.parametrize("text, point", [
    ("log(1 + exp(x))", {"x": 3.0}), ("exp(x) - 1", {"x": 0.5}), ("log(1 + x)", {"x": 0.25}),
    ("log(sigmoid(x))", {"x": -5.0}), ("exp(x)/(1 + exp(x))", {"x": 2.0}), ("sqrt(x^2 + y^2)", {"x": 3.0, "y": 4.0}),
    ("1 - cos(x)", {"x": 0.5}), ("log(2 + exp(x))", {"x": 800.0}),
])
def test_healthy_points_get_no_hazard_note(text, point):
    f = parse(text)
    assert [h for h in find(f, f.forward(point)) if h.suggestion] == []


def test_the_rewrite_names_the_operand_as_the_formula_does():
    f = parse("z = x*w; log(1 + exp(z))")
    assert find(f, f.forward({"x": 40.0, "w": -1.0}))[0].suggestion == "softplus(z)"
    f = parse("log(sigmoid(x*w))")
    assert [h.suggestion for h in find(f, f.forward({"x": -800.0, "w": 2.0})) if h.suggestion] == ["-softplus(-(x * w))"]


def test_an_underflow_to_zero_from_a_sizeable_operand_is_noted():
    f = parse("exp(x)*y")
    (h,) = find(f, f.forward({"x": -800.0, "y": 1.0}))
    assert (h.kind, h.node, h.suggestion) == ("underflow", 1, None)


def test_hazards_reach_the_tables_the_json_and_the_graph(bp):
    args = ("log(1 + exp(x))", "--x", "800", "--no-check")
    note = "n4 log: log(1 + exp(x)) overflows: exp(x) is inf (try softplus(x))"
    assert note in " ".join(bp("grad", *args).stdout.split())
    doc = json.loads(bp("grad", *args, "--json").stdout)
    assert {"kind": "hazard", "node": "n4", "message": "n4 log: log(1 + exp(x)) overflows: exp(x) is inf",
            "suggestion": "softplus(x)"} in doc["notes"]
    dot = bp("graph", "log(1 + exp(x))", "--x", "800", "--format", "dot").stdout
    assert "⚠ try softplus(x)" in dot and 'n4 [label=' in dot and "penwidth=2" in dot
