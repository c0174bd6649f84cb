"""bp serve's page for any formula (issue 23): value boxes that follow the formula as it is
typed, arrays with a shape hint, the step kept when a value changes, predict mode; in Chromium."""

import pytest
from conftest import open_tab


@pytest.fixture
def tab(server, browser):
    context, tab, problems = open_tab(browser, offline=False)
    tab.goto(server + "/")
    tab.wait_for_selector("body[data-ready='1']")
    yield tab
    context.close()
    assert problems == []


def boxes(tab) -> list[str]:
    return tab.eval_on_selector_all("#bp-fields input", "es => es.map(e => e.name)")


def test_the_value_boxes_follow_the_inputs_as_the_formula_is_typed(tab):
    assert boxes(tab) == ["x", "w", "y"]
    tab.fill("#bp-formula", "")
    tab.type("#bp-formula", "sum(W @ x)", delay=20)
    tab.wait_for_function("[...document.querySelectorAll('#bp-fields input')].map(e => e.name).join() === 'W,x'")
    assert tab.input_value("input[data-input=x]") == "2"  # x keeps the value typed before
    tab.fill("#bp-formula", "sum(W @ v) + (")  # half typed: the boxes stay, no error is shown yet
    tab.wait_for_timeout(400)
    assert boxes(tab) == ["W", "x"] and tab.inner_text("#bp-error") == ""
    tab.fill("#bp-formula", "sum(W @ v)")  # x renamed v
    tab.wait_for_function("[...document.querySelectorAll('#bp-fields input')].map(e => e.name).join() === 'W,v'")


def test_arrays_in_the_boxes_give_the_gradients(tab):
    tab.fill("#bp-formula", "sum(W @ x)")
    tab.wait_for_function("document.querySelectorAll('#bp-fields input').length === 2 && "
                          "document.querySelector('#bp-fields input').name === 'W'")
    tab.fill("input[data-input=W]", "[[1, 2], [3, 4]]")
    tab.fill("input[data-input=x]", "[1, 1]")
    assert tab.inner_text("#bp-hint-W") == "array 2×2" and tab.inner_text("#bp-hint-x") == "array 2"
    tab.click("#bp-go")
    tab.wait_for_function("document.getElementById('bp-title').textContent === 'sum(W @ x)'")
    tab.keyboard.press("End")
    assert tab.inner_text("#bp-chain").startswith("gradient: W [[1, 1], [1, 1]], x [4, 6]")


def test_the_lectures_two_layer_network_in_the_server_page(tab):
    tab.fill("#bp-formula", "h = W1 @ x + b1; y_hat = W2 @ h + b2; loss = sum((y_hat - y)^2)")
    tab.wait_for_function("document.querySelectorAll('#bp-fields input').length === 6")
    for name, value in {"W1": "[[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]]", "x": "[1, 2]", "b1": "[0, 0, 0]",
                        "W2": "[[1, -1, 0.5]]", "b2": "[0.1]", "y": "[1]"}.items():
        tab.fill(f"input[data-input={name}]", value)
    tab.press("#bp-formula", "Enter")
    tab.wait_for_function("document.querySelectorAll('.node').length === 14")
    tab.click("#bp-last")
    chain = tab.inner_text("#bp-chain")
    assert chain.startswith("gradient: W1 [[−1.3, −2.6], [1.3, 2.6], [−0.65, −1.3]], x [−0.065, −0.13], "
                            "b1 [−1.3, 1.3, −0.65], W2 [[−0.65, −1.43, −2.21]], b2 [−1.3], y [1.3]")


def test_a_new_value_keeps_the_learners_step(tab):
    for _ in range(5):
        tab.keyboard.press("ArrowRight")
    assert tab.inner_text("#bp-counter").startswith("step 5 /")
    tab.fill("input[data-input=x]", "3")
    tab.press("input[data-input=x]", "Enter")
    tab.wait_for_function("document.querySelector('[data-id=n2]').textContent.includes('= 9')")  # x · w = 3 · 3
    assert tab.inner_text("#bp-counter").startswith("step 5 /")


def test_predict_mode_in_the_server_page(tab):
    assert not tab.is_disabled("#bp-predict")
    tab.check("#bp-predict")
    for _ in range(3):
        tab.keyboard.press("ArrowRight")
    assert tab.inner_text("#bp-ask-text") == "Predict value of n2 = x · w:"
    tab.fill("#bp-answer", "6")
    tab.press("#bp-answer", "Enter")
    assert tab.inner_text("#bp-score") == "score 1 / 1"
    assert tab.inner_text("#bp-counter").startswith("step 3 /")


def test_the_view_api_names_a_typed_formulas_inputs_and_asks_questions(server):
    from test_web_serve import post

    r = post(server, {"formula": "sum(W @ x)", "inputs_only": True}, "/api/view")
    assert r.status_code == 200 and r.json() == {"inputs": ["W", "x"], "error": None}
    r = post(server, {"formula": "sum(W @", "inputs_only": True}, "/api/view")  # half typed: no failed request
    assert r.status_code == 200 and r.json()["inputs"] is None
    assert r.json()["error"]["kind"] == "parse error" and r.json()["error"]["position"]["column"] == 8
    body = post(server, {"formula": "(x*w-y)^2", "values": {"x": 2, "w": 3, "y": 4}, "questions": True},
                "/api/view").json()
    assert body["questions"]["tolerance"] == 1e-6
    assert body["questions"]["steps"]["node:n2"][0]["answer"] == 6.0
    assert "questions" not in post(server, {"formula": "(x*w-y)^2", "values": {}}, "/api/view").json()
    tensor = post(server, {"formula": "sum(W @ x)", "values": {"W": [[1, 2]], "x": [1, 1]}, "questions": True},
                  "/api/view").json()
    assert tensor["no_questions"] == "predict mode asks for numbers: this formula has tensors"
