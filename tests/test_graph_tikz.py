"""bp graph --format tikz: a LaTeX document of the graph for slides, values above the wires
and gradients below (CS231n's style), compiled by pdflatex; --step K draws the graph as it is
after step K of the page's walk (views/walk.py, which the page reads too)."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
from typer.testing import CliRunner

from bpcli.cli import app
from bpcli.language.parser import parse
from bpcli.teach import slides
from bpcli.views import walk
from bpcli.views.documents import grad_document
from bpcli.views.web import view_data

CARD = ("(x*w-y)^2", "--x", "2", "--w", "3", "--y", "4")
NETWORK = ("h = W1 @ x + b1; y_hat = W2 @ h + b2; loss = sum((y_hat - y)^2)",
           "--W1", "[[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]]", "--b1", "[0, 0, 0]",
           "--W2", "[[1, -1, 0.5]]", "--b2", "[0.1]", "--x", "[1, 2]", "--y", "[1]")


def run(*args):
    return CliRunner().invoke(app, list(args))


def compile_pdf(tmp_path, text: str, name: str = "graph") -> str:
    """pdflatex's log of the document (CI installs TeX Live's pictures: tools/install-system-deps.sh)."""
    assert shutil.which("pdflatex"), "pdflatex is needed: tools/install-system-deps.sh installs it"
    found = subprocess.run(["kpsewhich", "tikz.sty"], capture_output=True, text=True).stdout.strip()
    assert found, "TikZ is needed (Debian package texlive-pictures): tools/install-system-deps.sh installs it"
    (tmp_path / f"{name}.tex").write_text(text, encoding="utf-8")
    done = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", f"{name}.tex"],
                          cwd=tmp_path, capture_output=True, timeout=300)
    log = (tmp_path / f"{name}.log").read_text(errors="replace")
    assert done.returncode == 0, log[-3000:]
    assert (tmp_path / f"{name}.pdf").stat().st_size > 1000
    assert re.search(r"Output written on \S+\.pdf \(1 page", log)
    return log


def wires(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(r"\draw")]


def test_the_card_example_compiles_with_values_above_and_gradients_below(tmp_path):
    result = run("graph", *CARD, "--format", "tikz", "--precision", "4")
    assert result.exit_code == 0, result.stderr
    text = result.stdout
    assert r"\node[box] (n2) at" in text and r"{$\cdot$};" in text and r"{\^{}};" in text
    assert wires(text) == [
        rf"\draw[->] ({c}.east) .. controls +({d}pt, 0pt) and +(-{d}pt, 0pt) .. ({p}.west){labels};"
        for c, p, d, labels in [
            ("n0", "n2", 38.8, " node[value, midway, above, sloped] {2} node[gradient, midway, below, sloped] {12}"),
            ("n1", "n2", 38.8, " node[value, midway, above, sloped] {3} node[gradient, midway, below, sloped] {8}"),
            ("n2", "n4", 46.2, " node[value, midway, above, sloped] {6} node[gradient, midway, below, sloped] {4}"),
            ("n3", "n4", 46.2, " node[value, midway, above, sloped] {4} node[gradient, midway, below, sloped] {-4}"),
            ("n4", "n6", 44.9, " node[value, midway, above, sloped] {2} node[gradient, midway, below, sloped] {4}"),
            ("n5", "n6", 44.9, " node[value, midway, above, sloped] {2}"),  # a constant: no gradient
        ]] + [r"\draw[->] (n6.east) -- ++(45.0pt, 0) node[value, midway, above] {4} node[gradient, midway, below] {1};"]
    assert "value/.style={text=green!45!black" in text and "gradient/.style={text=red!75!black" in text
    compile_pdf(tmp_path, text)


def test_the_two_layer_network_compiles_its_tensors_shown_by_shape(tmp_path):
    out = tmp_path / "net.tex"
    result = run("graph", *NETWORK, "-o", str(out))  # .tex: the format is tikz
    assert result.exit_code == 0, result.stderr
    assert result.stderr == f"bp: wrote {out} (14 nodes, 13 edges)\n"
    text = out.read_text()
    assert (r"(n2.west) node[value, midway, above, sloped] {[3x2]} node[gradient, midway, below, sloped] {[3x2]};"
            in text)
    assert r"label={[font=\scriptsize, text=black!60]above:{y\_hat}}" in text  # names through tex()
    compile_pdf(tmp_path, text, "net")


def test_a_300_node_graph_compiles_within_texs_dimensions(tmp_path):
    formula = " + ".join(f"tanh(a{k}*x + b{k})" for k in range(60))  # 60·5 = 300 nodes and more
    values = [f"--a{k}={k / 60}" for k in range(60)] + [f"--b{k}={-k / 90}" for k in range(60)]
    result = run("graph", formula, "--x", "0.5", *values, "--format", "tikz", "--precision", "3")
    assert result.exit_code == 0, result.stderr
    assert len(parse(formula)) >= 300
    text = result.stdout
    assert text.count(r"\node[") == len(parse(formula))
    coordinates = [abs(float(v)) for v in re.findall(r"at \((-?[\d.]+)pt, (-?[\d.]+)pt\)", text) for v in v]
    assert max(coordinates) <= slides.LARGEST
    compile_pdf(tmp_path, text, "big")


def card_steps() -> list:
    f = parse(CARD[0])
    doc = grad_document(f.grad({"x": 2.0, "w": 3.0, "y": 4.0}), {"x": 2.0, "w": 3.0, "y": 4.0}, None, [])
    return walk.steps(doc)


def test_the_walk_is_the_pages_forward_node_by_node_then_the_seed_then_backward_edge_by_edge():
    steps = card_steps()
    assert steps == [["start", None], *(["forward", i] for i in range(7)), ["seed", 6],
                     *(["backward", k] for k in range(5)), ["result", None]]
    f = parse(CARD[0])
    doc = grad_document(f.grad({"x": 2.0, "w": 3.0, "y": 4.0}), {"x": 2.0, "w": 3.0, "y": 4.0}, None, [])
    assert view_data(f, doc, "bp")["steps"] == steps  # the page plays these very steps


def step(k: str):
    result = run("graph", *CARD, "--format", "tikz", "--precision", "4", "--step", k)
    assert result.exit_code == 0, result.stderr
    return result.stdout


def test_step_zero_shows_the_graph_with_nothing_computed():
    text = step("0")
    assert "value," not in "".join(wires(text)) and "gradient," not in "".join(wires(text))
    assert "current" not in "".join(line for line in text.splitlines() if line.startswith(r"\node"))


def test_step_k_shows_the_values_computed_so_far_and_the_current_node():
    text = step("3")  # x, w and x·w computed
    drawn = wires(text)
    assert [w.split(" .. ")[-1] for w in drawn if "value," in w] == [
        "(n2.west) node[value, midway, above, sloped] {2};", "(n2.west) node[value, midway, above, sloped] {3};",
        "(n4.west) node[value, midway, above, sloped] {6};"]
    assert re.search(r"\\node\[box, current\] \(n2\)", text)
    seeded = step("8")
    assert seeded.count("node[value") == 7 and "gradient, midway, below, sloped" not in seeded
    assert r"node[gradient, midway, below] {1};" in seeded
    first = step("9")  # the first backward edge: n6 ← n4
    assert (r"\draw[->, current] (n4.east) .. controls +(44.9pt, 0pt) and +(-44.9pt, 0pt) .. (n6.west) "
            r"node[value, midway, above, sloped] {2} node[gradient, midway, below, sloped] {4};") in first
    assert first.count("node[gradient, midway, below, sloped]") == 1


def test_the_last_step_is_the_whole_picture_and_a_step_past_it_is_refused():
    whole = run("graph", *CARD, "--format", "tikz", "--precision", "4").stdout
    assert wires(step("14")) == wires(whole)
    past = run("graph", *CARD, "--format", "tikz", "--step", "15")
    assert (past.exit_code, past.stdout) == (2, "")
    assert past.stderr == "bp: usage error: --step 15: this graph's walk has steps 0 to 14\n"
    for args, said in [(("--format", "dot", "--step", "2"), "--step draws a step of the walk as a TikZ picture: "
                                                             "give it with --format tikz"),
                       ((), "--step needs values: the walk computes them (e.g. --x 2)")]:
        formula = CARD if args else CARD[:1]
        r = run("graph", *formula, *(args or ("--format", "tikz", "--step", "2")))
        assert (r.exit_code, r.stdout) == (2, "") and r.stderr == f"bp: usage error: {said}\n"


def test_user_text_goes_through_the_one_tex_escape_and_compiles(tmp_path):
    result = run("graph", "a_b = x_1 * w_2; 𝜔 = a_b^2", "--x_1", "2", "--w_2", "3", "--format", "tikz")
    assert result.exit_code == 0, result.stderr
    text = result.stdout
    assert r"{x\_1};" in text and r"above:{a\_b}}]" in text and r"above:{$\omega$}}]" in text
    compile_pdf(tmp_path, text, "names")


@pytest.mark.parametrize("formula", ["x*x", "x"])
def test_a_node_used_twice_bends_its_wires_apart_and_a_lone_input_still_draws(formula, tmp_path):
    result = run("graph", formula, "--x", "3", "--format", "tikz")
    assert result.exit_code == 0, result.stderr
    if formula == "x*x":
        assert [w.split(" .. ")[1] for w in wires(result.stdout)[:2]] == [
            "controls +(37.6pt, 18pt) and +(-37.6pt, 18pt)", "controls +(37.6pt, -18pt) and +(-37.6pt, -18pt)"]
    compile_pdf(tmp_path, result.stdout, "twice")
