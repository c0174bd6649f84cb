"""The page that teaches (issue 23), in headless Chromium from file:// with the network off:
nothing shown before its step, predict then reveal (graded as bp quiz grades), tensors you
can read at 1280×800, a page a room can see. What is asserted is what a person sees."""

import json
import re

import pytest
from test_web_view import CARD, node_text, open_page

from bpcli import parse
from bpcli.teach import quiz

TWO_LAYER = ["h = W1 @ x + b1; y_hat = W2 @ h + b2; loss = sum((y_hat - y)^2)",
             "--W1", "[[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]]", "--b1", "[0, 0, 0]",
             "--W2", "[[1, -1, 0.5]]", "--b2", "[0.1]", "--x", "[1, 2]", "--y", "[1]"]
LECTURE_1 = ["y_hat = x*w; r = y_hat - y; loss = r^2", "--x", "2", "--y", "4", "--w", "1"]

# The text a person can see: every rendered text node, without the tooltips (SVG <title>)
# and what never changes with the step (the formula, node titles, the step counter, the legend,
# the tables' columns of names and formulas); numbers inside names (n2) or formulas (n4^2) are no answer.
VISIBLE_TEXT = """() => {
  const skip = (e) => e.closest('title, script, style, #bp-title, .node text.title, #bp-counter, #bp-legend, '
    + '#bp-speed, #bp-tables td:not(.n)');
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const out = [];
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const e = n.parentElement;
    if (!e || skip(e) || !e.checkVisibility({ checkOpacity: true, checkVisibilityCSS: true })) continue;
    out.push(n.textContent);
  }
  return out.join('\\n');
}"""


RECT = "e => { const b = e.getBoundingClientRect(); return [b.left, b.top, b.right, b.bottom]; }"
# The size text is drawn at: its CSS font size times the scale the SVG is drawn at (fit to its box).
DRAWN_SIZE = "t => parseFloat(getComputedStyle(t).fontSize) * t.getScreenCTM().a"


def visible_numbers(page) -> set[float]:
    text = page.evaluate(VISIBLE_TEXT).replace("−", "-")
    return {float(t) for t in re.findall(r"(?<![\w.^])-?\d+(?:\.\d+)?(?:e[-+]?\d+)?", text)}


def shown_labels(page) -> list[str]:
    """The local gradients written on the edges, as shown."""
    return page.eval_on_selector_all("#bp-graph .labels text",
                                     "ts => ts.filter(t => t.checkVisibility()).map(t => t.textContent)")



def goto(page, path, step=None):
    open_page(page, path, step)
    return page


# -- reveal as you go ---------------------------------------------------------------------
def test_step_0_shows_no_number_of_the_card_example(page, view):
    goto(page, view(*CARD))
    assert visible_numbers(page) == set()
    assert shown_labels(page) == []  # no local gradient on any edge
    assert page.is_hidden("#bp-check")


# After step k exactly the numbers computed by then: values x=2, w=3, n2=6, y=4, n4=2, the
# constant 2, n6=4; the seed 1; then per edge its local gradient and contribution.
@pytest.mark.parametrize("step, seen", [
    (1, {2}), (2, {2, 3}), (3, {2, 3, 6}), (4, {2, 3, 6, 4}), (7, {2, 3, 6, 4}), (8, {1, 2, 3, 4, 6}),
    (9, {1, 2, 3, 4, 6}), (11, {1, 2, 3, 4, 6, -1, -4}), (12, {1, 2, 3, 4, 6, -1, -4, 12}),
    (13, {1, 2, 3, 4, 6, -1, -4, 12, 8}),
])
def test_after_step_k_exactly_the_revealed_numbers_are_visible(page, view, step, seen):
    goto(page, view(*CARD), step)
    assert visible_numbers(page) == seen


def test_edge_labels_and_table_rows_appear_in_step_with_the_graph(page, view):
    goto(page, view(*CARD), 9)  # n6 ← n4: local gradient 2·n4 = 4
    assert shown_labels(page) == ["∂ 4"]
    assert page.locator("#bp-tables tbody tr:visible").count() == 7 + 1  # every node's row, one edge's
    page.keyboard.press("ArrowRight")
    assert sorted(shown_labels(page)) == ["∂ 1", "∂ 4"]


def test_the_end_shows_the_gradients_and_the_check(page, view):
    goto(page, view(*CARD))
    page.keyboard.press("End")
    assert {12, 8, -4} <= visible_numbers(page)
    assert page.is_visible("#bp-check") and "✓ SymPy ✓" in page.inner_text("#bp-check")
    assert "Gradient, cross-checked" in page.inner_text("#bp-tables")


def test_show_everything_switch_and_reveal_all(page, view, bp):
    goto(page, view(*CARD))
    page.check("#bp-reveal")
    assert {2, 3, 4, 6, 12, 8, -4, -1} <= visible_numbers(page)
    assert "∂ 12" in node_text(page, "n0") and page.is_visible("#bp-check")
    page.uncheck("#bp-reveal")
    assert visible_numbers(page) == set()
    goto(page, view(*CARD, "--reveal", "all"))
    assert page.is_checked("#bp-reveal")
    assert "∂ 12" in node_text(page, "n0") and "∂ 3" in shown_labels(page)
    result = bp("view", *CARD, "--reveal", "some")
    assert result.exit_code == 2 and "--reveal must be step or all, not 'some'" in result.stderr


def test_without_a_check_the_page_names_no_flag(page, view):
    goto(page, view(*CARD, "--no-check"))
    page.keyboard.press("End")
    assert page.inner_text("#bp-check") == "not cross-checked"
    assert "--" not in page.evaluate(VISIBLE_TEXT)


# -- predict, then reveal -----------------------------------------------------------------------
def answer(page, text):
    page.fill("#bp-answer", text)
    page.press("#bp-answer", "Enter")


def test_predict_mode_advances_on_the_right_number_and_hints_on_a_wrong_one(page, view):
    goto(page, view(*CARD, "--predict"))
    assert page.is_checked("#bp-predict")
    page.keyboard.press("ArrowRight")  # x, w: inputs, nothing to predict
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")  # n2 = x · w: asked first
    assert page.is_visible("#bp-ask")
    assert page.inner_text("#bp-ask-text") == "Predict value of n2 = x · w:"
    assert page.inner_text("#bp-counter").startswith("step 2 /")
    answer(page, "5")
    feedback = page.inner_text("#bp-feedback")
    assert "compute it from its operands' values" in feedback
    assert 6 not in visible_numbers(page) and page.inner_text("#bp-counter").startswith("step 2 /")
    answer(page, "-6")
    assert "check the sign" in page.inner_text("#bp-feedback")
    answer(page, "6")
    assert page.is_hidden("#bp-ask")
    assert page.inner_text("#bp-counter").startswith("step 3 /") and "= 6" in node_text(page, "n2")
    assert page.inner_text("#bp-score") == "score 1 / 1"
    page.keyboard.press("ArrowRight")  # y
    page.keyboard.press("ArrowRight")  # n4 = n2 - y
    page.click("#bp-give-up")  # show the answer: revealed, not scored right
    assert page.inner_text("#bp-counter").startswith("step 5 /") and "= 2" in node_text(page, "n4")
    assert page.inner_text("#bp-score") == "score 1 / 2"


def test_predict_hints_are_bp_quiz_s_own(page, view):
    """The lecture's exercise 1: each wrong number typed gets exactly the hint bp quiz gives it."""
    goto(page, view(*LECTURE_1, "--predict"), 6)  # every value computed
    f = parse(LECTURE_1[0])
    result = f.grad({"x": 2.0, "y": 4.0, "w": 1.0})
    ex = quiz.Exercise(f, result, {}, quiz.candidates(result), "")
    blank = {b.id: b for b in ex.blanks}
    page.keyboard.press("ArrowRight")  # the seed
    asked = []
    for _ in range(40):
        if page.inner_text("#bp-counter").endswith("done"):
            break
        page.keyboard.press("ArrowRight")
        if page.is_hidden("#bp-ask"):
            continue
        ask = page.inner_text("#bp-ask-text")
        b = next(b for b in ex.blanks if ask == f"Predict {b.prompt}:")
        for wrong in (-b.answer, b.answer + 0.5, 8.0):
            if quiz.is_right(wrong, b.answer):
                continue
            answer(page, repr(wrong))
            assert page.inner_text("#bp-feedback") == (f"not quite: {quiz.hint(ex, b, wrong)}. "
                                                       "Try again, or show the answer.")
        answer(page, repr(b.answer))
        asked.append(b.id)
    assert "adjoint:w" in asked and blank["adjoint:w"].answer == -8


def test_predict_data_is_computed_by_python_not_the_page(bp, tmp_path):
    out = tmp_path / "p.html"
    assert bp("view", *CARD, "-o", str(out)).exit_code == 0
    html = out.read_text(encoding="utf-8")
    data = json.loads(re.search(r'id="bp-data">(.*?)</script>', html, re.S).group(1))
    assert data["questions"]["tolerance"] == quiz.TOLERANCE
    assert [q["id"] for q in data["questions"]["steps"]["edge:n2:0"]] == ["local:n2/x", "adjoint:x"]
    from bpcli.views.web import asset

    script = asset("page.js")  # the page compares only: no hint and no tolerance of its own
    assert "check the sign" not in script and "1e-6" not in script and "questions.tolerance" in script


def test_predict_is_refused_for_a_tensor_formula(bp, tmp_path):
    result = bp("view", *TWO_LAYER, "--predict", "-o", str(tmp_path / "p.html"))
    assert result.exit_code == 2
    assert "--predict: predict mode asks for numbers: this formula has tensors" in result.stderr


# -- tensors you can read, at 1280×800 ----------------------------------------------------------------
def test_two_layer_network_fits_and_reads_at_1280_by_800(page, view):
    goto(page, view(*TWO_LAYER))
    page.keyboard.press("End")
    box = page.eval_on_selector("#bp-graph", RECT)
    nodes = page.eval_on_selector_all(".node > rect", f"rs => rs.map({RECT})")
    assert len(nodes) == 14
    for left, top, right, bottom in nodes:
        assert left >= box[0] and top >= box[1] and right <= box[2] and bottom <= box[3]
    # Node text at least 12 CSS px as drawn (the SVG is scaled to fit: its CSS size times the scale).
    sizes = page.eval_on_selector_all(".node text", f"ts => ts.filter(t => t.textContent).map({DRAWN_SIZE})")
    assert min(sizes) >= 12
    # No two labels overlap: every node's text inside its own box, the boxes apart.
    texts = page.eval_on_selector_all(".node", f"""gs => gs.map(g => [({RECT})(g.querySelector('rect')),
        [...g.querySelectorAll('text')].filter(t => t.textContent && !t.closest('.badge')).map({RECT})])""")
    for outer, inner in texts:
        for b in inner:
            assert outer[0] - 0.5 <= b[0] and b[2] <= outer[2] + 0.5
            assert outer[1] - 0.5 <= b[1] and b[3] <= outer[3] + 0.5
    rects = [r for r, _ in texts]
    for i, a in enumerate(rects):
        for b in rects[i + 1:]:
            assert a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1]
    # The grids: W1's entries and, at the end, its gradient.
    assert "0.1\n0.2\n0.3\n0.4\n0.5\n0.6" in node_text(page, "n0")
    assert "−1.3\n−2.6\n1.3\n2.6\n−0.65\n−1.3" in node_text(page, "n0")
    # The tables: no column cut off (each fits its panel, or scrolls).
    clipped = page.eval_on_selector_all("#bp-tables .scroll", """ds => ds.filter(d => d.checkVisibility()).map(d => {
        const t = d.querySelector('table'), p = document.getElementById('bp-panel').getBoundingClientRect();
        const heads = [...t.querySelectorAll('th')].map(h => h.getBoundingClientRect());
        return heads.some(h => h.right > p.right + 0.5) && d.scrollWidth <= d.clientWidth; })""")
    assert clipped and not any(clipped)
    words = page.eval_on_selector_all("#bp-tables th", "hs => hs.map(h => h.getBoundingClientRect().height < 30)")
    assert all(words)  # "local gradient" on one line


def test_a_large_array_shows_its_shape_and_range_and_the_whole_on_click(page, view):
    big = json.dumps([[i * 0.5 - 20 for i in range(10 * k, 10 * k + 10)] for k in range(9)])
    goto(page, view("sum(A * A)", "--A", big))
    page.keyboard.press("End")
    assert "= [9×10] −20 … 24.5" in node_text(page, "n0")
    page.click("[data-id=n0]")
    details = page.inner_text("#bp-details")
    assert "24.5" in details and "−20" in details and "…" not in details  # every entry


def test_zoom_pan_and_fit(page, view):
    goto(page, view(*TWO_LAYER))
    box = lambda: page.eval_on_selector("#bp-graph", "s => s.getAttribute('viewBox')")  # noqa: E731
    fitted = box()
    page.click("#bp-zoom-in")
    zoomed = box()
    assert float(zoomed.split()[2]) < float(fitted.split()[2])
    page.mouse.move(640, 500)
    page.mouse.down()
    page.mouse.move(540, 450)
    page.mouse.up()
    assert box() != zoomed
    page.click("#bp-fit")
    assert box() == fitted


@pytest.mark.parametrize("args, labels", [(CARD, {"∂ −1", "∂ 1", "∂ 2", "∂ 3", "∂ 4"}),
                                          (LECTURE_1, {"∂ −4", "∂ 1", "∂ −1", "∂ 2"})])
def test_edge_labels_are_never_hidden_or_cut(page, view, args, labels):
    goto(page, view(*args, "--reveal", "all"))
    boxes = page.eval_on_selector_all("#bp-graph .labels text", f"ts => ts.map(t => [t.textContent, ...({RECT})(t)])")
    assert {b[0] for b in boxes} == labels
    graph = page.eval_on_selector("#bp-graph", RECT)
    nodes = page.eval_on_selector_all(".node > rect", f"rs => rs.map({RECT})")
    for _, left, top, right, bottom in boxes:
        assert graph[0] <= left and right <= graph[2] and graph[1] <= top and bottom <= graph[3]
        for n in nodes:  # drawn above the nodes, and beside them
            assert right <= n[0] or n[2] <= left or bottom <= n[1] or n[3] <= top
    for i, (_, *a) in enumerate(boxes):  # and apart from each other
        for _, *b in boxes[i + 1:]:
            assert a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1]


# -- a page a room can see -----------------------------------------------------------------------
def test_a_plus_enlarges_the_graph_text(page, view):
    goto(page, view(*CARD))
    drawn = lambda: page.eval_on_selector(".node text.title", DRAWN_SIZE)  # noqa: E731
    panel = lambda: page.evaluate("parseFloat(getComputedStyle(document.body).fontSize)")  # noqa: E731
    before, text = drawn(), panel()
    page.click("#bp-large")
    assert drawn() > before * 1.3 and panel() > text * 1.4
    assert page.get_attribute("#bp-large", "aria-pressed") == "true"


def test_narration_announces_each_step(page, view):
    goto(page, view(*CARD))
    assert page.get_attribute("#bp-narration", "aria-live") == "polite"
    said = [page.text_content("#bp-narration")]
    for _ in range(14):
        page.keyboard.press("ArrowRight")
        said.append(page.text_content("#bp-narration"))
    assert all(a != b for a, b in zip(said, said[1:]))
    assert said[3] == "forward: n2 = x · w = 6"
    assert said[13] == "backward: ∂n6/∂w = 4 · 2 = 8"
    assert said[14].startswith("done: gradient x 12, w 8, y −4")


def test_the_lecture_narration_reads_as_the_lecture(page, view):
    goto(page, view(*LECTURE_1), 13)
    said = page.text_content("#bp-narration")
    assert said == "backward: ∂loss/∂w = −4 · 2 = −8"


def test_keyboard_reaches_the_nodes_and_the_controls(page, view):
    goto(page, view(*CARD))
    page.focus("[data-id=n2]")
    page.keyboard.press("Enter")
    assert page.is_visible("#bp-details") and "n2: x · w" in page.inner_text("#bp-details")
    focusable = page.eval_on_selector_all("button, input, select, [tabindex='0']",
                                          "es => es.filter(e => e.checkVisibility()).length")
    assert focusable >= 7 + 10


def test_colours_are_okabe_ito_in_light_and_dark(page, view):
    goto(page, view(*CARD))
    colour = lambda name: page.evaluate(f"getComputedStyle(document.documentElement).getPropertyValue('{name}').trim()")  # noqa: E731
    assert colour("--value") == "#0072b2" and colour("--pos") == "#d55e00" and colour("--neg") == "#cc79a7"
    page.click("#bp-theme")
    assert colour("--value") == "#56b4e9" and colour("--grad") == "#e69f00"
