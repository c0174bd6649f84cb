"""Keyword arguments: the op table declares each op's static parameters (name, kind, default);
the parser binds positional and keyword arguments to them, as Python binds a call."""

from __future__ import annotations

import numpy as np
import pytest

from bpcli import ParseError, parse
from bpcli.engine.ops import OPS
from bpcli.language.printer import to_text


@pytest.mark.parametrize("text, params", [
    ("sum(A)", {}),
    ("sum(A, 0)", {1: (0,)}),
    ("sum(A, keepdim=False)", {}),  # the default: the same node as sum(A)
    ("sum(A, 0, keepdim=True)", {1: (0, True)}),
    ("sum(A, dim=0, keepdim=True)", {1: (0, True)}),
    ("sum(A, keepdim=True, dim=-1)", {1: (-1, True)}),
    ("sum(A, 0, True)", {1: (0, True)}),  # by position, as PyTorch allows
    ("sum(A, keepdim=True)", {1: (None, True)}),
    ("mean(x, -1, keepdim=True)", {1: (-1, True)}),
    ("logsumexp(A, -1)", {}),  # -1 is logsumexp's default axis
])
def test_arguments_bind_to_the_declared_parameters(text, params):
    assert parse(text).params == params


def test_a_default_given_by_name_is_the_same_node():
    f = parse("sum(A, keepdim=False) + sum(A)")
    assert f.kinds.count("sum") == 1


@pytest.mark.parametrize("text, message, column", [
    ("sum(A, kdim=True)", "sum() has no parameter kdim", 8),
    ("sum(A, keepdim=1)", "keepdim of sum(…) must be True or False", 8),
    ("sum(A, keepdim=True, 0)", "a positional argument after a keyword argument", 20),
    ("sum(A, dim=0, dim=1)", "sum() got dim twice", 15),
    ("exp(x, k=1)", "exp() takes no keyword arguments, got k=", 8),
    ("sum(A, 0, True, 1)", "sum() takes 1 argument and then dim, keepdim, got 4", 15),
    ("sum(A, x)", "sum() takes 1 argument, then constants as in sum(a, dim, keepdim=False)", 6),
    ("mean(A, keepdim=x)", "keepdim of mean(…) must be True or False", 9),
])
def test_bad_arguments_are_refused_at_their_place(text, message, column):
    with pytest.raises(ParseError) as e:
        parse(text)
    assert message in e.value.reason
    assert e.value.position.column == column


def test_a_keyword_name_that_is_unknown_lists_the_parameters():
    with pytest.raises(ParseError) as e:
        parse("mean(A, axis=0)")
    assert e.value.hint == "mean's parameters: dim, keepdim"


@pytest.mark.parametrize("text", ["sum(A, 0, keepdim=True)", "sum(A, keepdim=True)", "mean(A, -1)",
                                  "logsumexp(A, 0, keepdim=True)", "sum(A * 2)[1]"])
def test_the_printer_writes_the_parameters_so_the_text_parses_back(text):
    f = parse(text)
    again = parse(to_text(f))
    assert (again.kinds, again.params) == (f.kinds, f.params)
    assert to_text(f).strip() == text


def test_every_parameter_says_what_it_is():
    for op in OPS.values():
        for p in op.signature:
            assert p.kind in ("int", "bool", "ints") and p.doc, (op.name, p.name)


def test_the_tables_show_the_parameters(bp):
    r = bp("grad", "sum(A * mean(A, 0, keepdim=True))", "--A", "[[1,2],[3,4]]")
    assert r.exit_code == 0 and r.stderr == ""
    assert "mean(A, 0, keepdim=True)" in r.stdout or "mean(n0, 0, keepdim=True)" in r.stdout
    assert "check             ✓" in r.stdout or "│ ✓" in r.stdout


def test_bp_ops_lists_the_parameters(bp_json, bp):
    doc = {o["name"]: o for o in bp_json("ops")}
    assert doc["sum"]["syntax"] == "sum(a, dim, keepdim=False)"
    assert [p["name"] for p in doc["mean"]["parameters"]] == ["dim", "keepdim"]
    assert doc["logsumexp"]["parameters"][0]["default"] == -1
    r = bp("ops")
    assert r.exit_code == 0 and "sum(a, dim, keepdim=False)" in r.stdout


@pytest.mark.parametrize("library", ["torch", "jax"])
def test_export_spells_keepdim(library):
    from bpcli.views.export import jax_script, torch_script

    f = parse("sum(A * mean(A, 0, keepdim=True)) + sum(A * sum(A, keepdim=True))")
    point = {"A": np.array([[1.0, 2.0], [3.0, 4.0]])}
    text = (torch_script if library == "torch" else jax_script)(f.grad(point), point)
    if library == "torch":
        assert "torch.mean(A, dim=0, keepdim=True)" in text and "torch.sum(A, dim=None, keepdim=True)" in text
    else:
        assert "jnp.mean(A, axis=0, keepdims=True)" in text and "jnp.sum(A, axis=None, keepdims=True)" in text
