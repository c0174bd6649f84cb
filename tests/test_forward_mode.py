"""Forward mode (jvp, bp grad --forward): a tangent per node and input, equal to reverse mode."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from strategies import points, programs
from tensor_strategies import tensor_formulas
from test_properties import well_behaved

from bpcli import parse
from bpcli.engine.forward import forward_mode
from bpcli.errors import InputValueError

CARD = ["grad", "(x*w-y)^2", "--x", "2", "--w", "3", "--y", "4"]


def test_jvp_gives_every_node_its_tangent_along_one_input():
    f = parse("(x*w-y)^2")
    vals, tangents = f.jvp({"x": 2, "w": 3, "y": 4}, {"w": 1.0})
    assert vals == f.forward({"x": 2.0, "w": 3.0, "y": 4.0})
    # n0 x, n1 w, n2 x·w, n3 y, n4 x·w - y, n5 the constant 2, n6 the square
    assert tangents == [0.0, 1.0, 2.0, 0.0, 2.0, 0.0, 8.0]


def test_jvp_along_a_direction_is_the_directional_derivative():
    f = parse("x*w + sin(x)")
    _, t = f.jvp({"x": 0.5, "w": 2.0}, {"x": 0.25, "w": -1.0})
    g = f.grad({"x": 0.5, "w": 2.0}).gradient
    assert t[f.output] == pytest.approx(0.25 * g["x"] - 1.0 * g["w"], rel=1e-15)


def test_jvp_never_evaluates_the_partial_of_a_constant_operand():
    # (-2)^2: the exponent's partial a^b·ln a is nan at a < 0; the exponent carries no tangent.
    f = parse("x^2")
    _, t = f.jvp({"x": -2.0}, {"x": 1.0})
    assert t[f.output] == -4.0


def test_jvp_runs_on_arrays_of_points():
    f = parse("x*x*w")
    vals, t = f.jvp({"x": np.array([1.0, 2.0]), "w": 3.0}, {"x": 1.0})
    assert t[f.output].tolist() == [6.0, 12.0]


def test_jvp_refuses_a_tangent_for_an_unknown_input():
    with pytest.raises(InputValueError, match="no input named z"):
        parse("x^2").jvp({"x": 1.0}, {"z": 1.0})


def test_jvp_walks_a_deep_chain_without_recursion():
    f = parse("x" + "+1" * 100_000)
    _, t = f.jvp({"x": 0.0}, {"x": 1.0})
    assert t[f.output] == 1.0


@given(programs(), points)
def test_forward_mode_equals_reverse_mode(text, point):
    f = parse(text)
    point = {n: v for n, v in point.items() if n in f.inputs}
    r = f.grad(point)
    assume(well_behaved(r))
    fm = forward_mode(f, r, point)
    assert fm.forward_passes == len(f.inputs)
    assert fm.agrees, [(t.name, t.forward, t.reverse) for t in fm.inputs]


def test_forward_flag_prints_the_tangent_table_and_the_pass_count(bp):
    r = bp(*CARD, "--forward")
    assert r.exit_code == 0, r.stderr
    assert "Forward mode: tangent ∂node/∂input" in r.stdout
    assert "Forward mode vs reverse mode" in r.stdout
    assert "passes: forward mode 3 (one per input), reverse mode 1 (one per output): reverse" in r.stdout
    assert "✗" not in r.stdout


def test_forward_mode_in_json(bp_json):
    doc = bp_json(*CARD, "--forward")
    fm = doc["forward_mode"]
    assert fm["passes"] == {"forward": 3, "reverse": 1}
    assert fm["inputs"]["w"]["tangents"] == {"n0": 0.0, "n1": 1.0, "n2": 2.0, "n3": 0.0, "n4": 2.0,
                                             "n5": 0.0, "n6": 8.0}
    assert {n: v["gradient"] for n, v in fm["inputs"].items()} == doc["gradient"]
    assert fm["agrees"] is True and doc["ok"] is True


def test_one_input_is_a_tie(bp_json):
    assert "a tie here" in bp_json("grad", "x^2", "--x", "3", "--forward")["forward_mode"]["summary"]


def test_a_disagreement_is_flagged_like_a_failed_check(bp, monkeypatch):
    from bpcli.engine.tape import Formula

    real = Formula.jvp

    def off_by_one(self, values, tangents, m=None):
        vals, t = real(self, values, tangents, m)
        return vals, t[:-1] + [t[-1] + 1.0]

    monkeypatch.setattr(Formula, "jvp", off_by_one)
    r = bp(*CARD, "--forward", "--no-check")
    assert r.exit_code == 3
    assert "✗" in r.stdout
    assert "forward mode disagrees with reverse mode: ∂/∂x: forward 13.0, reverse 12.0" in r.stderr


def test_forward_refuses_past_its_limit_with_the_flag_that_raises_it(bp):
    r = bp(*CARD, "--forward", "--max-forward", "10")
    assert r.exit_code == 2
    assert "21 tangents (7 nodes × 3 inputs)" in r.stderr and "--max-forward" in r.stderr


# -- tensors --------------------------------------------------------------------------------
NET = ["grad", "h = tanh(W @ x + b); loss = sum(h * v)", "--W", "[[0.5,-0.2],[0.1,0.3],[0.7,0.2]]",
       "--x", "[1,2]", "--b", "[0.1,0.2,0.3]", "--v", "[1,-1,2]"]


def _tensor_point(f, seed):
    from tensor_strategies import SHAPES

    rng = np.random.default_rng(seed)
    return {n: rng.uniform(-1.5, 1.5, SHAPES[n]) for n in f.inputs}


@settings(max_examples=30)
@given(tensor_formulas(), st.integers(0, 2**32 - 1))
def test_tensor_jvp_is_every_nodes_directional_derivative(expr, seed):
    # Each node's tangent along a random direction equals the central difference of its value.
    f = parse(expr.text)
    point = _tensor_point(f, seed)
    rng = np.random.default_rng(seed + 1)
    direction = {n: rng.uniform(-1, 1, np.shape(v)) for n, v in point.items()}
    vals, tangents = f.jvp(point, direction)
    h = 1e-6
    plus = f.jvp({n: v + h * direction[n] for n, v in point.items()}, {})[0]
    minus = f.jvp({n: v - h * direction[n] for n, v in point.items()}, {})[0]
    for i, t in enumerate(tangents):
        assert np.shape(t) == np.shape(vals[i])
        fd = (plus[i] - minus[i]) / (2 * h)
        assume(np.all(np.isfinite(fd)) and np.all(np.abs(fd) < 1e6))
        assert np.allclose(t, fd, rtol=1e-5, atol=1e-5), (expr.text, i)
    # the output's tangent is the gradient's inner product with the direction
    g = f.grad(point).gradient
    inner = sum(float(np.sum(g[n] * direction[n])) for n in g)
    assert tangents[f.output] == pytest.approx(inner, rel=1e-9, abs=1e-12)


@settings(max_examples=20)
@given(tensor_formulas(max_steps=4), st.integers(0, 2**32 - 1))
def test_tensor_forward_mode_takes_a_pass_per_input_entry_and_equals_reverse_mode(expr, seed):
    f = parse(expr.text)
    point = _tensor_point(f, seed)
    r = f.grad(point)
    fm = forward_mode(f, r, point)
    assert fm.forward_passes == sum(np.size(point[n]) for n in r.gradient)
    assert fm.agrees, expr.text
    for t in fm.inputs:
        assert np.allclose(t.forward, r.gradient[t.name], rtol=1e-9, atol=1e-12)


def test_a_class_label_gets_no_forward_pass():
    f = parse("-log(softmax(W @ x))[y]")
    point = {"W": np.array([[1.0, 2.0], [0.5, -1.0], [0.0, 0.3]]), "x": np.array([0.2, -0.4]), "y": 2.0}
    fm = forward_mode(f, f.grad(point), point)
    assert [(t.name, t.passes) for t in fm.inputs] == [("W", 6), ("x", 2)]
    assert fm.agrees


def test_jvp_refuses_a_tangent_of_another_shape():
    f = parse("sum(W @ x)")
    with pytest.raises(InputValueError, match="the tangent of x has shape 3, x has shape 2"):
        f.jvp({"W": np.ones((2, 2)), "x": np.ones(2)}, {"x": np.ones(3)})


def test_forward_flag_on_a_tensor_formula_counts_a_pass_per_entry(bp):
    r = bp(*NET, "--forward")
    assert r.exit_code == 0, r.stderr
    assert "Forward mode along W[0, 0] (pass 1 of 6 for W)" in r.stdout
    assert "│ W (3×2) │      6 │" in r.stdout
    summary = " ".join(r.stdout.split("passes: forward mode")[1].split())
    assert summary.startswith("14 (one per entry of each input: W 6, x 2, b 3, v 3), reverse mode 1 "
                              "(one per output): reverse mode wins here.")
    assert "✗" not in r.stdout


def test_tensor_forward_mode_in_json(bp_json):
    doc = bp_json(*NET, "--forward")
    fm = doc["forward_mode"]
    assert fm["passes"] == {"forward": 14, "reverse": 1}
    w = fm["inputs"]["W"]
    assert (w["shape"], w["passes"], w["direction"]) == ([3, 2], 6, [0, 0])
    assert w["tangents"]["n0"] == [[1.0, 0.0], [0.0, 0.0], [0.0, 0.0]]
    assert w["tangents"]["n8"] == pytest.approx(doc["gradient"]["W"][0][0], rel=1e-12)
    for name, entry in fm["inputs"].items():
        assert np.allclose(entry["gradient"], doc["gradient"][name], rtol=1e-12), name
    assert fm["agrees"] is True and doc["ok"] is True


def test_tensor_forward_mode_is_bounded_with_the_flag_that_raises_it(bp):
    r = bp(*NET, "--forward", "--max-forward", "100")
    assert r.exit_code == 2 and r.stdout == ""
    assert "--forward would compute 378 tangent entries (14 passes, one per input entry, × 27 entries" in r.stderr
    assert "--max-forward" in r.stderr
    assert bp(*NET, "--forward", "--max-forward", "378").exit_code == 0


def test_a_scalar_formula_given_as_arrays_takes_the_tensor_forward_mode():
    f = parse("s / (1.5 + sin(s))")
    point = {"s": np.array(0.41088506)}
    fm = forward_mode(f, f.grad(point), point)
    assert fm.forward_passes == 1 and fm.agrees


def test_every_tensor_row_of_the_op_table_has_a_forward_mode_rule_where_it_has_a_backward_one():
    from bpcli.engine.ops import OPS

    for op in OPS.values():
        if not op.elementwise:
            assert len(op.jvp) == op.arity, op.name
            assert [r is None for r in op.jvp] == [r is None for r in op.vjp], op.name
