"""The lean driver walks Lark's tables and must build exactly what Lark's own loop builds,
and refuse exactly what Lark refuses (then Lark's error is the one shown)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import programs
from test_fuzz import PIECES, VALID

from bpcli import BPError
from bpcli.language import driver, parser


def outcome(text: str, lean: bool):
    """What parsing gives: the whole graph, or the error's message and hint."""
    try:
        f = parser.parse(text, lean=lean)
    except BPError as e:
        return ("error", str(e), e.hint)
    return ("graph", f.kinds, f.args, f.consts, f.names, f.labels, f.inputs)


def assert_same(text: str) -> None:
    assert outcome(text, lean=True) == outcome(text, lean=False)


def lean_accepts(text: str) -> bool:
    builder = parser._Builder(text)
    try:
        driver.parse(parser._tables, text, builder)
    except driver.Refused:
        return False
    return True


def test_the_lean_driver_can_read_this_larks_tables():
    assert parser.lean_driver_active()


@pytest.mark.parametrize("text", VALID + [
    "x", "-x^2", "2^-3^2", "+x", "(x)", "((x*w))", "max(x, y) - min(2, x)", "ln(x) + log(x)",
    "pi * e", "1e-3 * .5 + 2.", "a = x\n\nb = a\n", "a = x; b = a;", "x # a comment at the end",
    "x  ", "\n\nx\n\n", "a = 1 \\\n + x", "x ** 2 ** w", "tanh(sigmoid(relu(softplus(x))))",
    "a = x; a = a * a; a",
])
def test_valid_formulas_take_the_lean_path_and_build_what_lark_builds(text):
    assert lean_accepts(text)
    assert_same(text)


@pytest.mark.parametrize("text", [
    "", "   ", "# only a comment", "x +", "x + * y", "(x", "x)", "sin x", "foo(x)", "exp(x, y)",
    "max(x)", "1e999", "x $ y", "a = ", "= x", "x = y = z", "x\ny = 2", "[x]", "x,y", "3x",
])
def test_bad_formulas_fail_with_the_same_message_either_way(text):
    assert outcome(text, lean=True)[0] == "error"
    assert_same(text)


@given(programs(max_ops=12))
def test_random_programs_take_the_lean_path_and_build_what_lark_builds(text):
    assert lean_accepts(text)
    assert_same(text)


@given(st.lists(st.sampled_from(PIECES), max_size=40))
def test_grammar_shaped_noise_gives_the_same_answer_either_way(pieces):
    assert_same("".join(pieces))


@given(st.text(max_size=30))
def test_any_text_gives_the_same_answer_either_way(text):
    assert_same(text)


def test_a_long_program_builds_the_same_graph_either_way():
    lines = [f"t{i} = tanh(t{i - 1}) * x + t{i // 2}" for i in range(1, 3000)]
    assert_same("t0 = x\n" + "\n".join(lines))
