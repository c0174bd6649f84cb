"""Results in Jupyter: the page of bp view in a frame (_repr_html_), the tables as text elsewhere."""

import html

import pytest

from bpcli import grad, parse


def card():
    return grad("(x*w-y)^2", {"x": 2, "w": 3, "y": 4})


def test_repr_is_the_tables_of_bp_grad():
    text = repr(card())
    for title in ("Forward: a value per node", "Backward: a local gradient per edge", "Gradient"):
        assert title in text
    assert "∂(x · w)/∂w = x" in text and "-4.0" in text
    assert "\x1b[" not in text  # no colour codes in plain text


def test_ipython_pretty_printing_uses_the_tables():
    class Printer:
        def __init__(self):
            self.out = ""

        def text(self, t):
            self.out += t

    printer = Printer()
    card()._repr_pretty_(printer, False)
    assert printer.out == repr(card())


def test_many_points_at_once_say_so_briefly():
    import numpy as np

    from bpcli.engine.numeric import ArrayMath

    for r in (parse("x^2").grad({"x": np.array([1.0, 2.0])}, ArrayMath("float64")),
              parse("x^2").grad({"x": np.array([1.0, 2.0])}, batched=["x"])):
        assert repr(r) == "<Result of 'x^2' at many points: .value, .gradient>"
        assert r._repr_html_() is None


def test_repr_html_is_the_page_in_a_sandboxed_frame():
    out = card()._repr_html_()
    assert out.startswith('<iframe srcdoc="') and 'sandbox="allow-scripts"' in out
    inner = html.unescape(out.split('srcdoc="', 1)[1].split('"', 1)[0])
    assert inner.startswith("<!DOCTYPE html>") and '"gradient":{"x":12.0,"w":8.0,"y":-4.0}' in inner


def test_the_frame_steps_through_the_passes_in_a_browser(page, tmp_path):
    notebook = tmp_path / "notebook.html"
    notebook.write_text("<!DOCTYPE html><html><body><h1>a notebook cell</h1>" + card()._repr_html_()
                        + "</body></html>", encoding="utf-8")
    page.goto(notebook.as_uri())
    frame = page.frame_locator("iframe")
    frame.locator("body[data-ready='1']").wait_for()
    frame.locator("#bp-last").click()
    assert frame.locator("#bp-chain").inner_text().startswith("gradient: x 12, w 8, y −4")
    frame.locator("#bp-prev").click()
    assert frame.locator("#bp-counter").inner_text().startswith("step 13 / 14")


# -- the example notebook (nbformat, nbclient and ipykernel: the test extra) ----------------------
def _notebook_tool():
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
    try:
        import run_notebook
    finally:
        sys.path.pop(0)
    return run_notebook


def _outputs(nb) -> list[list[dict]]:
    return [[dict(o) for o in cell.outputs] for cell in nb.cells if cell.cell_type == "code"]


def _check_outputs(outputs) -> None:
    card, numbers, tables, many, error = outputs
    assert [o["output_type"] for o in card] == ["execute_result"]  # one output: not a display per table
    shown = card[0]["data"]
    assert shown["text/html"].startswith('<iframe srcdoc="') and "bp-data" in shown["text/html"]
    for title in ("Forward: a value per node", "Backward: a local gradient per edge", "Gradient"):
        assert title in shown["text/plain"]
    assert numbers[0]["data"]["text/plain"] == "(4.0, {'x': 12.0, 'w': 8.0, 'y': -4.0})"
    assert tables[0]["text"].rstrip("\n") == shown["text/plain"]
    assert many[0]["data"]["text/plain"] == "[(0.5, -3.0), (1.0, -2.0), (1.5, -1.0), (2.0, 0.0)]"
    assert error[0]["text"].splitlines()[-1] == "2 5"
    assert "at line 2, column 5" in error[0]["text"]


@pytest.mark.slow
def test_the_example_notebook_runs_and_shows_the_page_and_the_tables():
    tool = _notebook_tool()
    _check_outputs(_outputs(tool.execute(tool.build())))


def test_the_example_notebook_in_the_repository_is_the_tools_and_was_run():
    import nbformat

    tool = _notebook_tool()
    kept = nbformat.read(tool.NOTEBOOK, as_version=4)
    nbformat.validate(kept)
    assert [c.source for c in kept.cells] == [c.source for c in tool.build().cells]
    _check_outputs(_outputs(kept))
