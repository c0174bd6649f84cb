"""Comparisons (> < >= <= == !=: 1 or 0, no gradient) and where(cond, a, b)."""

from __future__ import annotations

import numpy as np
import pytest

from bpcli import ParseError, parse
from bpcli.language.printer import to_text


@pytest.mark.parametrize("text, kinds", [
    ("x + 1 > y * 2", ["input", "const", "add", "input", "const", "mul", "gt"]),  # looser than +, *
    ("-x <= y^2", ["input", "neg", "input", "const", "pow", "le"]),
    ("m = x == 1; m * x", ["input", "const", "eq", "mul"]),
    ("where(x != 0, 1 / x, 0)", ["input", "const", "ne", "const", "div", "where"]),
])
def test_comparisons_bind_loosest_as_in_python(text, kinds):
    assert parse(text).kinds == kinds


@pytest.mark.parametrize("text", ["(a > b) > c", "a >= (b < c)", "where(x > 0, x, 0.01 * x)",
                                  "(x == y) * x", "sum((A > 0) * A)"])
def test_comparisons_print_so_they_parse_back(text):
    f = parse(text)
    assert to_text(f).strip() == text
    assert parse(to_text(f)).kinds == f.kinds


def test_comparisons_do_not_chain():
    with pytest.raises(ParseError) as e:
        parse("a < b < c")
    assert e.value.position.column == 7 and "do not chain" in e.value.hint


@pytest.mark.parametrize("x, y, expected", [(1.0, 2.0, [0, 1, 0, 1, 0, 1]), (2.0, 2.0, [0, 0, 1, 1, 1, 0]),
                                            (3.0, 2.0, [1, 0, 1, 0, 0, 1])])
def test_values_are_one_and_zero_and_no_gradient_flows(x, y, expected):
    for text, want in zip(["x > y", "x < y", "x >= y", "x <= y", "x == y", "x != y"], expected):
        r = parse(text).grad({"x": x, "y": y})
        assert r.value == want and r.gradient == {"x": 0.0, "y": 0.0}, text


def test_where_sends_the_gradient_to_the_side_it_took(bp_json):
    doc = bp_json("grad", "sum(where(A > 0, A^2, 3 * A))", "--A", "[[1, -2], [0, 4]]")
    assert doc["value"] == 1 - 6 + 0 + 16
    assert doc["gradient"]["A"] == [[2.0, 3.0], [3.0, 8.0]]  # at 0 the condition is false: 3
    assert doc["ok"]


def test_a_scalar_leaky_relu_by_where_is_checked_by_sympy(bp):
    r = bp("grad", "where(x > 0, x, 0.01*x)", "--x", "-3")
    assert r.exit_code == 0 and r.stderr == ""
    assert "0.01" in r.stdout and "Piecewise" in r.stdout


def test_the_derivative_of_where_is_a_where(bp):
    r = bp("diff", "where(x > 0, x^2, -x)")
    assert r.exit_code == 0, r.stderr
    assert "where(" in r.stdout


def test_masked_attention_scores_as_where():
    """The causal mask of a decoder: where(mask, scores, -inf-like), then softmax."""
    rng = np.random.default_rng(0)
    S = rng.normal(size=(3, 3))
    M = np.tril(np.ones((3, 3)))
    r = parse("p = softmax(where(M > 0, S, -1000000000)); sum(p * W)").grad(
        {"S": S, "M": M, "W": rng.normal(size=(3, 3))})
    assert np.allclose(np.triu(r.values[[k for k, n in enumerate(r.formula.kinds) if n == "softmax"][0]], 1), 0)
    assert "M" not in r.gradient  # read only through a comparison: no gradient, as PyTorch's M.grad is None
    assert set(r.gradient) == {"S", "W"}


def test_an_input_read_only_by_a_comparison_gets_no_gradient_as_in_pytorch(bp_json):
    doc = bp_json("grad", "sum(where(M > 0, A, 0))", "--M", "[1, -1]", "--A", "[2, 3]")
    assert doc["gradient"] == {"A": [1.0, 0.0]} and doc["ok"]
    assert [n["adjoint"] for n in doc["nodes"][:3]] == [None, None, None]  # M, 0 and M > 0
