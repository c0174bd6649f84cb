"""Convolution, pooling and the losses (issue 24) against PyTorch float64: values and gradients
at random shapes and seeds, the awkward cases (padding larger than the kernel, a stride that
does not divide the size, batch-less inputs, ties in max_pool2d), forward mode, batches."""

from __future__ import annotations

import numpy as np
import pytest

from bpcli import ParseError
from bpcli.engine import tensor
from bpcli.errors import InputValueError, ShapeError
from bpcli.language.parser import parse

torch = pytest.importorskip("torch", reason="the tensor ops are checked against PyTorch float64")
F = torch.nn.functional


def torch_grad(build, values: dict):
    ts = {n: torch.tensor(v, dtype=torch.float64, requires_grad=n != "y") for n, v in values.items()}
    if "y" in ts:
        ts["y"] = torch.tensor(values["y"], dtype=torch.float64)
    out = build(ts)
    out.backward()
    return out.item(), {n: t.grad.numpy() for n, t in ts.items() if n != "y"}


def agree(formula: str, build, values: dict):
    r = tensor.grad(parse(formula), values)
    value, grads = torch_grad(build, values)
    assert np.isclose(float(r.value), value, rtol=1e-12, atol=1e-12)
    for n, g in grads.items():
        np.testing.assert_allclose(r.gradient[n], g, rtol=1e-11, atol=1e-12, err_msg=n)
    return r


def weights(rng, *shape):
    return rng.standard_normal(shape)


CONV2D_CASES = [  # x shape, w shape, stride, padding
    ((2, 3, 8, 8), (4, 3, 3, 3), 1, 0),
    ((3, 8, 8), (2, 3, 3, 3), 1, 1),  # batch-less
    ((1, 2, 7, 5), (3, 2, 3, 2), 2, 0),  # stride not dividing the size, a non-square kernel
    ((2, 1, 4, 4), (2, 1, 2, 2), 3, 3),  # padding larger than the kernel
    ((1, 2, 5, 6), (1, 2, 5, 6), 1, 0),  # kernel the size of the input
    ((2, 1, 3, 3), (1, 1, 1, 1), 2, 2),
]


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("xs, ws, stride, padding", CONV2D_CASES)
def test_conv2d_agrees_with_pytorch(xs, ws, stride, padding, seed):
    rng = np.random.default_rng(seed)
    values = {"x": weights(rng, *xs), "w": weights(rng, *ws), "u": weights(rng, 1)}
    out = F.conv2d(torch.zeros(xs), torch.zeros(ws), stride=stride, padding=padding).shape
    values["u"] = weights(rng, *out)
    agree(f"sum(conv2d(x, w, stride={stride}, padding={padding}) * u)",
          lambda t: (F.conv2d(t["x"], t["w"], stride=stride, padding=padding) * t["u"]).sum(), values)


@pytest.mark.parametrize("xs, ws, stride, padding", [((2, 3, 9), (4, 3, 3), 1, 0), ((3, 7), (2, 3, 2), 2, 3),
                                                     ((1, 1, 5), (1, 1, 5), 1, 0)])
def test_conv1d_agrees_with_pytorch(xs, ws, stride, padding):
    rng = np.random.default_rng(1)
    out = F.conv1d(torch.zeros(xs), torch.zeros(ws), stride=stride, padding=padding).shape
    values = {"x": weights(rng, *xs), "w": weights(rng, *ws), "u": weights(rng, *out)}
    agree(f"sum(conv1d(x, w, {stride}, {padding}) * u)",
          lambda t: (F.conv1d(t["x"], t["w"], stride=stride, padding=padding) * t["u"]).sum(), values)


POOL_CASES = [((2, 3, 8, 8), 2, None, 0), ((3, 7, 5), 2, None, 0), ((1, 2, 7, 7), 3, 2, 1),
              ((2, 1, 6, 6), 3, 1, 0), ((1, 1, 5, 4), 2, 3, 1)]


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("xs, k, s, p", POOL_CASES)
def test_pooling_agrees_with_pytorch(kind, xs, k, s, p):
    rng = np.random.default_rng(2)
    pool = getattr(F, f"{kind}_pool2d")
    out = pool(torch.zeros(xs), k, s, p).shape
    values = {"x": weights(rng, *xs), "u": weights(rng, *out)}
    args = f"{k}" + (f", {s}, {p}" if s is not None else "")
    agree(f"sum({kind}_pool2d(x, {args}) * u)", lambda t: (pool(t["x"], k, s, p) * t["u"]).sum(), values)


def test_max_pool_ties_send_the_gradient_to_the_first_max_as_pytorch():
    x = np.array([[[1.0, 2.0, 2.0], [2.0, 0.0, 2.0], [0.0, 0.0, 0.0]],
                  [[3.0, 3.0, 3.0], [3.0, 3.0, 3.0], [3.0, 3.0, 3.0]]])
    r = agree("sum(max_pool2d(x, 2, 1))", lambda t: F.max_pool2d(t["x"], 2, 1).sum(), {"x": x})
    assert r.gradient["x"][0].tolist() == [[0, 2, 0], [1, 0, 1], [0, 0, 0]]
    assert r.gradient["x"][1].tolist() == [[1, 1, 0], [1, 1, 0], [0, 0, 0]]


def test_max_pool_of_a_window_with_nan_picks_the_last_nan_as_pytorch():
    x = np.array([[[np.nan, 2.0], [np.nan, 2.0]]])
    r = tensor.grad(parse("sum(max_pool2d(x, 2))"), {"x": x})
    xt = torch.tensor(x, requires_grad=True)
    F.max_pool2d(xt, 2).sum().backward()
    assert np.isnan(float(r.value))
    assert r.gradient["x"].tolist() == xt.grad.tolist() == [[[0.0, 0.0], [1.0, 0.0]]]


def test_a_small_cnn_agrees_with_pytorch_in_value_and_every_gradient():
    """conv → relu → max_pool → a dense layer (a conv whose kernel covers the map) → cross-entropy."""
    rng = np.random.default_rng(3)
    values = {"x": rng.random((5, 1, 8, 8)), "k": weights(rng, 4, 1, 3, 3) * 0.5, "c": weights(rng, 4, 1, 1),
              "W": weights(rng, 10, 4, 3, 3) * 0.3, "b": weights(rng, 10), "y": np.array([0.0, 3, 9, 3, 5])}
    text = ("h = max_pool2d(relu(conv2d(x, k) + c), 2)\n"
            "z = sum(sum(conv2d(h, W), -1), -1) + b\n"
            "cross_entropy(z, y)")

    def build(t):
        h = F.max_pool2d(torch.relu(F.conv2d(t["x"], t["k"]) + t["c"]), 2)
        return F.cross_entropy(F.conv2d(h, t["W"]).sum((-1, -2)) + t["b"], t["y"].long())

    agree(text, build, values)


def test_losses_agree_with_pytorch():
    rng = np.random.default_rng(4)
    z, y = weights(rng, 6, 5), np.array([0.0, 4, 2, 2, 1, 3])
    agree("cross_entropy(z, y)", lambda t: F.cross_entropy(t["z"], t["y"].long()), {"z": z, "y": y})
    agree("cross_entropy(z, y)", lambda t: F.cross_entropy(t["z"], t["y"].long()), {"z": z[0], "y": y[0]})
    agree("nll_loss(log_softmax(z), y)", lambda t: F.nll_loss(torch.log_softmax(t["z"], -1), t["y"].long()),
          {"z": z, "y": y})
    agree("nll_loss(z, y)", lambda t: F.nll_loss(t["z"], t["y"].long()), {"z": z, "y": y})
    a, b = weights(rng, 3, 4), weights(rng, 3, 4)
    agree("mse_loss(a, b)", lambda t: F.mse_loss(t["a"], t["b"]), {"a": a, "b": b})
    agree("mse_loss(a, b)", lambda t: F.mse_loss(t["a"], t["b"]), {"a": a[0], "b": b[0]})
    t01 = rng.random((3, 4))
    agree("binary_cross_entropy_with_logits(a, b)",
          lambda t: F.binary_cross_entropy_with_logits(t["a"], t["b"]), {"a": a * 30, "b": t01})


def test_cross_entropy_labels_are_class_labels_with_no_gradient():
    f = parse("cross_entropy(z, y)")
    r = tensor.grad(f, {"z": np.zeros((2, 3)), "y": np.array([0.0, 2.0])})
    assert r.labels() == ["y"] and r.adjoint(f.inputs["y"]) is None
    with pytest.raises(InputValueError, match=r"class labels must hold whole numbers from 0 to 2; entry \[1\] is 3"):
        tensor.grad(f, {"z": np.zeros((2, 3)), "y": np.array([0.0, 3.0])})


@pytest.mark.parametrize("formula, shapes, message", [
    ("sum(conv2d(x, w))", {"x": (3, 8, 8), "w": (2, 4, 3, 3)}, "3 input channels, the filters expect 4"),
    ("sum(conv2d(x, w))", {"x": (8, 8), "w": (2, 1, 3, 3)}, r"takes an input of \(N, C, H, W\)"),
    ("sum(conv2d(x, w))", {"x": (1, 2, 2), "w": (2, 1, 3, 3)}, "kernel is larger than"),
    ("sum(max_pool2d(x, 3, 1, 2))", {"x": (1, 5, 5)}, "more than half its kernel size"),
    ("cross_entropy(z, y)", {"z": (4, 3), "y": (3,)}, "must be a vector of 4"),
    ("binary_cross_entropy_with_logits(z, y)", {"z": (4,), "y": ()}, "the size of the input"),
])
def test_shapes_are_checked_with_the_reason(formula, shapes, message):
    with pytest.raises(ShapeError, match=message):
        tensor.shapes(parse(formula), shapes)


@pytest.mark.parametrize("text, message", [
    ("max_pool2d(x)", r"max_pool2d\(\) needs kernel_size: max_pool2d\(a, kernel_size, stride, padding=0\)"),
    ("conv2d(x, w, 1, 0, 2)", r"conv2d\(\) takes 2 arguments and then stride, padding, got 5"),
    ("conv2d(x, w, s)", "stride of conv2d.* must be an integer constant"),
    ("conv2d(x, w, stride=1.5)", "stride of conv2d.* must be a whole number"),
    ("conv2d(x, w, dilation=2)", r"conv2d\(\) has no parameter dilation"),
])
def test_static_parameters_are_integer_constants(text, message):
    with pytest.raises(ParseError, match=message):
        parse(text)


def test_defaults_make_one_node_and_keywords_read_as_positions():
    assert parse("conv2d(x, w)").params == parse("conv2d(x, w, 1, 0)").params == parse("conv2d(x, w, padding=0)").params
    f, g = parse("conv2d(x, w, 2, 1)"), parse("conv2d(x, w, padding=1, stride=2)")
    assert f.params[f.output] == g.params[g.output] == (2, 1)
    f = parse("max_pool2d(x, kernel_size=2, padding=0)")
    assert f.params[f.output] == (2,)


@pytest.mark.parametrize("formula, values", [
    ("sum(conv2d(x, w, 2, 1) ^ 2)", {"x": (2, 2, 5, 5), "w": (3, 2, 3, 3)}),
    ("sum(conv1d(x, w) ^ 2)", {"x": (2, 6), "w": (1, 2, 3)}),
    ("sum(max_pool2d(x, 2) ^ 2)", {"x": (2, 4, 4)}),
    ("sum(avg_pool2d(x, 3, 2, 1) ^ 2)", {"x": (1, 1, 5, 5)}),
    ("cross_entropy(z, y) + mse_loss(z, u) + binary_cross_entropy_with_logits(z, v)",
     {"z": (3, 4), "u": (4,), "v": (3, 4)}),
])
def test_forward_mode_agrees_with_the_backward_pass(formula, values):
    rng = np.random.default_rng(5)
    point = {n: rng.standard_normal(s) for n, s in values.items()}
    if "y" in parse(formula).inputs:
        point["y"] = np.array([1.0, 0.0, 3.0])
    f = parse(formula)
    r = tensor.grad(f, point)
    for name in values:
        t = rng.standard_normal(values[name])
        _, tangents = tensor.jvp(f, point, {name: t})
        assert np.isclose(float(tangents[f.output]), float((r.gradient[name] * t).sum()), rtol=1e-10, atol=1e-12)


def test_a_batch_is_each_row_on_its_own():
    """vmap: a batched image per row through conv, pool and the loss, shared filters."""
    rng = np.random.default_rng(6)
    f = parse("cross_entropy(sum(sum(max_pool2d(conv2d(x, w, 1, 1), 2), -1), -1), y)")
    x, w, y = rng.standard_normal((4, 1, 6, 6)), rng.standard_normal((3, 1, 3, 3)), np.array([0.0, 2, 1, 1])
    batched = tensor.grad(f, {"x": x, "w": w, "y": y}, batched=["x", "y"])
    rows = [tensor.grad(f, {"x": x[i], "w": w, "y": y[i]}) for i in range(4)]
    np.testing.assert_allclose(batched.value, [float(r.value) for r in rows], rtol=1e-13)
    np.testing.assert_allclose(batched.gradient["w"], sum(r.gradient["w"] for r in rows), rtol=1e-12)


EXPORTED = ("h = max_pool2d(relu(conv2d(x, w, 2, 1)), 2, 1)\n"
            "z = sum(sum(conv2d(h, W), -1), -1) + sum(avg_pool2d(x, 3, 2, 1)) + sum(conv1d(x[0, 0], k, 1, 2))\n"
            "+ sum(max_pool2d(x[0], 2)) + sum(conv2d(x[1], w))\n"
            "cross_entropy(z, y) + nll_loss(log_softmax(z), y) + mse_loss(z, u) + "
            "binary_cross_entropy_with_logits(z, u) + cross_entropy(z[0], t)")


@pytest.mark.parametrize("library", ["torch", "jax"])
def test_exported_scripts_of_every_new_op_run_and_agree(bp, tmp_path, library):
    """Batched and batch-less convolutions and pools, every loss: the script rebuilds the formula
    in the library and compares value and gradients with bp's."""
    if library == "jax":
        pytest.importorskip("jax", reason="the JAX export is checked by running it with jax")
    import json
    import subprocess
    import sys

    rng = np.random.default_rng(7)

    def arg(*shape):
        return json.dumps(np.round(rng.standard_normal(shape), 3).tolist(), separators=(",", ":"))

    text = EXPORTED.replace("\n+", " +")
    point = ["--x", arg(2, 1, 7, 7), "--w", arg(3, 1, 3, 3), "--W", arg(4, 3, 3, 3), "--k", arg(2, 7, 3),
             "--u", "[[0.1,0.9,0.5,0.3],[0.2,0.2,0.7,1]]", "--y", "[1,3]", "--t", "2"]
    r = bp("export", text, *point, f"--{library}")
    assert r.exit_code == 0, r.stderr
    for spelled in ("conv2d", "conv1d", "max_pool2d", "avg_pool2d", "cross_entropy", "mse_loss"):
        assert spelled in r.stdout
    path = tmp_path / "script.py"
    path.write_text(r.stdout, encoding="utf-8")
    done = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert (done.returncode, done.stdout) == (0, "ok\n"), done.stderr


X3 = "[[[1,2,3],[4,5,6],[7,8,9.5]]]"


@pytest.mark.parametrize("formula, values", [
    ("sum(conv2d(x, w, padding=1) ^ 2)", ["--x", X3, "--w", "[[[[1,0.3],[0.2,1]]]]"]),
    ("sum(conv1d(x[0], k, stride=2) ^ 2)", ["--x", X3, "--k", "[[[1,2],[3,4],[5,6]]]"]),
    ("sum(max_pool2d(x, 2, 1) ^ 2)", ["--x", X3]),
    ("sum(avg_pool2d(x, 2, 1, 1) ^ 2)", ["--x", X3]),
    ("cross_entropy(v, y) + nll_loss(v, y)", ["--v", "[0.1, 0.5, -1]", "--y", "2"]),
    ("mse_loss(v, u) + binary_cross_entropy_with_logits(v, u)", ["--v", "[0.1, 0.5, -1]", "--u", "[0.2,0.4,0.9]"]),
])
def test_the_check_compares_every_new_op_with_sympy_and_finite_differences(bp_json, formula, values):
    doc = bp_json("grad", formula, *values)
    assert doc["ok"] is True
    checked = {name: c for name, c in doc["check"].items() if c["status"] != "skipped"}
    assert checked and all(c["status"] == "ok" and c["sympy"] is not None for c in checked.values())


@pytest.mark.parametrize("xs", [(3, 6, 6), (2, 3, 6, 6)])
def test_a_batch_of_filters_is_each_row_on_its_own(xs):
    """vmap over the filters (a batched w), with a batch-less input and with an N axis."""
    rng = np.random.default_rng(8)
    f = parse("sum(conv2d(x, w, stride=2, padding=1) ^ 2)")
    x, w = rng.standard_normal(xs), rng.standard_normal((4, 2, 3, 3, 3))
    batched = tensor.grad(f, {"x": x, "w": w}, batched=["w"])
    rows = [tensor.grad(f, {"x": x, "w": w[i]}) for i in range(4)]
    np.testing.assert_allclose(batched.value, [float(r.value) for r in rows], rtol=1e-13)
    np.testing.assert_allclose(batched.gradient["x"], sum(r.gradient["x"] for r in rows), rtol=1e-12)
    for i, r in enumerate(rows):
        np.testing.assert_allclose(batched.gradient["w"][i], r.gradient["w"], rtol=1e-12)


def test_a_tiny_cnn_trains_a_few_adam_steps_as_pytorch_does():
    """bp's training step (the tensor pass over a batch, vmap over the rows) and its Adam against
    PyTorch's: every gradient of every step, and the parameters after five steps."""
    from bpcli.engine.numeric import ArrayMath
    from bpcli.training import optim

    rng = np.random.default_rng(9)
    x, y = rng.random((16, 1, 8, 8)), rng.integers(0, 10, 16).astype(float)
    params = {"k": weights(rng, 4, 1, 3, 3) * 0.3, "c": np.zeros((4, 1, 1)),
              "W": weights(rng, 10, 4, 2, 2) * 0.2, "b": np.zeros(10)}
    f = parse("h = max_pool2d(relu(conv2d(x, k, padding=1) + c), 2, stride=2)\n"
              "h2 = max_pool2d(h, 2, 1, 1)\n"
              "cross_entropy(sum(sum(conv2d(avg_pool2d(h2, 2), W), -1), -1) + b, y)")
    m, adam = ArrayMath("float64"), optim.make("adam", 0.01)
    ts = {n: torch.tensor(v, requires_grad=True) for n, v in params.items()}
    opt = torch.optim.Adam(list(ts.values()), lr=0.01)
    xt, yt = torch.tensor(x), torch.tensor(y).long()
    for _ in range(5):
        kept, grads = tensor.step(f, {"x": x, "y": y, **params}, m, ["x", "y"], list(params), [f.output])
        grads = {n: g / len(x) for n, g in grads.items()}  # the trainer's mean over the batch
        opt.zero_grad()
        h = F.max_pool2d(F.max_pool2d(torch.relu(F.conv2d(xt, ts["k"], padding=1) + ts["c"]), 2, 2), 2, 1, 1)
        z = F.conv2d(F.avg_pool2d(h, 2), ts["W"]).sum((-1, -2)) + ts["b"]
        loss = F.cross_entropy(z, yt)
        loss.backward()
        assert np.isclose(kept[f.output].mean(), loss.item(), rtol=1e-13)
        for n in params:
            np.testing.assert_allclose(grads[n], ts[n].grad.numpy(), rtol=1e-10, atol=1e-14, err_msg=n)
        opt.step()
        params = adam.step(params, grads)
    for n in params:
        np.testing.assert_allclose(params[n], ts[n].detach().numpy(), rtol=1e-9, atol=1e-12, err_msg=n)


FACES = [  # a formula with each new op, small enough for every face
    ("sum(max_pool2d(relu(conv2d(x, w, padding=1)), 2))", ["--x", "[[[1,2,0],[0,1,3],[2,0,1.5]]]",
                                                          "--w", "[[[[1,-1],[0,2]]]]"]),
    ("sum(avg_pool2d(x, 2, 1)) + sum(conv1d(x[0], k, stride=2))", ["--x", "[[[1,2,0],[0,1,3],[2,0,1.5]]]",
                                                                   "--k", "[[[1,-1,2],[0,2,1],[1,1,1]]]"]),
    ("cross_entropy(z, y) + nll_loss(log_softmax(z), y) + mse_loss(z, t) + "
     "binary_cross_entropy_with_logits(z, t)", ["--z", "[2,1,0.1]", "--y", "0", "--t", "[0.5,0,1]"]),
]


@pytest.mark.parametrize("formula, values", FACES)
def test_every_face_takes_the_new_ops(bp, tmp_path, formula, values):
    """--explain, --jacobian, --forward, bp graph (tree and DOT), bp view's page, bp diff's refusal
    of tensors aside: each exits 0 and names the op."""
    name = formula.split("(")[1] if formula.startswith("sum(") else formula.split("(")[0]
    for args in (["grad", "--explain"], ["grad", "--jacobian"], ["grad", "--json"], ["graph"],
                 ["graph", "--format", "dot"]):
        r = bp(*args[:1], formula, *values, *args[1:])
        assert r.exit_code == 0, (args, r.stderr)
        assert name in r.stdout, args
    page = tmp_path / "page.html"
    r = bp("view", formula, *values, "-o", str(page))
    assert r.exit_code == 0, r.stderr
    assert name in page.read_text()


def test_explain_gives_a_class_label_no_path(bp):
    """p[y]'s and cross_entropy's labels: --explain says no path reaches them (it used to crash)."""
    for formula in ("sum(p[y])", "cross_entropy(p, y)"):
        r = bp("grad", formula, "--p", "[2,1,0.1]", "--y", "0", "--explain")
        assert r.exit_code == 0 and r.stderr == ""
        assert "0 paths from" in r.stdout and "to y" in r.stdout
