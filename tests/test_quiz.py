"""bp quiz: exercises, the answer key, grading with hints, worksheets, and the terminal session."""

from __future__ import annotations

import json
import os
import sys

import pytest

from bpcli.teach import quiz


def key_of(bp, *args) -> dict:
    r = bp("quiz", *args, "--key")
    assert r.exit_code == 0, r.stderr
    return json.loads(r.stdout)


def grade(bp, args, answers: dict, tmp_path, *extra):
    path = tmp_path / "answers.json"
    path.write_text(json.dumps(answers))
    return bp("quiz", *args, "--answers", str(path), *extra)


def test_lecture_exercise_1_answer_is_minus_8(bp):
    key = key_of(bp, "--lecture", "1")
    assert key["answers"] == {"value:y_hat": 2.0, "value:r": -2.0, "value:loss": 4.0, "adjoint:w": -8.0}


def test_lecture_exercise_2_answers_are_2_and_2(bp):
    key = key_of(bp, "--lecture", "2")
    assert (key["answers"]["adjoint:w"], key["answers"]["adjoint:b"]) == (2.0, 2.0)
    assert key["answers"]["value:y_hat"] == 3.0 and key["answers"]["value:loss"] == 1.0


@pytest.mark.parametrize("args", [["--lecture", "1"], ["--seed", "3"], ["--level", "2", "--seed", "5"],
                                  ["--level", "3", "--seed", "7"]])
def test_the_key_scores_full_marks_and_one_changed_number_one_wrong(bp, bp_json, tmp_path, args):
    key = key_of(bp, *args)
    doc = json.loads(grade(bp, args, key, tmp_path, "--json").stdout)
    assert (doc["correct"], doc["total"]) == (len(key["answers"]), len(key["answers"]))
    first = next(iter(key["answers"]))
    key["answers"][first] += 0.5
    doc = json.loads(grade(bp, args, key, tmp_path, "--json").stdout)
    assert doc["correct"] == doc["total"] - 1
    assert [b["id"] for b in doc["blanks"] if not b["correct"]] == [first]
    assert next(b["hint"] for b in doc["blanks"] if b["id"] == first)


def test_grading_as_text_gives_feedback_per_blank_and_the_score(bp, tmp_path):
    key = key_of(bp, "--lecture", "1")
    key["answers"]["adjoint:w"] = 8.0
    r = grade(bp, ["--lecture", "1"], key, tmp_path)
    assert r.exit_code == 0
    assert r.stdout.splitlines() == [
        "✓ [1] value:y_hat = 2.0", "✓ [2] value:r = -2.0", "✓ [3] value:loss = 4.0",
        "✗ [4] adjoint:w = 8.0: check the sign: on the way back from loss to w, a negative local gradient "
        "flips the sign: ∂(r^2)/∂r = 2·r = -4 (a square doubles its operand: 2 times the operand times the "
        "adjoint; r = -2)",
        "score: 3/4"]


def test_answers_on_stdin(bp):
    key = key_of(bp, "--seed", "2")
    r = bp("quiz", "--seed", "2", "--answers", "-", "--json", input=json.dumps(key))
    assert r.exit_code == 0 and json.loads(r.stdout)["correct"] == len(key["answers"])


@pytest.mark.parametrize("level", [1, 2, 3])
def test_the_same_seed_gives_the_same_exercise(bp, level):
    a = bp("quiz", "--level", str(level), "--seed", "11", "--json").stdout
    assert a == bp("quiz", "--level", str(level), "--seed", "11", "--json").stdout
    others = {bp("quiz", "--level", str(level), "--seed", str(s), "--json").stdout for s in range(5)}
    assert len(others) > 1


@pytest.mark.parametrize("level", [1, 2, 3])
def test_generated_answers_are_short_decimals_away_from_kinks(level):
    for seed in range(40):
        ex = quiz.generate(level, seed)
        assert not ex.result.hits, (level, seed)
        assert all(abs(b.answer * 1000 - round(b.answer * 1000)) < 1e-9 for b in ex.blanks), (level, seed)
        assert any(b.kind == "adjoint" and b.node in ex.formula.inputs.values() for b in ex.blanks)
        assert len(ex.blanks) == min(quiz.BLANKS[level], len(quiz.candidates(ex.result)))


def test_the_exercise_document_hides_the_answers(bp_json):
    doc = bp_json("quiz", "--lecture", "1")
    assert doc["schema"] == "bp.quiz/1" and doc["fingerprint"]
    by_name = {n["name"]: n for n in doc["nodes"]}
    assert by_name["y_hat"]["value"] is None and by_name["y_hat"]["value_blank"] == "value:y_hat"
    assert by_name["x"]["value"] == 2.0 and by_name["w"]["adjoint_blank"] == "adjoint:w"
    assert "-8" not in json.dumps(doc)


def test_hint_for_a_missed_path_where_a_node_is_used_twice():
    from bpcli.language.parser import parse

    ex = quiz.build(parse("u = x*w; z = u*u + u"), {"x": 2.0, "w": -2.0}, ids=["adjoint:u"])
    # ∂z/∂u = 2u + 1 = -7: three uses of u; the path through the + alone gives 1.
    assert ex.blanks[0].answer == -7.0
    assert "u is used 3 times" in quiz.mark(ex, ex.blanks[0], 1.0).hint


def test_hint_for_a_local_gradient_not_multiplied_by_the_upstream_adjoint():
    from bpcli.language.parser import parse

    ex = quiz.build(parse("y_hat = x*w; r = y_hat - y; loss = r^2"), {"x": 2.0, "w": 1.0, "y": 4.0},
                    ids=["adjoint:w"])
    assert "multiply it by the parent adjoint" in quiz.mark(ex, ex.blanks[0], 2.0).hint  # ∂ŷ/∂w = x


def test_answers_for_another_exercise_are_refused(bp, tmp_path):
    r = grade(bp, ["--seed", "4"], key_of(bp, "--seed", "3"), tmp_path)
    assert r.exit_code == 2 and "answers are for another exercise" in r.stderr


def test_missing_blanks_unknown_blanks_and_non_numbers_are_refused(bp, tmp_path):
    key = key_of(bp, "--lecture", "1")
    key["answers"].pop("value:r")
    key["answers"]["value:q"] = 1
    key["answers"]["adjoint:w"] = "minus eight"
    r = grade(bp, ["--lecture", "1"], key, tmp_path)
    assert r.exit_code == 2
    assert ("no answer for value:r; no blank named value:q; not a number: adjoint:w = \"minus eight\""
            in r.stderr)
    r = bp("quiz", "--lecture", "1", "--answers", "-", input="{not json")
    assert r.exit_code == 2 and "stdin: not JSON" in r.stderr


def test_own_formula_with_values(bp):
    key = key_of(bp, "--formula", "(x*w-y)^2", "--x", "2", "--w", "3", "--y", "4", "--level", "2")
    assert len(key["answers"]) == 6


def test_own_formula_at_a_kink_is_refused(bp):
    r = bp("quiz", "--formula", "relu(x)*w", "--x", "0", "--w", "1")
    assert r.exit_code == 2 and "no good for an exercise" in r.stderr


@pytest.mark.parametrize("ext", ["md", "tex"])
def test_worksheet_and_its_key_are_written_separately(bp, tmp_path, ext):
    sheet = tmp_path / f"sheet.{ext}"
    r = bp("quiz", "--lecture", "1", "--worksheet", str(sheet))
    assert r.exit_code == 0, r.stderr
    text, key = sheet.read_text(), (tmp_path / f"sheet-key.{ext}").read_text()
    assert "-8" not in text and "-8" in key
    assert "2c1d02beda395ad1" in text  # the exercise's fingerprint
    if ext == "md":
        assert "| n2 | y_hat | x · w | [1] |  |" in text
        block = key.split("```json\n")[1].split("```")[0]
        assert json.loads(block) == key_of(bp, "--lecture", "1")
    else:
        assert text.startswith(r"\documentclass{article}") and r"\end{document}" in text


# A formula of the user's own with everything LaTeX treats specially: _ ^ % # & $ { } < | >,
# a blank line, Greek names (θ, λ, Λ), a subscript digit, an accent and names in Chinese.
UNUSUAL = ("θ_1 = x^2 * w_0  # 100% & $5 {not} <, |, >\n\n"
           "損失 = (θ_1 - y)^2 / 2 + max(x, w_0) + λ*Λ*x₁*é\nloss = 損失")
UNUSUAL_VALUES = ["x=2", "w_0=3", "y=4", "λ=1", "Λ=2", "x₁=2", "é=1"]
PDFLATEX = __import__("shutil").which("pdflatex")


@pytest.mark.requires("pdflatex")
@pytest.mark.parametrize("args", [["--lecture", "1"], ["--lecture", "2"], ["--level", "3", "--seed", "5"],
                                  ["--level", "3", "--seed", "11"], ["--formula", UNUSUAL, *UNUSUAL_VALUES]],
                         ids=["lecture-1", "lecture-2", "level-3-seed-5", "level-3-seed-11", "unusual-names"])
def test_latex_worksheets_and_their_keys_compile_with_pdflatex(bp, tmp_path, args):
    import subprocess

    r = bp("quiz", *args, "--worksheet", str(tmp_path / "sheet.tex"))
    assert r.exit_code == 0, r.stderr
    for name in ("sheet", "sheet-key"):
        done = subprocess.run([PDFLATEX, "-halt-on-error", "-interaction=nonstopmode", f"{name}.tex"],
                              cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout[-3000:]
        assert (tmp_path / f"{name}.pdf").read_bytes().startswith(b"%PDF")


def test_latex_text_escapes_what_tex_treats_specially_and_is_plain_ascii():
    from bpcli.teach.worksheet import tex

    text = tex(UNUSUAL)
    assert all(c.isascii() or 0xC0 <= ord(c) < 0x180 for c in text)  # accented letters: inputenc's utf8
    assert "é" in text
    for special in ["_", "%", "#", "&", "$5", "{not\\}"]:
        assert "\\" + special in text
    assert "x\\^{}2" in text and "$\\theta$" in text and "$\\Lambda$" in text and "x$_{1}$" in text
    assert "\\texttt{[U+640D]}" in text  # 損: a character pdflatex's base fonts lack, by its code point
    assert "\\newline{}\\newline{}" in text  # the blank line
    assert text.count("{") - text.count("\\{") == text.count("}") - text.count("\\}")


def test_latex_text_spells_a_compatibility_superscript_of_several_letters():
    from bpcli.teach.worksheet import tex

    assert tex("price™") == "price$^{TM}$"  # ™ decomposes to <super> T M: two code points, not one


def test_a_latex_worksheet_of_a_formula_whose_comment_has_a_trade_mark_is_written(bp, tmp_path):
    r = bp("quiz", "--formula", "x*w  # price™", "--x", "2", "--w", "3", "--worksheet", str(tmp_path / "s.tex"))
    assert r.exit_code == 0, r.stderr
    assert "price$^{TM}$" in (tmp_path / "s.tex").read_text(encoding="utf-8")


def test_a_worksheet_must_be_markdown_or_latex(bp, tmp_path):
    r = bp("quiz", "--worksheet", str(tmp_path / "sheet.pdf"))
    assert r.exit_code == 2 and ".md (Markdown) or .tex (LaTeX)" in r.stderr


# -- in a terminal ---------------------------------------------------------------------
def spawn(*args):
    pexpect = pytest.importorskip("pexpect", reason="the terminal session is tested through a pty")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {**os.environ, "COLUMNS": "100", "NO_COLOR": "1", "PYTHONPATH": root}
    return pexpect.spawn(sys.executable, ["-m", "bpcli", "quiz", *args], cwd=root, env=env,
                         encoding="utf-8", timeout=60)


def test_terminal_session_one_blank_at_a_time_with_hints():
    child = spawn("--lecture", "1")
    child.expect_exact("Fill in the 4 blanks")
    child.expect_exact("[1] value of y_hat = x · w = ")
    child.sendline("2")
    child.expect_exact("✓ right")
    child.expect_exact("[2] value of r = y_hat - y = ")
    child.sendline("two")
    child.expect_exact("'two' is not a number; try again")
    child.sendline("-2")
    child.expect_exact("[3] value of loss = r^2 = ")
    child.sendline("4")
    child.expect_exact("[4] adjoint ∂loss/∂w = ")
    child.sendline("8")
    child.expect_exact("✗ hint: check the sign")
    child.expect_exact("[4] adjoint ∂loss/∂w = ")
    child.sendline("-16/2")
    child.expect_exact("score: 3/4 right at the first try, 1 more after a hint")
    child.expect(pytest.importorskip("pexpect").EOF)
    child.close()
    assert child.exitstatus == 0


def test_terminal_session_shows_the_answer_after_three_tries_and_stops_on_ctrl_d():
    child = spawn("--lecture", "1")
    for wrong in ("1", "5", "7"):
        child.expect_exact("[1] value of y_hat = x · w = ")
        child.sendline(wrong)
    child.expect_exact("the answer is 2.0")
    child.expect_exact("[2] value of r = y_hat - y = ")
    child.sendeof()
    child.expect_exact("stopped: 0 of 4 right at the first try")
    child.expect(pytest.importorskip("pexpect").EOF)


def test_tensors_are_refused(bp):
    r = bp("quiz", "--formula", "sum(x*w)", "--x", "[1,2]", "--w", "3")
    assert r.exit_code == 2 and "bp quiz works on scalars only, and x is a tensor; it uses sum" in r.stderr


# -- hints name the rule that applies on the way to the asked node (issue 22, item 10) -----------
def test_the_lecture_sign_hint_names_the_square_of_a_negative_r_not_a_subtraction():
    ex = quiz.lecture(1)
    blank = next(b for b in ex.blanks if b.id == "adjoint:w")
    text = quiz.mark(ex, blank, 8.0).hint
    assert text == ("check the sign: on the way back from loss to w, a negative local gradient flips the "
                    "sign: ∂(r^2)/∂r = 2·r = -4 (a square doubles its operand: 2 times the operand times "
                    "the adjoint; r = -2)")
    assert "subtraction" not in text  # w never reaches a subtraction's right side


def test_a_subtraction_is_named_when_the_node_is_on_its_right_side():
    from bpcli.language.parser import parse

    ex = quiz.build(parse("z = x*w - y*b"), {"x": 2.0, "w": -2.0, "y": 3.0, "b": 2.0}, ids=["adjoint:b"])
    assert ex.blanks[0].answer == -3.0
    assert "a subtraction negates the adjoint for its right side" in quiz.mark(ex, ex.blanks[0], 3.0).hint


def test_the_level_2_seed_3_chain_hint_is_not_circular():
    ex = quiz.generate(2, 3)
    assert ex.formula.text == "u = x*w; z = u*u + u"
    blank = next(b for b in ex.blanks if b.id == "adjoint:u")
    text = quiz.mark(ex, blank, blank.answer + 0.5).hint
    assert text.startswith("the chain rule: ∂z/∂u = 1 + ∂z/∂n3 · u + ∂z/∂n3 · u (")
    assert "a sum copies" in text and "a reused node adds" in text
    assert text.count("∂z/∂u") == 1


def _chain_rhs(text: str) -> str:
    return text.split(" = ", 1)[1].split(" (the adjoint of each node", 1)[0]


def test_every_hint_of_random_quizzes_names_only_edges_on_a_path_and_is_not_circular():
    import re

    from bpcli.views.labels import ref

    checked = 0
    for level in (1, 2, 3):
        for seed in range(25):
            ex = quiz.generate(level, seed)
            f, r = ex.formula, ex.result
            out = ref(f, f.output)
            for node in range(len(f)):
                if not f.differentiable[node] or node == f.output:
                    continue
                edges = quiz.path_edges(f, node)
                terms = quiz.chain_terms(f, node)
                assert terms and all(f.args[p][s] == node and p != node for p, s in terms)
                assert set(terms) <= set(edges)
                name = ref(f, node)
                for given in (r.adjoints[node] + 0.5, 12345.0, -r.adjoints[node]):
                    text = quiz.hint_for(r, "adjoint", node, given)
                    assert not re.search(rf"∂{re.escape(out)}/∂{re.escape(name)}(?!\w)", _chain_rhs(text)) \
                        if text.startswith("the chain rule") else True, text
                    parents = {ref(f, p) for p, _ in terms}
                    for named in re.findall(rf"∂{re.escape(out)}/∂(\w+)", _chain_rhs(text)
                                            if text.startswith("the chain rule") else ""):
                        assert named in parents, (text, named, parents)
                    for whole, operand in re.findall(r"∂\(([^)]*)\)/∂(\w+)", text):
                        assert any(quiz._show(f, p) == whole and ref(f, f.args[p][s]) == operand
                                   for p, s in edges), (text, whole, operand)
                    checked += 1
    assert checked > 300
