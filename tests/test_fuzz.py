"""Whatever comes in, the parser answers with a graph or bp's own ParseError, quickly."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bpcli import BPError, parse

VALID = ["(x*w-y)^2", "y_hat = x*w; r = y_hat - y; loss = r^2", "max(x, 2) + sigmoid(-x)^2",
         "a = 𝜔 * x # weight\nb = a / 2\nb"]


def parses_or_refuses(text: str) -> None:
    try:
        parse(text)
    except BPError:
        pass


@given(st.text())
def test_any_unicode_text_is_a_graph_or_a_parse_error(text):
    parses_or_refuses(text)


PIECES = list("xyw()+-*/^,;=.e12 \n#") + ["exp", "max", "**", "1e999", "sigmoid(", "𝜔"]


@given(st.lists(st.sampled_from(PIECES), max_size=40))
def test_grammar_shaped_noise_is_a_graph_or_a_parse_error(pieces):
    parses_or_refuses("".join(pieces))


@given(st.sampled_from(VALID), st.integers(0, 60), st.text(max_size=3))
def test_mutations_of_valid_formulas(formula, at, insert):
    at = min(at, len(formula))
    parses_or_refuses(formula[:at] + insert + formula[at + 1:])


@pytest.mark.parametrize("text", [
    "\x00", "x\x00y", "\ufeffx", "x" * 1_000_000, "1" * 100_000, "1e999999", "9" * 400 + ".5",
    "(" * 50_000, ")" * 10, "x +" * 10_000, "\u202ex", "ｘ＋１",
])
def test_hostile_inputs_are_a_graph_or_a_parse_error(text):
    parses_or_refuses(text)


def test_exponent_tower_is_computed_in_floats():
    from bpcli import grad

    assert grad("2^2^2^2^2^2^2^2", {}).value == float("inf")
    assert grad("2^2^2^2", {}).value == 65536.0


def test_sympy_never_sees_a_huge_integer_power():
    """Constant subgraphs reach SymPy as the float bp computed, not as 2**65536 to expand."""
    import sympy as sp

    from bpcli.check.sympy_bridge import to_sympy

    f = parse("x * 2^2^2^2^2^2")
    expr = to_sympy(f, sp)[f.output]
    assert expr == sp.Symbol("x", real=True) * sp.oo


@pytest.mark.parametrize("name", ["__import__", "os", "__class__", "eval", "exec", "sys"])
def test_names_that_look_like_code_are_just_names(name):
    from bpcli import grad

    assert grad(f"{name} * 2", {name: 3}).gradient == {name: 2.0}
