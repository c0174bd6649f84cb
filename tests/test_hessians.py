"""Second derivatives (issue 22, item 1): pow's derivative formulas differentiate to the right,
symmetric Hessian; "convention" labels only a kink the second derivatives go through; and the
Hessian of every op of the table is symmetric and PyTorch's (float64) at random points."""

import dataclasses
import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bpcli import parse
from bpcli.check import symbolic
from bpcli.check.symbolic import checked_hessian, hessian
from bpcli.engine.ops import ELEMENTWISE, OPS


def _number(v):
    return float(v) if isinstance(v, str) else v


def _hessian_doc(bp, *args):
    r = bp("grad", *args, "--hessian", "--json")
    doc = json.loads(r.stdout)
    return r, {row: {col: _number(v) for col, v in cols.items()} for row, cols in doc["hessian"].items()}, doc


def test_the_mixed_second_derivative_of_x_to_the_y_at_y_zero_is_one_over_x_both_ways(bp):
    r, h, doc = _hessian_doc(bp, "x^y", "--x", "4", "--y", "0")
    assert r.exit_code == 0, r.stderr
    assert h["x"]["y"] == h["y"]["x"] == 0.25  # d/dy (y·x^(y-1)) = x^(y-1)·(1 + y·ln x) = 1/4 (JAX too)
    assert h["x"]["x"] == 0.0 and h["y"]["y"] == pytest.approx(math.log(4) ** 2, rel=1e-15)
    assert doc["hessian_status"] == "ok" and "convention" not in r.stdout


def test_the_hessian_of_x_to_the_y_is_symmetric_at_the_zero_to_the_zero_kink(bp):
    r, h, doc = _hessian_doc(bp, "x^y", "--x", "0", "--y", "0")
    assert r.exit_code == 0, r.stderr
    assert h["x"]["y"] == h["y"]["x"]
    assert doc["gradient"] == {"x": 0.0, "y": 0.0}  # PyTorch's first derivatives at 0^0, kept


@pytest.mark.parametrize("x", ["143", "144"])
def test_the_second_derivative_of_x_to_the_x_overflows_to_inf_not_nan(bp, x):
    r, h, doc = _hessian_doc(bp, "x^x", "--x", x)
    assert r.exit_code == 0, r.stderr
    assert h["x"]["x"] == math.inf  # x^x·((ln x + 1)^2 + 1/x) past the largest float
    assert doc["hessian_status"] == "ok"


def test_a_disagreement_met_at_a_mask_of_a_derivative_formula_is_a_mismatch_not_a_convention(monkeypatch):
    # bp's former derivative of pow: b·a^(b - sign(abs(b))) differentiates to 1 at y = 0, not 1/x.
    # Its abs(b) sits at its kink there but no gradient goes through it: a real disagreement.
    monkeypatch.setitem(OPS, "pow", dataclasses.replace(
        OPS["pow"], derivative=("b*a^(b - sign(abs(b)))", OPS["pow"].derivative[1])))
    symbolic._template.cache_clear()
    try:
        h = checked_hessian(parse("x^y"), {"x": 4.0, "y": 0.0})
    finally:
        monkeypatch.undo()
        symbolic._template.cache_clear()
    assert h.matrix["x"]["y"] == 1.0
    assert h.status == "mismatch"


def test_a_kink_the_second_derivative_goes_through_is_still_a_convention():
    # elu'' jumps at 0 (relu in elu's derivative formula): PyTorch's 0 there, SymPy's 1.
    h = checked_hessian(parse("elu(x)"), {"x": 0.0})
    assert h.matrix == {"x": {"x": 0.0}} and h.status == "convention"


# -- every op of the table -------------------------------------------------------------------
def _formula(op):
    refs = ["x", "y", "z"][:op.arity]
    return op.syntax.format(*refs) if op.syntax else f"{op.name}({', '.join(refs)})"


def _torch_hessian(op, point):
    torch = pytest.importorskip("torch")
    expr = op.torch.format(*(f"v[{k}]" for k in range(op.arity)))
    v = torch.tensor(point, dtype=torch.float64)
    scope = {"torch": torch, "DTYPE": torch.float64}  # the exported script's names
    return torch.autograd.functional.hessian(lambda v: eval(expr, {**scope, "v": v}), v).tolist()


def _same(a, b, rel):
    if math.isnan(a) or math.isnan(b) or math.isinf(a) or math.isinf(b):
        return a == b or (math.isnan(a) and math.isnan(b))
    return abs(a - b) <= 1e-9 + rel * max(abs(a), abs(b))


WITH_TORCH = [name for name in ELEMENTWISE if OPS[name].torch is not None]


@pytest.mark.parametrize("name", WITH_TORCH)
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_the_hessian_of_every_op_is_symmetric_and_pytorchs(name, data):
    op = OPS[name]
    # Random points: not at a kink (0, whole and half numbers: relu, floor, round, 0^0, atan2's
    # origin, …), where second derivatives are conventions (PyTorch's ∂²(x^y)/∂x∂y is 0 at
    # y = 0), nor within 1e-3 of 0, where PyTorch's sinc'' is 0 (it is -π²/3).
    away = st.floats(-3.0, 3.0).filter(lambda v: abs(v) >= 1e-3 and 2 * v != round(2 * v))
    point = data.draw(st.lists(away, min_size=op.arity, max_size=op.arity))
    names = ["x", "y", "z"][:op.arity]
    f = parse(_formula(op))
    values = dict(zip(names, point))
    ours = hessian(f, {n: v for n, v in values.items() if n in f.inputs})
    theirs = _torch_hessian(op, point)
    for r, row in enumerate(names):
        for c, col in enumerate(names):
            if row not in ours or col not in ours:
                continue
            assert _same(ours[row][col], ours[col][row], 1e-12), (values, ours)
            a, b = ours[row][col], theirs[r][c]
            if math.isfinite(a) and math.isfinite(b):
                assert _same(a, b, 1e-9), (name, values, row, col, a, b)
