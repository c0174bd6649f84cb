"""Derivatives as formulas (bp diff): what they print parses back to the derivative."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import assume, example, given
from strategies import points, rebinding_programs

from bpcli import parse
from bpcli.check.symbolic import derivatives, formula_text
from bpcli.language.printer import to_text

RNN = "h = tanh(w*h0 + x1)\nh = tanh(w*h + x2)\nh = tanh(w*h + x3)\nh"


def _same(u: float, v: float) -> bool:
    return u == v or (math.isnan(u) and math.isnan(v))


def _value(text: str, point: dict) -> float:
    f = parse(text)
    return f.evaluate({n: point[n] for n in f.inputs})


def test_a_rebound_name_gets_a_fresh_name_in_the_printed_derivative(bp):
    r = bp("diff", "a = x; a = a*a; a = a*a; a = a*a", "--no-simplify")
    assert r.exit_code == 0, r.stderr
    assert math.isclose(_value(r.stdout, {"x": 1.1}), 8 * 1.1**7, rel_tol=1e-15)
    lines = r.stdout.strip().split("; ")
    bound = [line.split(" = ")[0] for line in lines if " = " in line]
    assert len(bound) == len(set(bound))


def test_the_tanh_rnn_derivative_equals_backprop():
    point = {"w": 0.7, "h0": 0.3, "x1": 0.5, "x2": -0.4, "x3": 0.9}
    f = parse(RNN)
    expected = f.grad(point).gradient["w"]
    for simplify in (False, True):
        text = formula_text(derivatives(f, ["w"])["w"], simplify, budget=1.0)
        assert math.isclose(_value(text, point), expected, rel_tol=1e-12), (simplify, text)


@given(rebinding_programs(), points)
@example("a = (x) * (x)\na = (a) * (a)\na = (a) * (a)", {"x": 1.1, "w": 1.0, "y": 1.0})
@example("x = (x) * (w)\nw = (x) + (w)\nx = sin(w)", {"x": 0.3, "w": 1.2, "y": 1.0})
def test_printed_derivatives_evaluate_to_backprop_on_programs_that_rebind_names(text, point):
    f = parse(text)
    point = {n: v for n, v in point.items() if n in f.inputs}
    r = f.grad(point)
    assume(not r.hits and all(math.isfinite(v) and abs(v) < 1e6 for v in r.values))
    for name, d in derivatives(f).items():
        direct = d.evaluate({n: point[n] for n in d.inputs})
        printed = to_text(d)
        assert _same(_value(printed, point), direct), (text, printed)
        # nan where backprop is nan too (y^x at y = -1: the partial in x takes log(-1)).
        agree = _same(direct, r.gradient[name]) or math.isclose(direct, r.gradient[name], rel_tol=1e-9, abs_tol=1e-9)
        assert agree, (text, name, printed)


# -- what bp diff prints parses back to the same function -----------------------------------
@pytest.mark.parametrize("text, point, expected", [
    ("x/0", {"x": 2.0}, math.inf),
    ("log(0)*x", {"x": 2.0}, -math.inf),
    ("0/0*x", {"x": 2.0}, math.nan),
])
def test_diff_never_prints_sympy_infinities_as_names(bp, text, point, expected):
    r = bp("diff", text, "--wrt", "x")
    assert r.exit_code == 0, r.stderr
    back = parse(r.stdout)
    assert set(back.inputs) <= {"x"}, r.stdout  # oo, zoo or nan would come back as inputs
    assert _same(back.evaluate({n: point[n] for n in back.inputs}), expected), r.stdout


def test_softplus_derivative_is_bps_sigmoid_in_text_and_latex(bp):
    assert bp("diff", "softplus(x)").stdout.strip() == "sigmoid(x)"
    assert bp("diff", "softplus(x)", "--latex").stdout.strip() == "\\operatorname{sigmoid}{\\left(x \\right)}"


@pytest.mark.parametrize("x", [0.5, 720.0, 800.0, 939.0, -800.0])
def test_sigmoids_second_derivative_is_finite_where_bps_own_form_is(bp, x):
    once = bp("diff", "sigmoid(x)").stdout.strip()
    twice = bp("diff", once).stdout.strip()
    raw = derivatives(parse(once))["x"]
    assert "exp" not in twice and "cosh" not in twice
    assert math.isclose(_value(twice, {"x": x}), raw.evaluate({"x": x}), rel_tol=1e-9, abs_tol=1e-300)


def test_latex_is_the_expression_the_text_shows(bp):
    text = bp("diff", "sigmoid(x)", "--wrt", "x").stdout.strip()
    latex = bp("diff", "sigmoid(x)", "--wrt", "x", "--latex").stdout.strip()
    assert text == "(1 - sigmoid(x))*sigmoid(x)"
    assert latex == ("\\left(1 - \\operatorname{sigmoid}{\\left(x \\right)}\\right) "
                     "\\operatorname{sigmoid}{\\left(x \\right)}")


def test_a_tidy_form_worse_than_bps_own_at_a_sample_point_is_not_chosen():
    from bpcli.check.symbolic import _faithful

    d = derivatives(parse("softplus(x)"))["x"]
    assert not _faithful("exp(x)/(exp(x) + 1)", d)  # nan at x = 800, where sigmoid(x) is 1
    assert _faithful("sigmoid(x)", d)


def test_tidy_constants_keep_all_17_digits(bp):
    r = bp("diff", "0.30000000000000004*x + x^2", "--wrt", "x")
    assert r.stdout.strip() == "2*x + 0.30000000000000004"


def test_the_derivative_by_a_name_the_formula_does_not_use_is_zero_with_a_note(bp):
    r = bp("diff", "120", "--wrt", "c")
    assert (r.exit_code, r.stdout) == (0, "0\n")
    assert "c does not appear in the formula, so d/dc is 0" in r.stderr
    r = bp("diff", "cos(x)*sin(y)", "--wrt", "z", "--json")
    assert r.exit_code == 0 and json.loads(r.stdout) == {"z": "0"}
    assert "did you mean" not in r.stderr
    assert "(did you mean w?)" in bp("diff", "x*w", "--wrt", "ww").stderr


def test_diff_applies_to_its_own_output_until_zero(bp):
    text = "x^3"
    for expected in ("3*x^2", "6*x", "6", "0"):  # ^ as written, never ** (#22 item 9)
        r = bp("diff", text, "--wrt", "x")
        assert r.exit_code == 0 and r.stdout.strip() == expected, r.stderr
        text = r.stdout


# -- bounded: SymPy stopped, no recursion, output that grows with the graph -------------------
def test_diff_of_a_huge_power_is_refused_by_sympy_and_printed_by_bp(bp):
    r = bp("diff", "(a+b+c+d+x+y+z+w)^4503599627370496", "--wrt", "a")
    assert r.exit_code == 0, r.stderr
    assert "too large for SymPy's exact arithmetic" in r.stderr
    assert parse(r.stdout).evaluate(dict.fromkeys("abcdxyzw", 0.125)) == 4503599627370496.0


REBOUND = "a = x\n" + "a = sin(a) + cos(a)\n" * 200 + "a"


@pytest.mark.parametrize("text", ["sin(" * 200 + "x" + ")" * 200, REBOUND],
                         ids=["sin nested 200 deep", "rebound 200 times"])
@pytest.mark.parametrize("simplify", ["--simplify", "--no-simplify"])
def test_diff_of_deep_and_shared_graphs_prints_a_program_that_parses_back(bp, text, simplify):
    r = bp("diff", text, "--wrt", "x", simplify)
    assert r.exit_code == 0, r.stderr
    f = parse(text)
    assert math.isclose(_value(r.stdout, {"x": 0.3}), f.grad({"x": 0.3}).gradient["x"], rel_tol=1e-12)


def test_a_shared_graphs_derivative_grows_with_the_graph_not_the_tree(bp):
    text = "a = x\n" + "a = sin(a) + cos(a)\n" * 40 + "a"
    r = bp("diff", text, "--wrt", "x")
    assert r.exit_code == 0 and "named intermediates" in r.stderr
    assert len(r.stdout) < 40 * 200  # as one expression: 10^13 terms


def test_no_simplify_on_a_chain_20000_deep_writes_short_lines():
    from bpcli.language.printer import MAX_INLINE, program

    d = derivatives(parse("sin(" * 20_000 + "x" + ")" * 20_000))["x"]
    lines, _ = program(d)
    assert max(map(len, lines)) <= 3 * MAX_INLINE
    assert sum(map(len, lines)) < 100 * len(d)


@pytest.mark.slow
def test_explain_prints_a_count_of_more_than_4300_digits_in_scientific_form(bp):
    text = "a = x\n" + "a = a*a\n" * 15_000 + "a"
    r = bp("grad", text, "--x", "1", "--explain", "--no-check")
    assert r.exit_code == 0, r.stderr
    assert "∂a/∂x: 2.82e+4515 paths from a to x" in r.stdout
    doc = json.loads(bp("grad", text, "--x", "1", "--explain", "--no-check", "--json").stdout)
    assert doc["explain"]["x"]["total_paths"] == "2.82e+4515"


# -- Hessians ---------------------------------------------------------------------------------
def test_hessian_json_writes_non_finite_entries_as_strings(bp):
    r = bp("grad", "3*exp(x)", "--x", "710", "--hessian", "--json")
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["hessian"] == {"x": {"x": "inf"}}


KINKS = {"abs(x)": lambda t, x: t.abs(x), "relu(x)": lambda t, x: t.relu(x), "x*abs(x)": lambda t, x: x * t.abs(x),
         "sign(x)*x^2": lambda t, x: t.sign(x) * x**2, "step(x)*x": lambda t, x: (x > 0).double() * x,
         "abs(x)^3": lambda t, x: t.abs(x) ** 3}


@pytest.mark.parametrize("text", KINKS)
def test_hessian_at_a_kink_is_pytorchs_and_exits_0(bp, text):
    torch = pytest.importorskip("torch")
    r = bp("grad", text, "--x", "0", "--hessian", "--json")
    assert r.exit_code == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["hessian_status"] != "mismatch" and doc["ok"]
    theirs = torch.autograd.functional.hessian(lambda x: KINKS[text](torch, x), torch.tensor(0.0, dtype=torch.float64))
    assert doc["hessian"]["x"]["x"] == theirs.item()


def test_hessian_at_a_max_tie_is_pytorchs_and_exits_0(bp):
    torch = pytest.importorskip("torch")
    r = bp("grad", "max(x, y) + min(x, y)*x", "--x", "1", "--y", "1", "--hessian", "--json")
    assert r.exit_code == 0, r.stderr
    doc = json.loads(r.stdout)
    theirs = torch.autograd.functional.hessian(
        lambda v: torch.maximum(v[0], v[1]) + torch.minimum(v[0], v[1]) * v[0],
        torch.tensor([1.0, 1.0], dtype=torch.float64)).tolist()
    assert [[doc["hessian"][r][c] for c in "xy"] for r in "xy"] == theirs


def test_hessian_refuses_more_inputs_than_its_bound(bp):
    text = " + ".join(f"x{i}" for i in range(1_001))
    r = bp("grad", text, "--values", "-", "--hessian", "--no-check", input=json.dumps(
        {f"x{i}": 1.0 for i in range(1_001)}))
    assert r.exit_code == 2 and r.stdout == ""
    assert "1,001 inputs" in r.stderr and "--max-hessian" in r.stderr
    small = " + ".join(f"x{i}" for i in range(3))
    r = bp("grad", small, "x0=1", "x1=2", "x2=3", "--hessian", "--max-hessian", "2", "--no-check")
    assert r.exit_code == 2 and "--max-hessian" in r.stderr
