"""Every row of the op table, checked the same way: adding an op adds its tests."""

import math
import re

import pytest
import sympy as sp

from bpcli import parse, view
from bpcli.numeric import FLOAT, ONE, ArrayMath
from bpcli.ops import FUNCTIONS, OPS
from bpcli.parser import grammar_text
from bpcli.verify import close, finite_differences

# Points away from every op's kinks and inside every domain (log, sqrt need a > 0).
POINTS = [(0.7, 1.3), (1.9, 0.4), (2.5, 3.25)]
CALLS = {
    "add": "a + b", "sub": "a - b", "mul": "a * b", "div": "a / b", "neg": "-a",
    "pow": "a ^ b",
}


def call(op):
    if op.name in CALLS:
        return CALLS[op.name]
    return f"{op.name}({', '.join('ab'[: op.arity])})"


@pytest.mark.parametrize("op", OPS.values(), ids=list(OPS))
@pytest.mark.parametrize("a, b", POINTS)
def test_partials_match_finite_differences(op, a, b):
    f = parse(call(op))
    point = {"a": a, "b": b} if op.arity == 2 else {"a": a}
    r = f.grad(point)
    fd = finite_differences(f, point)
    for name, g in r.gradient.items():
        assert close(g, fd[name], 1e-6, 1e-8), (op.name, name, g, fd[name])


@pytest.mark.parametrize("op", OPS.values(), ids=list(OPS))
@pytest.mark.parametrize("a, b", POINTS)
def test_partials_match_sympy(op, a, b):
    syms = sp.symbols("a b", real=True)[: op.arity]
    expr = op.sympy(sp, *syms)
    point = dict(zip(syms, (a, b)))
    out = op.forward(FLOAT, *(a, b)[: op.arity])
    assert close(out, float(expr.evalf(subs=point)), 1e-12, 1e-12)
    partials = [p(FLOAT, out, *(a, b)[: op.arity]) for p in op.partials]
    assert len(partials) == op.arity
    for s, p in zip(syms, partials):
        assert close(p, float(sp.diff(expr, s).evalf(subs=point)), 1e-12, 1e-12), (op.name, s)


# numpy's vectorised transcendental functions are not libm's: they may differ in
# the last bits. IEEE arithmetic and selections must agree exactly.
EXACT = {"add", "sub", "mul", "div", "neg", "abs", "relu", "max", "min"}


def same(x, y, op):
    if op.name in EXACT:
        return x == y
    return abs(x - y) <= 4 * math.ulp(max(abs(x), abs(y)))


@pytest.mark.parametrize("op", OPS.values(), ids=list(OPS))
def test_array_rules_equal_scalar_rules(op):
    import numpy as np

    m = ArrayMath("float64")
    args = [np.array([p[k] for p in POINTS]) for k in range(op.arity)]
    out = op.forward(m, *args)
    partials = [p(m, out, *args) for p in op.partials]
    for row, point in enumerate(POINTS):
        scalar = point[: op.arity]
        s_out = op.forward(FLOAT, *scalar)
        assert same(out[row], s_out, op)
        for p_arr, p in zip(partials, [p(FLOAT, s_out, *scalar) for p in op.partials]):
            assert same(np.broadcast_to(p_arr, out.shape)[row], p, op)


@pytest.mark.parametrize("op", OPS.values(), ids=list(OPS))
@pytest.mark.parametrize("a, b", POINTS)
def test_derivative_formulas_parse_and_equal_the_numeric_partials(op, a, b):
    """The bp-syntax derivative of each operand (used by bp diff) evaluates to the partial."""
    args = (a, b)[: op.arity]
    out = op.forward(FLOAT, *args)
    assert len(op.derivative) == len(op.partials) == op.arity
    for template, partial in zip(op.derivative, op.partials):
        f = parse(template)
        value = f.evaluate({n: dict(zip("ab", args))[n] for n in f.inputs})
        assert close(value, partial(FLOAT, out, *args), 1e-14, 1e-14), (op.name, template)


@pytest.mark.parametrize("op", [op for op in OPS.values() if op.constant_partials], ids=lambda op: op.name)
@pytest.mark.parametrize("a, b", POINTS)
def test_constant_partials_are_exactly_what_the_partial_functions_give(op, a, b):
    """The backward pass uses them in place of the functions: the very same numbers."""
    args = (a, b)[: op.arity]
    out = op.forward(FLOAT, *args)
    for constant, partial in zip(op.constant_partials, op.partials):
        assert constant == partial(FLOAT, out, *args) and type(constant) is float
    assert (op.constant_partials[0] is ONE) == (op.partials[0](FLOAT, out, *args) is ONE)


def test_constant_partials_are_the_linear_and_flat_ops():
    assert [op.name for op in OPS.values() if op.constant_partials] == ["add", "sub", "neg", "step", "sign"]


def test_every_function_has_a_grammar_alternative_and_every_alias_an_op():
    aliases = set(re.findall(r"->\s*(\w+)", grammar_text()))
    assert set(OPS) <= aliases
    structural = {"assign", "output", "number", "name", "constant", "unknown_function"}
    assert aliases - set(OPS) == structural


@pytest.mark.parametrize("name", FUNCTIONS)
def test_function_with_wrong_arity_is_a_parse_error(name):
    from bpcli import ParseError

    wrong = OPS[name].arity + 1
    with pytest.raises(ParseError, match=f"{name}\\(\\) takes {OPS[name].arity} argument"):
        parse(f"{name}({', '.join(['x'] * wrong)})")


@pytest.mark.parametrize("op", [o for o in OPS.values() if o.kink], ids=lambda o: o.name)
def test_kinks_are_said_aloud(op):
    f = parse(call(op))
    point = {"a": 0.0, "b": 0.0} if op.arity == 2 else {"a": 0.0}
    notes = view.notes(f.grad(point))
    assert any(op.convention in n for n in notes)


def test_pytorch_conventions_at_kinks():
    assert parse("relu(x)").grad({"x": 0}).gradient["x"] == 0.0
    assert parse("abs(x)").grad({"x": 0}).gradient["x"] == 0.0
    assert parse("sqrt(x)").grad({"x": 0}).gradient["x"] == math.inf
    assert parse("max(x, y)").grad({"x": 1, "y": 1}).gradient == {"x": 0.5, "y": 0.5}
