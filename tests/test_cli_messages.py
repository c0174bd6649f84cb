"""The command line as a user meets it: words that start with -, messages, help texts."""

import json
import os
import re
import subprocess
import sys

import pytest

COMMANDS = ["grad", "train", "graph", "diff", "ops", "view", "export", "serve"]


@pytest.mark.parametrize("args, expected", [
    (["diff", "-sin(x)", "--wrt", "x"], "-cos(x)"),
    (["diff", "-x*f", "--wrt", "f"], "-x"),  # -f is --file's short name: not taken for it
    (["diff", "--wrt", "x", "-exp(x)"], "-exp(x)"),
])
def test_diff_takes_a_formula_that_starts_with_a_minus(bp, args, expected):
    r = bp(*args)
    assert (r.exit_code, r.stdout.strip(), r.stderr) == (0, expected, "")


def test_grad_and_graph_take_a_formula_that_starts_with_a_minus(bp, bp_json):
    assert bp_json("grad", "-f*x", "--f", "2", "--x", "3", "--no-check")["gradient"] == {"f": -3.0, "x": -2.0}
    r = bp("graph", "-inf_rate*x")
    assert r.exit_code == 0 and "inf_rate" in r.stdout and r.stderr == ""


def test_train_takes_a_model_that_starts_with_a_minus(bp, tmp_path):
    data = tmp_path / "d.csv"
    data.write_text("x,y\n1,-2\n2,-4\n")
    r = bp("train", "-w*x", str(data), "--epochs", "3", "--json")
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["model"] == "-w*x"


@pytest.mark.parametrize("value", ["-2.5", "-1e3", "-0"])
def test_negative_numbers_after_a_value_option_are_values(bp_json, value):
    assert bp_json("grad", "x*2", "--x", value, "--no-check")["inputs"] == {"x": float(value)}


def test_minus_inf_after_a_value_option_is_a_value_that_is_refused_as_such(bp):
    r = bp("grad", "x*2", "--x", "-inf", "--json")
    assert r.exit_code == 2 and r.stdout == ""
    assert r.stderr == ("bp: value error: the value of x must be a finite number, got '-inf'\n"
                        "hint: bp grad --allow-nonfinite takes inf, -inf and nan as values, to see what they do\n")


def test_every_value_problem_is_reported_at_once_with_a_did_you_mean_among_the_missing(bp):
    r = bp("grad", "x*w + y", "--x", "2", "--wx", "3", "--x", "5", "--y", "inf")
    assert r.exit_code == 2 and r.stdout == ""
    assert r.stderr == (
        "bp: value error: x is given twice; the value of y must be a finite number, got 'inf'; "
        "no value for w; the formula has no input named wx (did you mean w?); its inputs: x, w, y\n"
        "hint: give --w VALUE\n")


def test_a_name_close_to_one_already_given_gets_no_did_you_mean(bp):
    r = bp("grad", "x*w", "--x", "1", "--w", "2", "--ww", "3")
    assert r.exit_code == 2
    assert r.stderr == "bp: value error: the formula has no input named ww; its inputs: x, w\n"


def test_a_misspelt_option_suggests_the_option(bp):
    r = bp("grad", "x*2", "--x", "3", "--jsn")
    assert r.exit_code == 2 and r.stdout == ""
    assert "no input named jsn (did you mean the option --json?)" in r.stderr
    r = bp("diff", "x^2", "--jsn")
    assert (r.exit_code, r.stdout) == (2, "")
    assert r.stderr.startswith("bp: usage error: no such option --jsn (did you mean --json?)\n")


@pytest.mark.parametrize("args", [["diff", "x", "--nope"], ["train", "linear"], ["graph", "x", "-o"],
                                  ["grad", "x", "--epochs", "3", "--x", "1", "--check-timeout", "abc"],
                                  ["nosuchcommand"]])
def test_usage_errors_are_one_bp_line_and_a_hint_not_a_box(bp, args):
    r = bp(*args)
    assert r.exit_code == 2 and r.stdout == ""
    assert r.stderr.startswith("bp: usage error: ")
    assert "╭" not in r.stderr and "Error" not in r.stderr and "Usage:" not in r.stderr


@pytest.mark.parametrize("command", COMMANDS)
def test_every_help_has_examples_and_no_stray_space_before_a_full_stop(bp, command):
    r = bp(command, "--help")
    assert r.exit_code == 0
    assert "Examples:" in r.stdout and f"bp {command}" in r.stdout.split("Examples:")[1]
    assert not re.search(r"\S \.(\s|$)", r.stdout)


def test_graph_help_documents_every_format(bp):
    text = " ".join(bp("graph", "--help").stdout.split())
    for fmt in ("tree:", "dot:", "mermaid:", "svg, png, pdf:"):
        assert fmt in text


def test_shell_completion_is_offered(bp, monkeypatch):
    # Typer's --show-completion is a flag (a shell name after it is not read): it finds the shell
    # by walking up the process tree, which a detached or CI run may not have. Name the shell.
    import shellingham

    monkeypatch.setattr(shellingham, "detect_shell", lambda *a, **k: ("bash", "/bin/bash"))
    r = bp("--show-completion")
    assert r.exit_code == 0 and "complete -o default -F" in r.stdout
    assert "--install-completion" in bp("--help").stdout


def test_ascii_locale_argv_is_read_back_as_utf8():
    env = {**os.environ, "LANG": "C", "LC_ALL": "C", "PYTHONUTF8": "0", "PYTHONIOENCODING": ""}
    out = subprocess.run([sys.executable, "-m", "bpcli", "grad", "𝜔*2", "𝜔=1", "--no-check", "--json"],
                         capture_output=True, env=env, cwd=os.path.dirname(os.path.dirname(__file__)))
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["gradient"] == {"ω": 2.0}


def test_surrogate_escaped_words_are_recovered(bp_json):
    escaped = "𝜔=1".encode().decode("ascii", "surrogateescape")
    assert bp_json("grad", "𝜔*2", escaped, "--no-check")["gradient"] == {"ω": 2.0}


MICROGRAD = ("c = a + b; d = a*b + b^3; c = c + c + 1; c = c + 1 + c + (-a); "
             "d = d + d*2 + relu(b + a); d = d + 3*d + relu(b - a); e = c - d; f = e^2; "
             "g = f/2.0; g = g + 10.0/f")


def test_micrograds_program_assigns_e_and_runs_as_written(bp_json):
    doc = bp_json("grad", MICROGRAD, "--a", "-4", "--b", "2")
    assert abs(doc["value"] - 24.70408163265306) < 1e-12  # micrograd's README
    assert abs(doc["gradient"]["a"] - 138.83381924198252) < 1e-9
    assert abs(doc["gradient"]["b"] - 645.5772594752186) < 1e-9
    assert any("e is assigned on line 1: from there on e is that value" in n["message"] for n in doc["notes"])


def test_a_constant_keeps_its_meaning_until_it_is_assigned(bp_json):
    doc = bp_json("grad", "k = pi*x\npi = 3\ny = k + pi*x", "--x", "1", "--no-check")
    assert doc["value"] == 3.141592653589793 + 3.0
    assert [n["message"] for n in doc["notes"]] == [
        "pi is assigned on line 2: from there on pi is that value, not the constant 3.141592653589793"]


def test_a_bp_argument_is_a_file_everywhere_and_a_missing_one_says_so(bp, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "quad.bp").write_text("yhat = w*x^2\n")
    (tmp_path / "data.csv").write_text("x,y\n1,2\n2,8\n")
    r = bp("train", "quad.bp", "data.csv", "--epochs", "2", "--json")
    assert r.exit_code == 0, r.stderr
    for args in (["grad", "nope.bp", "--x", "1"], ["diff", "nope.bp"], ["graph", "nope.bp"],
                 ["train", "nope.bp", "data.csv"]):
        r = bp(*args)
        assert (r.exit_code, r.stdout) == (2, "")
        assert r.stderr == "bp: data error: nope.bp: no such formula file\n"


@pytest.mark.parametrize("formula, message, hint", [
    ("expp(x)", "unknown function expp (did you mean exp?) at column 1", None),
    ("sinn(x)", "unknown function sinn (did you mean sin?) at column 1", None),
    ("w(x+1)", "unknown function w at column 1", "hint: bp has no implicit multiplication: write w*(…) for a product"),
    ("qux(x)", "unknown function qux at column 1", "hint: bp's functions: exp, log, sqrt"),
    ("3x", "unexpected 'x'", "hint: bp has no implicit multiplication: write 3*x"),
    ("2(x+1)", "unexpected '('", "hint: bp has no implicit multiplication: write 2*(…)"),
    ("(x+1)(x-1)", "unexpected '('", "hint: bp has no implicit multiplication: write (…)*(…)"),
    ("2 exp(x)", "unexpected 'exp'", "hint: bp has no implicit multiplication: write 2*exp(…)"),
])
def test_unknown_functions_and_missing_stars_get_the_hint_that_applies(bp, formula, message, hint):
    r = bp("grad", formula, "--x", "1")
    assert (r.exit_code, r.stdout) == (2, "")
    assert r.stderr.startswith(f"bp: parse error: {message}")
    last = r.stderr.splitlines()[-1]
    if hint is None:
        assert "hint" not in r.stderr
    else:
        assert last.startswith(hint)


def test_a_formula_without_inputs_says_so(bp, bp_json):
    r = bp("grad", "2+3")
    assert r.exit_code == 0 and r.stderr == ""
    assert "Forward" in r.stdout and "Backward" not in r.stdout and "Gradient" not in r.stdout
    assert "the formula has no inputs" in " ".join(r.stdout.split())
    doc = bp_json("grad", "2+3")
    assert doc["gradient"] == {} and any("no inputs" in n["message"] for n in doc["notes"])
    r = bp("diff", "2+3")
    assert (r.exit_code, r.stdout) == (0, "")
    assert r.stderr == ("bp: note: the formula has no inputs: its value is a constant, and there is "
                        "nothing to differentiate\n")


def test_trace_labels_the_gradient_columns_and_prints_the_final_parameters(bp, tmp_path):
    data = tmp_path / "d.csv"
    data.write_text("x,y\n1,3\n2,5\n")
    r = bp("train", "affine", str(data), "--epochs", "2", "--trace", "--predict", "4")
    assert r.exit_code == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[:3] == ["predict (before training) 4 5.0", "# grad: x y ∂loss/∂w ∂loss/∂b",
                         "\tgrad: 1.0 3.0 -2.0 -2.0"]
    assert lines[-2:] == ["params (after training): w = 1.18228736, b = 1.10957968",
                          "predict (after training) 4 5.83872912"]


@pytest.mark.slow
def test_exported_loop_traces_several_parameters_as_bp_train_does(bp, tmp_path):
    data = tmp_path / "d.csv"
    data.write_text("x,y\n1,3\n2,5\n")
    script = tmp_path / "loop.py"
    assert bp("export", "--loop", "affine", str(data), "--epochs", "2", "-o", str(script)).exit_code == 0
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True)
    trace = bp("train", "affine", str(data), "--epochs", "2", "--trace")
    assert done.stdout == trace.stdout + "ok\n"


def test_train_help_names_every_preset_and_what_the_seed_seeds(bp):
    import typer.main

    from bpcli.cli import app

    r = bp("train", "--help")
    assert (r.exit_code, r.stderr) == (0, "")
    examples = r.stdout.split("Examples:")[1]
    assert "bp train mlp xor.csv" in examples and "bp train softmax animals.csv" in examples
    commands = typer.main.get_command(app).commands
    helps = {c: {p.name: p.help for p in commands[c].params} for c in ("train", "export")}
    assert helps["train"]["model"].startswith("linear, affine, logistic, mlp (a network), softmax (a classifier)")
    assert helps["train"]["seed"] == "Seeds the tensor parameters' initialisation (--init-scheme) and --shuffle " \
                                     "(a whole number >= 0)."
    assert helps["export"]["seed"] == "--loop: " + helps["train"]["seed"]
    assert helps["export"]["optimizer"] == "--loop: " + helps["train"]["optimizer"]


# -- options of another command, other spellings, other libraries' ways of writing -------------------
def test_an_option_of_another_command_is_said_to_be_its_not_taken_for_an_input(bp):
    r = bp("grad", "x*w", "--x", "1", "--w", "2", "--wrt", "w")
    assert (r.exit_code, r.stdout) == (2, "")
    assert r.stderr == ("bp: usage error: --wrt is an option of bp diff and bp check, not of bp grad; the formula "
                        "has no input named wrt\nhint: bp grad --help lists the options, with examples\n")
    r = bp("grad", "x*wrt", "--x", "1", "--wrt", "2", "--no-check", "--json")  # an input of that name is one
    assert (r.exit_code, r.stderr, json.loads(r.stdout)["inputs"]) == (0, "", {"x": 1.0, "wrt": 2.0})


@pytest.mark.parametrize("flag, said", [
    ("--no-check", "bp: usage error: --no-check is an option of bp grad and bp view, not of bp train\n"
                   "hint: bp train --help lists the options, with examples\n"),
    ("--learning-rate", "bp: usage error: no such option --learning-rate (did you mean --lr?)\n"
                        "hint: bp train --help lists the options, with examples\n"),
])
def test_train_names_whose_option_it_is_or_the_spelling_it_takes(bp, tmp_path, flag, said):
    data = tmp_path / "d.csv"
    data.write_text("x,y\n1,2\n")
    r = bp("train", "linear", str(data), flag, "0.1")
    # Click names the program as it was called: the test runner calls it root.
    assert (r.exit_code, r.stdout, r.stderr.replace("root train", "bp train")) == (2, "", said)


def test_optimizer_names_are_taken_in_any_case(bp, tmp_path):
    data = tmp_path / "d.csv"
    data.write_text("x,y\n1,2\n2,4\n")
    r = bp("train", "linear", str(data), "--optimizer", "Adam", "--epochs", "3", "--json")
    assert (r.exit_code, r.stderr) == (0, "")
    assert json.loads(r.stdout)["settings"]["optimizer"] == "adam"
    r = bp("train", "linear", str(data), "--optimizer", "sdg")
    assert (r.exit_code, r.stdout, r.stderr) == (
        2, "", "bp: usage error: --optimizer must be one of sgd, momentum, adam, not 'sdg'\n")


@pytest.mark.parametrize("formula, caret, hint", [
    ("torch.tanh(x)", 5, "write tanh(…), not torch.tanh(…)"),
    ("2*np.exp(x)", 4, "write exp(…), not np.exp(…)"),
    ("torch.nn.functional.relu(x)", 5, "write relu(…), not torch.nn.functional.relu(…)"),
])
def test_a_library_prefix_on_a_function_gets_a_hint_to_drop_it(bp, formula, caret, hint):
    r = bp("grad", formula, "--x", "1")
    assert (r.exit_code, r.stdout) == (2, "")
    assert r.stderr == (f"bp: parse error: unexpected character '.' at column {caret + 1}\n  {formula}\n"
                        f"  {' ' * caret}^\nhint: bp's functions take no library prefix: {hint}\n")


def test_a_loss_in_the_lectures_names_gets_a_did_you_mean(bp, tmp_path):
    data = tmp_path / "d.csv"
    data.write_text("x,y\n1,2\n")
    r = bp("train", "linear", str(data), "--loss", "(y_hat - y_true)^2 + q")
    assert (r.exit_code, r.stdout) == (2, "")
    assert r.stderr == ("bp: usage error: the loss may use only yhat and y, not y_hat (did you mean yhat?), "
                        "y_true (did you mean y?), q\n")


def test_arrays_written_as_python_or_numpy_writes_them_are_taken(bp):
    r = bp("grad", "sum(x*w)", "--x", "[.15, -.2, 3., 2.e1]", "--w", "[1, 1, 1, 1]", "--no-check", "--json")
    assert (r.exit_code, r.stderr) == (0, "")
    assert json.loads(r.stdout)["inputs"]["x"] == [0.15, -0.2, 3.0, 20.0]
