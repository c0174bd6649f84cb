"""bp serve through real HTTP on 127.0.0.1 (an ephemeral port), and its page in Chromium."""

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from conftest import open_tab

ROOT = Path(__file__).resolve().parent.parent
CARD = {"formula": "(x*w-y)^2", "values": {"x": 2, "w": 3, "y": 4}}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(*args):
    """bp serve in its own process; (process, base URL) once it answers."""
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "bpcli", "serve", "--port", str(port), *args], cwd=ROOT,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(url + "/", timeout=2)
            return proc, url
        except httpx.TransportError:
            if proc.poll() is not None:
                raise AssertionError(f"bp serve exited: {proc.stderr.read()}") from None
            time.sleep(0.1)
    proc.kill()
    raise AssertionError("bp serve did not answer within 30 s")


@contextlib.contextmanager
def serving(*args):
    """bp serve with these options for the block: (process, base URL); stopped with Ctrl-C (SIGINT)
    after it, also when an assertion failed, so no server is left behind."""
    proc, url = start(*args)
    try:
        yield proc, url
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=20)


def post(url, body, path="/api/grad", **headers):
    """A POST as bp's page sends it (Content-Type: application/json), with any other headers."""
    return httpx.post(url + path, content=body if isinstance(body, (bytes, str)) else json.dumps(body), timeout=30,
                      headers={"content-type": "application/json", **headers})


def test_api_answers_exactly_what_bp_grad_json_prints(server, bp):
    r = post(server, CARD)
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    cli = bp("grad", "(x*w-y)^2", "--x", "2", "--w", "3", "--y", "4", "--json")
    assert r.text + "\n" == cli.stdout


def test_api_takes_values_as_numbers_or_text(server):
    r = post(server, {"formula": "x^2", "values": {"x": "3"}})
    assert r.json()["gradient"] == {"x": 6.0}


def test_bad_formula_gets_400_with_the_message_and_its_position(server):
    r = post(server, {"formula": "(x*w-", "values": {}})
    assert r.status_code == 400
    body = r.json()
    assert body["kind"] == "parse error"
    assert body["error"].startswith("the formula ends too early")
    assert body["position"] == {"line": 1, "column": 6, "offset": 5}
    assert body["caret"] == "  (x*w-\n       ^"


def test_a_bad_line_of_a_program_gets_its_line_and_column(server):
    body = post(server, {"formula": "a = x\nb = * a", "values": {}}).json()
    assert body["error"] == "unexpected '*'; expected a name, a number, (, +, - at line 2, column 5"
    assert body["position"] == {"line": 2, "column": 5, "offset": 10}
    assert body["caret"] == "  b = * a\n      ^"


def test_the_position_counts_characters_and_has_no_message_to_parse(server):
    body = post(server, {"formula": "𝑥é +* 2", "values": {}}).json()  # 𝑥 is two UTF-16 units, one character
    assert body["position"] == {"line": 1, "column": 5, "offset": 4}
    assert body["error"].startswith("unexpected '*'")


def test_a_shape_error_gets_400_with_the_operators_position(server):
    r = post(server, {"formula": "y = x+1; A @ B + y", "values": {"A": [[1, 2]], "B": [[1, 2]], "x": 1}})
    assert r.status_code == 400
    body = r.json()
    assert body["kind"] == "shape error" and body["error"].startswith("cannot multiply 1×2 by 1×2")
    assert body["position"] == {"line": 1, "column": 12, "offset": 11}
    assert body["caret"] == "  y = x+1; A @ B + y\n             ^"


def test_an_error_with_no_place_in_the_text_has_no_position(server):
    body = post(server, {"formula": "x*w", "values": {"x": 1}}).json()
    assert body["position"] is None and body["caret"] is None


def test_missing_value_and_bad_requests_get_400(server):
    r = post(server, {"formula": "x*w", "values": {"x": 1}})
    assert r.status_code == 400 and r.json()["error"].startswith("no value for w")
    assert post(server, b"{not json").status_code == 400
    assert post(server, [1, 2]).status_code == 400
    assert post(server, {"values": {}}).status_code == 400
    r = post(server, {"formula": "x", "values": {"x": True}})
    assert r.status_code == 400 and "not a number" in r.json()["error"]


def test_oversized_formula_gets_413_and_the_next_request_still_works(server):
    r = post(server, {"formula": "x+" * 1500 + "x", "values": {"x": 1}})
    assert r.status_code == 413
    assert "more than this server's limit of 2,000" in r.json()["error"]
    assert post(server, CARD).json()["gradient"] == {"x": 12.0, "w": 8.0, "y": -4.0}


def test_too_many_nodes_gets_413(server):
    text = "(" * 200 + "x" + "+1)*x" * 200  # 402 nodes in 1,201 characters
    r = post(server, {"formula": text, "values": {"x": 1}})
    assert r.status_code == 413
    assert "nodes, more than this server's limit of 300" in r.json()["error"]


def test_a_huge_body_is_refused_before_it_is_read(server):
    r = post(server, b"{" + b" " * 200_000 + b"}")
    assert r.status_code == 413


def test_requests_share_no_state(server):
    first = post(server, {"formula": "z = x*w; z^2", "values": {"x": 2, "w": 3}}).json()
    post(server, {"formula": "z = x+1; z", "values": {"x": 5}})
    assert post(server, {"formula": "z = x*w; z^2", "values": {"x": 2, "w": 3}}).json() == first


def test_view_api_fills_missing_inputs_for_the_page(server):
    r = post(server, {"formula": "a*b", "values": {"a": 2, "old": 7}}, "/api/view")
    body = r.json()
    assert body["document"]["inputs"] == {"a": 2.0, "b": 1.0}
    assert body["defaulted"] == ["b"]
    assert len(body["layout"]["nodes"]) == 3


def test_typing_a_formula_in_the_box_updates_the_graph(server, browser):
    context, tab, problems = open_tab(browser, offline=False)
    tab.goto(server + "/")
    tab.wait_for_selector("body[data-ready='1']")
    assert tab.locator(".node").count() == 7  # the card example
    tab.fill("#bp-formula", "z = a*b; z + sin(z)")
    tab.press("#bp-formula", "Enter")
    tab.wait_for_function("document.getElementById('bp-title').textContent === 'z = a*b; z + sin(z)'")
    assert tab.locator(".node").count() == 5
    assert tab.locator("#bp-fields input").count() == 2  # a and b, starting at 1
    tab.fill("input[data-input=a]", "2")
    tab.click("#bp-go")
    tab.click("#bp-last")  # the values show at their steps: at the end, all of them
    tab.wait_for_function("document.getElementById('bp-tables').textContent.includes('2.0')")
    assert tab.inner_text("#bp-chain").startswith("gradient: a ")
    tab.fill("#bp-formula", "(a*")
    tab.press("#bp-formula", "Enter")
    tab.wait_for_function("document.getElementById('bp-error').textContent !== ''")
    assert "the formula ends too early" in tab.inner_text("#bp-error")
    assert tab.locator(".node").count() == 5  # the last good graph stays
    tab.fill("#bp-formula", "𝑥é +* b")
    tab.press("#bp-formula", "Enter")
    tab.wait_for_function("document.getElementById('bp-error').textContent.startsWith(\"unexpected '*'\")")
    box = tab.evaluate("""() => { const b = document.getElementById('bp-formula');
        return [b.getAttribute('aria-invalid'), document.activeElement === b, b.selectionStart, b.selectionEnd,
                getComputedStyle(b).borderColor]; }""")
    assert box[:4] == ["true", True, 5, 6]  # the * is selected (after 𝑥's two UTF-16 units), the box marked
    assert box[4] == tab.evaluate("getComputedStyle(document.getElementById('bp-error')).color")
    tab.press("#bp-formula", "Backspace")  # editing the formula clears the mark
    assert tab.get_attribute("#bp-formula", "aria-invalid") is None
    tab.fill("#bp-formula", "a*b")
    tab.press("#bp-formula", "Enter")
    tab.wait_for_function("document.getElementById('bp-title').textContent === 'a*b'")
    assert tab.get_attribute("#bp-formula", "aria-invalid") is None
    context.close()
    assert [p for p in problems if "400" not in p] == []  # the 400 itself is logged by Chromium


def live_processes() -> dict[int, int]:
    """{pid: parent pid} of every process not yet ended (zombies excluded), from /proc."""
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z":
            parents[int(stat.parent.name)] = int(fields[1])
    return parents


def descendants(pid: int) -> list[int]:
    """The live processes below `pid` (its server processes and their computation workers)."""
    parents = live_processes()
    found, frontier = [], [pid]
    while frontier:
        parent = frontier.pop()
        children = [p for p, pp in parents.items() if pp == parent]
        found += children
        frontier += children
    return found


def test_a_check_that_sympy_cannot_finish_is_stopped_and_the_next_is_checked_by_sympy():
    proc, url = start("--timeout", "1")  # SymPy gets 0.5 s a request
    try:
        slow = post(url, {"formula": "sin(" * 150 + "x" + ")" * 150, "values": {"x": 0.5}})
        assert slow.status_code == 200
        assert "SymPy check skipped: SymPy did not finish within 0.5 s" in slow.text
        card = post(url, CARD).json()
        assert card["check"]["x"]["derivative"] == "2*w*(w*x - y)" and card["check"]["x"]["sympy"] == 12.0
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=15)


@pytest.mark.slow
def test_ctrl_c_stops_the_server_cleanly():
    proc, url = start("--workers", "2")
    try:
        assert post(url, CARD).status_code == 200
        deadline = time.monotonic() + 30  # the second server process may still be starting
        while len(below := descendants(proc.pid)) < 2 + 2 * 4 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(below) >= 2 + 2 * 4  # two server processes, each with its four warm computation workers
    finally:
        proc.send_signal(signal.SIGINT)  # also when an assertion failed: no server left behind
    assert proc.wait(timeout=15) == 0
    time.sleep(0.5)
    assert [p for p in below if p in live_processes()] == []
    err = proc.stderr.read()
    assert "bp: serving on http://127.0.0.1:" in err and "2 workers" in err
    assert err.rstrip().endswith("bp: stopped")
    assert "Traceback" not in err


def test_a_port_in_use_is_a_usage_error(bp):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        result = bp("serve", "--port", str(s.getsockname()[1]))
    assert result.exit_code == 2
    assert "cannot listen on 127.0.0.1:" in result.stderr and "--port" in result.stderr


def test_without_the_web_extra_bp_serve_says_what_to_install(bp, monkeypatch):
    monkeypatch.setitem(sys.modules, "uvicorn", None)  # import uvicorn now fails
    result = bp("serve")
    assert result.exit_code == 5
    assert "bp serve needs Starlette and Uvicorn" in result.stderr
    assert "pip install 'backprop-cli[web]'" in result.stderr
