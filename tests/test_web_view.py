"""bp view: the page, opened from file:// in headless Chromium with the network off, shows
what a person should see at each step."""

import json
import re

import pytest

from bpcli import parse
from bpcli.views.web.layout import layout

CARD = ["(x*w-y)^2", "--x", "2", "--w", "3", "--y", "4"]
TWICE = ["z = x*w; L = (z-y)^2 + z", "--x", "2", "--w", "3", "--y", "4"]



def open_page(page, path, step=None):
    page.goto(path.as_uri() + ("" if step is None else f"#step={step}"))
    page.wait_for_selector("body[data-ready='1']")
    return page


def node_text(page, node_id):
    """The lines of text a node shows (SVG has no innerText)."""
    return page.eval_on_selector(f"[data-id={node_id}]",
                                 "g => [...g.querySelectorAll('text')].map(t => t.textContent).join('\\n')")


def current_nodes(page):
    return page.eval_on_selector_all(".node.current", "els => els.map(e => e.dataset.id)")


# -- the file ---------------------------------------------------------------------------
def test_view_writes_one_self_contained_page(bp, tmp_path):
    out = tmp_path / "card.html"
    result = bp("view", *CARD, "-o", str(out))
    assert result.exit_code == 0
    assert result.stdout == ""
    assert re.fullmatch(r"bp: wrote .*card\.html \(\d+ kB, 7 nodes laid out by (Graphviz|bp)\)\n", result.stderr)
    html = out.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>")
    # Nothing is fetched: no external script, style sheet, image or font.
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=\"(?!data:)", html)
    assert "@import" not in html and "url(http" not in html


def test_view_embeds_the_document_bp_grad_prints(bp, view):
    html = view(*CARD).read_text(encoding="utf-8")
    embedded = re.search(r'<script type="application/json" id="bp-data">(.*?)</script>', html, re.S).group(1)
    grad = bp("grad", *CARD, "--json")
    assert json.loads(embedded)["document"] == json.loads(grad.stdout)


def test_view_to_stdout(bp):
    result = bp("view", *CARD, "-o", "-")
    assert result.exit_code == 0
    assert result.stdout.startswith("<!DOCTYPE html>")


def test_view_refuses_a_bad_formula_and_a_bad_layout(bp, tmp_path):
    result = bp("view", "(x*w-", "-o", str(tmp_path / "p.html"))
    assert result.exit_code == 2
    assert "parse error" in result.stderr and "^" in result.stderr
    assert not (tmp_path / "p.html").exists()
    result = bp("view", *CARD, "--layout", "neato")
    assert result.exit_code == 2
    assert "--layout must be auto, graphviz or bp" in result.stderr


def test_view_needs_every_value(bp, tmp_path):
    result = bp("view", "(x*w-y)^2", "--x", "2", "-o", str(tmp_path / "p.html"))
    assert result.exit_code == 2
    assert "no value for w, y" in result.stderr


def test_script_json_cannot_close_the_script():
    from bpcli.views.web import script_json

    text = script_json({"formula": "</script><script>alert(1)</script> & <!--"})
    assert "</" not in text and "<!--" not in text and "&" not in text
    assert json.loads(text)["formula"] == "</script><script>alert(1)</script> & <!--"


# -- the layout ---------------------------------------------------------------------------
@pytest.mark.parametrize("engine", [pytest.param("graphviz", marks=pytest.mark.requires("dot")), "bp"])
def test_layout_gives_every_node_a_box_and_every_edge_a_path(engine):
    f = parse("z = x*w; L = (z-y)^2 + z + x*x")
    doc = {"nodes": [{"value": 1.0, "adjoint": 1.0} for _ in range(len(f))]}
    found = layout(f, doc, engine)
    assert found["engine"] == engine
    assert [n["id"] for n in found["nodes"]] == [f"n{i}" for i in range(len(f))]
    assert len(found["edges"]) == sum(len(a) for a in f.args)
    assert all(e["path"].startswith("M") and " C" in e["path"] for e in found["edges"])
    for n in found["nodes"]:  # inside the drawing
        assert 0 <= n["x"] and n["x"] + n["w"] <= found["width"] + 0.5
        assert 0 <= n["y"] and n["y"] + n["h"] <= found["height"] + 0.5


def test_bp_layout_puts_operands_left_of_their_operation():
    f = parse("(x*w-y)^2")
    doc = {"nodes": [{"value": 1.0, "adjoint": 1.0} for _ in range(len(f))]}
    boxes = layout(f, doc, "bp")["nodes"]
    for p, args in enumerate(f.args):
        for c in args:
            assert boxes[c]["x"] + boxes[c]["w"] < boxes[p]["x"]


@pytest.mark.slow
def test_bp_layout_of_100000_levels_needs_no_recursion():
    text = "x" + "+1" * 100_000
    f = parse(text)
    doc = {"nodes": [{"value": 1.0, "adjoint": 1.0} for _ in range(len(f))]}
    found = layout(f, doc, "bp")
    assert len(found["nodes"]) == len(f)


# -- in the browser -----------------------------------------------------------------------
def test_page_shows_every_node_with_its_label_and_operation(page, view):
    open_page(page, view(*CARD))
    assert page.locator(".node").count() == 7
    assert "x" in node_text(page, "n0") and "n2: x · w" in node_text(page, "n2")
    assert "n6: n4^2" in node_text(page, "n6")
    # At the start nothing is computed yet.
    assert "= ?" in node_text(page, "n2")
    assert page.inner_text("#bp-counter").startswith("step 0 / 14")


def test_right_arrow_runs_the_forward_pass_node_by_node(page, view):
    open_page(page, view(*CARD))
    page.keyboard.press("ArrowRight")
    assert current_nodes(page) == ["n0"]
    assert page.inner_text("#bp-chain") == "input x = 2"
    for _ in range(2):
        page.keyboard.press("ArrowRight")
    assert current_nodes(page) == ["n2"]
    assert "n2: x · w = 6" in page.inner_text("#bp-chain")
    assert "= 6" in node_text(page, "n2")
    assert "= ?" in node_text(page, "n4")  # not yet


def test_right_arrow_walks_the_backward_pass_edge_by_edge(page, view):
    open_page(page, view(*CARD), step=8)  # the seed: ∂n6/∂n6 = 1
    assert current_nodes(page) == ["n6"]
    assert "∂n6/∂n6 = 1" in page.inner_text("#bp-chain")
    page.keyboard.press("ArrowRight")
    assert current_nodes(page) == ["n4"]
    assert page.inner_text("#bp-chain").startswith("∂n6/∂n4 = ∂n6/∂n6 · ∂n6/∂n4 = 1 · 4 = 4")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    assert current_nodes(page) == ["n1"]
    assert page.inner_text("#bp-chain").startswith("∂n6/∂w = ∂n6/∂n2 · ∂n2/∂w = 4 · 2 = 8")
    assert "∂ 8" in node_text(page, "n1")


def test_last_step_shows_the_gradients_of_the_card_example(page, view):
    open_page(page, view(*CARD))
    page.keyboard.press("End")
    chain = page.inner_text("#bp-chain")
    assert chain.startswith("gradient: x 12, w 8, y −4")
    assert "SymPy ✓" in chain
    assert "∂ 12" in node_text(page, "n0") and "∂ 8" in node_text(page, "n1")
    assert "∂ −4" in node_text(page, "n3")
    page.keyboard.press("Home")
    assert page.inner_text("#bp-counter").startswith("step 0 /")


def test_a_node_used_twice_visibly_receives_two_contributions(page, view):
    open_page(page, view(*TWICE), step=11)  # n7 ← n2: z's first contribution
    assert current_nodes(page) == ["n2"]
    assert "contribution 1 of 2 to z: ∂L/∂z = 1 so far" in page.inner_text("#bp-chain")
    assert "∂ 1" in node_text(page, "n2") and "1/2" in node_text(page, "n2")
    page.keyboard.press("ArrowRight")  # n6 ← n4
    page.keyboard.press("ArrowRight")  # n4 ← n2: the second
    chain = page.inner_text("#bp-chain")
    assert chain.startswith("∂L/∂z += ∂L/∂n4 · ∂n4/∂z = 4 · 1 = 4")
    assert "contribution 2 of 2 to z: ∂L/∂z = 5" in chain
    assert "∂ 5" in node_text(page, "n2") and "2/2" in node_text(page, "n2")


def test_the_url_fragment_holds_the_step(page, view):
    path = view(*CARD)
    open_page(page, path, step=3)
    assert page.inner_text("#bp-counter").startswith("step 3 / 14")
    assert current_nodes(page) == ["n2"]
    page.keyboard.press("ArrowRight")
    assert page.evaluate("location.hash") == "#step=4"
    page.evaluate("location.hash = '#step=14'")
    page.wait_for_function("document.getElementById('bp-counter').textContent.startsWith('step 14')")


def test_buttons_and_play_move_through_the_steps(page, view):
    open_page(page, view(*CARD))
    page.click("#bp-next")
    page.click("#bp-next")
    assert page.inner_text("#bp-counter").startswith("step 2 /")
    page.click("#bp-prev")
    assert page.inner_text("#bp-counter").startswith("step 1 /")
    page.select_option("#bp-speed", "150")
    page.click("#bp-play")
    assert page.inner_text("#bp-play") == "⏸ pause"
    page.wait_for_function("document.getElementById('bp-counter').textContent.startsWith('step 14')",
                           timeout=10_000)
    assert page.inner_text("#bp-play") == "▶ play"  # stops by itself at the end


def test_space_plays_and_pauses(page, view):
    open_page(page, view(*CARD))
    page.keyboard.press(" ")
    assert page.inner_text("#bp-play") == "⏸ pause"
    page.keyboard.press(" ")
    assert page.inner_text("#bp-play") == "▶ play"


def test_clicking_a_node_opens_its_details(page, view):
    open_page(page, view(*TWICE))
    assert page.is_hidden("#bp-details")
    page.click("[data-id=n2]")
    assert page.is_visible("#bp-details")
    details = page.inner_text("#bp-details")
    assert "z = n2: x · w" in details
    assert "mul: x · w" in details  # operands named as the Backward table names them
    assert "not computed yet" in details  # at step 0
    page.keyboard.press("End")
    details = page.inner_text("#bp-details")
    assert "6.0" in details and "5.0" in details
    assert "∂(x · w)/∂x = w" in details
    assert "n7: 1 + n4: 4 = 5" in details  # the two contributions
    page.click("#bp-details-close")
    assert page.is_hidden("#bp-details")


def test_the_panel_holds_the_tables_and_the_check(page, view):
    open_page(page, view(*CARD))
    assert page.is_hidden("#bp-check")  # the check is the end of the lesson
    page.keyboard.press("End")
    assert "✓ SymPy ✓ / finite difference ✓" in page.inner_text("#bp-check")
    tables = page.inner_text("#bp-tables")
    for title in ("Forward: a value per node", "Backward: a local gradient per edge", "Gradient, cross-checked"):
        assert title in tables
    assert "2*w*(w*x - y)" in tables and "-4.0" in tables
    page.keyboard.press("Home")
    page.keyboard.press("ArrowRight")
    assert page.inner_text("#bp-tables tr.current") .startswith("n0")


def test_large_fonts_and_dark_mode(page, view):
    open_page(page, view(*CARD))
    size = lambda: page.evaluate("parseFloat(getComputedStyle(document.body).fontSize)")  # noqa: E731
    background = lambda: page.evaluate("getComputedStyle(document.body).backgroundColor")  # noqa: E731
    small, light = size(), background()
    page.click("#bp-large")
    assert size() > small * 1.4
    page.click("#bp-theme")
    assert background() != light


def test_edges_show_sign_and_size_of_their_contribution(page, view):
    open_page(page, view(*CARD))
    page.keyboard.press("End")
    assert page.locator(".edge.pos").count() == 4
    assert page.locator(".edge.neg").count() == 1  # n4 ← y: −4
    assert "∂ 3" in page.text_content("#bp-graph")  # local gradient on the edge x → n2


def test_page_laid_out_by_bp_without_graphviz(page, view):
    open_page(page, view(*CARD, "--layout", "bp"))
    page.keyboard.press("End")
    assert page.inner_text("#bp-chain").startswith("gradient: x 12, w 8, y −4")


def test_a_formula_without_inputs_has_no_backward_pass(page, view):
    open_page(page, view("2*3"))
    page.keyboard.press("End")
    assert page.inner_text("#bp-counter").startswith("step 4 / 4")


def test_a_2000_node_graph_loads_and_steps(page, view):
    text = "a0 = x*w" + "".join(f"; a{i} = sin(a{i - 1}) * w + x" for i in range(1, 700))
    path = view(text, "--x", "0.5", "--w", "0.9", "--no-check")
    open_page(page, path)
    assert page.locator(".node").count() > 2000
    page.keyboard.press("End")
    page.keyboard.press("ArrowLeft")
    assert "backward pass" in page.inner_text("#bp-counter")


# -- schema bp.grad/2 (tensors): the page reads shapes, nested lists, rules and note objects --
def tensor_document():
    """A bp.grad/2 document as TENSOR_DESIGN.md section 5 and 8 describe it, for a*b + a with
    a and b vectors of 2 (written by hand: the page must read it before the engine prints it)."""
    return {
        "schema": "bp.grad/2", "formula": "a*b + a", "inputs": {"a": [1.0, 2.0], "b": [3.0, "inf"]},
        "value": [4.0, "inf"], "gradient": {"a": [4.0, "inf"], "b": [1.0, 2.0]},
        "nodes": [
            {"id": "n0", "op": "input", "label": "a", "operands": [], "shape": [2], "value": [1.0, 2.0],
             "adjoint": [4.0, "inf"]},
            {"id": "n1", "op": "input", "label": "b", "operands": [], "shape": [2], "value": [3.0, "inf"],
             "adjoint": [1.0, 2.0]},
            {"id": "n2", "op": "mul", "label": "", "operands": ["n0", "n1"], "shape": [2], "value": [3.0, "inf"],
             "adjoint": [1.0, 1.0]},
            {"id": "n3", "op": "add", "label": "", "operands": ["n2", "n0"], "shape": [2], "value": [4.0, "inf"],
             "adjoint": [1.0, 1.0]},
        ],
        "edges": [
            {"parent": "n3", "child": "n2", "slot": 0, "local": None, "rule": "∂L/∂A = ∂L/∂Y",
             "formula": None, "contribution": [1.0, 1.0]},
            {"parent": "n3", "child": "n0", "slot": 1, "local": None, "rule": "∂L/∂B = ∂L/∂Y",
             "formula": None, "contribution": [1.0, 1.0]},
            {"parent": "n2", "child": "n0", "slot": 0, "local": None, "rule": "∂L/∂A = ∂L/∂Y ⊙ B",
             "formula": None, "contribution": [3.0, "inf"]},
            {"parent": "n2", "child": "n1", "slot": 1, "local": None, "rule": "∂L/∂B = ∂L/∂Y ⊙ A",
             "formula": None, "contribution": [1.0, 2.0]},
        ],
        "notes": [{"kind": "overflow", "node": "n2", "message": "n2 mul overflows", "suggestion": "log(a) + log(b)"}],
        "check": None, "ok": True,
    }


def test_page_reads_schema_2_with_shapes_arrays_and_rules(page, tmp_path):
    from bpcli.views.web import page as build_page
    from bpcli.views.web import view_data

    out = tmp_path / "tensor.html"
    out.write_text(build_page(view_data(parse("a*b + a"), tensor_document())), encoding="utf-8")
    open_page(page, out, step=10)
    tables = page.inner_text("#bp-tables")
    assert "shape" in tables and "∂L/∂A = ∂L/∂Y ⊙ B" in tables
    assert "note: n2 mul overflows (try log(a) + log(b))" in tables
    page.keyboard.press("End")
    assert page.inner_text("#bp-chain").startswith("gradient: a [4, inf], b [1, 2]")
    assert "= [2]" in node_text(page, "n2") and "∂ [2]" in node_text(page, "n2")
    assert "3\ninf" in node_text(page, "n2")  # its entries, in a grid
    open_page(page, out, step=7)  # n3 ← n0: a's first contribution
    chain = page.inner_text("#bp-chain")
    assert chain.startswith("∂n3/∂a = [1, 1]   from n3 by ∂L/∂B = ∂L/∂Y")
    page.keyboard.press("ArrowRight")
    assert "contribution 2 of 2 to a: ∂n3/∂a = [4, inf]" in page.inner_text("#bp-chain")
    page.click("[data-id=n0]")
    details = page.inner_text("#bp-details")
    assert "shape\n2" in details and "[1, 2]" in details and "[4, inf]" in details


def test_bp_view_of_a_tensor_formula_shows_shapes_and_arrays(page, view):
    open_page(page, view("L = sum(tanh(W @ x) * x)", "--W", "[[1,2],[3,4]]", "--x", "[0.5,-1]"))
    page.keyboard.press("End")
    assert "shape" in page.inner_text("#bp-tables") and "2×2" in page.inner_text("#bp-tables")
    assert "= [2×2]" in node_text(page, "n0")
    assert page.inner_text("#bp-chain").startswith("gradient: W [[0.0451767, −0.0903533], "
                                                   "[−0.0132961, 0.0265922]], x ")
    page.click("[data-id=n2]")
    details = page.inner_text("#bp-details")
    assert "matmul: W @ x" in details and "[−1.5, −2.5]" in details
    assert details.count("∂L/∂W = ∂L/∂n2 @ xᵀ") == 1
