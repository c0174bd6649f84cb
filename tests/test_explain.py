"""Seeing the backward pass: pictures, the chain rule path by path, derivatives as
formulas, Hessians and the op table."""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess

import pytest

from bpcli import grad, parse
from bpcli.check.symbolic import derivatives, formula_text, hessian, sympy_hessian
from bpcli.engine.ops import OPS
from bpcli.views.explain import explain

CARD = ["(x*w-y)^2", "--x", "2", "--w", "3", "--y", "4"]
SHARED = ["a = x*y; b = a*a + sin(a); c = b*x + a", "(x+y)*(x+y)", "x*x*x", "t = tanh(x*w); t*t - t/y"]


# -- the chain rule ---------------------------------------------------------------------
def test_lecture_exercise_explained_as_the_lecture_does():
    r = grad("y_hat = x*w; r = y_hat - y; loss = r^2", {"x": 2, "w": 1, "y": 4})
    e = explain(r, "w")
    assert e.total_paths == 1
    (path,) = e.paths
    assert path.factors == [-4.0, 1.0, 2.0] and path.product == -8.0


@pytest.mark.parametrize("text", SHARED)
def test_paths_multiply_and_sum_to_the_backward_result(text):
    f = parse(text)
    point = {n: 0.3 + 0.4 * k for k, n in enumerate(f.inputs)}
    r = f.grad(point)
    for name in f.inputs:
        e = explain(r, name, max_paths=10_000)
        assert len(e.paths) == e.total_paths
        assert math.isclose(sum(p.product for p in e.paths), r.gradient[name], rel_tol=1e-12)
        for p in e.paths:
            assert math.isclose(math.prod(p.factors), p.product, rel_tol=1e-15)


def test_path_count_grows_exponentially_and_only_a_few_are_listed():
    text = "a0 = x\n" + "\n".join(f"a{i} = a{i-1} * a{i-1}" for i in range(1, 41))
    r = grad(text, {"x": 1.0})
    e = explain(r, "x", max_paths=3)
    assert e.total_paths == 2**40 and len(e.paths) == 3
    assert e.adjoint == r.gradient["x"]


def test_explain_through_the_cli_and_json(bp):
    r = bp("grad", "y_hat = x*w; r = y_hat - y; loss = r^2", "--x", "2", "--w", "1", "--y", "4", "--explain")
    assert r.exit_code == 0
    assert "∂loss/∂r · ∂r/∂y_hat · ∂y_hat/∂w = 2·r · 1 · x = (-4.0) · 1.0 · 2.0 = -8.0" in r.stdout
    doc = json.loads(bp("grad", *CARD, "--explain", "--json").stdout)
    assert doc["explain"]["w"]["paths"][0]["product"] == 8.0
    assert doc["explain"]["w"]["total_paths"] == 1


# -- derivatives as formulas ------------------------------------------------------------
FAMILY = ["(x*w-y)^2", "sigmoid(w*x+b)", "exp(x)*sin(w) - log(y)", "x^y + y^x", "tanh(x/w) * sqrt(y)",
          "softplus(x*w) - relu(x) + abs(w)", "max(x, w) * min(w, y)", "a = x*w; a*a + 1/a"]


@pytest.mark.slow
@pytest.mark.parametrize("text", FAMILY)
@pytest.mark.parametrize("simplify", [True, False])
def test_diff_output_parses_back_and_evaluates_to_the_gradient(text, simplify):
    f = parse(text)
    point = {n: 0.7 + 0.3 * k for k, n in enumerate(f.inputs)}
    gradient = f.grad(point).gradient
    for name, d in derivatives(f).items():
        again = parse(formula_text(d, simplify))
        value = again.evaluate({n: point[n] for n in again.inputs}) if again.inputs else again.evaluate({})
        assert math.isclose(value, gradient[name], rel_tol=1e-9, abs_tol=1e-12), (text, name)


def test_second_derivatives_by_repetition():
    f = parse("x^3 * w")
    (dx,) = derivatives(f, ["x"]).values()
    (dxx,) = derivatives(parse(formula_text(dx)), ["x"]).values()
    assert parse(formula_text(dxx)).evaluate({"x": 2.0, "w": 5.0}) == 60.0


def test_diff_cli(bp):
    r = bp("diff", "(x*w-y)^2", "--wrt", "w")
    assert r.exit_code == 0 and r.stdout.strip() == "2*x*(w*x - y)"
    assert "\\operatorname{sigmoid}" in bp("diff", "sigmoid(w*x+b)", "--wrt", "w", "--latex").stdout
    doc = json.loads(bp("diff", "(x*w-y)^2", "--json").stdout)
    assert set(doc) == {"x", "w", "y"}
    raw = bp("diff", "(x*w-y)^2", "--wrt", "w", "--no-simplify").stdout
    assert parse(raw).evaluate({"x": 2, "w": 3, "y": 4}) == 8.0


# -- Hessians -----------------------------------------------------------------------------
def test_card_hessian():
    h = hessian(parse("(x*w-y)^2"), {"x": 2, "w": 3, "y": 4})
    assert [[h[r][c] for c in "xwy"] for r in "xwy"] == [[18, 16, -6], [16, 8, -4], [-6, -4, 2]]


@pytest.mark.parametrize("text", FAMILY)
def test_hessians_match_sympy(text):
    f = parse(text)
    point = {n: 0.7 + 0.3 * k for k, n in enumerate(f.inputs)}
    ours, theirs = hessian(f, point), sympy_hessian(f, point)
    for r in ours:
        for c in ours[r]:
            assert math.isclose(ours[r][c], theirs[r][c], rel_tol=1e-9, abs_tol=1e-12), (text, r, c)


def test_hessian_cli(bp):
    doc = json.loads(bp("grad", *CARD, "--hessian", "--json").stdout)
    assert doc["hessian"]["x"] == {"x": 18.0, "w": 16.0, "y": -6.0}
    assert doc["hessian_check"] is True
    assert "Hessian" in bp("grad", *CARD, "--hessian").stdout


# -- the op table for people --------------------------------------------------------------
def test_ops_lists_every_op_from_the_table(bp):
    doc = json.loads(bp("ops", "--json").stdout)
    assert [o["name"] for o in doc] == list(OPS)
    assert next(o for o in doc if o["name"] == "relu")["convention"].startswith("relu'(0) taken as 0")
    text = bp("ops").stdout
    assert all(op.doc.split()[0] in text for op in OPS.values())


# -- pictures ---------------------------------------------------------------------------------
def test_tree_shows_values_and_folds_shared_nodes(bp):
    r = bp("graph", "(x+y)*(x+y) + sin(x+y)", "--x", "1", "--y", "2")
    assert r.exit_code == 0
    assert r.stdout.count("n2: x + y") == 3 and r.stdout.count("(shown above)") == 2
    assert "= 3.0" in r.stdout and "adjoint = 1.0" in r.stdout  # one word for ∂out/∂node (docs/glossary.md)
    assert "6 nodes, 7 edges" in r.stdout


def test_dot_is_deterministic_and_has_both_edges_of_x_times_x(bp):
    a, b = bp("graph", "x*x", "--format", "dot").stdout, bp("graph", "x*x", "--format", "dot").stdout
    assert a == b and a.count("n0 -> n1") == 2


def test_mermaid_follows_the_flowchart_syntax(bp):
    text = bp("graph", "y_hat = x*w; loss = (y_hat - y)^2", "--x", "2", "--w", "1", "--y", "4",
              "--format", "mermaid").stdout
    lines = text.splitlines()
    assert lines[0] == "flowchart LR"
    node = re.compile(r'^  n\d+(\(\[|\[\[|\(|\[)"[^"]*"(\]\)|\]\]|\)|\])$')
    edge = re.compile(r'^  n\d+ -->(\|"[^"]*"\|)? n\d+$')
    other = re.compile(r"^  (classDef|class) ")
    assert all(node.match(line) or edge.match(line) or other.match(line) for line in lines[1:])


def test_unicode_and_tiny_values_are_escaped_for_each_format(bp):
    for fmt in ("dot", "mermaid"):
        r = bp("graph", "𝜔 * x", "ω=-1e-300", "x=2", "--format", fmt)
        assert r.exit_code == 0 and "-1e-300" in r.stdout and "ω" in r.stdout


def test_output_file_format_follows_the_extension_and_is_overwritten(bp, tmp_path):
    out = tmp_path / "g.mmd"
    out.write_text("old")
    r = bp("graph", "x*w", "-o", str(out))
    assert r.exit_code == 0 and out.read_text().startswith("flowchart LR")
    assert "wrote" in r.stderr and "3 nodes" in r.stderr


needs_graphviz = pytest.mark.requires("dot")


@needs_graphviz
@pytest.mark.parametrize("text", ["(x*w-y)^2", "(x+y)*(x+y)", "a = 𝜔*x; a*a - tanh(a)", "x*x"])
def test_graphviz_accepts_every_dot_bp_writes(bp, text):
    for point in ([], ["x=-1e-300", "w=2", "y=3", "ω=0.5"]):
        f = parse(text)
        args = [p for p in point if p.split("=")[0] in f.inputs]
        if args and len(args) != len(f.inputs):
            continue
        dot = bp("graph", text, *args, "--format", "dot").stdout
        done = subprocess.run(["dot", "-Tsvg"], input=dot.encode(), capture_output=True)
        assert done.returncode == 0, done.stderr


@needs_graphviz
def test_svg_file(bp, tmp_path):
    out = tmp_path / "g.svg"
    r = bp("graph", *CARD, "-o", str(out))
    assert r.exit_code == 0 and "<svg" in out.read_text()


def test_svg_without_graphviz_says_how_to_install_it(bp, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    r = bp("graph", "x*w", "--format", "svg")
    assert r.exit_code == 5 and "apt install graphviz" in r.stderr


LARGE = "t0 = x\n" + "\n".join(f"t{i} = sin(t{i-1}) * x" for i in range(1, 2000))


def test_large_graph_dot_spreads_much_used_inputs_and_keeps_every_edge(bp):
    r = bp("graph", LARGE, "--format", "dot", "--x", "0.5")
    assert r.exit_code == 0 and r.stdout.count(" -> ") == 3 * 1999
    assert "// large graph" in r.stdout and r.stdout.count('label=<x = t0<br/>') == 2000  # x beside each use
    assert "local gradient" in r.stdout  # values move to tooltips


@needs_graphviz
def test_graphviz_draws_the_large_graph_form(bp, tmp_path):
    # What this adds over the DOT test above: Graphviz accepts the large-graph form (spread
    # inputs, tooltips instead of edge labels). Just past LARGE nodes is that form; how long
    # Graphviz takes on thousands of nodes is a figure for benchmarks, not a test.
    from bpcli.views.pictures import LARGE as LARGE_NODES

    lines = LARGE_NODES // 2 + 1
    out = tmp_path / "big.svg"
    r = bp("graph", "\n".join(LARGE.splitlines()[:lines]), "--x", "0.5", "-o", str(out))
    assert r.exit_code == 0 and f"{2 * lines - 1:,} nodes" in r.stderr
    svg = out.read_text()
    assert "<svg" in svg and len(re.findall(r"<title>n0_\d+_\d+</title>", svg)) == lines  # x beside each use


# -- the chain rule on tensors ------------------------------------------------------------
TENSOR = ["loss = sum((W @ x + b)^2)", "--W", "[[1,2],[3,4]]", "--x", "[1,-1]", "--b", "[0.5, 0.5]"]


def test_a_tensor_path_is_explained_edge_by_edge_with_its_vjp_rule(bp):
    r = bp("grad", *TENSOR, "--explain", "--no-check")
    assert r.exit_code == 0 and r.stderr == ""
    text = r.stdout[r.stdout.index("The chain rule"):]
    assert text.splitlines()[1:10] == [
        "∂loss/∂W: 1 path from loss to W",
        "  loss → n6 → n4 → n2 → W",
        "    ∂L/∂n6 = ∂L/∂loss copied to every summed entry = [1. 1.]",
        "    ∂L/∂n4 = ∂L/∂n6 ⊙ 2·n4 = [-1. -1.]",
        "    ∂L/∂n2 = ∂L/∂n4 = [-1. -1.]",
        "    ∂L/∂W = ∂L/∂n2 @ xᵀ = [[-1. 1.] [-1. 1.]]",
        "  sum over the paths: [[-1. 1.] [-1. 1.]]",
        "  ∂loss/∂W = [[-1. 1.] [-1. 1.]] (the backward pass)",
        "∂loss/∂x: 1 path from loss to x",
    ]
    assert "    ∂L/∂x = Wᵀ @ ∂L/∂n2 = [-4. -6.]" in text


def test_tensor_paths_sum_to_the_gradient_which_pytorch_agrees_with():
    torch = pytest.importorskip("torch")
    import numpy as np

    rng = np.random.default_rng(4)
    W, x, c = rng.normal(size=(3, 3)), rng.normal(size=3), rng.normal()
    r = grad("sum(x * tanh(W @ x + c))", {"W": W, "x": x, "c": c})
    e = explain(r, "x", max_paths=10)
    assert e.total_paths == 2 and len(e.paths) == 2
    tx = torch.tensor(x, requires_grad=True)
    (torch.sum(tx * torch.tanh(torch.tensor(W) @ tx + c))).backward()
    np.testing.assert_allclose(sum(p.product for p in e.paths), tx.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(e.adjoint, tx.grad.numpy(), rtol=1e-12)
    (broadcast,) = explain(r, "c").paths  # a scalar c added to every entry: summed back
    assert np.ndim(broadcast.product) == 0


def test_a_broadcast_edge_says_it_sums_and_json_has_rules_and_nested_factors(bp):
    r = bp("grad", "sum(tanh(W @ x + c))", "--W", "[[1,2],[3,4]]", "--x", "[1,-1]", "--c", "0.5",
           "--explain", "--no-check", "--json")
    assert r.exit_code == 0, r.output
    path = json.loads(r.stdout)["explain"]["c"]["paths"][0]
    assert path["rules"][-1] == "∂L/∂c = ∂L/∂n4, summed over broadcast (2 → 1)"
    assert isinstance(path["factors"][0], list) and isinstance(path["product"], float)


def test_tensor_explanations_stay_within_max_paths(bp):
    r = bp("grad", "sum(x * x * x)", "--x", "[1, 2]", "--explain", "--no-check", "--max-paths", "1")
    assert r.exit_code == 0
    assert "∂n3/∂x: 3 paths from n3 to x" in r.stdout
    assert "… and 2 more paths; their sum is not listed" in " ".join(r.stdout.split())


# -- each local gradient, the numbers filled in (Mazur's style) ----------------------------------
LECTURE_AT = ["y_hat = x*w; r = y_hat - y; loss = r^2", "--x", "2", "--w", "1", "--y", "4"]


def test_explain_fills_the_numbers_into_each_local_gradient_with_its_rule(bp):
    r = bp("grad", *LECTURE_AT, "--explain", "--no-check")
    assert r.exit_code == 0 and r.stderr == ""
    text = r.stdout[r.stdout.index("Each local gradient, the numbers filled in"):r.stdout.index("The chain rule")]
    assert text.splitlines()[1:] == [
        "  ∂loss/∂r = 2·r = 2·(-2.0) = -4.0   (power rule)",
        "  ∂r/∂y_hat = 1   (difference rule)",
        "  ∂y_hat/∂x = w = 1.0   (product rule)",
        "  ∂y_hat/∂w = x = 2.0   (product rule)",
        "  ∂r/∂y = -1   (difference rule)",
        "",
    ]


def test_explain_json_lists_each_local_gradient_filled_in(bp_json):
    doc = bp_json("grad", *LECTURE_AT, "--explain", "--no-check")
    assert doc["explain_locals"]["more"] == 0
    assert doc["explain_locals"]["edges"][0] == {"parent": "n6", "slot": 0, "child": "n4", "rule_name": "power",
                                                 "formula": "2·r", "filled": "2·(-2.0)", "local": -4.0}
    assert [e["local"] for e in doc["explain_locals"]["edges"]] == [-4.0, 1.0, 1.0, 2.0, -1.0]
    assert doc["explain"]["w"]["paths"][0]["product"] == -8.0  # the paths keep their shape


def test_mazurs_output_layer_weight_reads_as_he_writes_it(bp):
    """Matt Mazur's step-by-step example: ∂net_o1/∂w5 = out_h1 = 0.593269992, ∂E/∂w5 = 0.082167041."""
    r = bp("grad", "net_o1 = w5*out_h1 + w6*out_h2 + b2; out_o1 = sigmoid(net_o1); E = 0.5*(t - out_o1)^2",
           "--out_h1", "0.593269992", "--out_h2", "0.596884378", "--w5", "0.4", "--w6", "0.45", "--b2", "0.6",
           "--t", "0.01", "--explain", "--no-check", "--max-paths", "1")
    assert r.exit_code == 0
    lines = r.stdout.splitlines()
    assert "  ∂n2/∂w5 = out_h1 = 0.593269992   (product rule)" in lines
    assert "  ∂E/∂w5 = 0.08216704055267718 (the backward pass)" in lines


def test_explain_of_a_long_chain_fills_in_at_most_its_bound(bp):
    text = "a0 = x\n" + "".join(f"a{i + 1} = sin(a{i})\n" for i in range(300))
    r = bp("grad", text, "--x", "0.5", "--explain", "--no-check")
    assert r.exit_code == 0
    part = r.stdout[r.stdout.index("Each local gradient"):r.stdout.index("The chain rule")]
    assert part.count("\n  ∂a") == 24 and "… and 276 more edges on these paths (--json lists the first 200" in part
    doc = json.loads(bp("grad", text, "--x", "0.5", "--explain", "--no-check", "--json").stdout)
    assert len(doc["explain_locals"]["edges"]) == 200 and doc["explain_locals"]["more"] == 100


def test_a_tensor_explain_keeps_its_vjp_rules_and_fills_in_no_numbers(bp, bp_json):
    args = ["grad", "sum(A @ v)", "--A", "[[1, 2], [3, 4]]", "--v", "[1, 1]", "--no-check", "--explain"]
    r = bp(*args)
    assert r.exit_code == 0 and "Each local gradient" not in r.stdout and "∂L/∂n2 = ∂L/∂n3" in r.stdout
    assert "explain_locals" not in bp_json(*args)
