"""bp export: the scripts it writes are run here, against PyTorch and JAX."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tensor_strategies import tensor_formulas

from bpcli.engine.ops import OPS

torch = pytest.importorskip("torch", reason="the PyTorch export is checked by running it with torch")

LECTURE = "y_hat = x*w; r = y_hat - y; loss = r^2"
# Away from every kink and domain edge; 0.7 < 1.3 < 2.1 keeps max, min and clamp-like ops off ties.
POINT = ["--x", "0.7", "--w", "1.3", "--y", "2.1"]


def every_op(library: str) -> str:
    """One formula that uses every op of the table the library has, built from the table."""
    terms = []
    for op in OPS.values():
        if getattr(op, library) is None or not op.elementwise:
            continue
        operands = ["x", "w", "y"][:op.arity]
        terms.append(op.syntax.format(*operands) if op.syntax else f"{op.name}({', '.join(operands)})")
    return "t = " + " + ".join(f"({t})" for t in terms) + "; t * x + y"


def run_script(text: str, tmp_path, name: str = "script.py"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return subprocess.run([sys.executable, str(path)], capture_output=True, text=True, timeout=120,
                          cwd=tmp_path)


def exported(bp, *args) -> str:
    r = bp("export", *args)
    assert r.exit_code == 0, r.stderr
    return r.stdout


def imports_of(text: str) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Import):
            found.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.slow
def test_torch_script_rebuilds_every_op_and_agrees_with_bp(bp, tmp_path):
    text = exported(bp, every_op("torch"), *POINT, "--torch")
    assert imports_of(text) == {"torch"}
    assert ".retain_grad()" in text and ".backward()" in text and "torch.float64" in text
    done = run_script(text, tmp_path)
    assert (done.returncode, done.stdout, done.stderr) == (0, "ok\n", "")


@pytest.mark.slow
def test_torch_agrees_at_the_kinks_where_bp_follows_its_conventions(bp, tmp_path):
    text = exported(bp, "relu(x) + abs(x) + max(x, w) + min(x, w) + sign(x) + sqrt(w)", "--x", "0", "--w", "0")
    done = run_script(text, tmp_path)
    assert (done.returncode, done.stdout) == (0, "ok\n")


@pytest.mark.slow
def test_the_script_reports_the_first_number_that_differs(bp, tmp_path):
    text = exported(bp, LECTURE, "--x", "2", "--w", "1", "--y", "4")
    assert '("n1", "w", 1.0, -8.0),' in text  # the lecture's −8, embedded exactly
    done = run_script(text.replace('("n1", "w", 1.0, -8.0),', '("n1", "w", 1.0, -8.5),'), tmp_path)
    assert done.returncode == 1
    assert done.stdout == "differs: n1 (w): adjoint -8.0, bp -8.5\n"


@pytest.mark.slow
def test_names_the_script_uses_itself_are_not_taken_by_nodes(bp, tmp_path):
    text = exported(bp, "found = close*check; found + print", "close=2", "check=3", "print=4")
    done = run_script(text, tmp_path)
    assert (done.returncode, done.stdout) == (0, "ok\n")


def test_an_op_the_library_lacks_is_refused_with_exit_2(bp):
    r = bp("export", "step(x) + x", "--x", "1", "--torch")
    assert r.exit_code == 2 and r.stdout == ""
    assert "PyTorch has no differentiable counterpart of step" in r.stderr


def test_a_formula_without_inputs_has_no_gradient_to_export(bp):
    r = bp("export", "2 + 3")
    assert r.exit_code == 2 and "depends on no input" in r.stderr


def test_output_file(bp, tmp_path):
    out = tmp_path / "lecture.py"
    r = bp("export", LECTURE, "--x", "2", "--w", "1", "--y", "4", "-o", str(out))
    assert r.exit_code == 0 and r.stdout == "" and f"wrote {out}" in r.stderr
    assert out.read_text().startswith('"""bp export --torch:')


@pytest.mark.parametrize("library", ["torch", "jax"])
def test_every_row_of_the_op_table_says_how_each_library_spells_it(library):
    for op in OPS.values():
        spelling = getattr(op, library)
        assert spelling is None or all(f"{{{k}}}" in spelling for k in range(op.arity)), op.name


# -- JAX -------------------------------------------------------------------------------
@pytest.mark.slow
def test_jax_script_pulls_back_every_op_node_by_node(bp, tmp_path):
    pytest.importorskip("jax", reason="the JAX export is checked by running it with jax")
    text = exported(bp, every_op("jax"), *POINT, "--jax")
    assert imports_of(text) == {"jax"}
    assert "jax.vjp(lambda" in text and 'jax.config.update("jax_enable_x64", True)' in text
    done = run_script(text, tmp_path)
    assert (done.returncode, done.stdout) == (0, "ok\n"), done.stderr


@pytest.mark.parametrize("formula, values, conventions, by_bp", [
    # tensors: abs'(0) and clip's tie at a bound, entry by entry; hypot at (0, 0)
    ("sum(abs(x) + clamp(x, w, 1)) + hypot(u, v)", ["--x", "[0, 2]", "--w", "[0, 0]", "--u", "0", "--v", "0"],
     ["n1 abs(x): JAX takes abs'(0) = 1; bp and PyTorch take 0",
      "n4 clamp(x, w, n3): JAX's clip is min(max(x, lo), hi), whose ties split the gradient 1/2 and 1/2 "
      "at a bound; bp and PyTorch pass it whole",
      "n9 hypot(u, v): JAX's gradient of hypot at (0, 0) is (1/2, 1/2); bp and PyTorch give nan"],
     "n0 (x): adjoint[0] 1.5, bp 1.0"),
    ("atan2(u, v) + abs(x)", ["--u", "0", "--v", "0", "--x", "0"],
     ["n2 atan2(u, v): JAX's gradient of atan2 at (0, 0) is nan (0/0); bp and PyTorch take 0",
      "n4 abs(x): JAX takes abs'(0) = 1; bp and PyTorch take 0"],
     "n0 (u): adjoint nan, bp 0.0"),
])
@pytest.mark.slow
def test_jax_at_a_kink_where_its_convention_differs_says_so_instead_of_failing(bp, tmp_path, formula, values,
                                                                                conventions, by_bp):
    pytest.importorskip("jax", reason="the JAX export is checked by running it with jax")
    done = run_script(exported(bp, formula, *values, "--jax"), tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]
    assert done.stdout.splitlines() == [
        "ok under JAX's convention at a kink, where it differs from bp's and PyTorch's:",
        *(f"  {c}" for c in conventions), f"  (against bp's own numbers: {by_bp})"]


@pytest.mark.slow
def test_a_real_difference_is_still_reported_where_jax_has_its_own_convention(bp, tmp_path):
    pytest.importorskip("jax", reason="the JAX export is checked by running it with jax")
    text = exported(bp, "abs(x) + x*w", "--x", "0", "--w", "3", "--jax")
    assert text.count('("n2", "w", 3.0, 0.0),') == 2  # bp's table and the one under JAX's convention
    done = run_script(text.replace('("n2", "w", 3.0, 0.0),', '("n2", "w", 3.0, 0.5),'), tmp_path)
    assert (done.returncode, done.stdout) == (1, "differs: n2 (w): adjoint 0.0, bp 0.5\n")


def test_jax_conventions_are_declared_with_the_kink_they_concern():
    rows = [op for op in OPS.values() if op.jax_partials]
    assert [op.name for op in rows] == ["abs", "atan2", "hypot", "clamp", "std"]
    for op in rows:
        assert op.kink is not None and len(op.jax_partials) == op.arity and "JAX" in op.jax_convention


# -- the training loop -------------------------------------------------------------------
@pytest.fixture
def lecture_csv(tmp_path):
    path = tmp_path / "lecture.csv"
    path.write_text("x,y\n1,2\n2,4\n3,6\n")
    return str(path)


@pytest.mark.slow
@pytest.mark.parametrize("dtype, predicted", [("float64", "7.9999999999996945"),
                                              ("float32", "7.999998569488525")])
def test_loop_prints_exactly_what_bp_train_traces(bp, tmp_path, lecture_csv, dtype, predicted):
    text = exported(bp, "--loop", "linear", lecture_csv, "--predict", "4", "--dtype", dtype)
    assert imports_of(text) == {"torch"}
    assert "w.data = w.data - 0.01 * w.grad.data" in text and "w.grad.data.zero_()" in text
    done = run_script(text, tmp_path)
    assert done.returncode == 0, done.stdout[-300:] + done.stderr
    trace = bp("train", "linear", lecture_csv, "--predict", "4", "--trace", "--dtype", dtype)
    assert done.stdout == trace.stdout + "ok\n"
    assert done.stdout.splitlines()[-2] == f"predict (after training) 4 {predicted}"


@pytest.mark.slow
def test_loop_with_several_features_a_formula_model_and_its_own_loss(bp, tmp_path):
    data = tmp_path / "d.csv"
    data.write_text("a1,a2,t\n0.5,-1,0.2\n-1.2,0.3,-0.4\n0.8,0.9,1.1\n-0.3,-0.6,-0.5\n")
    text = exported(bp, "--loop", "c*tanh(w*a1 + b) + v*a2", str(data), "--target", "t",
                    "--loss", "abs(yhat - y)", "--epochs", "30", "--lr", "0.05", "--init", "c=0.5",
                    "--predict", "a1=0.1,a2=0.2")
    done = run_script(text, tmp_path)
    assert (done.returncode, done.stdout.splitlines()[-1]) == (0, "ok"), done.stderr


def test_loop_refuses_jax_and_missing_data(bp, lecture_csv):
    assert bp("export", "--loop", "--jax", "linear", lecture_csv).exit_code == 2
    r = bp("export", "--loop", "linear")
    assert r.exit_code == 2 and "--loop takes MODEL DATA" in r.stderr


@pytest.mark.slow
@pytest.mark.parametrize("batch", ["2", "all"])
def test_loop_with_mini_batches_reaches_bp_trains_parameters(bp, tmp_path, batch):
    data = tmp_path / "d.csv"
    data.write_text("x,y\n0.5,0.2\n-1.2,-0.4\n0.8,1.1\n-0.3,-0.5\n1.5,0.9\n")
    args = ["c*tanh(w*x + b)", str(data), "--epochs", "40", "--lr", "0.1", "--batch-size", batch]
    text = exported(bp, "--loop", *args)
    assert "losses.mean().backward()" in text
    done = run_script(text, tmp_path)
    # The script checks the parameters it reached against bp train's, embedded exactly.
    assert (done.returncode, done.stdout.splitlines()[-1]) == (0, "ok"), done.stdout[-300:] + done.stderr
    trained = json.loads(bp("train", *args, "--json").stdout)["params"]
    assert 'expected = {"c": %r, "w": %r, "b": %r}' % (trained["c"], trained["w"], trained["b"]) in text


# -- tensors ------------------------------------------------------------------------------
NETWORK = "h = tanh(W @ x + b); p = softmax(V @ h); loss = -log(p[y])"
NETWORK_VALUES = ["--W", "[[0.5,-0.2],[0.1,0.3],[0.7,0.2]]", "--x", "[1,2]", "--b", "[0.1,0.2,0.3]",
                  "--V", "[[1,0,1],[0,1,-1]]", "--y", "1"]
# Every tensor op of the table, with an axis, an index, a vector's transpose and a class label.
EVERY_TENSOR_OP = (NETWORK + " + mean(transpose(W)[0]) + sum(W, 1)[-1] + logsumexp(log_softmax(h))"
                   " + sum(transpose(x) * 2) + mean(W, 0) @ x")


def run_inline(text: str, allowed: str | None = None) -> str:
    """Run an exported PyTorch script in this process (torch is imported already): its output.
    A warning it raises (PyTorch's on reading a non-leaf's .grad, say) fails the test, unless
    its message matches `allowed`."""
    import contextlib
    import io
    import warnings

    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as done, warnings.catch_warnings():
        warnings.simplefilter("error")
        if allowed:
            warnings.filterwarnings("ignore", message=allowed)
        exec(compile(text, "exported.py", "exec"), {"__name__": "__main__"})
    return f"{done.value.code}: {out.getvalue()}"


@pytest.mark.slow
@pytest.mark.parametrize("library", ["torch", "jax"])
def test_a_network_with_every_tensor_op_is_exported_and_agrees(bp, tmp_path, library):
    pytest.importorskip(library, reason=f"the {library} export is checked by running it")
    text = exported(bp, EVERY_TENSOR_OP, *NETWORK_VALUES, f"--{library}")
    assert imports_of(text) == {library}
    ops = {"torch": ["W @ x", "torch.softmax(n7, dim=-1)", "p[y.long()]", "torch.sum(W, dim=1)",
                     "torch.transpose(W, -2, -1)", "torch.t(x)", "torch.mean(n14)"],
           "jax": ["W @ x", "jax.nn.softmax(n7, axis=-1)", "p[y.astype(int)]", "jnp.sum(W, axis=1)",
                   "jnp.swapaxes(W, -2, -1)", "jnp.transpose(x)", "jnp.mean(n14)"]}[library]
    assert all(op in text for op in ops), [op for op in ops if op not in text]
    done = run_script(text, tmp_path)
    assert (done.returncode, done.stdout) == (0, "ok\n"), done.stderr[-2000:]


def test_a_tensor_script_tracks_leaves_retains_intermediates_and_embeds_arrays_exactly(bp):
    text = exported(bp, NETWORK, *NETWORK_VALUES)
    assert "W = torch.tensor([[0.5, -0.2], [0.1, 0.3], [0.7, 0.2]], dtype=DTYPE, requires_grad=True)  # n0: 3×2" in text
    assert "y = torch.tensor(1.0, dtype=DTYPE)  # n9: a class label" in text  # no gradient
    assert "h.retain_grad()" in text and "p.retain_grad()" in text and "loss.backward()" in text
    import numpy as np

    from bpcli import parse

    f = parse(NETWORK)
    point = {"W": np.array([[0.5, -0.2], [0.1, 0.3], [0.7, 0.2]]), "x": np.array([1.0, 2.0]),
             "b": np.array([0.1, 0.2, 0.3]), "V": np.array([[1.0, 0, 1], [0, 1, -1]]), "y": 1.0}
    r = f.grad(point)
    assert f"     {r.adjoints[0].tolist()!r})," in text  # ∂loss/∂W, every digit


def test_a_tensor_script_names_the_entry_that_differs(bp):
    text = exported(bp, NETWORK, *NETWORK_VALUES)
    rows = text.split('("n0", "W", [3, 2],\n')[1].split("\n")
    changed = rows[1].replace("[[", "[[1.0 + ", 1)  # ∂loss/∂W[0, 0] off by one
    assert run_inline(text.replace(rows[1], changed)).startswith("1: differs: n0 (W): adjoint[0, 0] ")


def test_a_tensor_script_is_bounded_with_the_flag_that_raises_it(bp):
    r = bp("export", "sum(A * A)", "--A", "[[1,2],[3,4]]", "--max-numbers", "10")
    assert r.exit_code == 2 and r.stdout == ""
    assert "embed 18 numbers" in r.stderr and "--max-numbers" in r.stderr
    assert bp("export", "sum(A * A)", "--A", "[[1,2],[3,4]]", "--max-numbers", "18").exit_code == 0


def test_a_tensor_output_is_refused_with_the_way_out(bp):
    r = bp("export", "W @ x", "--W", "[[1,2],[3,4]]", "--x", "[1,1]")
    assert r.exit_code == 2 and "use sum(W @ x)" in r.stderr


def _random_point(names, seed):
    import numpy as np
    from tensor_strategies import SHAPES

    rng = np.random.default_rng(seed)
    return {n: rng.uniform(-1.5, 1.5, SHAPES[n]) for n in names}


@settings(max_examples=25)
@given(tensor_formulas(), st.integers(0, 2**32 - 1))
def test_random_tensor_formulas_exported_to_pytorch_agree(expr, seed):
    from bpcli import parse
    from bpcli.views.export import torch_script

    f = parse(expr.text)
    point = _random_point(f.inputs, seed)
    assert run_inline(torch_script(f.grad(point), point)) == "0: ok\n", expr.text


@pytest.mark.slow
def test_random_tensor_formulas_exported_to_jax_agree():
    pytest.importorskip("jax", reason="the JAX export is checked by running it with jax")
    import os
    from pathlib import Path

    here = Path(__file__).parent
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(here.parent), str(here)])}
    done = subprocess.run([sys.executable, str(here / "jax_export_check.py"), "20"], capture_output=True,
                          text=True, timeout=600, cwd=here.parent, env=env)
    assert (done.returncode, done.stdout) == (0, "ok\n"), done.stderr[-3000:]


# -- the training loop with tensors ----------------------------------------------------------
@pytest.fixture
def regression_csv(tmp_path):
    import numpy as np

    rng = np.random.default_rng(1)
    X = rng.uniform(-1, 1, (24, 2))
    y = np.sin(2 * X[:, 0]) + X[:, 1] ** 2
    path = tmp_path / "reg.csv"
    path.write_text("a,b,y\n" + "".join(f"{p:.4f},{q:.4f},{t:.4f}\n" for (p, q), t in zip(X, y)))
    return str(path)


@pytest.fixture
def classes_csv(tmp_path):
    import numpy as np

    rng = np.random.default_rng(2)
    X = rng.uniform(-1, 1, (24, 2))
    names = np.array(["cat", "dog", "emu"])[(X[:, 0] + X[:, 1] > 0).astype(int) + (X[:, 0] > 0.5)]
    path = tmp_path / "cls.csv"
    path.write_text("a,b,kind\n" + "".join(f"{p:.4f},{q:.4f},{k}\n" for (p, q), k in zip(X, names)))
    return str(path)


@pytest.mark.slow
def test_loop_of_a_formula_with_tensor_parameters_reaches_bp_trains_parameters(bp, tmp_path, regression_csv):
    args = ["W2 @ tanh(W1 @ features + b1) + b2", regression_csv, "--param", "W1=6x2", "--param", "b1=6",
            "--param", "W2=6", "--lr", "0.05", "--epochs", "15"]
    text = exported(bp, "--loop", *args)
    assert imports_of(text) == {"torch"}
    assert "W1 = torch.tensor([[" in text and "requires_grad=True)  # 6×2" in text
    assert "W1.data = W1.data - 0.05 * W1.grad.data" in text and "W1.grad.data.zero_()" in text
    assert "for features, y in zip(features_data, y_data):" in text  # the lecture's loop, a row a step
    done = run_script(text, tmp_path)
    assert (done.returncode, done.stdout.splitlines()[-1]) == (0, "ok"), done.stdout[-500:] + done.stderr
    trained = json.loads(bp("train", *args, "--json").stdout)["params"]
    assert f'    "W1": {trained["W1"]!r},' in text  # what bp train reached, embedded exactly


@pytest.mark.parametrize("preset, extra", [
    ("mlp", ["--hidden", "5", "--batch-size", "8"]),
    ("mlp", ["--hidden", "5", "--dtype", "float32"]),
    ("softmax", ["--hidden", "4", "--activation", "relu", "--batch-size", "all", "--init-scheme", "xavier",
                 "--seed", "3"]),
])
def test_loop_of_a_network_preset_reaches_bp_trains_parameters(bp, regression_csv, classes_csv, preset, extra):
    data = classes_csv if preset == "softmax" else regression_csv
    text = exported(bp, "--loop", preset, data, "--lr", "0.1", "--epochs", "10", *extra)
    if "--batch-size" in extra:
        assert "torch.func.vmap(row_loss)" in text and "losses.mean().backward()" in text
    if preset == "softmax":
        assert "class indices: 0 = cat, 1 = dog, 2 = emu" in text and "[y.long()]" in text
    assert run_inline(text).endswith("ok\n")


def test_loop_with_tensors_names_the_parameter_entry_that_differs(bp, regression_csv):
    text = exported(bp, "--loop", "mlp", regression_csv, "--hidden", "3", "--epochs", "5", "--optimizer", "sgd")
    result = run_inline(text.replace(" - 0.01 * W1.grad.data", " - 0.02 * W1.grad.data"))
    assert result.startswith("1: ") and "differs: W1[0, 0] " in result


def test_loop_with_tensors_refuses_predict(bp, regression_csv):
    r = bp("export", "--loop", "mlp", regression_csv, "--predict", "a=1,b=2")
    assert r.exit_code == 2 and "--predict is exported for models of number parameters" in r.stderr


# -- the training options that change the maths, as bp train takes them --------------------------
XOR = os.path.join(os.path.dirname(__file__), os.pardir, "examples", "xor.csv")


@pytest.mark.parametrize("preset, extra", [
    ("mlp", ["--hidden", "4", "--activation", "tanh", "--optimizer", "adam", "--lr", "0.05", "--epochs", "400",
             "--batch-size", "all"]),
    ("mlp", ["--hidden", "3", "--activation", "relu", "--optimizer", "momentum", "--init-scheme", "xavier",
             "--seed", "2", "--epochs", "20"]),
])
def test_loop_takes_the_optimizer_and_network_options_of_bp_train_and_reaches_its_numbers(bp, preset, extra):
    r = bp("export", "--loop", preset, XOR, *extra)
    assert (r.exit_code, r.stderr) == (0, "")
    made = {"adam": "torch.optim.Adam([W1, b1, W2, b2], lr=0.05)",
            "momentum": "torch.optim.SGD([W1, b1, W2, b2], lr=0.01, momentum=0.9)"}
    made = made[extra[extra.index("--optimizer") + 1]]
    assert f"optimizer = {made}" in r.stdout and "        optimizer.step()\n" in r.stdout
    trained = json.loads(bp("train", preset, XOR, *extra, "--json").stdout)["params"]
    assert f'    "W1": {trained["W1"]!r},' in r.stdout  # what bp train reached, embedded exactly
    result = run_inline(r.stdout)
    assert result.startswith("0: ") and result.endswith("ok\n")


def test_loop_of_number_parameters_with_adam_reaches_bp_trains_parameters(bp, tmp_path, lecture_csv):
    r = bp("export", "--loop", "affine", lecture_csv, "--optimizer", "adam", "--lr", "0.1", "--epochs", "30")
    assert (r.exit_code, r.stderr) == (0, "")
    assert "optimizer = torch.optim.Adam([w, b], lr=0.1)  # bp train --optimizer adam" in r.stdout
    done = run_script(r.stdout, tmp_path)
    assert (done.returncode, done.stdout.splitlines()[-1], done.stderr) == (0, "ok", "")
    # Without the optimizer (the lecture's update) the script's numbers are not bp train's.
    sgd = r.stdout.replace("optimizer.step()", "[p.data.sub_(0.1 * p.grad.data) for p in (w, b)]")
    assert run_script(sgd, tmp_path).returncode == 1


def test_loop_refuses_shuffle_in_words_not_as_a_stray_argument(bp, lecture_csv):
    r = bp("export", "--loop", "linear", lecture_csv, "--shuffle")
    assert (r.exit_code, r.stdout) == (2, "")
    assert r.stderr == "bp: usage error: --loop goes through the rows in file order: --shuffle is not exported\n"
