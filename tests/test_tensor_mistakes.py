"""--mistake on tensor formulas: the wrong passes take their contributions from the tensor
pass's own rules (engine/tensor.py `sends`), so each differs from the right pass in the
mistake alone. The numbers are PyTorch float64's with the mistake written in PyTorch: `=`
for `+=` as each use of a reused tensor in a graph of its own, keeping the contribution bp
assigns last; a recursion that fires a node early as that node's first contribution sent on
alone; a cut as `.detach()` on that edge."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from bpcli import parse
from bpcli.engine import mistakes

sys.path.insert(0, str(Path(__file__).parent))
from new_ops_cases import ATTENTION, CASES, point  # noqa: E402

torch = pytest.importorskip("torch")

MATMUL = "h = W @ x; loss = sum(h * tanh(h))"  # a matrix product used twice
BATCH_NORM = ("mu = mean(X, 0, keepdim=True); d = X - mu; v = mean(d^2, 0, keepdim=True); "
              "y = d / sqrt(v + 0.00001); loss = sum(y * G)")  # d reused, X reused, mu broadcast
ATTENTION_SHAPES = {"X": (4, 6), "Wq": (6, 6), "Wk": (6, 6), "Wv": (6, 6), "Wo": (6, 6), "M": (4, 4), "T": (4, 6)}


def values(shapes: dict, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    return {n: rng.uniform(-1.5, 1.5, s) for n, s in shapes.items()}


def leaf(a):
    return torch.tensor(a, dtype=torch.float64, requires_grad=True)


def use(t):
    """One use of a tensor as a graph of its own: a leaf holding its value."""
    return t.detach().clone().requires_grad_()


def grads(*leaves):
    return [t.grad.numpy() for t in leaves]


def close(bp_value, torch_value):
    np.testing.assert_allclose(np.asarray(bp_value), np.asarray(torch_value), rtol=1e-12, atol=1e-14)


def wrong(text: str, point: dict, name: str, cut=None):
    r = parse(text).grad(point)
    if name == "detach":
        return r, mistakes.detach(r, cut if cut is not None else [mistakes.default_cut(r)])
    return r, getattr(mistakes, name)(r)


# -- h = W @ x used by h * tanh(h) --------------------------------------------------------------
def matmul_torch(W, x, keep: str):
    """∂loss/∂W, ∂loss/∂x when h's adjoint is only its `keep` use's contribution ("mul": h *, the
    one bp sends first; "tanh": tanh(h), the one it sends last; "both": the right pass)."""
    W1, x1 = leaf(W), leaf(x)
    h = W1 @ x1
    if keep == "both":
        (h * torch.tanh(h)).sum().backward()
        return grads(W1, x1)
    h_mul, h_tanh = use(h), use(h)
    (h_mul * torch.tanh(h_tanh)).sum().backward()
    h.backward({"mul": h_mul, "tanh": h_tanh}[keep].grad)
    return grads(W1, x1)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_assign_on_a_reused_matrix_product_keeps_the_last_use_as_pytorch_overwriting_grad(seed):
    point = values({"W": (3, 2), "x": (2,)}, seed)
    r, m = wrong(MATMUL, point, "assign")
    W, x = matmul_torch(point["W"], point["x"], "tanh")  # bp sends h * … first, tanh(h)'s last
    close(m.adjoints[0], W)
    close(m.adjoints[1], x)
    close(r.adjoints[0], matmul_torch(point["W"], point["x"], "both")[0])
    assert m.first == 2 and list(m.lost) == [2] and len(m.lost[2]) == 1  # h (n2): one contribution overwritten
    assert np.array_equal(m.adjoints[3], r.adjoints[3])  # tanh's adjoint: one contribution, bit for bit


@pytest.mark.parametrize("seed", [0, 1])
def test_recursive_on_a_reused_matrix_product_sends_on_the_first_use_only(seed):
    point = values({"W": (3, 2), "x": (2,)}, seed)
    r, m = wrong(MATMUL, point, "recursive")
    W, x = matmul_torch(point["W"], point["x"], "mul")  # h fires at h * …'s contribution
    close(m.adjoints[0], W)
    close(m.adjoints[1], x)
    assert m.first == 1 and m.reused == [2] and [v for v, _ in m.early] == [2]
    assert m.visits == (6, 9)  # a call per path: h twice, and W and x under it twice each
    close(m.adjoints[2], r.adjoints[2])  # h ends with everything; what came late went no further


def test_detach_on_a_reused_matrix_product_is_pytorchs_detach_of_its_last_use():
    point = values({"W": (3, 2), "x": (2,)}, 3)
    r, m = wrong(MATMUL, point, "detach")
    assert m.cut == [(3, 0)]  # tanh(h.detach())
    W1, x1 = leaf(point["W"]), leaf(point["x"])
    h = W1 @ x1
    (h * torch.tanh(h.detach())).sum().backward()
    close(m.adjoints[0], W1.grad.numpy())
    close(m.adjoints[1], x1.grad.numpy())


# -- batch norm: d = X - mean(X) used by d^2 and d / sqrt(…), X by mean and - -----------------------
def batch_norm_torch(X, G, keep_d: str, keep_X: str | None, detach_d_squared: bool = False):
    """∂loss/∂X, ∂loss/∂G with d's adjoint only its `keep_d` use's ("pow", "div" or "both") and X's
    only its `keep_X` use's ("sub", "mean"; None: both); `detach_d_squared`: mean(d.detach()^2)."""
    G1, X1 = leaf(G), leaf(X)
    X_sub, X_mean = (use(X1), use(X1)) if keep_X else (X1, X1)
    mu = X_mean.mean(0, keepdim=True)
    d = X_sub - mu
    if keep_d == "both":
        dd = d.detach() if detach_d_squared else d
        v = (dd ** 2).mean(0, keepdim=True)
        ((d / torch.sqrt(v + 0.00001)) * G1).sum().backward()
    else:
        d_pow, d_div = use(d), use(d)
        v = (d_pow ** 2).mean(0, keepdim=True)
        ((d_div / torch.sqrt(v + 0.00001)) * G1).sum().backward()
        d.backward({"pow": d_pow, "div": d_div}[keep_d].grad)
    gX = X1.grad.numpy() if not keep_X else {"sub": X_sub, "mean": X_mean}[keep_X].grad.numpy()
    return gX, G1.grad.numpy()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_assign_on_batch_norm_keeps_each_reused_tensors_last_contribution(seed):
    point = values({"X": (5, 3), "G": (5, 3)}, seed)
    r, m = wrong(BATCH_NORM, point, "assign")
    # bp's order: d's uses d / sqrt(…) (n9) then d^2 (n4); X's: X - mu (n2) then mean (n1)
    X, G = batch_norm_torch(point["X"], point["G"], keep_d="pow", keep_X="mean")
    close(m.adjoints[0], X)
    close(m.adjoints[10], G)
    assert m.first == 2 and sorted(m.lost) == [0, 2]
    right_X, right_G = batch_norm_torch(point["X"], point["G"], keep_d="both", keep_X=None)
    close(r.adjoints[0], right_X)
    assert np.array_equal(m.adjoints[10], r.adjoints[10])  # G is used once: bit for bit the right pass's


@pytest.mark.parametrize("seed", [0, 1])
def test_recursive_on_batch_norm_fires_d_at_the_division_before_the_variance_arrives(seed):
    point = values({"X": (5, 3), "G": (5, 3)}, seed)
    r, m = wrong(BATCH_NORM, point, "recursive")
    X, _ = batch_norm_torch(point["X"], point["G"], keep_d="div", keep_X=None)
    close(m.adjoints[0], X)
    assert m.first == 0 and [v for v, _ in m.early] == [2] and m.reused == [2]
    close(m.early[0][1], batch_norm_torch_d_div(point))


def batch_norm_torch_d_div(point):
    """What d / sqrt(…) alone sends d: d's adjoint when the recursion fires it."""
    d = leaf(point["X"] - point["X"].mean(0, keepdims=True))
    v = (d.detach() ** 2).mean(0, keepdim=True)
    ((d / torch.sqrt(v + 0.00001)) * torch.tensor(point["G"], dtype=torch.float64)).sum().backward()
    return d.grad.numpy()


def test_detach_on_batch_norm_is_pytorchs_detach_of_the_squared_deviation():
    point = values({"X": (5, 3), "G": (5, 3)}, 4)
    r, m = wrong(BATCH_NORM, point, "detach")
    assert m.cut == [(4, 0)]  # mean(d.detach()^2): the variance as a constant
    X, G = batch_norm_torch(point["X"], point["G"], keep_d="both", keep_X=None, detach_d_squared=True)
    close(m.adjoints[0], X)
    close(m.adjoints[10], G)
    assert m.first == 2


# -- softmax attention (tests/new_ops_cases.py) --------------------------------------------------
def attention_torch(p: dict, xs=("q", "k", "v"), detach_attn: bool = False) -> dict:
    """The gradients of ATTENTION in PyTorch, X read by each projection in `xs` as itself and by
    the others as a graph of their own (so X.grad holds only the `xs` projections' share)."""
    t = {n: leaf(v) for n, v in p.items()}
    X = t["X"]
    q, k, v = ((X if name in xs else use(X)) @ t[W] for name, W in (("q", "Wq"), ("k", "Wk"), ("v", "Wv")))
    q, k, v = (a.reshape(4, 2, 3).permute(1, 0, 2) for a in (q, k, v))
    scores = q @ k.transpose(-2, -1) / 3 ** 0.5
    attn = torch.softmax(torch.where(torch.tril(t["M"]) != 0, scores, -1e9), -1)
    if detach_attn:
        attn = attn.detach()
    (((attn @ v).permute(1, 0, 2).reshape(4, 6) @ t["Wo"]) * t["T"]).sum().backward()
    return {n: (a.grad.numpy() if a.grad is not None else np.zeros_like(p[n])) for n, a in t.items()}


@pytest.mark.parametrize("seed", [0, 1])
def test_assign_on_attention_keeps_x_s_last_use_the_query_projection(seed):
    point = values(ATTENTION_SHAPES, seed)
    r, m = wrong(ATTENTION, point, "assign")
    f = r.formula
    expected = attention_torch(point, xs=("q",))  # X @ Wq is X's first use: bp sends it last
    close(m.adjoints[f.inputs["X"]], expected["X"])
    for name in ("Wq", "Wk", "Wv", "Wo", "T"):  # used once: the right pass's, bit for bit
        assert np.array_equal(m.adjoints[f.inputs[name]], r.adjoints[f.inputs[name]])
        close(m.adjoints[f.inputs[name]], expected[name])
    assert m.first == f.inputs["X"] and m.reused == [f.inputs["X"]] and r.adjoint(f.inputs["M"]) is None


def test_recursive_on_attention_is_immune_no_non_leaf_is_reused():
    point = values(ATTENTION_SHAPES, 5)
    r, m = wrong(ATTENTION, point, "recursive")
    assert m.first is None and m.reused == [] and m.early == []
    expected = attention_torch(point)
    for name, i in r.formula.inputs.items():
        if name != "M":
            close(m.adjoints[i], expected[name])


def test_detach_attn_is_pytorch_with_attn_detached():
    point = values(ATTENTION_SHAPES, 6)
    f = parse(ATTENTION)
    attn = next(i for i, names in f.labels.items() if "attn" in names)
    r, m = wrong(ATTENTION, point, "detach", mistakes.edges_into(f, attn))
    expected = attention_torch(point, detach_attn=True)
    for name in ("X", "Wq", "Wk", "Wv", "Wo", "T"):
        close(m.adjoints[f.inputs[name]], expected[name])
    assert not np.any(m.adjoints[f.inputs["Wq"]]) and np.any(r.adjoints[f.inputs["Wq"]])
    assert m.first == attn and m.cut == [(attn + 1, 0)]  # attn @ v's edge into attn


@pytest.mark.slow
def test_recursive_on_tensors_runs_without_python_recursion_on_100000_levels():
    depth = 100_000
    f = parse("a0 = x\n" + "".join(f"a{i + 1} = a{i} + a{i}\n" for i in range(depth)) + f"sum(a{depth})")
    r = f.grad({"x": np.array([1.0, 2.0])})
    m = mistakes.recursive(r)
    assert m.first is not None and len(m.early) == depth - 1  # every level reused, every one fires early
    assert m.visits == (depth + 2, 2 ** (depth + 1))  # a call per path: 2^k to a level k down
    chain = parse("a0 = x\n" + "".join(f"a{i + 1} = sin(a{i})\n" for i in range(depth)) + f"sum(a{depth})")
    r = chain.grad({"x": np.array([0.5, 1.0])})
    m = mistakes.recursive(r)
    assert m.first is None and all(np.array_equal(a, b) for a, b in zip(m.adjoints, r.adjoints))


# -- every operation of issue 24's cases: no mistake where the graph's shape allows none ----------------
@pytest.mark.parametrize("text, shapes", [(text, shapes) for text, shapes, _ in CASES], ids=range(len(CASES)))
def test_each_wrong_pass_is_the_right_pass_bit_for_bit_where_its_mistake_cannot_act(text, shapes):
    r = parse(text).grad(point(shapes, 0))

    def identical(m):
        return all(np.array_equal(a, b, equal_nan=True) for a, b in zip(m.adjoints, r.adjoints))

    nothing_cut = mistakes.detach(r, [])
    assert identical(nothing_cut) and nothing_cut.first is None
    uses = mistakes.uses(r)
    assign, recursive = mistakes.assign(r), mistakes.recursive(r)
    if max(uses) <= 1:  # a tree: = and += agree
        assert identical(assign) and assign.reused == [] and assign.lost == {}
    else:
        assert assign.reused and set(assign.lost) <= set(assign.reused)
    if max(uses) <= 1:
        assert identical(recursive)
    if not any(n > 1 and r.formula.args[i] for i, n in enumerate(uses)):  # no reused non-leaf: any order works
        assert recursive.first is None and recursive.early == []  # a reused leaf's terms added in another order
        for a, b in zip(recursive.adjoints, r.adjoints):
            np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-13)


def test_a_tensor_read_again_only_through_a_comparison_is_not_reused(bp):
    text = "sum(where(A == amax(A, 1, keepdim=True), A, B))"  # amax(A) gets no gradient: A has one use that does
    r = parse(text).grad({"A": np.array([[1.0, 3.0], [2.0, 0.0]]), "B": np.zeros((2, 2))})
    assert mistakes.uses(r)[0] == 1 and mistakes.default_cut(r) is None
    m = mistakes.assign(r)
    assert m.reused == [] and m.first is None
    out = bp("grad", text, "--A", "[[1, 3], [2, 0]]", "--B", "[[0, 0], [0, 0]]", "--mistake", "assign", "--no-check")
    assert out.exit_code == 0 and out.stderr == "" and "Immune: no node is used twice" in out.stdout
    out = bp("grad", text, "--A", "[[1, 3], [2, 0]]", "--B", "[[0, 0], [0, 0]]", "--mistake", "detach")
    assert out.exit_code == 2 and out.stdout == "" and "no node is used twice" in out.stderr
    out = bp("grad", text, "--A", "[[1, 3], [2, 0]]", "--B", "[[0, 0], [0, 0]]", "--mistake", "detach:n1",
             "--no-check")
    assert out.exit_code == 0 and out.stderr == "" and "✗" not in out.stdout
    assert ("Cut: n2 ← n1. The cut changes nothing: no gradient flows along that edge, cut or not (a comparison's "
            "operand, a class label or an index).") in " ".join(out.stdout.split())


# -- the CLI: the table, the verdict, JSON, the page ---------------------------------------------------
SMALL = ["sum(W @ x) * sum(W @ x)", "--W", "[[1,2],[3,4]]", "--x", "[1,1]"]


def test_bp_grad_mistake_assign_on_a_tensor_formula_shows_arrays_and_where_they_part(bp):
    r = bp("grad", *SMALL, "--mistake", "assign", "--no-check")
    assert r.exit_code == 0 and r.stderr == ""
    out = r.stdout[r.stdout.index("Mistake: assign"):]
    assert max(len(line) for line in r.stdout.splitlines()) <= 80
    rows = [line for line in out.splitlines() if line.startswith("│")]
    assert rows == [
        "│ n4   │       │           1.0 │           1.0 │ ✓       │",
        "│ n3   │       │          20.0 │          10.0 │ ✗ first │",
        "│ n2   │       │     [20. 20.] │     [10. 10.] │ ✗       │",
        "│ n1   │ x     │   [ 80. 120.] │     [40. 60.] │ ✗       │",
        "│ n0   │ W     │    [[20. 20.] │    [[10. 10.] │ ✗       │",
        "│      │       │    [20. 20.]] │    [10. 10.]] │         │",
    ]
    words = " ".join(out.split())
    assert ("The passes part at n3: the wrong pass gives 10.0, the right one 20.0. Why: n3 is used by 2 edges; "
            "= kept the last contribution, 10.0, and overwrote 10.0; += adds them all: 20.0.") in words


def test_bp_grad_mistake_recursive_on_batch_norm_says_d_fired_early_with_its_arrays(bp):
    r = bp("grad", BATCH_NORM, "--X", "[[1, 2], [3, 5], [4, 9]]", "--G", "[[1, -1], [2, 0.5], [0, 1]]",
           "--mistake", "recursive", "--no-check")
    assert r.exit_code == 0 and r.stderr == ""
    assert max(len(line) for line in r.stdout.splitlines()) <= 80
    out = r.stdout[r.stdout.index("Mistake: recursive"):]
    words = " ".join(out.split())
    assert ("The passes part at n0 (X): the wrong pass gives [[ 0. -0.4069] [ 0.8018 0.1162] [-0.8018 0.2906]], "
            "the right one [[-0.2863 -0.0848] [ 0.8591 0.1485] [-0.5727 -0.0636]].") in words
    assert ("Why: n2 (d) is used by 2 edges and fired (passed its gradient on) when the first had arrived, "
            "holding [[ 0.8018 -0.3487] [ 1.6036 0.1744] [ 0. 0.3487]] of its [[ 0.5154 -0.0267]") in words
    row = next(line for line in out.splitlines() if line.startswith("│ n0 "))
    assert row.endswith("│ ✗ first │")


def test_bp_grad_mistake_detach_on_a_tree_of_tensors_names_the_node_to_cut(bp):
    r = bp("grad", "sum(W @ x)", "--W", "[[1,2],[3,4]]", "--x", "[1,1]", "--mistake", "detach")
    assert r.exit_code == 2 and r.stdout == ""
    assert r.stderr == ("bp: usage error: --mistake detach alone cuts the second use of a reused node, and no node "
                        "is used twice\nhint: name the node to cut: --mistake detach:n2 (an id such as n2, or a "
                        "name)\n")


def test_bp_grad_mistake_json_on_attention_is_pytorchs_in_nested_lists(bp):
    point = values(ATTENTION_SHAPES, 7)
    given = [a for n, v in point.items() for a in (f"--{n}", json.dumps(v.tolist()))]
    r = bp("grad", ATTENTION, *given, "--mistake", "assign", "--no-check", "--json")
    assert r.exit_code == 0 and r.stderr == ""
    doc = json.loads(r.stdout)
    m = doc["mistake"]
    expected = attention_torch(point, xs=("q",))
    assert set(m["gradient"]) == {"X", "Wq", "Wk", "Wv", "Wo", "T"}  # M is read through a comparison only
    for name, g in m["gradient"].items():
        assert isinstance(g, list) and np.shape(g) == point[name].shape
        close(g, expected[name])
    assert m["gradient"]["Wq"] == doc["gradient"]["Wq"] and m["gradient"]["X"] != doc["gradient"]["X"]
    assert m["first"] == "n0" and m["parted"] == ["n0"] and m["exposed"] == ["n0"] and m["immune"] is False
    assert list(m["overwritten"]) == ["n0"] and len(m["overwritten"]["n0"]) == 2  # the k and v projections'
    assert "The passes part at n0 (X)" in m["verdict"] and "(4×6)" in m["verdict"]


def test_bp_grad_mistake_detach_attn_by_name_is_pytorch_with_attn_detached(bp):
    point = values(ATTENTION_SHAPES, 8)
    given = [a for n, v in point.items() for a in (f"--{n}", json.dumps(v.tolist()))]
    r = bp("grad", ATTENTION, *given, "--mistake", "detach:attn", "--no-check", "--json")
    assert r.exit_code == 0 and r.stderr == ""
    m = json.loads(r.stdout)["mistake"]
    expected = attention_torch(point, detach_attn=True)
    for name, g in m["gradient"].items():
        close(g, expected[name])
    assert m["cut"] == [{"parent": "n26", "slot": 0, "child": "n25"}] and m["first"] == "n25"
    assert m["verdict"].endswith("∂/∂X, ∂/∂Wq, ∂/∂Wk are wrong.")
    r = bp("grad", ATTENTION, *given, "--mistake", "detach:attn", "--no-check")
    assert r.exit_code == 0 and r.stderr == ""
    assert max(len(line) for line in r.stdout.splitlines()) <= 80  # arrays too wide for columns: rows stacked
    assert "Cut: n26 ← n25 (attn). The passes part at n25 (attn)" in " ".join(r.stdout.split())


def test_bp_grad_mistake_detach_of_a_tensor_formulas_output_is_a_usage_error(bp):
    r = bp("grad", "h = W @ x; loss = sum(h * tanh(h))", "--W", "[[1,2],[3,4]]", "--x", "[1,1]",
           "--mistake", "detach:loss")
    assert r.exit_code == 2 and r.stdout == ""
    assert r.stderr == ("bp: usage error: --mistake detach:loss: loss is the output; no edge leads into it\n"
                        "hint: name a node the output uses\n")


def test_bp_grad_mistake_recursive_on_a_tensor_tree_is_immune(bp, bp_json):
    r = bp("grad", "sum(W @ x)", "--W", "[[1,2],[3,4]]", "--x", "[1,1]", "--mistake", "recursive", "--no-check")
    assert r.exit_code == 0 and r.stderr == "" and "Immune:" in r.stdout and "✗" not in r.stdout
    m = bp_json("grad", "sum(W @ x)", "--W", "[[1,2],[3,4]]", "--x", "[1,1]", "--mistake", "recursive",
                "--no-check")["mistake"]
    assert m["immune"] is True and m["gradient"] == {"W": [[1.0, 1.0], [1.0, 1.0]], "x": [4.0, 6.0]}


def test_bp_view_shows_a_tensor_mistake_with_its_arrays_and_the_first_node_marked(bp, page, tmp_path):
    out = tmp_path / "tensor-mistake.html"
    r = bp("view", *SMALL, "--mistake", "detach", "--no-check", "--reveal", "all", "-o", str(out))
    assert r.exit_code == 0 and r.stdout == ""
    page.goto(out.as_uri())
    page.wait_for_selector("body[data-ready='1']")
    box = page.inner_text("#bp-mistake")
    assert "Mistake: detach, beside the right pass" in box
    assert "Cut: n4 ← n3. The passes part at n3: the wrong pass gives 10.0, the right one 20.0." in box
    rows = [row.split("\t") for row in page.inner_text("#bp-mistake tbody").splitlines()]
    assert rows[0] == ["n4", "", "1.0", "1.0", "✓"]
    assert rows[1] == ["n3", "", "20.0", "10.0", "✗ first"]
    assert rows[3][0] == "n1" and rows[3][2:] == ["[80, 120]", "[40, 60]", "✗"]
    assert page.eval_on_selector_all(".node.mistake-first", "els => els.map(e => e.dataset.id)") == ["n3"]


def test_same_tells_arrays_apart_as_np_allclose_does_nan_beside_nan_the_same():
    a = np.array([1.0, np.nan, np.inf, -np.inf])
    assert mistakes.same(a, np.array([1.0 + 1e-12, np.nan, np.inf, -np.inf]), 1.0)
    assert not mistakes.same(a, np.array([1.0, 0.0, np.inf, -np.inf]), 1.0)
    assert not mistakes.same(np.array([np.inf]), np.array([-np.inf]), 1.0)
    assert not mistakes.same(np.array([5.0]), np.array([np.inf]), 1.0)
    assert not mistakes.same(np.array([1.0, 2.0]), np.array([1.0, 2.001]), 1.0)
    assert mistakes.same(np.array([0.0, 1e-13]), np.array([0.0, 0.0]), 1.0)  # within 1e-12 of the largest adjoint
