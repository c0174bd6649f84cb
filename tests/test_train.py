"""`bp train`: the lecture to the digit, every model and loss, and every bad input."""

import json

import pytest

LECTURE = "x,y\n1,2\n2,4\n3,6\n"


@pytest.fixture
def csv(tmp_path):
    """Write a CSV and return its path."""

    def write(text, name="data.csv", binary=False):
        p = tmp_path / name
        p.write_bytes(text if binary else text.encode())
        return str(p)

    return write


def doc_of(result):
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def test_lecture_float64_run_ends_with_the_known_weight_and_prediction(bp, csv):
    doc = doc_of(bp("train", "linear", csv(LECTURE), "--predict", "4", "--json"))
    assert doc["params"] == {"w": 1.9999999999999236}
    assert doc["predictions"] == [{"x": 4.0, "yhat": 7.9999999999996945}]
    assert len(doc["loss"]) == 100


def test_lecture_float32_run_matches_pytorch_digit_for_digit(bp, csv):
    doc = doc_of(bp("train", "linear", csv(LECTURE), "--predict", "4", "--dtype", "float32", "--json"))
    assert doc["predictions"][0]["yhat"] == 7.999998569488525


def test_trace_prints_the_lecture_lines(bp, csv):
    r = bp("train", "linear", csv(LECTURE), "--predict", "4", "--trace")
    assert r.exit_code == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "predict (before training) 4 4.0"
    assert lines[1] == "\tgrad: 1.0 2.0 -2.0"
    assert lines[2] == "\tgrad: 2.0 4.0 -7.84"
    assert lines[4] == "progress: 0 7.315943039999998"
    assert sum(line.startswith("progress:") for line in lines) == 100
    assert sum(line.startswith("\tgrad:") for line in lines) == 300
    assert lines[-1] == "predict (after training) 4 7.9999999999996945"


def test_trace_in_float32_prints_what_pytorch_prints(bp, csv):
    r = bp("train", "linear", csv(LECTURE), "--predict", "4", "--trace", "--dtype", "float32")
    lines = r.stdout.splitlines()
    assert lines[2] == "\tgrad: 2.0 4.0 -7.840000152587891"
    assert lines[-1] == "predict (after training) 4 7.999998569488525"


def test_people_output_has_epochs_parameters_predictions_and_a_curve(bp, csv):
    r = bp("train", "linear", csv(LECTURE), "--predict", "4")
    assert r.exit_code == 0 and r.stderr == ""
    for part in ("Training: 100 epochs", "Parameters", "Predictions", "│ w         │ scalar │   2.0 │",
                 "log10(mean loss) by epoch"):
        assert part in r.stdout
    assert "1.9999999999999236" in bp("train", "linear", csv(LECTURE), "--precision", "full").stdout
    assert "\x1b[" not in r.stdout


def test_cells_numpy_refuses_but_python_reads_train_like_plain_numbers(bp, csv):
    quoted = csv('x,y\n"1",2\n2, 4\n3,6_0e-1\n', "quoted.csv")
    doc, lecture = (doc_of(bp("train", "linear", path, "--json")) for path in (quoted, csv(LECTURE)))
    assert doc["data"]["rows"] == 3
    assert (doc["params"], doc["loss"]) == (lecture["params"], lecture["loss"])


def test_affine_model_fits_a_line(bp, csv):
    data = csv("x,y\n" + "".join(f"{x / 10},{3 * x / 10 + 1}\n" for x in range(10)))
    doc = doc_of(bp("train", "affine", data, "--lr", "0.1", "--epochs", "300", "--json"))
    assert doc["params"]["w"] == pytest.approx(3, abs=1e-3)
    assert doc["params"]["b"] == pytest.approx(1, abs=1e-3)
    assert doc["model"] == "w*x + b"


def test_several_features_get_one_weight_each(bp, csv):
    data = csv("area,age,price\n" + "".join(f"{a},{g},{2 * a - g + 0.5}\n"
                                             for a, g in [(1, 0), (0, 1), (1, 1), (2, 1), (0.5, 2)]))
    doc = doc_of(bp("train", "affine", data, "--target", "price", "--lr", "0.05", "--epochs", "2000",
                    "--predict", "area=1,age=1", "--json"))
    assert list(doc["params"]) == ["w_area", "w_age", "b"]
    assert doc["params"]["w_area"] == pytest.approx(2, abs=1e-6)
    assert doc["predictions"][0] == {"area": 1.0, "age": 1.0, "yhat": pytest.approx(1.5, abs=1e-6)}
    assert doc["data"]["target"] == "price" and doc["data"]["features"] == ["area", "age"]


def test_logistic_model_uses_binary_cross_entropy_and_separates(bp, csv):
    data = csv("score,admitted\n" + "".join(f"{s},{int(s > 0)}\n" for s in (-3, -2, -1, -0.5, 0.5, 1, 2, 3)))
    doc = doc_of(bp("train", "logistic", data, "--lr", "0.5", "--predict", "3", "--predict", "-3", "--json"))
    assert doc["loss"][-1] < doc["loss"][0] / 10
    assert doc["predictions"][0]["yhat"] > 0.9 and doc["predictions"][1]["yhat"] < 0.1
    # bce on the model's sigmoid: the stable logits form, as torch.nn.BCEWithLogitsLoss (#22 item 12)
    assert doc["loss_formula"] == "(1 - y)*z + softplus(-z)"
    assert doc["loss_note"].startswith("bce on the logit z of the model's last sigmoid")


def test_default_target_is_y_else_the_last_column(bp, csv):
    assert doc_of(bp("train", "linear", csv("y,x\n2,1\n4,2\n"), "--json"))["data"]["target"] == "y"
    assert doc_of(bp("train", "linear", csv("a,b\n1,2\n2,4\n"), "--json"))["data"]["target"] == "b"


def test_custom_formula_with_init_trains_the_free_names(bp, csv):
    data = csv("x,y\n" + "".join(f"{x / 4},{(x / 4) ** 2 - x / 4 + 2}\n" for x in range(-4, 5)))
    doc = doc_of(bp("train", "a*x^2 + c*x + d", data, "--init", "a=0", "--lr", "0.1", "--epochs", "500", "--json"))
    assert list(doc["params"]) == ["a", "c", "d"]
    assert doc["settings"]["init"] == {"a": 0.0}
    assert doc["params"]["a"] == pytest.approx(1, abs=1e-3)
    assert doc["params"]["c"] == pytest.approx(-1, abs=1e-3)


def test_custom_loss_formula(bp, csv):
    doc = doc_of(bp("train", "linear", csv(LECTURE), "--loss", "abs(yhat - y)", "--json"))
    assert doc["params"]["w"] == pytest.approx(2, abs=0.05)


def test_model_program_from_a_file(bp, csv, tmp_path):
    program = tmp_path / "model.bp"
    program.write_text("# the lecture's model\nyhat = x * w\n")
    doc = doc_of(bp("train", "-f", str(program), csv(LECTURE), "--json"))
    assert doc["params"]["w"] == 1.9999999999999236


def test_full_batch_step_is_the_mean_gradient(bp, csv):
    doc = doc_of(bp("train", "linear", csv(LECTURE), "--batch-size", "all", "--epochs", "1", "--json"))
    xs, ys, w = [1, 2, 3], [2, 4, 6], 1.0
    grad = sum(2 * (w * x - y) * x for x, y in zip(xs, ys)) / 3
    assert doc["params"]["w"] == pytest.approx(w - 0.01 * grad, rel=1e-15)
    assert doc["loss"] == [pytest.approx(sum((w * x - y) ** 2 for x, y in zip(xs, ys)) / 3)]


def test_mini_batches_of_two(bp, csv):
    doc = doc_of(bp("train", "linear", csv(LECTURE), "--batch-size", "2", "--epochs", "1", "--json"))
    w = 1.0
    w -= 0.01 * ((2 * (w - 2) * 1 + 2 * (2 * w - 4) * 2) / 2)
    w -= 0.01 * (2 * (3 * w - 6) * 3)
    assert doc["params"]["w"] == pytest.approx(w, rel=1e-15)


def test_shuffle_is_reproducible_with_a_seed(bp, csv):
    data = csv("x,y\n" + "".join(f"{x / 4},{x * x % 5}\n" for x in range(1, 9)))  # no exact fit
    a = doc_of(bp("train", "linear", data, "--shuffle", "--seed", "3", "--epochs", "2", "--json"))
    b = doc_of(bp("train", "linear", data, "--shuffle", "--seed", "3", "--epochs", "2", "--json"))
    c = doc_of(bp("train", "linear", data, "--epochs", "2", "--json"))
    assert a["params"] == b["params"] != c["params"]


def test_jsonl_has_one_line_per_epoch_then_a_summary(bp, csv):
    r = bp("train", "linear", csv(LECTURE), "--epochs", "5", "--jsonl")
    lines = [json.loads(line) for line in r.stdout.splitlines()]
    assert [line["type"] for line in lines] == ["epoch"] * 5 + ["summary"]
    assert [line["epoch"] for line in lines[:5]] == [0, 1, 2, 3, 4]
    assert lines[-1]["params"] == lines[4]["params"]


def test_train_json_pipes_into_bp_grad(bp, csv):
    trained = bp("train", "linear", csv(LECTURE), "--json").stdout
    r = bp("grad", "(x*w-y)^2", "--values", "-", "--x", "4", "--y", "8", "--json", input=trained)
    doc = doc_of(r)
    assert doc["inputs"]["w"] == 1.9999999999999236
    assert doc["value"] == pytest.approx(0, abs=1e-20)


def test_data_from_stdin_with_bom_and_crlf(bp):
    r = bp("train", "linear", "-", "--json", input="\ufeffx,y\r\n1,2\r\n2,4\r\n3,6\r\n")
    assert doc_of(r)["params"]["w"] == 1.9999999999999236


def test_plot_writes_svg(bp, csv, tmp_path):
    pytest.importorskip("matplotlib")
    out = tmp_path / "loss.svg"
    r = bp("train", "linear", csv(LECTURE), "--epochs", "10", "--plot", str(out))
    assert r.exit_code == 0, r.stderr
    assert out.read_text().lstrip().startswith("<?xml")


def test_divergence_stops_with_exit_4_and_last_finite_parameters(bp, csv):
    r = bp("train", "linear", csv(LECTURE), "--lr", "10")
    assert r.exit_code == 4
    assert "training diverged in epoch" in r.stderr and "last finite parameters: w =" in r.stderr
    assert "--lr 1" in r.stderr


def test_ctrl_c_prints_the_parameters_reached_and_exits_130(bp, csv, monkeypatch):
    from bpcli.training.loop import Trainer

    real = Trainer._epoch

    def interrupted(self, epoch, on_step):
        if epoch == 3:
            raise KeyboardInterrupt
        return real(self, epoch, on_step)

    monkeypatch.setattr(Trainer, "_epoch", interrupted)
    r = bp("train", "linear", csv(LECTURE))
    assert r.exit_code == 130
    assert "interrupted after 3 epochs; parameters reached: w = " in r.stderr
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize("content, args, fragment", [
    (None, ["/nonexistent/data.csv"], "no such data file"),
    ("", [], "the file is empty"),
    ("x,y\n", [], "the header has no rows below it"),
    ("x,y\n1,2\n2,abc\n", [], "row 2 (line 3), column y is not a number: 'abc'"),
    ("x,y\n1,2\n2,\n", [], "row 2 (line 3), column y: the cell is empty"),
    ("x,y\n1,2\n2\n", [], "row 2 (line 3) has 1 cells, the header has 2"),
    ("x,y\n1,nan\n", [], "row 1 (line 2), column y: the cell is missing ('nan')"),
    ("x,y\n1,inf\n", [], "row 1 (line 2), column y must be a finite number, got 'inf'"),
    ("x,y\n1,2\n", ["--target", "z"], "no target column z"),
    (b"\x89PNG\r\n\x1a\n\x00\x00", [], "not a text file"),
    (b"x,y\n1,\xff\n", [], "not UTF-8 text"),
    ("x,x\n1,2\n", [], "appears twice"),
    ("a,y\n1,2\n", ["--model", "w*z"], "uses no column"),
    ("x,w,y\n1,2,3\n", ["--model", "x*w"], "no parameter to train"),
    ("x,y\n1,2\n", ["--epochs", "-1"], "--epochs"),
    ("x,y\n1,2\n", ["--lr", "fast"], "--lr"),
    ("x,y\n1,2\n", ["--lr", "-0.1"], "--lr must be a positive number"),
    ("x,y\n1,2\n", ["--model", "linaer"], "unknown model linaer (did you mean linear?)"),
    ("x,y\n1,2\n", ["--batch-size", "0"], "--batch-size must be"),
    ("x,y\n1,2\n", ["--dtype", "float16"], "--dtype must be"),
    ("x,y\n1,2\n", ["--init", "v=2"], "--init names no parameter: v"),
    ("x,y\n1,2\n", ["--predict", "x=1,z=2"], "z is not a feature"),
    ("x,y\n1,2\n", ["--json", "--trace"], "choose one"),
    ("x,y\n1,2\n", ["--loss", "abs(yhat - t)"], "the loss may use only yhat and y"),
])
def test_bad_input_is_an_error_naming_where(bp, csv, tmp_path, content, args, fragment):
    args = list(args)
    model = "linear"
    if "--model" in args:
        i = args.index("--model")
        model = args[i + 1]
        del args[i:i + 2]
    if content is None:
        path = args.pop(0)
    else:
        path = csv(content, binary=isinstance(content, bytes))
    r = bp("train", model, path, *args)
    assert r.exit_code == 2, (r.exit_code, r.stdout, r.stderr)
    assert fragment in r.stderr
    assert "Traceback" not in r.stderr


def test_a_directory_is_not_a_data_file(bp, tmp_path):
    r = bp("train", "linear", str(tmp_path))
    assert r.exit_code == 2 and "is a directory" in r.stderr


def test_plot_without_matplotlib_names_the_extra_and_exits_5(bp, csv, tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib now fails
    r = bp("train", "linear", csv(LECTURE), "--epochs", "2", "--plot", str(tmp_path / "loss.png"))
    assert r.exit_code == 5
    assert "pip install 'backprop-cli[plot]'" in r.stderr


def test_plot_needs_png_or_svg(bp, csv, tmp_path):
    r = bp("train", "linear", csv(LECTURE), "--epochs", "2", "--plot", str(tmp_path / "loss.jpg"))
    assert r.exit_code == 2 and "must end in .png or .svg" in r.stderr


def test_a_saturated_logistic_model_keeps_training(tmp_path):
    # yhat = sigmoid(40) is exactly 1.0: log(1 - yhat) is -inf, and its partial must not meet
    # the clamp's zero as 0·inf = nan (separable data drove w to nan at epoch 2088).
    import numpy as np
    from typer.testing import CliRunner

    from bpcli import parse
    from bpcli.cli import app
    from bpcli.training.loop import LOSSES

    f = parse("yhat = sigmoid(z); " + LOSSES["bce"])
    g = f.grad({"z": 40.0, "y": 1.0}).gradient
    assert g["z"] == 0.0
    assert f.grad({"z": 40.0, "y": 0.0}).value == 100.0
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=60), rng.normal(size=60)
    data = tmp_path / "separable.csv"
    data.write_text("a,b,y\n" + "".join(f"{p!r},{q!r},{int(p + q > 0)}\n" for p, q in zip(a.tolist(), b.tolist())))
    r = CliRunner().invoke(app, ["train", "logistic", str(data), "--lr", "1", "--epochs", "3000",
                                 "--batch-size", "all", "--json"])
    assert r.exit_code == 0, r.output
    loss = json.loads(r.stdout)["loss"]
    assert loss[-1] < loss[0] / 10


def test_a_model_of_thousands_of_parameters_trains_with_tables_a_person_can_read(bp, tmp_path):
    data = tmp_path / "wide.csv"
    names = [f"c{i}" for i in range(300)]
    data.write_text(",".join(names + ["y"]) + "\n" + ",".join(["0.001"] * 300 + ["1"]) + "\n")
    r = bp("train", "linear", str(data), "--epochs", "2")
    assert r.exit_code == 0, r.stderr
    assert "(the first 8 of 300 parameters)" in " ".join(r.stdout.split())
    assert "100 more rows (--json has them all)" in r.stdout  # 300 parameters, 200 rows shown
    assert len(bp_json_params(bp, data)) == 300


def bp_json_params(bp, data) -> dict:
    import json

    r = bp("train", "linear", str(data), "--epochs", "2", "--json")
    return json.loads(r.stdout)["params"]


def test_divergence_names_a_few_parameters_and_counts_the_rest(bp, tmp_path):
    data = tmp_path / "wide.csv"
    data.write_text(",".join(f"c{i}" for i in range(50)) + ",y\n" + ",".join(["100"] * 50) + ",1\n")
    r = bp("train", "linear", str(data), "--lr", "10")
    assert r.exit_code == 4
    assert "last finite parameters: w_c0 = " in r.stderr and " and 44 more" in r.stderr
    assert "w_c49" not in r.stderr


# -- issue 22, item 3: the model is the error (Mazur's network), --loss yhat ------------------
ERROR_DATA = "x,t,z\n1,2,0\n2,3,0\n3,5,0\n"


@pytest.mark.parametrize("extra", [[], ["--batch-size", "2"], ["--batch-size", "all"], ["--dtype", "float32"],
                                   ["--shuffle"]])
def test_a_model_that_is_the_error_trains_with_a_loss_of_yhat_alone(bp, csv, extra):
    # The loss never reads y, and the model does not read the target z either.
    doc = doc_of(bp("train", "(w*x - t)^2", csv(ERROR_DATA), "--target", "z", "--loss", "yhat",
                    "--epochs", "3", "--json", *extra))
    assert len(doc["loss"]) == 3 and doc["loss"][-1] < doc["loss"][0]
    assert doc["data"]["features"] == ["x", "t"] and doc["data"]["target"] == "z"


def test_a_model_that_is_the_error_against_the_target_trains_and_predicts_with_it(bp, csv):
    data = csv("x,z\n1,2\n2,3\n3,5\n")
    doc = doc_of(bp("train", "(w*x - z)^2", data, "--target", "z", "--loss", "yhat", "--epochs", "3",
                    "--predict", "x=1,z=2", "--json"))
    w = doc["params"]["w"]
    assert doc["predictions"] == [{"x": 1.0, "z": 2.0, "yhat": pytest.approx((w * 1 - 2) ** 2, rel=1e-15)}]
    r = bp("train", "(w*x - z)^2", data, "--target", "z", "--loss", "yhat", "--epochs", "3", "--predict", "1")
    assert r.exit_code == 2 and r.stdout == ""
    assert "--predict 1: 1 number for 2 features (x, z)" in r.stderr
    r = bp("train", "(w*x - z)^2", data, "--target", "z", "--loss", "yhat", "--epochs", "3", "--predict", "1,2")
    assert r.exit_code == 0, r.stderr
    assert r.stderr == ""
    assert "┃   x ┃   z ┃" in r.stdout
