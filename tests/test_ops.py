"""Every row of the op table, checked the same way: adding an op adds its tests."""

import json
import math
import re

import pytest
import sympy as sp

from bpcli import parse
from bpcli.check.sympy_bridge import value_at
from bpcli.check.verify import close, finite_differences
from bpcli.engine.numeric import FLOAT, ONE, ArrayMath
from bpcli.engine.ops import ELEMENTWISE, FUNCTIONS, OPS
from bpcli.language.parser import grammar_text
from bpcli.views import labels as view

# Points away from every op's kinks and inside every domain (log, sqrt need a > 0); clamp's
# third is below x, inside and above it.
POINTS = [(0.7, 1.3, 2.0), (1.9, 0.4, 2.5), (2.5, 3.25, 3.0)]
# Ops whose domain or interest lies elsewhere: the same three points, moved there.
POINTS_FOR = {
    "asin": [(0.3,), (-0.6,), (0.9,)], "acos": [(0.3,), (-0.6,), (0.9,)],
    "atanh": [(0.3,), (-0.6,), (0.9,)], "acosh": [(1.3,), (2.5,), (7.0,)],
    "round": [(0.7,), (1.9,), (-2.3,)], "cbrt": [(-0.7,), (1.9,), (-8.0,)],
    "elu": [(-0.7,), (1.9,), (-2.5,)], "gelu": [(-0.7,), (1.9,), (-2.5,)],
    "silu": [(-0.7,), (1.9,), (-2.5,)], "sinc": [(0.07,), (-1.9,), (2.5,)],
    "leaky_relu": [(-0.7, 0.1), (1.9, 0.4), (-2.5, 0.2)], "atan2": [(0.7, -1.3), (-1.9, 0.4), (2.5, 3.25)],
    "mod": [(0.7, 1.3), (-1.9, 0.4), (2.5, -3.25)],
}
CALLS = {
    "add": "a + b", "sub": "a - b", "mul": "a * b", "div": "a / b", "neg": "-a",
    "pow": "a ^ b",
}


def call(op):
    if op.name in CALLS:
        return CALLS[op.name]
    if op.syntax:  # the comparisons: a > b, …
        return op.syntax.format("a", "b")
    return f"{op.name}({', '.join('abc'[: op.arity])})"


def points_of(op) -> list[tuple]:
    return [p[: op.arity] for p in POINTS_FOR.get(op.name, POINTS)]


def cases():
    """(op, point) for every elementwise op at each of its three points."""
    return [pytest.param(op, p, id=f"{op.name}-{k}") for op in map(OPS.get, ELEMENTWISE)
            for k, p in enumerate(points_of(op))]


@pytest.mark.parametrize("op, args", cases())
def test_partials_match_finite_differences(op, args):
    f = parse(call(op))
    point = dict(zip("abc", args))
    r = f.grad(point)
    fd = finite_differences(f, point)
    for name, g in r.gradient.items():
        assert close(g, fd[name], 1e-6, 1e-8), (op.name, name, g, fd[name])


@pytest.mark.parametrize("op, args", cases())
def test_partials_match_sympy(op, args):
    syms = sp.symbols("a b c", real=True)[: op.arity]
    expr = op.sympy(sp, *syms)
    point = {s: sp.Float(v, 30) for s, v in zip(syms, args)}
    out = op.forward(FLOAT, *args)
    assert close(out, value_at(expr, point), 1e-12, 1e-12)
    partials = [p(FLOAT, out, *args) for p in op.partials]
    assert len(partials) == op.arity
    for s, p in zip(syms, partials):
        assert close(p, value_at(sp.diff(expr, s), point), 1e-12, 1e-12), (op.name, s)


# numpy's vectorised transcendental functions are not libm's: they may differ in
# the last bits. IEEE arithmetic and selections must agree exactly.
EXACT = {"add", "sub", "mul", "div", "neg", "abs", "relu", "max", "min", "floor", "ceil", "round", "mod",
         "clamp", "relu6", "leaky_relu", "square", "erf", "erfc"}


def same(x, y, op):
    if op.name in EXACT:
        return x == y
    return abs(x - y) <= 4 * math.ulp(max(abs(x), abs(y)))


@pytest.mark.parametrize("op", [OPS[k] for k in ELEMENTWISE], ids=ELEMENTWISE)
def test_array_rules_equal_scalar_rules(op):
    import numpy as np

    m = ArrayMath("float64")
    args = [np.array([p[k] for p in points_of(op)]) for k in range(op.arity)]
    out = op.forward(m, *args)
    partials = [p(m, out, *args) for p in op.partials]
    for row, scalar in enumerate(points_of(op)):
        s_out = op.forward(FLOAT, *scalar)
        assert same(out[row], s_out, op)
        for p_arr, p in zip(partials, [p(FLOAT, s_out, *scalar) for p in op.partials]):
            assert same(np.broadcast_to(p_arr, out.shape)[row], p, op)


@pytest.mark.parametrize("op, args", cases())
def test_derivative_formulas_parse_and_equal_the_numeric_partials(op, args):
    """The bp-syntax derivative of each operand (used by bp diff) evaluates to the partial."""
    out = op.forward(FLOAT, *args)
    assert len(op.derivative) == len(op.partials) == op.arity
    for template, partial in zip(op.derivative, op.partials):
        f = parse(template)
        value = f.evaluate({n: dict(zip("abc", args))[n] for n in f.inputs})
        assert close(value, partial(FLOAT, out, *args), 1e-14, 1e-14), (op.name, template)


@pytest.mark.parametrize("op, args", [c for c in cases() if c.values[0].constant_partials])
def test_constant_partials_are_exactly_what_the_partial_functions_give(op, args):
    """The backward pass uses them in place of the functions: the very same numbers."""
    out = op.forward(FLOAT, *args)
    for constant, partial in zip(op.constant_partials, op.partials):
        assert constant == partial(FLOAT, out, *args) and type(constant) is float
    assert (op.constant_partials[0] is ONE) == (op.partials[0](FLOAT, out, *args) is ONE)


def test_constant_partials_are_the_linear_and_flat_ops():
    assert [op.name for op in OPS.values() if op.constant_partials] == ["add", "sub", "neg", "step", "sign",
                                                                        "floor", "ceil", "round",
                                                                        "gt", "lt", "ge", "le", "eq", "ne"]


def test_every_function_has_a_grammar_alternative_and_every_alias_an_op():
    aliases = set(re.findall(r"->\s*(\w+)", grammar_text()))
    assert set(OPS) - {"take"} <= aliases  # p[y] is reached through the index alias
    structural = {"assign", "output", "number", "name", "constant", "call", "unknown_function", "keyword",
                  "slice"}
    assert aliases - set(OPS) == structural


@pytest.mark.parametrize("name", FUNCTIONS)
def test_function_with_wrong_arity_is_a_parse_error(name):
    from bpcli import ParseError

    wrong = OPS[name].arity + 1
    with pytest.raises(ParseError, match=f"{name}\\(\\) takes {OPS[name].arity} argument"):
        parse(f"{name}({', '.join(['x'] * wrong)})")


# Where each op's kink is, when not at 0 (in every operand).
KINK_AT = {"asin": (1.0,), "acos": (-1.0,), "acosh": (1.0,), "round": (2.5,), "relu6": (6.0,),
           "mod": (6.0, 3.0), "clamp": (1.0, -1.0, 1.0), "where": (0.0, 1.0, 2.0), "floor": (3.0,), "ceil": (-2.0,)}


@pytest.mark.parametrize("op", [o for o in OPS.values() if o.kink and o.elementwise], ids=lambda o: o.name)
def test_kinks_are_said_aloud(op):  # amax's ties: tests/test_reductions.py
    f = parse(call(op))
    point = dict(zip("abc", KINK_AT.get(op.name, (0.0,) * op.arity)))
    notes = view.notes(f.grad(point))
    assert any(op.convention in n.message for n in notes)


def test_pytorch_conventions_at_kinks():
    assert parse("relu(x)").grad({"x": 0}).gradient["x"] == 0.0
    assert parse("abs(x)").grad({"x": 0}).gradient["x"] == 0.0
    assert parse("sqrt(x)").grad({"x": 0}).gradient["x"] == math.inf
    assert parse("max(x, y)").grad({"x": 1, "y": 1}).gradient == {"x": 0.5, "y": 0.5}


# -- the textbook forms people read (#22 item 9) -------------------------------------------------
@pytest.mark.parametrize("op, args", cases())
def test_the_derivative_people_read_parses_and_equals_the_computed_one_away_from_kinks(op, args):
    """bp ops, bp diff and the tables show `shown_derivative` (the textbook form where the
    computed one needs masks); away from the kinks both are the same numbers, and a row with a
    textbook form says where they part."""
    assert len(op.shown_derivative) == op.arity and (not op.textbook or op.textbook_note)
    point = dict(zip("abc", args))
    for shown, computed in zip(op.shown_derivative, op.derivative):
        f, g = parse(shown), parse(computed)
        assert "sign(abs" not in shown and "**" not in shown
        assert close(f.evaluate({n: point[n] for n in f.inputs}), g.evaluate({n: point[n] for n in g.inputs}),
                     1e-13, 1e-13), (op.name, shown)


def test_pow_and_sinc_are_shown_as_a_textbook_writes_them():
    assert OPS["pow"].shown_derivative == ("b*a^(b - 1)", "a^b*log(a)")
    assert OPS["sinc"].shown_derivative == ("(cos(pi*a) - sinc(a))/a",)
    assert "sign(abs" in OPS["pow"].derivative[0]  # the careful form still computes
    x_y = parse("x^y")
    assert view.edge_formula(x_y, x_y.output, 0) == "∂(x^y)/∂x = y·x^(y - 1)"
    assert view.edge_formula(x_y, x_y.output, 1) == "∂(x^y)/∂y = x^y·log(x)"


# -- the rule on every edge ---------------------------------------------------------------
RULE_NAMES = {"sum", "difference", "product", "quotient", "negation", "power", "exponential", "logarithm",
              "chain", "selection", "constant", "matrix product", "mean", "transpose", "softmax", "log-softmax",
              "log-sum-exp", "indexing", "variance", "standard deviation", "running sum", "running product",
              "reshaping", "joining", "padding", "reversal", "masking", "convolution", "cross-entropy",
              "negative log-likelihood", "mean squared error"}
# A tensor row, called on operands of fitting shapes.
TENSOR_CALLS = {"matmul": ("A @ v", {"A": [[1.0, 2.0], [3.0, 4.0]], "v": [1.0, -1.0]}),
                "index": ("v[1]", {"v": [1.0, 2.0, 3.0]}),
                "take": ("p[y]", {"p": [0.2, 0.3, 0.5], "y": 2.0}),
                "gather": ("gather(A, 1, I)", {"A": [[1.0, 2.0], [3.0, 4.0]], "I": [[1.0], [0.0]]}),
                **{name: (f"{name}(v, 0)", {"v": [1.0, 2.0, 3.0]})
                   for name in ("cumsum", "cumprod", "logcumsumexp", "flip", "unsqueeze", "permute", "pad")},
                "reshape": ("reshape(v, 3, 1)", {"v": [1.0, 2.0, 3.0]}),
                "cat": ("cat(v, v)", {"v": [1.0, 2.0, 3.0]}),
                "stack": ("stack(v, v)", {"v": [1.0, 2.0, 3.0]}),
                **{name: (f"{name}(A)", {"A": [[1.0, 2.0], [3.0, 4.0]]}) for name in ("tril", "triu")},
                "conv1d": ("conv1d(x, k)", {"x": [[1.0, 2.0, 3.0]], "k": [[[1.0, -1.0]]]}),
                "conv2d": ("conv2d(X, K)", {"X": [[[1.0, 2.0], [3.0, 4.0]]], "K": [[[[1.0, -1.0]]]]}),
                **{name: (f"{name}(X, 2)", {"X": [[[1.0, 2.0], [3.0, 4.0]]]}) for name in ("max_pool2d", "avg_pool2d")},
                **{name: (f"{name}(v, y)", {"v": [0.2, 0.3, 0.5], "y": 2.0}) for name in ("cross_entropy", "nll_loss")},
                **{name: (f"{name}(v, u)", {"v": [0.2, 0.3, 0.5], "u": [1.0, 0.0, 1.0]})
                   for name in ("mse_loss", "binary_cross_entropy_with_logits")}}


@pytest.mark.parametrize("op", list(OPS.values()), ids=lambda o: o.name)
def test_every_op_names_the_rule_of_each_operands_local_gradient(op):
    names = [op.rule_of(slot) for slot in range(op.arity)]
    assert all(names) and set(names) <= RULE_NAMES
    if op.elementwise:
        f, point = parse(call(op)), dict(zip("abc", points_of(op)[0]))
    else:
        text, point = TENSOR_CALLS.get(op.name, (f"{op.name}(v)", {"v": [1.0, 2.0, 3.0]}))
        f = parse(text if op.name in ("take", "index") else f"sum({text})" if op.name != "sum" else text)
    result = f.grad(point)
    found = {e.slot: e.rule_name for e in view.edges(result) if e.parent == f"n{_node_of(f, op.name)}"}
    assert found and all(found[s] == op.rule_of(s) for s in found)


def _node_of(f, kind: str) -> int:
    return f.kinds.index(kind)


def test_pow_names_the_power_rule_for_its_base_and_the_exponential_rule_for_its_exponent(bp_json):
    doc = bp_json("grad", "x^y", "--x", "2", "--y", "3")
    assert [(e["child"], e["rule_name"], e["accumulates"]) for e in doc["edges"]] == [
        ("n0", "power", False), ("n1", "exponential", False)]


def test_a_reused_node_says_its_edges_accumulate_in_the_table_and_json(bp, bp_json):
    doc = bp_json("grad", "x*x + y", "--x", "3", "--y", "1")
    assert [(e["parent"], e["child"], e["rule_name"], e["accumulates"]) for e in doc["edges"]] == [
        ("n3", "n1", "sum", False), ("n3", "n2", "sum", False),
        ("n1", "n0", "product", True), ("n1", "n0", "product", True)]
    r = bp("grad", "x*x + y", "--x", "3", "--y", "1", "--no-check")
    assert r.exit_code == 0 and r.stderr == ""
    assert r.stdout.count("product rule, accumulated") == 2 and r.stdout.count("sum rule\n") == 0
    assert r.stdout.count("sum rule") == 2


def test_bp_ops_lists_each_operands_rule(bp):
    r = bp("ops", "--json")
    assert r.exit_code == 0 and r.stderr == ""
    listed = {row["name"]: row["rules"] for row in json.loads(r.stdout)}
    assert listed == {op.name: {v: op.rule_of(slot) for slot, v in enumerate("abc"[:op.arity])}
                      for op in OPS.values()}
    assert "(product rule)" in bp("ops").stdout


def test_the_language_page_names_every_op_and_bp_ops_says_each_convention(bp):
    """Issue 24's "Done when": the op table, docs/language.md and bp ops list every operation
    with its rule (test_bp_ops_lists_each_operands_rule) and its convention."""
    from pathlib import Path

    page = (Path(__file__).parent.parent / "docs" / "language.md").read_text(encoding="utf-8")
    unnamed = [op.name for op in OPS.values() if op.name not in page
               and (op.syntax or "").format("a", "b", "c") not in page.replace("`", "")]
    assert unnamed == []
    listed = {row["name"]: row["convention"] for row in json.loads(bp("ops", "--json").stdout)}
    assert listed == {op.name: op.convention or None for op in OPS.values()}
