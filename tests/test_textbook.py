"""What learners read: derivatives as a textbook writes them, ^ never ** (#22 item 9).

bp computes with masked forms that are right at a = 0 (b*(a + 1 - sign(abs(a) + abs(b)))^(b - 1));
people see b*a^(b - 1) and a^b*log(a), with the zero-base convention as a note beside them.
"""

from __future__ import annotations

import json

import pytest

NOTE = ("note: a^b is differentiated as a textbook writes it (b*a^(b - 1), a^b*log(a)); at a = 0 the "
        "textbook forms give 0·inf or log(0): bp takes ∂/∂a = 0 where b = 0 and ∂/∂b = 0 where b >= 0 "
        "(PyTorch's convention) (--no-simplify: the form bp computes with)\n")


def test_bp_diff_of_a_power_by_its_exponent_is_the_textbook_form_with_a_note(bp):
    r = bp("diff", "x^n", "--wrt", "n")
    assert (r.exit_code, r.stdout, r.stderr) == (0, "x^n*log(x)\n", NOTE)
    r = bp("diff", "x^n")
    assert (r.exit_code, r.stdout, r.stderr) == (0, "d/dx: n*x^(n - 1)\nd/dn: x^n*log(x)\n", NOTE)


@pytest.mark.parametrize("formula, printed", [("x^3", "3*x^2"), ("x^0.5", "0.5/x^0.5"),
                                              ("2^x", "0.6931471805599453*2^x"), ("x**3", "3*x^2")])
def test_a_power_the_textbook_form_computes_right_has_no_note_and_prints_caret(bp, formula, printed):
    r = bp("diff", formula)
    assert (r.exit_code, r.stdout, r.stderr) == (0, printed + "\n", "")


def test_bp_diff_json_and_latex_print_the_textbook_form(bp):
    r = bp("diff", "x^n", "--json")
    assert r.exit_code == 0 and json.loads(r.stdout) == {"x": "n*x^(n - 1)", "n": "x^n*log(x)"}
    r = bp("diff", "x^n", "--wrt", "n", "--latex")
    assert r.exit_code == 0 and r.stdout == "x^{n} \\log{\\left(x \\right)}\n"


def test_no_simplify_keeps_the_form_bp_computes_with_exact_at_0(bp):
    from bpcli import parse

    r = bp("diff", "x^n", "--wrt", "n", "--no-simplify")
    assert (r.exit_code, r.stderr) == (0, "")
    assert r.stdout == "x^n * log(x + 1 - sign(abs(x)))\n"
    assert parse(r.stdout).evaluate({"x": 0.0, "n": 2.0}) == 0.0


def test_the_library_diff_is_the_textbook_form_too():
    from bpcli import diff

    assert diff("x^n", "n") == "x^n*log(x)"
    assert diff("x^n", "x") == "n*x^(n - 1)"


def test_bp_ops_shows_the_textbook_form_and_json_keeps_the_computed_one_too(bp):
    r = bp("ops")
    assert r.exit_code == 0 and "b*a^(b - 1)" in r.stdout and "a^b*log(a)" in r.stdout
    assert "sign(abs" not in r.stdout and "at a = 0 the textbook forms give" in r.stdout
    doc = {row["name"]: row for row in json.loads(bp("ops", "--json").stdout)}
    assert doc["pow"]["partials"] == {"a": "b*a^(b - 1)", "b": "a^b*log(a)"}
    assert doc["pow"]["computed_partials"] == {"a": "b*(a + 1 - sign(abs(a) + abs(b)))^(b - 1)",
                                               "b": "a^b*log(a + 1 - sign(abs(a)))"}
    assert doc["pow"]["note"].startswith("at a = 0")
    assert doc["mul"]["partials"] == doc["mul"]["computed_partials"] == {"a": "b", "b": "a"}
    assert doc["mul"]["note"] is None


def test_the_check_table_and_explain_print_caret(bp):
    r = bp("grad", "x^y", "--x", "2", "--y", "3", "--json")
    doc = json.loads(r.stdout)
    assert r.exit_code == 0 and doc["check"]["y"]["derivative"] == "x^y*log(x)"
    assert doc["edges"][0]["formula"] == "∂(x^y)/∂x = y·x^(y - 1)"
    r = bp("grad", "x^y", "--x", "2", "--y", "3", "--explain")
    assert r.exit_code == 0 and "**" not in r.stdout and "sign(abs" not in r.stdout


def test_the_engine_still_computes_the_careful_form_at_0(bp_json):
    doc = bp_json("grad", "x^y", "--x", "0", "--y", "0", "--no-check")
    assert doc["gradient"] == {"x": 0.0, "y": 0.0}
