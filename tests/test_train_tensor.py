"""bp train with tensors: networks over the row's feature vector, shaped parameters,
optimizers and accuracy, checked against PyTorch and against row-by-row gradients."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from bpcli.cli import app
from bpcli.data.files import read_csv
from bpcli.errors import UsageError
from bpcli.training.loop import NetOptions, Settings, Trainer, build_model, choose_target
from bpcli.training.nets import mlp_program

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
XOR, MOONS = str(EXAMPLES / "xor.csv"), str(EXAMPLES / "moons.csv")


def run_cli(*args):
    return CliRunner().invoke(app, list(args))


def trainer(model: str, path: str, settings: Settings, net: NetOptions | None = None, loss=None):
    table = read_csv(path)
    target = choose_target(table.columns, None, table.source)
    spec = build_model(model, table.columns, target, table.source, loss, net, table.data[target])
    return Trainer(spec, table, settings)


def test_a_two_layer_network_without_activation_cannot_fit_xor_and_with_tanh_it_does():
    settings = dict(lr=0.05, epochs=400, batch_size=None, optimizer="adam")
    linear = trainer("mlp", XOR, Settings(**settings), NetOptions([4], "none")).run()
    tanh = trainer("mlp", XOR, Settings(**settings), NetOptions([4], "tanh")).run()
    assert linear.epochs[-1].loss > 0.69  # ln 2: the best an affine map can do on XOR
    assert linear.epochs[-1].accuracy <= 0.75
    assert tanh.epochs[-1].accuracy == 1.0
    assert tanh.epochs[-1].loss < 0.01


@pytest.mark.parametrize("seed", range(5))
def test_an_mlp_separates_two_moons_for_every_seed(seed):
    settings = Settings(lr=0.01, epochs=500, batch_size=None, optimizer="adam", seed=seed)
    run = trainer("mlp", MOONS, settings, NetOptions([16, 16], "tanh")).run()
    assert run.epochs[-1].accuracy >= 0.97


def test_a_full_batch_gradient_is_the_mean_of_the_rows_gradients():
    t = trainer("mlp", MOONS, Settings(batch_size=None), NetOptions([5], "tanh"))
    loss, grads, _, _ = t._tensor_step(slice(None))
    rows = []
    for r in range(t.rows):
        point = {n: col[r] for n, col in t.columns.items()} | t.params
        rows.append(t.f.grad(point).gradient)
    for p in t.params:
        expected = np.mean([g[p] for g in rows], axis=0)
        np.testing.assert_allclose(grads[p], expected, rtol=1e-12, atol=1e-15)
    assert loss.shape == (t.rows,)


def test_chunks_of_a_batch_sum_to_the_whole(monkeypatch):
    import bpcli.training.loop as train

    whole = trainer("mlp", MOONS, Settings(batch_size=None), NetOptions([3], "tanh"))
    _, expected, _, _ = whole._tensor_step(slice(None))
    monkeypatch.setattr(train, "CHUNK", 7)
    _, chunked, _, _ = whole._tensor_step(slice(None))
    for p in expected:
        np.testing.assert_allclose(chunked[p], expected[p], rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam"])
def test_training_an_mlp_follows_pytorch_step_for_step(optimizer):
    torch = pytest.importorskip("torch")
    settings = Settings(lr=0.05, epochs=20, batch_size=None, optimizer=optimizer, seed=3)
    t = trainer("mlp", MOONS, settings, NetOptions([6, 5], "tanh"))
    start = {p: torch.tensor(np.array(v), dtype=torch.float64, requires_grad=True) for p, v in t.params.items()}
    run = t.run()
    x = torch.tensor(t.columns["features"])
    y = torch.tensor(t.columns["y"])
    params = list(start.values())
    make = {"sgd": lambda: torch.optim.SGD(params, lr=0.05),
            "momentum": lambda: torch.optim.SGD(params, lr=0.05, momentum=0.9),
            "adam": lambda: torch.optim.Adam(params, lr=0.05)}[optimizer]
    opt = make()
    for _ in range(20):
        opt.zero_grad()
        h1 = torch.tanh(x @ start["W1"].T + start["b1"])
        h2 = torch.tanh(h1 @ start["W2"].T + start["b2"])
        yhat = torch.sigmoid(h2 @ start["W3"] + start["b3"])
        loss = torch.nn.functional.binary_cross_entropy(yhat, y)
        loss.backward()
        opt.step()
    for p, v in start.items():
        np.testing.assert_allclose(np.array(run.params[p]), v.detach().numpy(), rtol=1e-9, atol=1e-12)


def test_softmax_classifies_with_cross_entropy_as_pytorch_does():
    torch = pytest.importorskip("torch")
    t = trainer("softmax", MOONS, Settings(lr=0.1, epochs=5, batch_size=None))
    start = {p: torch.tensor(np.array(v), dtype=torch.float64, requires_grad=True) for p, v in t.params.items()}
    run = t.run()
    x, y = torch.tensor(t.columns["features"]), torch.tensor(t.columns["y"]).long()
    opt = torch.optim.SGD(list(start.values()), lr=0.1)
    for _ in range(5):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(x @ start["W1"].T + start["b1"], y).backward()
        opt.step()
    for p, v in start.items():
        np.testing.assert_allclose(np.array(run.params[p]), v.detach().numpy(), rtol=1e-10, atol=1e-13)


def test_the_mlp_program_is_an_ordinary_bp_program():
    assert mlp_program([16, 16], "tanh", "sigmoid") == (
        "h1 = tanh(W1 @ features + b1)\nh2 = tanh(W2 @ h1 + b2)\nsigmoid(W3 @ h2 + b3)")


def test_a_custom_formula_over_the_feature_vector_with_a_shaped_parameter(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 3))
    y = x @ np.array([1.0, -2.0, 0.5]) + 0.25
    data = tmp_path / "lin.csv"
    rows = "".join(f"{r[0]!r},{r[1]!r},{r[2]!r},{t!r}\n" for r, t in zip(x.tolist(), y.tolist()))
    data.write_text("x1,x2,x3,y\n" + rows)
    r = run_cli("train", "w @ features + b", str(data), "--param", "w=3", "--batch-size", "all",
                "--lr", "0.3", "--epochs", "300", "--json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    np.testing.assert_allclose(doc["params"]["w"], [1.0, -2.0, 0.5], atol=1e-6)
    assert doc["params"]["b"] == pytest.approx(0.25, abs=1e-6)
    assert doc["settings"]["shapes"] == {"w": [3]}


def test_features_picks_and_orders_the_vector_columns(tmp_path):
    data = tmp_path / "d.csv"
    data.write_text("a,b,y\n1,10,1\n2,20,2\n3,30,3\n")
    r = run_cli("train", "w @ features", str(data), "--param", "w=1", "--features", "a",
                "--batch-size", "all", "--lr", "0.1", "--epochs", "200", "--json", "--predict", "4")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["data"]["features"] == ["a"]
    assert doc["predictions"][0]["yhat"] == pytest.approx(4.0, rel=1e-6)


def test_the_cli_reports_accuracy_classes_and_nested_parameters():
    r = run_cli("train", "softmax", XOR, "--hidden", "8", "--optimizer", "adam", "--lr", "0.05",
                "--epochs", "200", "--batch-size", "all", "--predict", "1,0", "--json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["classes"] == [0, 1]
    assert len(doc["accuracy"]) == 200 and doc["final_accuracy"] == 1.0
    assert np.shape(doc["params"]["W1"]) == (8, 2) and np.shape(doc["params"]["W2"]) == (2, 8)
    [p] = doc["predictions"]
    assert (p["a"], p["b"], p["yhat"], list(p["probabilities"])) == (1.0, 0.0, 1.0, ["0", "1"])
    assert p["probabilities"]["1"] > 0.99


def test_the_trained_network_reads_back_into_bp_grad(tmp_path):
    r = run_cli("train", "mlp", XOR, "--hidden", "4", "--optimizer", "adam", "--lr", "0.05",
                "--epochs", "300", "--batch-size", "all", "--json")
    saved = tmp_path / "net.json"
    saved.write_text(r.stdout)
    g = run_cli("grad", "h1 = tanh(W1 @ features + b1); sigmoid(W2 @ h1 + b2)", "--values", str(saved),
                "--features", "[1,0]", "--no-check", "--json")
    # A tensor output would be refused; the network's output is a scalar probability.
    assert g.exit_code == 0, g.output
    assert json.loads(g.stdout)["value"] > 0.9


def test_the_table_shows_accuracy_and_tensor_parameters_by_shape():
    r = run_cli("train", "mlp", XOR, "--hidden", "3", "--epochs", "3", "--batch-size", "all")
    assert r.exit_code == 0, r.output
    assert "accuracy" in r.stdout and "3×2" in r.stdout and "W1" in r.stdout


@pytest.mark.parametrize("args, message", [
    (["--param", "nope=3"], "--param names no parameter of the model: nope"),
    (["--param", "W1=3by2"], "a shape is sizes joined by x"),
    (["--activation", "gelu"], "--activation must be one of tanh, relu, sigmoid, none"),
    (["--optimizer", "rmsprop"], "--optimizer must be one of sgd, momentum, adam"),
    (["--init-scheme", "he"], "--init-scheme must be one of"),
    (["--hidden", "16,x"], "--hidden takes layer sizes"),
    (["--predict", "1,2,3"], "3 numbers for 2 features (a, b)"),
])
def test_bad_network_options_are_usage_errors(args, message):
    r = run_cli("train", "mlp", XOR, "--epochs", "1", *args)
    assert r.exit_code == 2
    assert message in r.stderr
    assert r.stdout == ""


def test_init_schemes_are_seeded_and_scaled_by_fan_in():
    from bpcli.training.nets import initial

    a = initial((16, 4), "uniform", np.random.default_rng(1), "float64")
    b = initial((16, 4), "uniform", np.random.default_rng(1), "float64")
    assert (a == b).all() and np.abs(a).max() <= 0.5  # 1/sqrt(4)
    assert not initial((3, 3), "zeros", np.random.default_rng(0), "float64").any()
    x = initial((400, 100), "xavier", np.random.default_rng(0), "float64")
    assert np.abs(x).max() <= np.sqrt(6 / 500)


def test_the_optimizers_match_torch_optim_on_a_quadratic():
    torch = pytest.importorskip("torch")
    from bpcli.training.optim import make

    for name, ctor in [("momentum", lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9)),
                       ("adam", lambda p: torch.optim.Adam(p, lr=0.1))]:
        w = torch.tensor([3.0, -2.0], dtype=torch.float64, requires_grad=True)
        opt, mine, params = ctor([w]), make(name, 0.1), {"w": np.array([3.0, -2.0])}
        for _ in range(30):
            opt.zero_grad()
            (w * w).sum().backward()
            opt.step()
            params = mine.step(params, {"w": 2 * params["w"]})
        np.testing.assert_allclose(params["w"], w.detach().numpy(), rtol=1e-12, atol=1e-15)


def test_the_lecture_still_trains_as_it_did(tmp_path):
    data = tmp_path / "lecture.csv"
    data.write_text("x,y\n1,2\n2,4\n3,6\n")
    r = run_cli("train", "linear", str(data), "--predict", "4", "--json")
    assert json.loads(r.stdout)["predictions"][0]["yhat"] == 7.9999999999996945
    assert "accuracy" not in json.loads(r.stdout)


def test_a_shape_with_a_zero_is_refused():
    from bpcli.training.nets import parse_shape

    with pytest.raises(UsageError):
        parse_shape("0x2", "--param W")


def test_the_report_of_a_network_has_its_boundary_accuracy_and_tensor_parameters():
    from bpcli.views.web.report import report_data

    t = trainer("mlp", MOONS, Settings(lr=0.05, epochs=30, batch_size=None, optimizer="adam"),
                NetOptions([6], "tanh"))
    run = t.run()
    data = report_data(run, read_csv(MOONS), t.settings)
    assert data["classifier"] is True
    assert data["accuracy"][-1][0] == 29 and data["accuracy"][-1][1] >= 0.8
    assert data["fit"]["kind"] == "boundary" and len(data["fit"]["p"]) == 60 * 60
    assert np.shape(data["params"]["W1"]) == (6, 2)
    assert data["init"]["W1"] == "uniform 6×2" and data["init"]["b2"] == 0.0


ANIMALS = "a,b,y\n0,0,cat\n0,1,cat\n5,5,dog\n5,6,dog\n9,0,bird\n9,1,bird\n"


def test_softmax_takes_text_class_labels_in_sorted_order_and_predicts_a_label(tmp_path):
    data = tmp_path / "animals.csv"
    data.write_text(ANIMALS)
    r = run_cli("train", "softmax", str(data), "--hidden", "8", "--optimizer", "adam", "--lr", "0.05",
                "--epochs", "300", "--batch-size", "all", "--predict", "5,5", "--predict", "9,0", "--json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["classes"] == ["bird", "cat", "dog"]
    assert doc["final_accuracy"] == 1.0
    assert [p["yhat"] for p in doc["predictions"]] == ["dog", "bird"]
    text = run_cli("train", "softmax", str(data), "--epochs", "2", "--batch-size", "all", "--predict", "0,0")
    assert text.exit_code == 0 and text.stderr == ""
    assert "Classes (sorted)" in text.stdout
    classes = text.stdout[text.stdout.index("Classes (sorted)"):]
    assert [line.split("│")[1:3] for line in classes.splitlines() if line.startswith("│")][:3] == [
        ["     0 ", " bird  "], ["     1 ", " cat   "], ["     2 ", " dog   "]]


def test_integer_class_labels_are_classes_of_softmax_named_as_written(tmp_path):
    data = tmp_path / "ints.csv"
    data.write_text("a,y\n0,7\n1,7\n5,3\n6,3\n")
    r = run_cli("train", "softmax", str(data), "--lr", "0.5", "--epochs", "200", "--batch-size", "all",
                "--predict", "6", "--json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["classes"] == [3, 7]
    [p] = doc["predictions"]
    assert (p["a"], p["yhat"], list(p["probabilities"])) == (6.0, 3, ["3", "7"])  # each class's, as written
    assert p["probabilities"]["3"] > 0.5 and p["probabilities"]["3"] + p["probabilities"]["7"] == pytest.approx(1)


def test_mlp_takes_two_text_labels_as_a_binary_target_and_names_the_predicted_class(tmp_path):
    data = tmp_path / "yn.csv"
    data.write_text("a,b,y\n" + "".join(f"{a},{b},{'yes' if a != b else 'no'}\n" for a in (0, 1) for b in (0, 1)))
    r = run_cli("train", "mlp", str(data), "--hidden", "4", "--optimizer", "adam", "--lr", "0.05",
                "--epochs", "400", "--batch-size", "all", "--predict", "1,0", "--predict", "1,1", "--json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["classes"] == ["no", "yes"] and doc["final_accuracy"] == 1.0
    assert [p["class"] for p in doc["predictions"]] == ["yes", "no"]
    assert doc["predictions"][0]["yhat"] > 0.5 > doc["predictions"][1]["yhat"]
    table = run_cli("train", "mlp", str(data), "--hidden", "4", "--epochs", "2", "--batch-size", "all",
                    "--predict", "1,0")
    assert table.exit_code == 0 and "class" in table.stdout and "Classes (sorted)" in table.stdout


def test_a_text_target_gets_the_mapping_in_the_report_and_the_training_row_by_row(tmp_path):
    data = tmp_path / "animals.csv"
    data.write_text(ANIMALS)
    page = tmp_path / "r.html"
    r = run_cli("train", "softmax", str(data), "--epochs", "3", "--report", str(page))
    assert r.exit_code == 0, r.output
    assert page.exists()


@pytest.mark.parametrize("model, args, message, hint", [
    ("mlp", [], "the target y holds 3 class labels (bird, cat, dog); mlp's sigmoid output tells two apart",
     "softmax --hidden 16,16"),
    ("linear", [], "row 1 (line 2), column y is not a number: 'cat'",
     "class labels such as 'cat' need a classifier: bp train softmax, or mlp for two classes"),
])
def test_text_labels_outside_a_classifier_are_refused_with_what_to_use(tmp_path, model, args, message, hint):
    data = tmp_path / "animals.csv"
    data.write_text(ANIMALS)
    r = run_cli("train", model, str(data), "--epochs", "1", *args)
    assert r.exit_code == 2 and r.stdout == ""
    assert message in r.stderr and hint in r.stderr


@pytest.mark.parametrize("model, args, hint", [
    ("softmax", [], "the column color holds text, not numbers: leave it out with --features a,b, "
                    "or make it the target with --target color"),
    ("linear", [], "leave it out with --features a,b"),
    ("w*color + v*a", [], "write the model without it, or make it the target with --target color"),
])
def test_a_text_feature_column_is_named_with_the_column_to_drop_or_target(tmp_path, model, args, hint):
    data = tmp_path / "c.csv"
    data.write_text("a,b,color,y\n1,2,red,0\n2,1,blue,1\n")
    page, plot = tmp_path / "r.html", tmp_path / "loss.png"
    r = run_cli("train", model, str(data), "--report", str(page), "--plot", str(plot), *args)
    assert r.exit_code == 2 and r.stdout == ""
    assert "row 1 (line 2), column color is not a number: 'red'" in r.stderr
    assert hint in r.stderr
    assert not page.exists() and not plot.exists()


def test_the_suggested_features_train_on_the_numeric_columns(tmp_path):
    data = tmp_path / "c.csv"
    data.write_text("a,b,color,y\n1,2,red,3\n2,1,blue,3\n")
    r = run_cli("train", "linear", str(data), "--features", "a,b", "--epochs", "1", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["data"]["features"] == ["a", "b"]


def test_a_lean_step_gives_the_gradients_and_values_of_the_full_pass():
    from bpcli.engine.numeric import ArrayMath
    from bpcli.engine.tensor import step

    t = trainer("softmax", MOONS, Settings(batch_size=None), NetOptions([5], "relu"))
    point = {n: col[:40] for n, col in t.columns.items()} | t.params
    full = t.f.grad(point, t.m, batched=t.data, wrt=t.wrt)
    kept, grads = step(t.f, point, ArrayMath("float64"), t.data, t.wrt, [t.f.output, t.yhat])
    np.testing.assert_array_equal(kept[t.f.output], full.values[t.f.output])
    np.testing.assert_array_equal(kept[t.yhat], full.values[t.yhat])
    assert list(grads) == list(t.wrt)
    for p in t.wrt:
        np.testing.assert_allclose(grads[p], full.gradient[p], rtol=1e-13, atol=1e-15)


def test_training_holds_the_data_once_the_feature_vector_is_a_view_of_the_table():
    table = read_csv(MOONS)
    assert all(table.data[n].base is table.matrix for n in table.columns)
    t = trainer("mlp", MOONS, Settings(batch_size=None), NetOptions([3], "tanh"))
    assert t.columns["features"].base is t.columns["y"].base  # one matrix, read once
    np.testing.assert_array_equal(t.columns["features"], np.column_stack([table.data["x1"], table.data["x2"]]))


def test_a_table_read_in_small_blocks_mixing_number_and_text_labels_keeps_every_label(tmp_path, monkeypatch):
    import bpcli.data.files as data

    monkeypatch.setattr(data, "TABLE_ROWS", 2)
    path = tmp_path / "mixed.csv"
    path.write_text("a,y\n1,1\n2,2\n3,cat\n4,2.5\n5,1\n")
    csv = data.open_csv(str(path), data.Limit(0))
    table = csv.table(["a", "y"], labels="y")
    assert table.data["y"].tolist() == ["1", "2", "cat", "2.5", "1"]
    assert table.data["a"].tolist() == [1.0, 2.0, 3.0, 4.0, 5.0]


@pytest.mark.parametrize("given, expected", [(None, "1"), ("2", "2")])
def test_bp_runs_blas_on_one_thread_unless_told_otherwise(given, expected):
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    if given:
        env["OPENBLAS_NUM_THREADS"] = given
    script = ("import atexit, os, sys; "
              "atexit.register(lambda: print('threads', os.environ.get('OPENBLAS_NUM_THREADS')));"
              "sys.argv = ['bp', 'grad', 'x*2', '--x', '1', '--no-check', '--json']; "
              "from bpcli.cli import main; main()")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env,
                         cwd=Path(__file__).resolve().parent.parent, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[-1] == f"threads {expected}"


@pytest.mark.parametrize("args", [
    ["mlp", XOR, "--hidden", "2", "--batch-size", "1"],  # tensor parameters, the feature vector, a row a step
    ["w @ features", XOR, "--param", "w=2"],
    ["w*a + v*b", XOR, "--batch-size", "2"],  # number parameters, two rows a step
])
def test_trace_prints_a_grad_line_per_step_for_tensors_and_batches(bp, args):
    # It once ended in an internal error: a feature read from the vector, arrays taken for numbers.
    r = bp("train", *args, "--epochs", "1", "--trace")
    assert r.exit_code == 0, r.output
    grads = [line for line in r.stdout.splitlines() if line.startswith("\tgrad:")]
    assert len(grads) == (2 if "2" in args[-2:] else 4)
    if args[0] == "mlp":  # a b y, then ∂loss/∂W1 as a 2×2 list, …
        assert grads[0].startswith("\tgrad: 0.0 0.0 0.0 [[")
    if "2" in args[-2:]:  # a step's two rows as lists
        assert grads[0].startswith("\tgrad: [0.0, 0.0] [0.0, 1.0] [0.0, 1.0] ")


def test_softmax_predictions_show_each_class_probability_in_the_table_and_the_document(tmp_path):
    data = tmp_path / "animals.csv"
    data.write_text(ANIMALS)
    args = ["train", "softmax", str(data), "--hidden", "8", "--optimizer", "adam", "--lr", "0.05", "--epochs",
            "300", "--batch-size", "all", "--predict", "5,5", "--predict", "9,0", "--precision", "3"]
    r = run_cli(*args, "--json")
    assert (r.exit_code, r.stderr) == (0, "")
    doc = json.loads(r.stdout)
    for p, label in zip(doc["predictions"], ["dog", "bird"]):
        chances = p["probabilities"]
        assert list(chances) == ["bird", "cat", "dog"] and sum(chances.values()) == pytest.approx(1, abs=1e-12)
        assert max(chances, key=chances.get) == p["yhat"] == label
    r = run_cli(*args)
    assert (r.exit_code, r.stderr) == (0, "")
    table = r.stdout[r.stdout.index("Predictions"):].splitlines()
    assert [c.strip() for c in table[2].split("┃")[1:-1]] == ["a", "b", "yhat", "P(bird)", "P(cat)", "P(dog)"]
    first = [c.strip() for c in table[4].split("│")[1:-1]]
    chances = doc["predictions"][0]["probabilities"]  # the same run: the same numbers, in %, to 4 digits
    assert first[:3] == ["5.0", "5.0", "dog"] and all(c.endswith("%") for c in first[3:])
    assert [float(c[:-1]) / 100 for c in first[3:]] == [pytest.approx(chances[k], rel=1e-3) for k in chances]


def test_a_formula_trained_with_the_bce_loss_reports_its_accuracy(tmp_path):
    data = tmp_path / "c.csv"
    data.write_text("x,y\n-2,0\n-1,0\n1,1\n2,1\n")
    r = run_cli("train", "sigmoid(w*x + b)", str(data), "--loss", "bce", "--epochs", "20", "--lr", "0.5", "--json")
    assert (r.exit_code, r.stderr) == (0, "")
    doc = json.loads(r.stdout)
    assert doc["final_accuracy"] == 1.0 and len(doc["accuracy"]) == 20 and "classes" not in doc
    r = run_cli("train", "sigmoid(w*x + b)", str(data), "--loss", "bce", "--epochs", "20", "--lr", "0.5")
    assert (r.exit_code, r.stderr) == (0, "")
    assert "┃ accuracy ┃" in r.stdout and "│   100.0% │" in r.stdout
    r = run_cli("train", "w*x + b", str(data), "--epochs", "2", "--json")  # mse: a regression, no accuracy
    assert "accuracy" not in json.loads(r.stdout)


def test_the_progress_bar_rounds_its_speed(tmp_path, monkeypatch):
    from bpcli.cli.train import speed_text

    assert [speed_text(s) for s in (None, 1199.2400736171833, 12345.6, 2.4567, 0.01234)] == [
        "", "1,199 epochs/s", "12,346 epochs/s", "2.5 epochs/s", "0.012 epochs/s"]
    data = tmp_path / "d.csv"
    data.write_text("x,y\n1,2\n2,4\n")
    monkeypatch.setenv("FORCE_COLOR", "1")  # Rich draws the bar as on a terminal
    r = run_cli("train", "linear", str(data), "--epochs", "20000", "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["epochs_run"] == 20000
    import re

    speeds = re.findall(r"([0-9.,e+]+) epochs/s", r.stderr)
    assert speeds and all(re.fullmatch(r"[0-9]{1,3}(,[0-9]{3})*|[0-9]\.?[0-9]?", s) for s in speeds), speeds
