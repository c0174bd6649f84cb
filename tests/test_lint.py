"""bp lint: hazard notes over the inputs' typical ranges, at seeded random points, without
values; each rewrite it offers is checked against mpmath at the point that raised it."""

import json

import mpmath as mp
import pytest

from bpcli import parse
from bpcli.check.lint import Range, lint, parse_range
from bpcli.errors import LimitError, UsageError

mp.mp.dps = 50


def rel(got: float, exact) -> float:
    return float(abs(mp.mpf(got) - exact) / abs(exact))


# (formula, ranges, the rewrite, the exact value)
CASES = [
    ("log(1 + exp(x))", {}, "softplus(x)", lambda x: mp.log(1 + mp.exp(x))),
    ("exp(x) - 1", {}, "expm1(x)", lambda x: mp.expm1(x)),
    ("log(1 + x)", {}, "log1p(x)", lambda x: mp.log1p(x)),
    ("1 - cos(x)", {}, "2*sin(x/2)^2", lambda x: 1 - mp.cos(x)),
    ("log(sigmoid(x))", {"x": Range(-1000, 0)}, "-softplus(-x)", lambda x: -mp.log(1 + mp.exp(-x))),
    ("exp(x)/(1 + exp(x))", {"x": Range(0, 1000)}, "sigmoid(x)", lambda x: 1 / (1 + mp.exp(-x))),
    ("sqrt(x^2 + y^2)", {"x": Range(1e153, 1e160), "y": Range(-1, 1)}, "hypot(x, y)",
     lambda x, y: mp.sqrt(x**2 + y**2)),
]


@pytest.mark.parametrize("text, ranges, rewrite, exact", CASES, ids=[c[0] for c in CASES])
def test_lint_offers_the_rewrite_and_it_is_right_where_it_was_raised(text, ranges, rewrite, exact):
    f = parse(text)
    report = lint(f, ranges=ranges)
    found = [x for x in report.findings if x.suggestion]
    assert [x.suggestion for x in found] == [rewrite] and found[0].node == f.output and found[0].points >= 1
    point = found[0].example
    truth = exact(*(mp.mpf(point[n]) for n in f.inputs))
    assert rel(parse(rewrite).evaluate(point), truth) < 1e-15
    assert not rel(f.evaluate(point), truth) < 1e-8


def test_the_same_seed_gives_the_same_notes_and_another_seed_other_points():
    f = parse("log(1 + exp(x)) + exp(y) - 1")
    a, b, c = lint(f, seed=3), lint(f, seed=3), lint(f, seed=4)
    assert a.findings == b.findings
    assert [x.example for x in a.findings] != [x.example for x in c.findings]


def test_a_healthy_formula_has_no_notes():
    assert lint(parse("(x*w - y)^2 + tanh(x)")).findings == []


def test_default_and_given_ranges_are_said():
    report = lint(parse("x*y"), samples=10, ranges={"y": Range(-5, 5)})
    assert report.ranges["x"].text() == "±1e-12 … ±1e3 (log-uniform, both signs)"
    assert report.ranges["y"].text() == "-5 … 5 (uniform)"
    assert (report.samples, report.seed) == (10, 0)


def test_ranges_are_name_lo_hi():
    assert parse_range("x=-5:5") == ("x", Range(-5.0, 5.0))
    for bad in ("x", "x=5", "x=5:-5", "x=a:b", "=1:2", "x=-inf:0"):
        with pytest.raises(UsageError):
            parse_range(bad)


def test_lint_refuses_tensor_formulas_and_unknown_names_and_too_much_work():
    with pytest.raises(UsageError, match="scalars only"):
        lint(parse("sum(v)"))
    with pytest.raises(UsageError, match="no input named z"):
        lint(parse("x"), ranges={"z": Range(0, 1)})
    with pytest.raises(LimitError):
        lint(parse("+".join(f"x{k}" for k in range(200))), samples=1_000_000)


# -- the command ---------------------------------------------------------------------------
def test_lint_prints_the_points_and_the_notes_and_exits_1(bp):
    r = bp("lint", "log(1 + exp(x))")
    assert r.exit_code == 1, r.stderr
    out = " ".join(r.stdout.split())
    assert "200 points, seed 0" in out and "±1e-12 … ±1e3 (log-uniform, both signs)" in out
    assert "n4 log: log(1 + exp(x)) loses exp(x)" in out and "softplus(x)" in out
    assert bp("lint", "log(1 + exp(x))", "--exit-zero").exit_code == 0


def test_lint_of_a_healthy_formula_says_so_and_exits_0(bp):
    r = bp("lint", "(x*w - y)^2")
    assert r.exit_code == 0 and "no hazard notes at any of the points" in r.stdout


def test_lint_json(bp):
    r = bp("lint", "exp(x) - 1", "--range", "x=-1e-9:1e-9", "--samples", "50", "--seed", "7", "--json")
    assert r.exit_code == 1
    doc = json.loads(r.stdout)
    assert (doc["schema"], doc["samples"], doc["seed"], doc["ok"]) == ("bp.lint/1", 50, 7, False)
    assert doc["ranges"] == {"x": "-1e-09 … 1e-09 (uniform)"}
    (note,) = doc["notes"]
    assert (note["node"], note["kind"], note["suggestion"], note["points"]) == ("n3", "hazard", "expm1(x)", 50)
    assert note["message"].startswith("n3 sub: exp(x) - 1 cancels") and set(note["example"]) == {"x"}


@pytest.mark.parametrize("args, words", [
    (["x*y", "--range", "x=5:1"], "a range is NAME=LO:HI"),
    (["x*y", "--range", "z=0:1"], "no input named z"),
    (["sum(v)"], "bp lint works on scalars only"),
    (["+".join(f"x{k}" for k in range(200)), "--samples", "1000000"], "--samples"),
])
def test_lint_refusals_exit_2(bp, args, words):
    r = bp("lint", *args)
    assert r.exit_code == 2 and r.stdout == "" and words in r.stderr
