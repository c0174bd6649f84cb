"""Hazard notes: where a naive form overflows, underflows or cancels at the point, bp names
the node and the stable rewrite. Each rewrite is checked by evaluating both forms against
mpmath at 50 digits: the rewrite is right where the naive form is not."""

import json

import mpmath as mp
import pytest

from bpcli import parse
from bpcli.check.hazards import find

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
    found = find(f, f.forward({"x": -800.0, "w": 2.0}))
    assert [h.suggestion for h in found if h.suggestion] == ["-softplus(-(x * w))"]


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


# -- tensors: logsumexp, log_softmax and softmax ---------------------------------------------
def _lse(row):
    return mp.log(mp.fsum(mp.exp(mp.mpf(x)) for x in row))


def _rows(a):
    return [a] if not isinstance(a[0], list) else a


TENSOR_CASES = [  # (formula, v, the rewrite, the exact value per entry of the output, row by row)
    ("log(sum(exp(v)))", [1000.0, 0.0, -1.0], "logsumexp(v)", lambda r: [_lse(r)]),
    ("log(sum(exp(v)))", [-1000.0, -1001.0, -1002.0], "logsumexp(v)", lambda r: [_lse(r)]),
    ("log(sum(exp(v), -1))", [[1000.0, 0.0], [1.0, 2.0]], "logsumexp(v)", lambda r: [_lse(r)]),
    ("log(sum(exp(v), 1))", [[-800.0, -900.0], [1.0, 2.0]], "logsumexp(v)", lambda r: [_lse(r)]),
    ("log(softmax(v))", [1000.0, 0.0, -1.0], "log_softmax(v)", lambda r: [mp.mpf(x) - _lse(r) for x in r]),
    ("log(softmax(v))", [[1.0, 2.0], [0.0, -800.0]], "log_softmax(v)", lambda r: [mp.mpf(x) - _lse(r) for x in r]),
    ("exp(v)/sum(exp(v))", [1000.0, 0.0, -1.0], "softmax(v)", lambda r: [mp.exp(mp.mpf(x) - _lse(r)) for x in r]),
    ("exp(v)/sum(exp(v))", [-1000.0, -1001.0, -1002.0], "softmax(v)",
     lambda r: [mp.exp(mp.mpf(x) - _lse(r)) for x in r]),
]


def _error(got, exact):
    """Relative to at least the smallest normal float64: e^-1000 is 0 to float64, rightly."""
    if got != got or abs(got) == float("inf"):
        return float("inf")
    return float(abs(mp.mpf(got) - exact) / max(abs(exact), mp.mpf(2.2250738585072014e-308)))


def _tensor_pass(text, v):
    import numpy as np

    from bpcli.engine.tensor import evaluate

    f = parse(text)
    r = evaluate(f, {"v": np.array(v)})
    return f, r, [float(x) for x in np.ravel(r.value)]


@pytest.mark.parametrize("text, v, rewrite, exact", TENSOR_CASES, ids=[f"{c[0]} at {c[1]}" for c in TENSOR_CASES])
def test_tensor_rewrites_are_offered_and_right_where_the_naive_form_is_not(text, v, rewrite, exact):
    f, r, naive = _tensor_pass(text, v)
    found = [h for h in find(f, r.values, r.shapes) if h.suggestion]
    assert [(h.suggestion, h.node) for h in found] == [(rewrite, f.output)]
    truth = [t for row in _rows(v) for t in exact(row)]
    _, _, stable = _tensor_pass(rewrite, v)
    assert len(stable) == len(truth) == len(naive)
    assert max(map(_error, stable, truth)) < 1e-15
    assert not max(map(_error, naive, truth)) < 1e-8


@pytest.mark.parametrize("text, v", [
    ("log(sum(exp(v)))", [1.0, 2.0, 3.0]), ("log(softmax(v))", [1.0, 2.0, 3.0]),
    ("exp(v)/sum(exp(v))", [1.0, 2.0, 3.0]),
    ("log(sum(exp(v)))", [[1000.0, 0.0], [1.0, 2.0]]),  # sums every entry: logsumexp(v) would be a vector
    ("log(sum(exp(v), 0))", [[1000.0, 0.0], [1.0, 2.0]]),  # down the columns, not along the last axis
    ("exp(v)/sum(exp(v))", [[1000.0, 0.0], [1.0, 2.0]]),  # every entry's share of the whole matrix
])
def test_tensor_forms_that_are_healthy_or_not_the_same_get_no_rewrite(text, v):
    f, r, _ = _tensor_pass(text, v)
    assert [h for h in find(f, r.values, r.shapes) if h.suggestion] == []


def test_tensor_hazards_reach_the_tables_the_json_and_the_graph(bp):
    args = ("log(sum(exp(v)))", "--v", "[1000, 0, -1]", "--no-check")
    note = "n3 log: log(sum(exp(v))) overflows: exp(v) has entries that are inf (try logsumexp(v))"
    assert note in " ".join(bp("grad", *args).stdout.split())
    doc = json.loads(bp("grad", *args, "--json").stdout)
    assert {"kind": "hazard", "node": "n3", "message": "n3 log: log(sum(exp(v))) overflows: exp(v) has entries "
            "that are inf", "suggestion": "logsumexp(v)"} in doc["notes"]
    dot = bp("graph", "log(sum(exp(v)))", "--v", "[1000, 0, -1]", "--format", "dot").stdout
    assert "⚠ try logsumexp(v)" in dot and "penwidth=2" in dot


def test_the_message_names_the_operand_as_the_formula_does():
    f = parse("exp(y) - 1")
    (h,) = find(f, f.forward({"y": 1e-12}))
    assert h.message.startswith("exp(y) - 1 cancels: most digits of y = 1e-12 are lost")
    f = parse("log(1 + exp(x*w))")
    (h,) = [h for h in find(f, f.forward({"x": 800.0, "w": 1.0})) if h.suggestion]
    assert h.message == "log(1 + exp(x * w)) overflows: exp(x * w) is inf"
