"""bp check: a learner's derivative, or a table of adjoints and local derivatives, compared
with bp's as makemore's cmp() compares a manual backward pass: exact, approximate or wrong,
where it is wrong, and which part of the answer is off."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from bpcli.check import derivation
from bpcli.cli import app
from bpcli.language.parser import parse

LECTURE = ("(x*w-y)^2", "--x", "2", "--w", "3", "--y", "4")


def run(*args):
    return CliRunner().invoke(app, list(args))


def one(answer: str, formula: str = "(x*w-y)^2", point=None, wrt: str = "w"):
    point = point or {"x": 2.0, "w": 3.0, "y": 4.0}
    return derivation.check_derivative(parse(formula), point, wrt, answer).checks[0]


@pytest.mark.parametrize("answer", ["2*(x*w - y)*x", "2*x*(x*w - y)", "(x*w - y)*x*2"])
def test_a_right_answer_is_exact_at_every_point(answer):
    c = one(answer)
    assert (c.verdict, c.max_diff, c.points, c.wrong_at, c.culprit) == ("exact", 0.0, 21, None, None)


def test_the_same_derivative_rounded_differently_is_approximate_with_its_largest_difference():
    c = one("2*x*x*w - 2*x*y")
    assert c.verdict == "approximate" and c.ok
    assert 0 < c.max_diff < 1e-13


@pytest.mark.parametrize("answer, kind, term, factor", [
    ("2*x*x*w + 2*y*x", "sign", "+2 * y * x", -1.0),  # the sign of a term
    ("2*x*x*w - 2*y*x + x", "remove", "+x", 0.0),  # a term too many
    ("(x*w - y)*x", "factor", None, 2.0),  # the whole answer half of bp's
    ("-2*(x*w - y)*x", "factor", None, -1.0),  # the whole answer's sign
    ("x*x*w - 2*y*x", "term factor", "+x * x * w", 2.0),  # one term off by a factor
])
def test_a_wrong_answer_names_the_part_that_is_off(answer, kind, term, factor):
    c = one(answer)
    assert c.verdict == "wrong" and not c.ok
    assert c.wrong_at["index"] == 0  # wrong already at the given point
    assert c.culprit["kind"] == kind and c.culprit["term"] == term
    assert c.culprit["factor"] == pytest.approx(factor, abs=1e-12)


def test_a_missing_term_is_wrong_and_not_blamed_on_a_term_that_is_right():
    c = one("2*x*x*w")  # the −2·y·x term is missing
    assert c.verdict == "wrong" and c.culprit is None and c.searched
    assert c.wrong_at["yours"] == 24.0 and c.wrong_at["bp"] == 8.0 and c.max_diff >= 16


def test_an_answer_right_at_the_given_point_only_is_wrong_at_a_random_point():
    c = derivation.check_derivative(parse("(x*w-y)^2"), {"x": 2.0, "w": 3.0, "y": 2.0}, "w",
                                    "2*(x*w - y)*y").checks[0]
    assert c.verdict == "wrong" and c.wrong_at["index"] > 0  # the given point has y = x: right there
    p = c.wrong_at["point"]
    assert c.wrong_at["bp"] == pytest.approx(2 * (p["x"] * p["w"] - p["y"]) * p["x"])


def test_a_number_is_compared_at_the_given_point_only():
    assert one("8").verdict == "exact" and one("8").points == 1
    assert one("8.00000001").verdict == "approximate"
    wrong = one("-8")
    assert wrong.verdict == "wrong" and wrong.culprit is None and not wrong.searched


def test_random_points_are_seeded_and_skip_points_outside_the_domain():
    f = parse("log(x)*w")
    a = derivation.check_derivative(f, {"x": 2.0, "w": 1.0}, "x", "w/x", seed=5)
    b = derivation.check_derivative(f, {"x": 2.0, "w": 1.0}, "x", "w/x", seed=5)
    # about half the draws have x < 0, where log is nan: skipped, and 20 usable ones still found
    assert a.checks[0].points == 21 and a.checks[0].verdict == "approximate"  # bp's is w·(1/x)
    assert a.checks[0].max_diff == b.checks[0].max_diff > 0
    assert derivation.check_derivative(f, {"x": 2.0, "w": 1.0}, "x", "w*(1/x)", seed=5).checks[0].verdict == "exact"


TENSOR = {"W1": [[0.5, -1.0, 2.0], [1.5, 0.25, -0.5]], "x": [[1.0], [2.0], [-1.0]], "y": [[0.5], [1.0]]}


def test_a_tensor_answer_for_the_whole_matrix(tmp_path):
    values = tmp_path / "v.json"
    values.write_text(json.dumps(TENSOR))
    right = run("check", "sum((W1 @ x - y)^2)", "--values", str(values), "--wrt", "W1",
                "2*(W1 @ x - y) @ transpose(x)", "--json")
    assert right.exit_code == 0, right.stderr
    doc = json.loads(right.stdout)
    assert doc["verdict"] == "exact" and doc["checks"][0]["points"] == 21
    half = json.loads(run("check", "sum((W1 @ x - y)^2)", "--values", str(values), "--wrt", "W1",
                          "(W1 @ x - y) @ transpose(x)", "--json").stdout)["checks"][0]
    assert half["verdict"] == "wrong" and half["culprit"]["kind"] == "factor" and half["culprit"]["factor"] == 2.0
    assert half["wrong_at"]["bp"] == [[-8.0, -16.0, 8.0], [3.0, 6.0, -3.0]]
    assert half["wrong_at"]["yours"] == [[-4.0, -8.0, 4.0], [1.5, 3.0, -1.5]]
    shape = run("check", "sum((W1 @ x - y)^2)", "--values", str(values), "--wrt", "W1", "2*(W1 @ x - y)")
    assert shape.exit_code == 1
    assert ("∂/∂W1 is wrong at the given point: your answer has shape 2×1, bp's ∂/∂W1 has shape 2×3"
            in " ".join(shape.stdout.split()))


def test_cli_right_wrong_and_its_exit_codes():
    right = run("check", *LECTURE, "--wrt", "w", "2*(x*w - y)*x")
    assert right.exit_code == 0 and right.stderr == ""
    assert "│ ∂/∂w │ 2*(x*w - y)*x │ ✓ exact │      0.0 │     21 │" in right.stdout
    wrong = run("check", "(x*w-y)^2", "--wrt", "w", "2*x*x*w + 2*y*x", "--x", "2", "--w", "3", "--y", "4")
    assert wrong.exit_code == 1 and wrong.stderr == ""
    assert ("∂/∂w is wrong at the given point:\n  yours 40.0\n  bp's  8.0\n  the term +2 * y * x has the wrong "
            "sign: with -2 * y * x your answer is right\n  at every point\n") in wrong.stdout
    assert all(len(line) <= 80 for line in wrong.stdout.splitlines())


def test_cli_reads_the_answer_from_a_file_and_names_what_is_missing(tmp_path):
    dw = tmp_path / "dw.bp"
    dw.write_text("r = x*w - y\n2*r*x\n")
    doc = json.loads(run("check", *LECTURE, "--wrt", "w", "--grad-file", str(dw), "--json").stdout)
    assert doc["schema"] == "bp.check/1" and doc["ok"] and doc["checks"][0]["answer"] == "r = x*w - y\n2*r*x"
    for args, message in [
        (("--wrt", "w"), "bp: usage error: no answer: write your ∂/∂w after the formula, or give --grad-file\n"),
        (("2*x",), "bp: usage error: say which derivative your answer is with --wrt NAME (or check a table with "
                   "--table)\n"),
        (("--wrt", "v", "2*x"), "bp: usage error: --wrt v: the formula has no input v; its inputs: x, w, y\n"),
        (("--wrt", "w", "2*z"), "bp: usage error: ∂/∂w: your answer reads z, which is no input of the formula\n"),
    ]:
        result = run("check", *LECTURE, *args)
        assert result.exit_code == 2 and result.stdout == ""
        assert result.stderr.startswith(message)


def test_a_table_of_answers_each_node_and_edge(tmp_path):
    table = tmp_path / "answers.json"
    table.write_text(json.dumps({
        "nodes": {"n6": 1, "n4": 4, "n2": 4.0, "w": 8.000001, "x": "2*(x*w - y)*x"},
        "edges": [{"parent": "n6", "child": "n4", "local": "2*(x*w - y)"},
                  {"parent": "n2", "child": "w", "local": "x"}, {"parent": "n2", "child": "x", "local": 2}]}))
    result = run("check", *LECTURE, "--table", str(table), "--json")
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    assert [(c["what"], c["verdict"]) for c in doc["checks"]] == [
        ("adjoint of n6", "exact"), ("adjoint of n4", "exact"), ("adjoint of n2", "exact"),
        ("adjoint of n1 (w)", "approximate"), ("adjoint of n0 (x)", "wrong"),
        ("local ∂n6/∂n4", "exact"), ("local ∂n2/∂n1 (w)", "exact"), ("local ∂n2/∂n0 (x)", "wrong")]
    assert doc["checks"][7]["wrong_at"] == {"point": None, "given": True, "yours": 2.0, "bp": 3.0}
    assert doc["missing"] == ["n3 (y)", "∂n4/∂n2", "∂n4/∂n3 (y)"]
    people = run("check", *LECTURE, "--table", str(table))
    assert "not in your table: n3 (y), ∂n4/∂n2, ∂n4/∂n3 (y)" in people.stdout


def test_a_table_edge_into_a_node_used_twice_needs_its_slot(tmp_path):
    table = tmp_path / "a.json"
    table.write_text(json.dumps({"edges": [{"parent": "n1", "child": "x", "local": 3}]}))
    result = run("check", "x*x", "--x", "3", "--table", str(table))
    assert result.exit_code == 2
    assert result.stderr.startswith('bp: usage error: --table: x is operands 0 and 1 of n1: say which with "slot"')
    table.write_text(json.dumps({"nodes": {"x": 6},
                                 "edges": [{"parent": "n1", "child": "x", "slot": 0, "local": 3},
                                           {"parent": "n1", "child": "x", "slot": 1, "local": "x"}]}))
    result = run("check", "x*x", "--x", "3", "--table", str(table), "--json")
    assert result.exit_code == 0, result.stdout
    assert [c["what"] for c in json.loads(result.stdout)["checks"]] == [
        "adjoint of n0 (x)", "local ∂n1/∂n0 (x) (operand 1)", "local ∂n1/∂n0 (x) (operand 2)"]
