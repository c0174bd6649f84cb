"""The library (bpcli.api, `from bpcli import …`): its doctests run, and each function gives
what the CLI gives on the same input."""

import doctest
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import bpcli
from bpcli import api
from bpcli.errors import DataError, DomainError, InputValueError, ParseError, UsageError

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
CARD = ("(x*w-y)^2", {"x": 2, "w": 3, "y": 4}, ["--x", "2", "--w", "3", "--y", "4"])


def test_every_doctest_of_the_api_runs():
    failed, attempted = doctest.testmod(api, optionflags=doctest.ELLIPSIS)
    assert attempted >= 20 and failed == 0


def test_the_package_doctest_runs():
    failed, attempted = doctest.testmod(bpcli)
    assert attempted and not failed


def test_every_public_function_has_a_one_line_docstring_and_an_example():
    for name in ("grad", "parse", "diff", "hessian", "jacobian", "jvp", "train", "view", "export", "quiz"):
        doc = getattr(api, name).__doc__
        assert doc and doc.splitlines()[0].strip().endswith("."), name
        assert ">>> " in doc, name


# -- the names of the package ---------------------------------------------------------------
def test_the_api_is_reached_from_the_package_lazily():
    code = ("import sys, bpcli.cli; assert 'bpcli.api' not in sys.modules; "
            "from bpcli import grad, diff, train, ParseError; assert 'bpcli.api' in sys.modules; "
            "import bpcli; print(sorted(set(bpcli.__all__) - set(dir(bpcli))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("first", ["", "import bpcli.training.loop; ", "from bpcli import grad; ",
                                   "import bpcli.cli; "])
def test_bpcli_train_trains_whatever_was_imported_first(first):
    """`train` is the API's function; the training code lives in the subpackage bpcli/training/."""
    code = (first + "import bpcli, inspect; from bpcli import train; import bpcli.training.loop as loop; "
            "assert train is bpcli.train and loop.Trainer; "
            "t = train('linear', {'x': [1, 2], 'y': [2, 4]}, epochs=2); assert len(t.loss) == 2; "
            "assert 'lr' in inspect.signature(train).parameters")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


def test_parse_takes_what_the_parser_takes():
    """tools/fuzz.py and the benchmarks call bpcli.parse(text, lean=False): Lark alone."""
    assert bpcli.parse("x*w", lean=False).inputs == bpcli.parse("x*w").inputs == {"x": 0, "w": 1}


def test_an_unknown_name_of_the_package_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'gard'"):
        bpcli.gard  # noqa: B018
    assert bpcli.grad is api.grad and bpcli.parse is api.parse


def test_the_cli_does_not_load_the_api():
    code = ("import sys; from bpcli.cli import main; sys.argv = ['bp', 'grad', 'x^2', '--x', '3', '--no-check', "
            "'--json']\ntry:\n    main()\nexcept SystemExit:\n    pass\nassert 'bpcli.api' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], capture_output=True, check=True)


# -- each function beside its command ----------------------------------------------------------
def test_grad_gives_bp_grads_numbers(bp_json):
    formula, values, args = CARD
    doc = bp_json("grad", formula, *args, "--no-check")
    r = api.grad(formula, values)
    assert (r.value, r.gradient) == (doc["value"], doc["gradient"])
    assert api.grad(formula, **values).gradient == doc["gradient"]


def test_grad_of_tensors_gives_bp_grads_numbers(bp_json):
    doc = bp_json("grad", "sum(tanh(W @ x))", "--W", "[[1,2],[3,4]]", "--x", "[1,-1]", "--no-check")
    r = api.grad("sum(tanh(W @ x))", {"W": [[1, 2], [3, 4]], "x": [1, -1]})
    assert r.value == doc["value"]
    assert {n: g.tolist() for n, g in r.gradient.items()} == doc["gradient"]


def test_grad_checked_passes_and_refuses_like_bp_grad():
    assert api.grad("x^2", {"x": 3}, check=True).gradient == {"x": 6.0}
    with pytest.raises(ParseError):
        api.grad("x^", {"x": 1})
    with pytest.raises(InputValueError, match="w"):
        api.grad("x*w", {"x": 1})


def test_diff_gives_bp_diffs_formulas(bp, bp_json):
    assert api.diff("sigmoid(w*x + b)") == bp_json("diff", "sigmoid(w*x + b)")
    assert api.diff("(x*w-y)^2", "w") == bp("diff", "(x*w-y)^2", "--wrt", "w").stdout.strip()
    assert api.diff("-sin(x)", "x", latex=True) == bp("diff", "-sin(x)", "--wrt", "x", "--latex").stdout.strip()
    assert api.diff("x*y", ["y"], simplify=False) == bp_json("diff", "x*y", "--wrt", "y", "--no-simplify")


def test_hessian_gives_bp_grad_hessians_matrix(bp_json):
    formula, values, args = CARD
    doc = bp_json("grad", formula, *args, "--hessian")
    assert api.hessian(formula, values, check=True) == doc["hessian"]


def test_jacobian_gives_bp_grad_jacobians_blocks(bp_json):
    doc = bp_json("grad", "softmax(W @ x)", "--W", "[[1,2],[3,4]]", "--x", "[1,-1]", "--jacobian", "--no-check")
    J = api.jacobian("softmax(W @ x)", {"W": [[1, 2], [3, 4]], "x": [1, -1]})
    assert J.value.tolist() == doc["value"]
    assert {n: m.tolist() for n, m in J.matrices.items()} == doc["jacobian"]


def test_jvp_gives_bp_grad_forwards_tangents(bp_json):
    formula, values, args = CARD
    doc = bp_json("grad", formula, *args, "--forward", "--no-check")
    for name, row in doc["forward_mode"]["inputs"].items():
        value, tangent = api.jvp(formula, values, {name: 1})
        assert (value, tangent) == (doc["value"], row["gradient"])
    assert api.jvp(formula, values, {"x": 1, "w": 1})[1] == doc["gradient"]["x"] + doc["gradient"]["w"]


def test_view_is_the_page_bp_view_writes(bp):
    formula, values, args = CARD
    out = bp("view", formula, *args, "-o", "-")
    assert out.exit_code == 0, out.stderr
    html = api.view(formula, values)
    assert html == out.stdout
    assert html.startswith("<!DOCTYPE html>")


def test_view_with_predict_and_reveal_is_the_page_bp_view_writes(bp):
    formula, values, args = CARD
    for flags, named in [(["--predict"], {"predict": True}), (["--reveal", "all"], {"reveal": "all"})]:
        out = bp("view", formula, *args, *flags, "-o", "-")
        assert out.exit_code == 0, out.stderr
        assert api.view(formula, values, **named) == out.stdout
    with pytest.raises(UsageError, match="predict: predict mode asks for numbers: this formula has tensors"):
        api.view("sum(W @ x)", {"W": [[1.0, 2.0]], "x": [1.0, 1.0]}, predict=True)


def test_view_of_a_constant_is_the_page_bp_view_writes(bp):
    out = bp("view", "2 + 3", "-o", "-", "--no-check")
    assert out.exit_code == 0, out.stderr
    assert api.view("2 + 3", check=False) == out.stdout


@pytest.mark.parametrize("to", ["torch", "jax"])
def test_export_is_the_script_bp_export_writes(bp, to):
    formula, values, args = CARD
    out = bp("export", formula, *args, f"--{to}")
    assert out.exit_code == 0, out.stderr
    assert api.export(formula, values, to=to) == out.stdout
    with pytest.raises(UsageError, match="torch or jax"):
        api.export(formula, values, to="tf")


def test_export_of_tensors_is_the_script_bp_export_writes(bp):
    out = bp("export", "sum(tanh(W @ x))", "--W", "[[1,2],[3,4]]", "--x", "[1,-1]")
    assert api.export("sum(tanh(W @ x))", {"W": [[1, 2], [3, 4]], "x": [1, -1]}) == out.stdout


# -- training -------------------------------------------------------------------------------------
@pytest.fixture
def line_csv(tmp_path):
    path = tmp_path / "line.csv"
    path.write_text("x,y\n1,2\n2,4\n3,6.5\n4,8\n")
    return str(path)


def test_train_gives_bp_trains_document(bp, line_csv):
    out = bp("train", "linear", line_csv, "--lr", "0.02", "--epochs", "20", "--predict", "5", "--json")
    assert out.exit_code == 0, out.stderr
    t = api.train("linear", line_csv, lr=0.02, epochs=20, predict=[5])
    assert t.json() == out.stdout.strip()
    doc = json.loads(out.stdout)
    assert t.loss == doc["loss"] and len(t.loss) == 20
    assert t.params == doc["params"] and t.accuracy is None
    assert t.predictions == doc["predictions"] and t.predict(5) == doc["predictions"][0]["yhat"]


def test_train_with_options_gives_bp_trains_document(bp, line_csv):
    out = bp("train", "w*x + b", line_csv, "--lr", "0.01", "--epochs", "15", "--batch-size", "all",
             "--init", "w=0.5", "--optimizer", "adam", "--json")
    t = api.train("w*x + b", line_csv, lr=0.01, epochs=15, batch_size="all", init={"w": 0.5}, optimizer="adam")
    assert t.json() == out.stdout.strip()


def test_train_a_bp_file_with_a_loss_and_a_target_gives_bp_trains_document(bp, tmp_path):
    data = tmp_path / "data.csv"
    data.write_text("x,t,z\n1,2.5,0\n2,4.5,1\n3,6.5,0\n")
    model = tmp_path / "model.bp"
    model.write_text("w*x + b\n")
    out = bp("train", str(model), str(data), "--target", "t", "--loss", "abs(yhat - y)", "--epochs", "7",
             "--shuffle", "--seed", "3", "--features", "x", "--json")
    assert out.exit_code == 0, out.stderr
    t = api.train(str(model), str(data), target="t", loss="abs(yhat - y)", epochs=7, shuffle=True, seed=3,
                  features="x")
    assert t.json() == out.stdout.strip()


@pytest.mark.parametrize("model, data, options", [
    ("mlp", "moons.csv", {"hidden": [4], "epochs": 3, "lr": 0.1, "batch_size": 16, "seed": 2}),
    ("softmax", "animals.csv", {"epochs": 5}),
    ("logistic", "xor.csv", {"epochs": 10, "lr": 0.5}),
])
def test_train_a_classifier_gives_bp_trains_accuracy(bp, model, data, options):
    path = str(EXAMPLES / data)
    flags = [w for k, v in options.items() for w in (f"--{k.replace('_', '-')}",
                                                      ",".join(map(str, v)) if isinstance(v, list) else str(v))]
    out = bp("train", model, path, *flags, "--json")
    assert out.exit_code == 0, out.stderr
    doc = json.loads(out.stdout)
    t = api.train(model, path, **options)
    library = json.loads(t.json())
    # The same document, but for the notes: each face words the settings they name (bp's flags, the keywords).
    assert {**library, "notes": []} == {**doc, "notes": []}
    assert [note.count("=") for note in library["notes"]] == [note.count("--") for note in doc["notes"]]
    assert t.accuracy == doc["accuracy"] and t.final_accuracy == doc["final_accuracy"]


def test_a_library_note_names_the_keywords_where_bp_train_names_its_flags(bp):
    path = str(EXAMPLES / "xor.csv")
    out = bp("train", "logistic", path, "--epochs", "10", "--lr", "0.5", "--json")
    cli = json.loads(out.stdout)["notes"][0]
    library = json.loads(api.train("logistic", path, epochs=10, lr=0.5).json())["notes"][0]
    assert cli.endswith("Try a network (bp train mlp) if no straight line separates the classes, as in XOR (a model "
                        "linear in the features, such as logistic, cannot bend); --optimizer adam; more epochs "
                        "(--epochs 40); a larger learning rate (--lr 2.5); --batch-size all")
    assert library == cli.replace("--optimizer adam", "optimizer='adam'").replace("--epochs 40", "epochs=40").replace(
        "--lr 2.5", "lr=2.5").replace("--batch-size all", "batch_size='all'")


def test_train_on_numpy_arrays_equals_training_on_the_csv(line_csv):
    X, y = np.array([1.0, 2.0, 3.0, 4.0]), np.array([2.0, 4.0, 6.5, 8.0])
    by_file = api.train("affine", line_csv, lr=0.02, epochs=10)
    by_arrays = api.train("affine", (X, y), lr=0.02, epochs=10)
    assert by_arrays.params == by_file.params and by_arrays.loss == by_file.loss
    assert X.tolist() == [1.0, 2.0, 3.0, 4.0]  # the caller's data is left as it was


def test_train_on_a_matrix_names_its_columns_x1_x2():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20, 2))
    t = api.train("w1*x1 + w2*x2", (X, X @ [2.0, -1.0]), lr=0.1, epochs=50)
    assert t.params == pytest.approx({"w1": 2.0, "w2": -1.0}, abs=1e-3)


def test_train_on_a_dataframe_equals_training_on_the_csv():
    pd = pytest.importorskip("pandas", reason="pandas is not installed (bp does not depend on it)")
    path = EXAMPLES / "animals.csv"
    frame = pd.read_csv(path)
    by_file = api.train("softmax", str(path), epochs=4)
    by_frame = api.train("softmax", frame, epochs=4)
    assert by_frame.loss == by_file.loss and by_frame.accuracy == by_file.accuracy
    assert by_frame.params == by_file.params
    assert frame["y"].tolist()[:2] == ["cat", "cat"]  # the caller's frame is left as it was


def test_train_refuses_as_bp_train_does(line_csv, tmp_path):
    with pytest.raises(UsageError, match="unknown model lineer"):
        api.train("lineer", line_csv)
    with pytest.raises(UsageError, match="lr must be a positive number"):
        api.train("linear", line_csv, lr=float("inf"))
    with pytest.raises(DomainError):
        api.train("linear", line_csv, lr=10.0, epochs=50)
    text = tmp_path / "text.csv"
    text.write_text("x,z,y\n1,a,2\n2,b,4\n")
    with pytest.raises(DataError, match="holds text") as e:
        api.train("affine", str(text), features="x,z")
    # The library's words are its keywords, not bp train's flags (--features x, --target z).
    assert e.value.hint == ("the column z holds text, not numbers: leave it out with features='x', or make it the "
                            "target with target='z'")


def test_a_training_exports_the_loop_bp_export_writes(bp, line_csv):
    out = bp("export", "--loop", "linear", line_csv, "--lr", "0.02", "--epochs", "5", "--predict", "4")
    assert out.exit_code == 0, out.stderr
    assert api.train("linear", line_csv, lr=0.02, epochs=5, predict=[4]).script() == out.stdout


# -- exercises ----------------------------------------------------------------------------------
def test_quiz_is_bp_quizs_exercise_and_grades_as_it_does(bp, bp_json, tmp_path):
    q = api.quiz(level=2, seed=7)
    assert q.document() == bp_json("quiz", "--level", "2", "--seed", "7")
    key = json.loads(bp("quiz", "--level", "2", "--seed", "7", "--key").stdout)
    assert q.key() == key["answers"]
    wrong = {**key["answers"], next(iter(key["answers"])): 1234.5}
    answers = tmp_path / "answers.json"
    answers.write_text(json.dumps({"fingerprint": key["fingerprint"], "answers": wrong}))
    graded = bp_json("quiz", "--level", "2", "--seed", "7", "--answers", str(answers))
    g = q.grade(wrong)
    assert g.document == graded and (g.correct, g.total) == (graded["correct"], graded["total"])
    with pytest.raises(InputValueError, match="no answer for"):
        q.grade({})


def test_quiz_of_a_formula_and_of_the_lecture(bp_json):
    formula, values, args = CARD
    assert api.quiz(formula=formula, values=values).document() == bp_json("quiz", "--formula", formula, *args)
    q = api.quiz(lecture=2)
    assert q.document() == bp_json("quiz", "--lecture", "2")
    assert "Blank" not in repr(q) and "value" in repr(q)


# -- the library's page ---------------------------------------------------------------------------
LIBRARY_PAGE = Path(__file__).resolve().parent.parent / "docs" / "library.md"


def test_every_example_of_the_library_page_runs(tmp_path, monkeypatch):
    """docs/library.md's ```pycon blocks, run in order in one namespace, their output compared."""
    import re
    import shutil

    shutil.copytree(EXAMPLES, tmp_path / "examples")
    monkeypatch.chdir(tmp_path)  # the page's paths (examples/xor.csv) are the repository's
    text = LIBRARY_PAGE.read_text(encoding="utf-8")
    blocks = re.findall(r"^```pycon\n(.*?)^```$", text, flags=re.S | re.M)
    assert len(blocks) >= 12
    parser, runner = doctest.DocTestParser(), doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    namespace: dict = {}
    for k, block in enumerate(blocks):
        test = parser.get_doctest(block, namespace, f"library.md block {k + 1}", str(LIBRARY_PAGE), 0)
        runner.run(test, clear_globs=False)
        namespace.update(test.globs)  # the next block sees this one's names, as on the page
    assert runner.summarize(verbose=False).failed == 0
