"""Results in Jupyter: the page of bp view in a frame (_repr_html_), the tables as text elsewhere."""

import html

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

    from bpcli.numeric import ArrayMath

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
