"""bp train --report: the page of a training run, opened in Chromium with the network off."""

import re

import numpy as np
import pytest


@pytest.fixture
def csv(tmp_path):
    """Write a CSV of these columns; its path."""

    def write(name, **columns):
        path = tmp_path / name
        names = list(columns)
        rows = zip(*columns.values())
        path.write_text(",".join(names) + "\n" + "".join(",".join(map(repr, map(float, r))) + "\n" for r in rows))
        return path

    return write


def train_report(bp, tmp_path, *args):
    out = tmp_path / "report.html"
    result = bp("train", *args, "--report", str(out))
    assert result.exit_code == 0, result.stderr
    assert re.search(r"bp: wrote .*report\.html \(\d+ kB\)", result.stderr)
    return out


def open_report(page, path):
    page.goto(path.as_uri())
    page.wait_for_selector("body[data-ready='1']")
    return page


def test_one_feature_report_shows_loss_curve_fit_parameters_and_graph(bp, csv, tmp_path, page):
    rng = np.random.default_rng(0)
    x = rng.normal(size=50)
    path = csv("line.csv", x=x, y=3 * x + 1 + rng.normal(scale=0.1, size=50))
    out = train_report(bp, tmp_path, "affine", str(path), "--epochs", "40", "--json")
    open_report(page, out)
    assert page.inner_text("#r-title") == "ŷ = w*x + b"
    assert page.locator("#r-loss polyline").count() == 1
    assert page.is_visible("#r-fit-card") and page.is_hidden("#r-accuracy-card")
    assert page.inner_text("#r-fit-title") == "The fit: ŷ over the data (y against x)"
    assert page.locator("#r-fit circle").count() == 50 and page.locator("#r-fit polyline.fit").count() == 1
    params = page.inner_text("#r-params")
    assert re.search(r"w\s+1\s+2\.9", params) and re.search(r"b\s+1\s+(0\.9|1\.0)", params)
    graph = page.frame_locator("#r-graph")
    graph.locator("body[data-ready='1']").wait_for()
    graph.locator("#bp-last").click()
    assert graph.locator("#bp-chain").inner_text().startswith("gradient: w ")


def test_two_feature_classifier_report_shows_accuracy_and_decision_boundary(bp, csv, tmp_path, page):
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=80), rng.normal(size=80)
    path = csv("classes.csv", a=a, b=b, y=(a + b > 0).astype(float))
    out = train_report(bp, tmp_path, "logistic", str(path), "--epochs", "30", "--lr", "0.05", "--json")
    open_report(page, out)
    assert page.is_visible("#r-accuracy-card")
    assert page.locator("#r-accuracy polyline").count() == 1
    assert page.inner_text("#r-fit-title").startswith("Decision boundary: ŷ = 0.5")
    assert page.locator("#r-fit path.edge").count() == 1
    assert page.locator("#r-fit circle.c1").count() == int((a + b > 0).sum())
    accuracy = float(re.search(r"final accuracy\s+([\d.]+)%", page.inner_text("#r-settings")).group(1))
    assert accuracy > 90


def test_the_accuracy_is_computed_from_each_epochs_parameters(bp, csv, tmp_path):
    from bpcli.data.files import read_csv
    from bpcli.training.loop import Settings, Trainer, build_model
    from bpcli.views.web.report import report_data

    rng = np.random.default_rng(2)
    a = rng.normal(size=40)
    table = read_csv(str(csv("one.csv", a=a, y=(a > 0).astype(float))))
    spec = build_model("logistic", table.columns, "y", table.source)
    settings = Settings(lr=0.1, epochs=5)
    run = Trainer(spec, table, settings).run()
    data = report_data(run, table, settings)
    for epoch, accuracy in data["accuracy"]:
        p = run.epochs[epoch].params
        yhat = 1 / (1 + np.exp(-(p["w"] * a + p["b"])))
        assert accuracy == np.mean((yhat >= 0.5) == (a > 0))


def test_three_features_have_no_fit_chart(bp, csv, tmp_path, page):
    rng = np.random.default_rng(3)
    a, b, c = rng.normal(size=(3, 20))
    out = train_report(bp, tmp_path, "linear", str(csv("three.csv", a=a, b=b, c=c, y=a + b + c)), "--epochs", "3",
                       "--json")
    open_report(page, out)
    assert page.is_hidden("#r-fit-card")
    assert page.locator("#r-loss polyline").count() == 1


@pytest.mark.parametrize("program, title", [
    ("w*x + b", "ŷ = w*x + b"),
    ("h1 = tanh(W1 @ x + b1)\nw2 @ h1 + b2", "ŷ = w2 @ tanh(W1 @ x + b1) + b2"),
    ("h1 = tanh(W1 @ x + b1)\nh2 = relu(W2 @ h1 + b2)\nsigmoid(w3 @ h2 + b3)",
     "ŷ = sigmoid(w3 @ relu(W2 @ tanh(W1 @ x + b1) + b2) + b3)"),
    ("z = W1 @ x + b1; w2 @ z", "ŷ = w2 @ (W1 @ x + b1)"),
])
def test_the_report_title_is_the_model_as_one_formula(program, title):
    from bpcli.views.web.report import model_title

    assert model_title(program) == title
