"""Tensors: values and gradients against PyTorch float64, batches against row-by-row results,
shapes, values as nested lists, and `bp grad` printing tensors."""

import json

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from strategies import programs
from tensor_strategies import SHAPES, tensor_formulas

from bpcli import ShapeError, parse
from bpcli.engine.numeric import ArrayMath
from bpcli.engine.ops import OPS
from bpcli.engine.tensor import TensorOutputError


def _values(seed: int, shapes=SHAPES, batch=None, batched=()) -> dict:
    rng = np.random.default_rng(seed)
    return {n: rng.uniform(-1.5, 1.5, ((batch,) if n in batched else ()) + s) for n, s in shapes.items()}


def _torch_grad(expr, values: dict):
    leaves = {n: torch.tensor(v, dtype=torch.float64, requires_grad=True) for n, v in values.items()}
    out = expr.torch(leaves)
    out.backward()
    return out.item(), {n: (t.grad.numpy() if t.grad is not None else np.zeros(t.shape)) for n, t in leaves.items()}


# -- against PyTorch ----------------------------------------------------------------------
@given(tensor_formulas(), st.integers(0, 2**32 - 1))
def test_values_and_gradients_equal_pytorch_float64(expr, seed):
    f = parse(expr.text)
    values = _values(seed)
    values = {n: values[n] for n in f.inputs}
    r = f.grad(values)
    value, grads = _torch_grad(expr, values)
    assert np.allclose(r.value, value, rtol=1e-12, atol=1e-12), expr.text
    for name, g in r.gradient.items():
        assert np.shape(g) == SHAPES[name]
        assert np.allclose(g, grads[name], rtol=1e-10, atol=1e-12), (expr.text, name)


@pytest.mark.parametrize("text, torch_fn", [
    ("sum(W @ x)", lambda t: (t["W"] @ t["x"]).sum()),
    ("x @ x", lambda t: t["x"] @ t["x"]),
    ("sum(x @ W2)", lambda t: (t["x"] @ t["W2"]).sum()),
    ("sum(W @ W2)", lambda t: (t["W"] @ t["W2"]).sum()),
    ("sum((W2 @ W)^2)", lambda t: ((t["W2"] @ t["W"]) ** 2).sum()),
    ("mean(softmax(W @ x) * x[0])", lambda t: (torch.softmax(t["W"] @ t["x"], -1) * t["x"][0]).mean()),
    ("logsumexp(W @ x)", lambda t: torch.logsumexp(t["W"] @ t["x"], -1)),
    ("sum(log_softmax(W))", lambda t: torch.log_softmax(t["W"], -1).sum()),
    ("sum(sum(W, 0) * x)", lambda t: (t["W"].sum(0) * t["x"]).sum()),
    ("sum(mean(W, -1))", lambda t: t["W"].mean(-1).sum()),
    ("W[1, 0] * W[-1, 1]", lambda t: t["W"][1, 0] * t["W"][-1, 1]),
    ("sum(transpose(W) @ W)", lambda t: (t["W"].T @ t["W"]).sum()),
    ("sum(tanh(W @ x + b) * b)",
     lambda t: (torch.tanh(t["W"] @ t["x"] + t["b"]) * t["b"]).sum()),
    ("sum(W * x)", lambda t: (t["W"] * t["x"]).sum()),
    ("sum(W * 2 + c)", lambda t: (t["W"] * 2 + t["c"]).sum()),
])
def test_each_tensor_operation_equals_pytorch(text, torch_fn):
    rng = np.random.default_rng(7)
    values = {"W": rng.normal(size=(3, 2)), "x": rng.normal(size=2), "W2": rng.normal(size=(2, 3)),
              "b": rng.normal(size=3), "c": 0.5}
    f = parse(text)
    values = {n: values[n] for n in f.inputs}
    leaves = {n: torch.tensor(v, dtype=torch.float64, requires_grad=True) for n, v in values.items()}
    out = torch_fn(leaves)
    out.backward()
    r = f.grad(values)
    assert np.allclose(r.value, out.item(), rtol=1e-13)
    for name, g in r.gradient.items():
        assert np.allclose(g, leaves[name].grad.numpy(), rtol=1e-12, atol=1e-14), name


def test_cross_entropy_with_a_class_label_equals_pytorch():
    rng = np.random.default_rng(3)
    W, x, b = rng.normal(size=(4, 3)), rng.normal(size=3), rng.normal(size=4)
    r = parse("-log_softmax(W @ x + b)[y]").grad({"W": W, "x": x, "b": b, "y": 2.0})
    t = {n: torch.tensor(v, requires_grad=True) for n, v in {"W": W, "x": x, "b": b}.items()}
    loss = torch.nn.functional.cross_entropy((t["W"] @ t["x"] + t["b"])[None], torch.tensor([2]))
    loss.backward()
    assert np.isclose(r.value, loss.item(), rtol=1e-14)
    for n in "Wxb":
        assert np.allclose(r.gradient[n], t[n].grad.numpy(), rtol=1e-12)


def test_softmax_family_is_stable_at_large_inputs():
    r = parse("logsumexp(v) + sum(log_softmax(v)) + sum(softmax(v))").grad({"v": np.array([1000.0, -1000.0, 0.0])})
    assert np.isfinite(r.value) and all(np.isfinite(g).all() for g in r.gradient.values())


# -- batches (vmap) -----------------------------------------------------------------------
@given(tensor_formulas(max_steps=5), st.integers(0, 2**32 - 1), st.sets(st.sampled_from(sorted(SHAPES)), min_size=1))
def test_a_batch_equals_row_by_row_results(expr, seed, batched):
    f = parse(expr.text)
    batched = sorted(n for n in batched if n in f.inputs)
    if not batched:
        return
    values = {n: v for n, v in _values(seed, batch=3, batched=batched).items() if n in f.inputs}
    r = f.grad(values, batched=batched)
    assert r.value.shape == (3,)
    rows = [f.grad({n: v[k] if n in batched else v for n, v in values.items()}) for k in range(3)]
    for k, one in enumerate(rows):
        assert np.allclose(r.value[k], one.value, rtol=1e-12, atol=1e-13)
    for name, g in r.gradient.items():
        if name in batched:  # per row
            assert np.allclose(g, np.stack([one.gradient[name] for one in rows]), rtol=1e-10, atol=1e-12)
        else:  # shared: summed over the rows, as a trainer wants
            assert np.allclose(g, sum(one.gradient[name] for one in rows), rtol=1e-10, atol=1e-12)


def test_a_batched_scalar_column_times_a_shared_vector_works_row_by_row():
    f = parse("sum(t * w)")
    t, w = np.array([1.0, 2.0, 3.0]), np.array([1.0, -1.0])
    r = f.grad({"t": t, "w": w}, batched=["t"])
    assert r.value.tolist() == [0.0, 0.0, 0.0]
    assert r.gradient["t"].tolist() == [0.0, 0.0, 0.0]
    assert r.gradient["w"].tolist() == [6.0, 6.0]


def test_a_batch_of_class_labels_picks_per_row_and_shares_the_weights():
    rng = np.random.default_rng(5)
    W, X, y = rng.normal(size=(3, 2)), rng.normal(size=(4, 2)), np.array([0.0, 2.0, 1.0, 2.0])
    r = parse("-log_softmax(W @ x)[y]").grad({"W": W, "x": X, "y": y}, batched=["x", "y"])
    tW = torch.tensor(W, requires_grad=True)
    loss = torch.nn.functional.cross_entropy(torch.tensor(X) @ tW.T, torch.tensor(y, dtype=torch.long),
                                             reduction="sum")
    loss.backward()
    assert np.isclose(r.value.sum(), loss.item())
    assert np.allclose(r.gradient["W"], tW.grad.numpy())


def test_wrt_leaves_other_inputs_without_gradients():
    r = parse("sum(W @ x)").grad({"W": np.ones((2, 3)), "x": np.ones((5, 3))}, batched=["x"], wrt=["W"])
    assert list(r.gradient) == ["W"] and r.gradient["W"].tolist() == [[5.0] * 3] * 2


@given(programs(max_ops=6), st.integers(0, 2**32 - 1))
def test_the_scalar_array_path_agrees_with_the_tensor_pass(text, seed):
    f = parse(text)
    rng = np.random.default_rng(seed)
    values = {n: rng.uniform(0.2, 2.0, 5) for n in f.inputs}
    fast = f.grad(values, ArrayMath("float64"))
    tensor = f.grad(values, batched=list(values))
    assert np.allclose(np.broadcast_to(fast.value, (5,)), tensor.value, rtol=1e-12, equal_nan=True)
    for name, g in tensor.gradient.items():
        assert np.allclose(np.broadcast_to(fast.gradient[name], (5,)), g, rtol=1e-12, atol=1e-300, equal_nan=True)


# -- shapes and errors --------------------------------------------------------------------
def test_shape_errors_carry_the_node_and_both_shapes():
    f = parse("W @ x")
    with pytest.raises(ShapeError) as e:
        f.grad({"W": np.ones((2, 3)), "x": np.ones(2)})
    assert str(e.value).startswith("cannot multiply 2×3 by 2 (@ needs 3 = 2)")
    assert e.value.node == 2 and e.value.shapes == ((2, 3), (2,))


def test_a_tensor_output_is_refused_for_the_gradient():
    with pytest.raises(TensorOutputError) as e:
        parse("W @ x").grad({"W": np.ones((2, 3)), "x": np.ones(3)})
    assert e.value.shapes == ((2,),)


@pytest.mark.parametrize("text, message", [
    ("sum(A, 2)", "sum over axis 2 of a 2×3 tensor: its axes are 0 to 1"),
    ("A[2, 0]", "index 2 is out of range for axis 0 of length 2"),
    ("sum(A[0, 0, 0])", "3 indices into a 2×3 tensor: it has 2 axes"),
    ("sum(A[0, 0], 1)", "sum over axis 1 of a scalar tensor: a scalar has no axes"),  # softmax of one: 0-d, as PyTorch
    ("sum(A + transpose(A))", "cannot add 2×3 and 3×2"),
])
def test_shape_mistakes_are_clear(text, message):
    with pytest.raises(ShapeError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse(text).grad({"A": np.ones((2, 3))})


def test_a_class_label_must_be_a_whole_number_in_range():
    import bpcli
    from bpcli import InputValueError

    f = parse("p[y]")
    with pytest.raises(InputValueError, match="from 0 to 2; it is 3"):
        f.grad({"p": np.ones(3), "y": 3.0})
    with pytest.raises(InputValueError) as refused:
        bpcli.grad("p[y]", {"p": np.ones(3), "y": 3.0})
    assert refused.value.position.column == 2  # bpcli.grad points at p[y], as at a shape error
    with pytest.raises(InputValueError, match="it is 1.5"):
        f.grad({"p": np.ones(3), "y": 1.5})


def test_static_parameters_are_part_of_a_nodes_identity():
    f = parse("sum(sum(A, 0)) + sum(sum(A, 1)) + sum(A, 0)[0] + A[0, 1] + A[0, 1]")
    assert f.kinds.count("sum") == 4 and f.kinds.count("index") == 2


@pytest.mark.parametrize("text, message", [
    ("sum(A, x)", "the axis \\(dim\\) of sum\\(…\\) must be an integer constant"),
    ("sum(A, 1.5)", "must be a whole number"),
    ("A[0, y]", "indices are integer constants"),
])
def test_axes_and_indices_are_integer_constants(text, message):
    from bpcli import ParseError

    with pytest.raises(ParseError, match=message):
        parse(text)


# -- the command line -----------------------------------------------------------------------
CE = ["grad", "loss = -log_softmax(W @ x + b)[y]", "--W", "[[0.1, 0.2], [0.3, -0.4], [0.5, 0.6]]",
      "--x", "[1, 2]", "b=[0, 0.1, -0.1]", "--y", "1"]


def test_grad_json_has_shapes_and_nested_lists(bp_json):
    doc = bp_json(*CE)
    assert doc["schema"] == "bp.grad/2" and doc["ok"] is True
    assert doc["inputs"]["W"] == [[0.1, 0.2], [0.3, -0.4], [0.5, 0.6]]
    assert [n["shape"] for n in doc["nodes"]][:3] == [[3, 2], [2], [3]]
    assert np.allclose(doc["gradient"]["b"], [0.2267, -0.9078, 0.6811], atol=1e-4)
    matmul = next(e for e in doc["edges"] if e["parent"] == "n2" and e["slot"] == 0)
    assert matmul["local"] is None and matmul["rule"] == "∂L/∂W = ∂L/∂n2 @ xᵀ"
    assert np.shape(matmul["contribution"]) == (3, 2)
    assert doc["check"]["W"]["status"] == "ok" and doc["check"]["y"]["status"] == "skipped"
    assert {"kind": "check", "node": None, "suggestion": None,
            "message": "y is a class label (p[y]): it gets no gradient"} in doc["notes"]


def test_grad_tables_show_shapes_rules_and_fit_80_columns(bp):
    r = bp(*CE)
    assert r.exit_code == 0, r.stderr
    assert "∂L/∂W = ∂L/∂n2 @ xᵀ" in r.stdout and "3×2" in r.stdout
    assert max(map(len, r.stdout.splitlines())) <= 80


def test_a_shape_error_puts_the_caret_under_the_operator(bp):
    r = bp("grad", "W @ x", "--W", "[[1,2,3],[4,5,6]]", "--x", "[1,2]")
    assert r.exit_code == 2
    assert r.stderr.splitlines() == ["bp: shape error: cannot multiply 2×3 by 2 (@ needs 3 = 2) at column 3",
                                     "  W @ x", "    ^"]


def test_a_tensor_output_gets_the_hint_to_sum(bp):
    r = bp("grad", "W @ x", "--W", "[[1,2],[3,4]]", "--x", "[1,2]")
    assert r.exit_code == 2 and "use sum(W @ x)" in r.stderr


@pytest.mark.parametrize("value, message", [
    ("[[1,2],[3]]", "W[1] has 1 entries, W[0] has 2: the array is ragged"),
    ("[[1,2],3]", "W[1] is a number where W[0] is a list"),
    ("[1,[2, 3]]", "W[1] is a list where W[0] is a number"),
    ("[]", "W is empty"),
    ("[[1, \"a\"]]", 'W[0][1] is not a number: "a"'),
    ("[1, 2", "not a JSON array of numbers"),
])
def test_bad_tensor_values_name_the_position(bp, value, message):
    r = bp("grad", "sum(W)", "--W", value)
    assert r.exit_code == 2 and message in r.stderr, r.stderr


@pytest.mark.parametrize("text, lines", [
    ("x[::-1]", ["bp: parse error: a slice's step must be positive, as in PyTorch: got -1 at column 4",
                 "  x[::-1]", "     ^", "hint: to reverse an axis, use flip(x, dim)"]),
    ("sum(x[1:3:0])", ["bp: parse error: a slice's step must be positive, as in PyTorch: got 0 at column 10",
                       "  sum(x[1:3:0])", "           ^", "hint: to reverse an axis, use flip(x, dim)"]),
    ("x[3]", ["bp: shape error: index 3 is out of range for axis 0 of length 3 (a 3 tensor) at column 2",
              "  x[3]", "   ^"]),
    ("sum(x[1:y])", ["bp: parse error: a slice bound must be an integer constant, such as 0 or -1 "
                     "(slices are written with constants, as in x[1:3]) at column 8",
                     "  sum(x[1:y])", "         ^"]),
])
def test_slicing_refusals_name_the_position(bp, text, lines):
    r = bp("grad", text, "--x", "[1, 2, 3]")
    assert r.exit_code == 2 and r.stdout == ""
    assert r.stderr.splitlines() == lines
    assert "Traceback" not in r.stderr


def test_out_of_range_slice_bounds_are_clamped_as_pytorch_does():
    f = parse("sum(x[1:100]) + sum(x[-100:1]) + sum(x[5:])")
    r = f.grad({"x": np.array([1.0, 2.0, 3.0])})
    assert r.value == 6.0 and r.gradient["x"].tolist() == [1.0, 1.0, 1.0]  # [2, 3], [1] and nothing


@pytest.mark.parametrize("text, P, lines", [
    ("sum(gather(A, 1, P))", "[[2], [0]]",
     ["bp: value error: gather's index along axis 1 must hold whole numbers from 0 to 1; entry [0, 0] is 2 "
      "at column 5", "  sum(gather(A, 1, P))", "      ^"]),
    ("sum(gather(A, 1, P))", "[2, 0]",
     ["bp: shape error: gather: the index is a 2 tensor and x a 2×2 one: they must have as many axes "
      "(as torch.gather) at column 5", "  sum(gather(A, 1, P))", "      ^"]),
    ("sum(gather(A, -3, P))", "[[1], [0]]",
     ["bp: shape error: gather: dim -3 is out of range for a tensor of 2 axes (its axes are 0 to 1) at column 5",
      "  sum(gather(A, -3, P))", "      ^"]),
    ("sum(A[P])", "[0, 2]", ["bp: value error: the index must hold whole numbers from 0 to 1; entry [1] is 2 at "
                             "column 6", "  sum(A[P])", "       ^"]),
    ("sum(A[P])", "[0, -1]", ["bp: value error: the index must hold whole numbers from 0 to 1; entry [1] is -1 at "
                              "column 6", "  sum(A[P])", "       ^", "hint: an index tensor counts from 0; a negative "
                              "entry is not read from the end (only a slice's or an integer's is, as x[-1])"]),
])
def test_gather_refusals_say_what_and_where(bp, text, P, lines):
    r = bp("grad", text, "--A", "[[1, 2], [3, 4]]", "--P", P)
    assert r.exit_code == 2 and r.stdout == ""
    assert r.stderr.splitlines() == lines


def test_gather_binds_in_pytorchs_order_or_with_dim_by_name_and_prints_back_by_name():
    from bpcli.language.printer import to_text

    a, b = parse("sum(gather(A, 1, P))"), parse("sum(gather(A, P, dim=1))")
    assert a.params == b.params and a.kinds == b.kinds
    assert to_text(a) == "sum(gather(A, P, dim=1))\n" and parse(to_text(a)).params == a.params
    r = a.grad({"A": np.array([[1.0, 2.0], [3.0, 4.0]]), "P": np.array([[1.0, 1.0], [0.0, 1.0]])})
    assert r.value == 2 + 2 + 3 + 4 and r.gradient["A"].tolist() == [[0.0, 2.0], [1.0, 1.0]]


def test_an_index_tensor_is_named_an_index_in_the_checks_note(bp):
    r = bp("grad", "sum(x[i])", "--x", "[1, 2, 3]", "--i", "[2, 2, 0]")
    assert r.exit_code == 0 and "note: i is an index (whole numbers): it gets no gradient" in r.stdout
    assert "[1. 0. 2.]" in r.stdout


@pytest.mark.parametrize("text, column", [("sum(reshape(A[:, 1:], 5))", 5), ("sum(reshape(A[::2, 1:2:1], 5))", 5),
                                          ("y = A[1:]; sum(y @ A[:, :1] + reshape(A, 3))", 31)])
def test_a_shape_error_in_a_formula_with_slices_points_at_its_operation(bp, text, column):
    """The second parse that finds where a node is written keeps a slice's colons (it once lost
    them and failed with an IndexError in place of the message)."""
    r = bp("grad", text, "--A", "[[1, 2], [3, 4]]")
    assert r.exit_code == 2 and r.stdout == ""
    lines = r.stderr.splitlines()
    assert lines[0].startswith("bp: shape error: cannot reshape a ") and lines[0].endswith(f"at column {column}")
    assert lines[1:] == [f"  {text}", "  " + " " * (column - 1) + "^"]


def test_slices_print_back_as_written():
    from bpcli.language.printer import to_text

    f = parse("sum(A[-1, 1:]) + sum(A[:, 0]) + sum(A[::2, 1:3:2]) + A[0][:1][0]")
    assert to_text(f) == "sum(A[-1, 1:]) + sum(A[:, 0]) + sum(A[::2, 1:3:2]) + A[0][:1][0]\n"


def test_values_file_with_nested_lists_and_numpy_files(bp_json, tmp_path):
    (tmp_path / "v.json").write_text(json.dumps({"W": [[1, 2], [3, 4]], "x": [1, 1]}))
    doc = bp_json("grad", "sum(W @ x)", "--values", str(tmp_path / "v.json"))
    assert doc["value"] == 10.0 and doc["gradient"]["x"] == [4.0, 6.0]
    np.savez(tmp_path / "v.npz", W=np.array([[1.0, 2.0], [3.0, 4.0]]), x=np.ones(2))
    assert bp_json("grad", "sum(W @ x)", "--values", str(tmp_path / "v.npz"))["value"] == 10.0
    np.save(tmp_path / "x.npy", np.array([2.0, 0.0]))
    assert bp_json("grad", "sum(W @ x)", "--W", "[[1,2],[3,4]]", "--x", str(tmp_path / "x.npy"))["value"] == 8.0


def test_scalar_only_options_refuse_tensors(bp):
    r = bp("grad", "sum(W)", "--W", "[1,2]", "--hessian")
    assert r.exit_code == 2 and "--hessian works on scalar formulas" in r.stderr


def test_every_tensor_row_declares_its_rules():
    for op in OPS.values():
        if not op.elementwise:
            assert op.shape and len(op.vjp) == op.arity == len(op.rule), op.name


GRAPH = ["loss = sum((W @ x + b)^2)", "--W", "[[1,2],[3,4]]", "--x", "[1,-1]", "--b", "[0.5, 0.5]"]


def test_graph_tree_titles_give_tensor_shapes_and_values_inline(bp):
    r = bp("graph", *GRAPH)
    assert r.exit_code == 0 and r.stderr == ""
    lines = r.stdout.splitlines()
    assert lines[0] == "loss = n7: sum(n6)  = 0.5  adjoint = 1.0"  # a scalar node: no shape
    assert "    │   │   ├── W (shape 2×2)  = [[1. 2.] [3. 4.]]  adjoint = [[-1. 1.] [-1. 1.]]" in lines
    assert "    ├── n4: n2 + b (shape 2)  = [-0.5 -0.5]  adjoint = [-1. -1.]" in lines


@pytest.mark.parametrize("fmt", ["dot", "mermaid"])
def test_graph_sources_give_tensor_shapes_in_node_titles(bp, fmt):
    r = bp("graph", *GRAPH, "--format", fmt)
    assert r.exit_code == 0 and r.stderr == ""
    assert "W (shape 2×2)" in r.stdout and "n2: W @ x (shape 2)" in r.stdout
    assert "n7: sum(n6) (shape" not in r.stdout


@pytest.mark.requires("dot")
def test_graph_svg_draws_the_shapes(bp, tmp_path):
    out = tmp_path / "g.svg"
    r = bp("graph", *GRAPH, "-o", str(out))
    assert r.exit_code == 0, r.output
    assert "W (shape 2×2)" in out.read_text() and "n2: W @ x (shape 2)" in out.read_text()


def test_graph_of_a_large_matrix_summarises_it_on_one_line_once_shaped(bp):
    W = json.dumps([[float(i * 8 + j) for j in range(8)] for i in range(8)])
    r = bp("graph", "sum(W @ x)", "--W", W, "--x", json.dumps([1.0] * 8), "--format", "dot")
    assert r.exit_code == 0
    assert "W (shape 8×8)<br/><font color=\"#1565c0\">= [[0 1 2 … 5 6 7] … [56 57 58 … 61 62 63]]</font>" in r.stdout


@pytest.mark.parametrize("text", ["sum(floor(x)) + sum(atan2(x, w)) + sum(hypot(x, w))",
                                  "sum(clamp(x, w, 1)) + sum(relu6(6 * x)) + sum(mod(x, w)) + sum(round(x))"])
def test_kinks_of_two_operand_and_integer_rows_are_found_entry_by_entry(text):
    # Their kink tests once used `and`/`or` and math.isfinite, which arrays cannot take.
    f = parse(text)
    r = f.grad({"x": np.array([1.0, 0.0, 0.5]), "w": np.array([1.0, 0.0, 2.0])})
    kinks = [f.kinds[i] for kind, i in r.hits if kind == "kink"]
    assert kinks and all(k in text for k in kinks), kinks
