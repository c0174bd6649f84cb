"""The language: precedence, names, programs, sharing, depth and error messages."""

import pytest

from bpcli import ParseError, grad, parse
from bpcli.views import labels as view


@pytest.mark.parametrize("text, point, value", [
    ("-x^2", {"x": 3}, -9.0),
    ("2^3^2", {}, 512.0),
    ("2**3**2", {}, 512.0),
    ("-2^2", {}, -4.0),
    ("2^-1", {}, 0.5),
    ("+x", {"x": 3}, 3.0),
    ("--x", {"x": 3}, 3.0),
    ("x - y - z", {"x": 10, "y": 3, "z": 2}, 5.0),
    ("x / y / z", {"x": 12, "y": 3, "z": 2}, 2.0),
    ("1 + 2 * 3", {}, 7.0),
    ("(1 + 2) * 3", {}, 9.0),
    ("2.5 + .5 + 1e-3 + 2E2", {}, 2.5 + 0.5 + 1e-3 + 200),
    ("pi", {}, 3.141592653589793),
    ("e", {}, 2.718281828459045),
    ("ln(e)", {}, 1.0),
    ("max(x, y) - min(x, y)", {"x": 2, "y": 5}, 3.0),
])
def test_arithmetic_follows_the_usual_rules(text, point, value):
    assert grad(text, point).value == value


def test_unicode_names_are_nfkc_normalised():
    f = parse("𝜔 * x + ω")
    assert list(f.inputs) == ["ω", "x"]


def test_program_with_semicolons_newlines_and_comments():
    text = "# the lecture's model\ny_hat = x*w   # prediction\nr = y_hat - y; loss = r^2\n"
    r = grad(text, {"x": 2, "w": 1, "y": 4})
    assert r.value == 4.0
    assert [n.label for n in view.nodes(r) if n.label in ("y_hat", "r", "loss")] == ["y_hat", "r", "loss"]


def test_rebinding_uses_the_earlier_value():
    r = grad("c = x + 1; c = c * 2; c", {"x": 3})
    assert r.value == 8.0


def test_unused_statements_are_pruned():
    f = parse("a = z * 2; loss = x^2")
    assert list(f.inputs) == ["x"]


def test_shared_subexpression_is_one_node_with_two_edges():
    f = parse("(x+y)*(x+y)")
    assert f.kinds == ["input", "input", "add", "mul"]
    assert f.args[3] == (2, 2)
    r = f.grad({"x": 1, "y": 2})
    assert [(e.parent, e.child, e.slot) for e in view.edges(r)][:2] == [("n3", "n2", 0), ("n3", "n2", 1)]
    assert r.gradient == {"x": 6.0, "y": 6.0}


def test_x_times_x_keeps_both_edges():
    r = grad("x*x", {"x": 3})
    assert len(view.edges(r)) == 2 and r.gradient["x"] == 6.0


def test_node_ids_are_topological_and_deterministic():
    a = grad("sin(x*y) + x*y", {"x": 1, "y": 2})
    b = grad("sin(x*y) + x*y", {"x": 1, "y": 2})
    assert [n.id for n in view.nodes(a)] == [f"n{i}" for i in range(len(view.nodes(a)))]
    assert view.nodes(a) == view.nodes(b)
    for n in view.nodes(a):
        assert all(int(o[1:]) < int(n.id[1:]) for o in n.operands)


DEPTH = 100_000


@pytest.mark.parametrize("text", [
    "(" * DEPTH + "x" + ")" * DEPTH,
    "-" * DEPTH + "x",
    "x" + "^x" * (DEPTH // 10),
    "+".join(["x"] * DEPTH),
    "tanh(" * DEPTH + "x" + ")" * DEPTH,
], ids=["parens", "unary-minus", "power-chain", "long-sum", "nested-calls"])
def test_deep_formulas_parse_and_differentiate_without_recursion(text):
    r = grad(text, {"x": 0.5})
    assert r.gradient["x"] == r.gradient["x"]  # a number (maybe inf), never an exception


def test_100000_deep_sum_has_exact_gradient():
    r = grad("+".join(["x"] * DEPTH), {"x": 1})
    assert r.gradient["x"] == float(DEPTH)


@pytest.mark.slow
def test_program_of_100000_statements():
    text = "t0 = x\n" + "\n".join(f"t{i} = t{i-1} * 1.00001" for i in range(1, DEPTH))
    r = grad(text, {"x": 1})
    assert r.gradient["x"] == pytest.approx(1.00001 ** (DEPTH - 1))


@pytest.mark.parametrize("text, fragment", [
    ("(x*w-y", "ends too early"),
    ("x +* 2", "unexpected '*'"),
    ("qux(x)", "unknown function qux at column 1"),
    ("max(x)", "max() takes 2 arguments, got 1"),
    ("exp(x, y)", "exp() takes 1 argument, got 2"),
    ("exp + 1", "exp is a function"),
    ("", "the formula is empty"),
    ("# nothing\n;", "the formula is empty"),
    ("x $ 2", "unexpected character '$'"),
    ("x\x00", "unexpected character U+0000"),
    ("1e999999 * x", "too large for float64"),
    ("9" * 400, "too large for float64"),
    ("x*w; y", "only the last statement"),
    ("[x]", "unexpected '['"),
])
def test_parse_errors_say_what_and_where(text, fragment):
    with pytest.raises(ParseError) as e:
        parse(text)
    assert fragment in str(e.value)


def test_parse_error_has_a_caret_under_the_column():
    with pytest.raises(ParseError) as e:
        parse("x + y +* 2")
    lines = str(e.value).splitlines()
    assert lines[0].endswith("at column 8")
    assert lines[1] == "  x + y +* 2"
    assert lines[2] == "         ^"


def test_a_formula_pickles_as_its_plain_data_and_computes_the_same():
    import pickle  # how a formula reaches SymPy's worker process

    f = parse("pi = 3; z = x*w; z^2 + clamp(z, 0, pi) + sum(v, 0)")
    g = pickle.loads(pickle.dumps(f))
    for part in ("text", "kinds", "args", "consts", "names", "labels", "params", "source_notes", "inputs"):
        assert getattr(g, part) == getattr(f, part)
    point = {"x": 2.0, "w": 3.0, "v": [1.0, 2.0]}
    assert g.grad(point).gradient["x"] == f.grad(point).gradient["x"]


def test_parse_errors_carry_where_they_are_as_data():
    from bpcli.errors import Position

    with pytest.raises(ParseError) as e:
        parse("a = x\nb = * a")
    assert e.value.reason == "unexpected '*'; expected a name, a number, (, +, -"
    assert e.value.position == Position(offset=10, line=2, column=5, excerpt="b = * a", caret=4, one_line=False)
    with pytest.raises(ParseError) as e:
        parse("y" * 60 + " +* 2")
    assert (e.value.position.column, e.value.position.caret) == (63, 41)  # 40 characters shown before
    assert e.value.position.excerpt == "…" + "y" * 38 + " +* 2"
    with pytest.raises(ParseError) as e:
        parse("")
    assert e.value.position is None and str(e.value) == e.value.reason


def test_parse_error_in_a_program_names_the_line():
    with pytest.raises(ParseError, match="line 2, column 5"):
        parse("a = x\nb = * a")
