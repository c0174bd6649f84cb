"""bp train --val (a seeded share or a file of held-out rows) and --predict FILE (a prediction for
every row of a CSV): tables, JSON, JSON Lines, the plot and the report, and the bad inputs."""

import json

import numpy as np
import pytest


def blobs(rows: int = 60, seed: int = 0) -> str:
    """Three classes of points around (0, 0), (3, 0) and (0, 3): a softmax separates them."""
    rng = np.random.default_rng(seed)
    lines = ["a,b,y"]
    for k in range(rows):
        c = k % 3
        a, b = rng.normal([(0, 0), (3, 0), (0, 3)][c], 0.5)
        lines.append(f"{float(a)!r},{float(b)!r},{c}")
    return "\n".join(lines) + "\n"


@pytest.fixture
def data(tmp_path):
    def write(text, name="data.csv"):
        p = tmp_path / name
        p.write_text(text)
        return str(p)

    return write


TRAIN = ["--optimizer", "adam", "--lr", "0.1", "--epochs", "40", "--batch-size", "all"]


def test_val_share_adds_validation_columns_to_the_epochs_table(bp, data):
    r = bp("train", "softmax", data(blobs()), "--val", "0.2", *TRAIN)
    assert r.exit_code == 0 and r.stderr == ""
    head = next(line for line in r.stdout.splitlines() if "epoch" in line and "mean loss" in line)
    assert "accuracy" in head and "val loss" in head and "val accuracy" in head
    assert max(map(len, r.stdout.splitlines())) <= 80


def test_val_share_in_json_is_seeded_and_holds_out_that_share(bp_json, data):
    path = data(blobs())
    doc = bp_json("train", "softmax", path, "--val", "0.2", *TRAIN)
    assert doc["validation"] == {"source": f"{path} (12 held-out rows)", "rows": 12}
    assert doc["data"]["rows"] == 48
    assert len(doc["val_loss"]) == len(doc["val_accuracy"]) == 40
    assert doc["final_val_accuracy"] == doc["val_accuracy"][-1] == 1.0
    again = bp_json("train", "softmax", path, "--val", "0.2", *TRAIN)
    other = bp_json("train", "softmax", path, "--val", "0.2", "--seed", "1", *TRAIN)
    assert again["val_loss"] == doc["val_loss"] and other["val_loss"] != doc["val_loss"]


def test_val_loss_is_the_loss_of_the_held_out_rows_at_the_epochs_end(bp_json, data):
    """A regression: the held-out file's mean squared error with the final parameters."""
    train = data("x,y\n1,2\n2,4\n3,6\n")
    held = data("x,y\n4,8\n5,11\n", "held.csv")
    doc = bp_json("train", "linear", train, "--val", held, "--epochs", "3", "--lr", "0.01")
    w = doc["params"]["w"]
    assert doc["validation"] == {"source": held, "rows": 2}
    assert doc["val_loss"][-1] == pytest.approx(((4 * w - 8) ** 2 + (5 * w - 11) ** 2) / 2, rel=1e-12)
    assert "val_accuracy" not in doc


def test_val_in_json_lines_per_epoch_and_in_the_summary(bp, data):
    r = bp("train", "softmax", data(blobs()), "--val", "0.25", *TRAIN, "--jsonl")
    assert r.exit_code == 0 and r.stderr == ""
    lines = [json.loads(line) for line in r.stdout.splitlines()]
    assert all("val_loss" in e and "val_accuracy" in e for e in lines[:-1])
    assert lines[-1]["type"] == "summary" and lines[-1]["validation"]["rows"] == 15


@pytest.mark.parametrize("value, message", [
    ("1.5", "--val takes a share of the rows between 0 and 1 (e.g. 0.2) or a CSV file, not 1.5"),
    ("0.001", "leaves no row to validate on"),
])
def test_a_bad_val_share_is_refused(bp, data, value, message):
    r = bp("train", "softmax", data(blobs()), "--val", value, *TRAIN)
    assert r.exit_code == 2 and r.stdout == "" and message in r.stderr


def test_a_val_file_without_the_columns_or_with_a_new_class_is_refused(bp, data):
    path = data(blobs())
    r = bp("train", "softmax", path, "--val", data("a,y\n1,0\n", "held.csv"), *TRAIN)
    assert r.exit_code == 2 and r.stdout == "" and "b" in r.stderr
    r = bp("train", "softmax", path, "--val", data("a,b,y\n1,1,7\n", "new.csv"), *TRAIN)
    assert r.exit_code == 2 and r.stdout == ""
    assert "the target y holds 7, which the training rows never do" in r.stderr
    r = bp("train", "softmax", path, "--val", str(data("x", "x.csv")) + ".missing", *TRAIN)
    assert r.exit_code == 2 and r.stdout == ""


@pytest.mark.parametrize("train_rows, val_rows, named", [
    ("0\n1\n7\n1\n", None, "data.csv"), ("0\n1\n1.5\n1\n", None, "data.csv"),
    ("0\n1\n1\n0\n", "1\n-1\n", "held.csv")])
def test_a_label_column_a_formula_reads_as_indices_is_named_with_its_file_and_bad_value(
        bp, data, train_rows, val_rows, named):
    """cross_entropy's class labels out of range: said of the column, in the file that holds them."""
    def table(labels, name):
        return data("a,b,label\n" + "".join(f"{k},{k % 2},{v}\n" for k, v in enumerate(labels.split())), name)

    val = ["--val", table(val_rows, "held.csv")] if val_rows else []
    r = bp("train", "cross_entropy(W @ features, label)", table(train_rows, "data.csv"), "--param", "W=2x2",
           "--epochs", "2", *val)
    bad = next(v for v in (val_rows or train_rows).split() if v not in ("0", "1"))
    assert r.exit_code == 2 and r.stdout == ""
    assert r.stderr.endswith(f"{named}: column label holds {bad}, which cross_entropy reads as an index: whole "
                             "numbers from 0 to 1\n")


def test_val_draws_the_validation_curve_in_the_plot_and_the_report(bp, data, tmp_path):
    pytest.importorskip("matplotlib")
    svg, html = tmp_path / "loss.svg", tmp_path / "report.html"
    r = bp("train", "softmax", data(blobs()), "--val", "0.2", *TRAIN, "--plot", str(svg), "--report", str(html))
    assert r.exit_code == 0, r.stderr
    assert "validation" in svg.read_text()
    page = html.read_text()
    assert '"val_loss":[' in page and '"val_accuracy":[' in page and "curve val" in page


def test_predict_file_writes_a_prediction_for_every_row_as_csv(bp, data):
    path = data(blobs())
    rows = data("a,b\n0.1,-0.2\n3.2,0.1\n-0.1,2.9\n", "new.csv")
    r = bp("train", "softmax", path, *TRAIN, "--predict", rows)
    assert r.exit_code == 0
    assert r.stdout == "row,yhat\n1,0\n2,1\n3,2\n"
    assert r.stderr.startswith("bp: trained 40 epochs, mean loss ")
    assert r.stderr.rstrip().endswith(f"predictions for the 3 rows of {rows}")


def test_predict_file_with_the_target_reports_its_accuracy(bp, bp_json, data):
    path = data(blobs())
    labelled = data("a,b,y\n0.1,-0.2,0\n3.2,0.1,1\n-0.1,2.9,1\n", "labelled.csv")
    r = bp("train", "softmax", path, *TRAIN, "--predict", labelled, "--val", "0.2")
    assert r.exit_code == 0
    assert r.stdout == "row,yhat,target\n1,0,0\n2,1,1\n3,2,1\n"
    assert "validation accuracy" in r.stderr and "(accuracy 66.7%)" in r.stderr
    doc = bp_json("train", "softmax", path, *TRAIN, "--predict", labelled)
    assert doc["file_predictions"] == [{"source": labelled, "rows": 3, "yhat": [0, 1, 2], "target": [0, 1, 1],
                                        "accuracy": 2 / 3}]


def test_predict_file_of_a_regression_gives_numbers(bp, data):
    r = bp("train", "linear", data("x,y\n1,2\n2,4\n3,6\n"), "--epochs", "200", "--lr", "0.05",
           "--predict", data("x\n10\n-1\n", "new.csv"))
    assert r.exit_code == 0
    lines = r.stdout.splitlines()
    assert lines[0] == "row,yhat" and len(lines) == 3
    assert float(lines[1].split(",")[1]) == pytest.approx(20, rel=1e-6)


def test_predict_file_without_a_feature_column_is_refused(bp, data):
    r = bp("train", "softmax", data(blobs()), *TRAIN, "--predict", data("a\n1\n", "new.csv"))
    assert r.exit_code == 2 and r.stdout == ""
    assert "--predict" in r.stderr and "no column b" in r.stderr


def test_a_formula_trained_with_cross_entropy_is_a_classifier(bp_json, data):
    """--loss ce reads the formula's output as scores of the target's classes: accuracy, classes,
    the class a prediction names."""
    doc = bp_json("train", "W @ features + bias", data(blobs()), "--param", "W=3x2", "--param", "bias=3",
                  "--loss", "ce", *TRAIN, "--val", "0.2", "--predict", "3,0")
    assert doc["classes"] == [0, 1, 2] and doc["final_accuracy"] == 1.0 and doc["final_val_accuracy"] == 1.0
    assert doc["predictions"][0]["yhat"] == 1


def test_a_sigmoid_models_validation_accuracy_is_its_predictions_accuracy_on_the_held_out_rows(bp, tmp_path):
    """bce trains a sigmoid head through its logit z: held-out rows are judged at z ≥ 0 (ŷ ≥ 1/2),
    the rule --predict FILE's classes follow, not at z ≥ 1/2."""
    data = tmp_path / "d.csv"
    data.write_text("score,admitted\n-3,0\n-1,0\n-0.5,1\n0.1,0\n1,1\n3,1\n")
    result = bp("train", "logistic", str(data), "--epochs", "3", "--lr", "0.05", "--val", str(data),
                "--predict", str(data), "--json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    predicted = doc["file_predictions"][0]
    assert 0.5 < predicted["yhat"][2] < 0.62 and predicted["class"][2] == 1.0  # 0 < z < 1/2: right
    assert doc["final_val_accuracy"] == predicted["accuracy"] == 5 / 6
