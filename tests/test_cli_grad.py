"""`bp grad` through the CLI: exit codes, stdout and stderr."""

import json
import subprocess
import sys

import pytest

CARD = ["grad", "(x*w-y)^2", "--x", "2", "--w", "3", "--y", "4"]


def test_card_example_prints_tables_and_checks(bp):
    r = bp(*CARD)
    assert r.exit_code == 0, r.stderr
    assert r.stderr == ""
    for title in ("Formula", "Forward", "Backward", "Gradient, cross-checked"):
        assert title in r.stdout
    assert "2*w*(w*x - y)" in r.stdout and "✗" not in r.stdout
    assert "\x1b[" not in r.stdout  # no colour codes when not on a terminal


def test_json_document_has_the_documented_fields(bp_json):
    doc = bp_json(*CARD)
    assert doc["schema"] == "bp.grad/2"
    assert doc["value"] == 4.0
    assert doc["gradient"] == {"x": 12.0, "w": 8.0, "y": -4.0}
    assert doc["inputs"] == {"x": 2.0, "w": 3.0, "y": 4.0}
    assert [n["id"] for n in doc["nodes"]] == [f"n{i}" for i in range(7)]
    assert {"parent", "child", "slot", "local", "formula", "contribution"} <= set(doc["edges"][0])
    assert doc["check"]["w"]["derivative"] == "2*x*(w*x - y)"
    assert doc["check"]["w"]["ok"] is True and doc["ok"] is True


def test_json_is_byte_for_byte_stable(bp):
    a, b = bp(*CARD, "--json"), bp(*CARD, "--json")
    assert a.stdout == b.stdout


def test_non_finite_numbers_are_strings_in_json(bp_json):
    doc = bp_json("grad", "log(x) + sqrt(y)", "--x", "0", "--y", "0", "--no-check")
    assert doc["value"] == "-inf"
    assert doc["gradient"]["y"] == "inf"


def test_lecture_program_with_named_nodes(bp_json):
    doc = bp_json("grad", "y_hat = x*w; r = y_hat - y; loss = r^2", "--x", "2", "--w", "1", "--y", "4")
    assert doc["gradient"]["w"] == -8.0
    assert [n["label"] for n in doc["nodes"] if n["op"] != "input" and n["op"] != "const"] == [
        "y_hat", "r", "loss"]


def test_values_as_pairs_negative_numbers_and_unicode(bp_json):
    doc = bp_json("grad", "𝜔*x", "ω=2", "--x", "-2.5", "--no-check")
    assert doc["gradient"] == {"ω": -2.5, "x": 2.0}


def test_options_may_come_before_the_formula(bp_json):
    doc = bp_json("grad", "--x", "3", "x^2", "--no-check")
    assert doc["gradient"] == {"x": 6.0}


def test_formula_from_stdin_and_from_file(bp_json, tmp_path):
    assert bp_json("grad", "-", "--x", "3", "--no-check", input="x^2\n")["value"] == 9.0
    program = tmp_path / "model.bp"
    program.write_text("y_hat = x*w\nloss = (y_hat - y)^2\n")
    doc = bp_json("grad", "-f", str(program), "x=2", "w=1", "y=4", "--no-check")
    assert doc["gradient"]["w"] == -8.0


def test_values_from_json_and_from_a_train_document(bp_json, tmp_path):
    values = tmp_path / "v.json"
    values.write_text('{"x": 2, "w": 3}')
    assert bp_json("grad", "(x*w-y)^2", "--values", str(values), "--y", "4")["value"] == 4.0
    train_doc = json.dumps({"params": {"w": 2.0}, "loss": [1.0]})
    doc = bp_json("grad", "(x*w-y)^2", "--values", "-", "--x", "4", "--y", "8", input=train_doc)
    assert doc["value"] == 0.0


@pytest.mark.parametrize("args, fragment", [
    (["grad", "x*w", "--x", "1"], "no value for w"),
    (["grad", "x*w", "--x", "1", "--ww", "3"], "did you mean w?"),
    (["grad", "x", "--x", "abc"], "the value of x is not a number: 'abc'"),
    (["grad", "x", "--x", "inf"], "must be a finite number"),
    (["grad", "x", "--x", "1", "x=2"], "x is given twice"),
    (["grad", "x", "--x"], "--x needs a value"),
    (["grad", "x*y", "2"], "unexpected argument '2'"),
    (["grad", "(x", "--x", "1"], "parse error: the formula ends too early"),
    (["grad", "-f", "/nonexistent/f.bp", "x=1"], "/nonexistent/f.bp: no such formula file"),
    (["grad"], "no formula"),
    (["grad", "x", "--values", "-", "--x", "1"], "not valid JSON"),
])
def test_bad_input_exits_2_with_a_message_and_no_traceback(bp, args, fragment):
    r = bp(*args, input="{not json")
    assert r.exit_code == 2
    assert fragment in r.stderr
    assert r.stdout == ""
    assert "Traceback" not in r.stderr


def test_stdin_cannot_hold_both_formula_and_values(bp):
    r = bp("grad", "-", "--values", "-", input="x")
    assert r.exit_code == 2 and "not both" in r.stderr


def test_kink_is_reported_as_convention_not_failure(bp_json):
    doc = bp_json("grad", "relu(x) * y", "--x", "0", "--y", "2")
    assert doc["gradient"]["x"] == 0.0
    assert doc["check"]["x"]["status"] == "convention" and doc["ok"] is True
    assert any("relu'(0) taken as 0" in n["message"] for n in doc["notes"])


def test_failed_check_exits_3(bp, monkeypatch):
    from bpcli.engine.ops import OPS

    broken = OPS["sin"].__class__(**{**OPS["sin"].__dict__, "partials": (lambda m, out, a: 2.0,)})
    monkeypatch.setitem(OPS, "sin", broken)
    r = bp("grad", "sin(x)", "--x", "0.5")
    assert r.exit_code == 3
    assert "✗" in r.stdout and "check failed: ∂/∂x" in r.stderr


def test_no_check_never_imports_sympy():
    code = ("import sys; from typer.testing import CliRunner; from bpcli.cli import app;"
            "r = CliRunner().invoke(app, ['grad', 'x^2', '--x', '3', '--no-check', '--json']);"
            "print(r.exit_code, 'sympy' in sys.modules, 'numpy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["0", "False", "False"]


def test_python_m_bpcli_works():
    out = subprocess.run([sys.executable, "-m", "bpcli", "grad", "x^2", "--x", "3", "--no-check", "--json"],
                         capture_output=True, text=True)
    assert out.returncode == 0 and json.loads(out.stdout)["gradient"] == {"x": 6.0}


def test_broken_pipe_ends_quietly():
    big = "+".join(f"sin({i}*x)" for i in range(3000))  # megabytes of JSON: more than a pipe holds
    p = subprocess.run(f"{sys.executable} -m bpcli grad '{big}' --x 1 --json --no-check | head -c 1",
                       shell=True, capture_output=True, text=True)
    assert p.stdout == "{" and p.stderr == ""


def test_a_bp_file_named_as_the_formula_is_read(bp_json, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "model.bp").write_text("y_hat = x*w\nloss = (y_hat - y)^2\n")
    assert bp_json("grad", "model.bp", "--x", "2", "--w", "1", "--y", "4", "--no-check")["gradient"]["w"] == -8.0


def test_a_derivative_sympy_leaves_undone_is_decided_by_finite_differences(bp_json):
    doc = bp_json("grad", "sign(x/w) + x", "--x", "1", "--w", "2")
    assert doc["ok"] is True and doc["check"]["x"]["status"] == "ok"
    assert doc["check"]["x"]["sympy"] is None
    assert any("SymPy's derivative was left undone" in n["message"] for n in doc["notes"])


def test_a_sympy_formula_undefined_at_the_point_is_no_verdict(bp_json):
    doc = bp_json("grad", "step(x)^w", "--x", "-1", "--w", "1")  # SymPy: w*H^w*H'/H = 0/0 here
    assert doc["gradient"]["x"] == 0.0 and doc["ok"] is True
    assert any("undefined (nan) at this point" in n["message"] for n in doc["notes"])
