"""bp serve under attack, through real HTTP on 127.0.0.1 only (bounded counts and times): a
DNS-rebinding page, cross-origin "simple" POSTs, oversized and chunked bodies, malformed bodies."""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from urllib.parse import urlsplit

import httpx
import pytest
from test_web_serve import CARD, ROOT, post, start


def exchange(url: str, head: bytes, body_parts=(), seconds: float = 10.0) -> tuple[int, dict, bytes, int]:
    """Send a raw request (head, then each body part while the server takes it) to 127.0.0.1 and
    read the answer: (status, headers, body, body bytes sent before the answer came)."""
    port = urlsplit(url).port
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=seconds) as s:
        s.sendall(head)
        s.settimeout(0.05)
        answer = b""
        for part in body_parts:
            try:
                answer += s.recv(65536)
            except TimeoutError:
                pass
            if answer:
                break
            try:
                s.sendall(part)
            except OSError:  # the server answered and closed
                break
            sent += len(part)
        s.settimeout(seconds)
        deadline = time.monotonic() + seconds
        while b"\r\n\r\n" not in answer and time.monotonic() < deadline:
            got = s.recv(65536)
            if not got:
                break
            answer += got
        top, _, rest = answer.partition(b"\r\n\r\n")
        lines = top.decode("latin-1").split("\r\n")
        headers = dict(line.lower().split(": ", 1) for line in lines[1:])
        length = int(headers.get("content-length", "0"))
        while len(rest) < length and time.monotonic() < deadline:
            got = s.recv(65536)
            if not got:
                break
            rest += got
    return int(lines[0].split()[1]), headers, rest, sent


def assert_bp_error(r, status: int, kind: str):
    assert r.status_code == status
    body = r.json()
    assert set(body) == {"error", "kind", "position", "caret", "hint"}
    assert body["kind"] == kind
    return body


# -- 1. Host ------------------------------------------------------------------------------------
def test_a_dns_rebinding_page_gets_nothing(server):
    port = urlsplit(server).port
    for host in (f"evil.example:{port}", "evil.example", f"127.0.0.1.evil.example:{port}", f"localhost.:{port}",
                 f"[::2]:{port}", f"10.0.0.1:{port}"):
        r = post(server, CARD, host=host)
        body = assert_bp_error(r, 421, "wrong host")
        assert "gradient" not in r.text and json.dumps(host) in body["error"]
        page = httpx.get(server + "/", headers={"host": host}, timeout=10)
        assert page.status_code == 421 and "<html" not in page.text.lower()
        assert not [k for k in r.headers if k.startswith("access-control")]


def test_every_loopback_name_is_served(server):
    port = urlsplit(server).port
    for host in (f"127.0.0.1:{port}", "127.0.0.1", f"localhost:{port}", "LocalHost", f"127.1.2.3:{port}",
                 f"[::1]:{port}"):
        r = post(server, CARD, host=host)
        assert r.status_code == 200 and r.json()["gradient"] == {"x": 12.0, "w": 8.0, "y": -4.0}
        assert not [k for k in r.headers if k.startswith("access-control")]
        assert httpx.get(server + "/", headers={"host": host}, timeout=10).status_code == 200


def test_a_request_with_no_host_header_is_refused(server):
    status, headers, body, _ = exchange(server, b"GET / HTTP/1.0\r\n\r\n")
    assert status == 421 and json.loads(body)["kind"] == "wrong host"


# -- 2. Content-Type ------------------------------------------------------------------------------
def test_a_post_not_typed_as_json_computes_nothing(server):
    text = json.dumps(CARD)
    for media in ("text/plain", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded",
                  "multipart/form-data; boundary=x", ""):
        r = httpx.post(server + "/api/grad", content=text, headers={"content-type": media}, timeout=10)
        body = assert_bp_error(r, 415, "wrong content type")
        assert "gradient" not in r.text and "application/json" in body["hint"]
    ok = httpx.post(server + "/api/view", content=text, headers={"content-type": "Application/JSON; charset=utf-8"},
                    timeout=10)
    assert ok.status_code == 200


# -- 3. Bodies bounded as they arrive ---------------------------------------------------------------
def test_a_chunked_body_past_the_bound_gets_413_before_it_ends(server):
    head = (b"POST /api/grad HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n")
    chunk = b"%x\r\n%s\r\n" % (16384, b" " * 16384)
    status, _, body, sent = exchange(server, head, [chunk] * 4000)  # 64 MB offered, never ended
    assert status == 413
    assert json.loads(body)["kind"] == "too large"
    assert sent < 4_000_000  # the server stopped reading near its bound (108 kB), not at the end
    assert post(server, CARD).status_code == 200


def test_a_declared_length_past_the_bound_gets_413_unread(server):
    head = (b"POST /api/grad HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: 50000000\r\n\r\n")
    status, _, body, sent = exchange(server, head, [b" " * 65536] * 700)
    assert status == 413 and json.loads(body)["kind"] == "too large"
    assert sent < 4_000_000


def test_every_413_says_too_large(server):
    r = post(server, {"formula": "x+" * 1500 + "x", "values": {"x": 1}})
    assert_bp_error(r, 413, "too large")
    r = post(server, {"formula": "(" * 200 + "x" + "+1)*x" * 200, "values": {"x": 1}})
    assert_bp_error(r, 413, "too large")


# -- 4. Malformed bodies: a 4xx with bp's JSON error, never a 500 -------------------------------------
def nested(depth: int, inner: str = "1") -> str:
    return "[" * depth + inner + "]" * depth


MALFORMED = {  # name: (body text, status)
    "JSON nested 60,000 deep": ('{"formula": "x", "values": {"x": ' + nested(60_000) + "}}", 400),
    "a 5,000-digit integer": ('{"formula": "x", "values": {"x": ' + "9" * 5000 + "}}", 400),
    "a string in a list": ('{"formula": "sum(x)", "values": {"x": [1, "a"]}}', 400),
    "null in a list": ('{"formula": "sum(x)", "values": {"x": [1, null]}}', 400),
    "an object in a list": ('{"formula": "sum(x)", "values": {"x": [1, {}]}}', 400),
    "true in a list": ('{"formula": "sum(x)", "values": {"x": [true]}}', 400),
    "a ragged list": ('{"formula": "sum(x)", "values": {"x": [[1, 2], [3]]}}', 400),
    "an empty list": ('{"formula": "sum(x)", "values": {"x": []}}', 400),
    "a 400-digit entry": ('{"formula": "sum(x)", "values": {"x": [' + "9" * 400 + "]}}", 400),
    "a 400-digit value": ('{"formula": "x", "values": {"x": ' + "9" * 400 + "}}", 400),
    "70-deep lists": ('{"formula": "sum(x)", "values": {"x": ' + nested(70) + "}}", 400),
    "40-deep lists under x*x": ('{"formula": "sum(x*x)", "values": {"x": ' + nested(40) + "}}", 400),
    "a broadcast to 1000³": (json.dumps({"formula": "sum(x*y*z)", "values": {
        "x": [[[1]]] * 1000, "y": [[[1]] * 1000], "z": [[[1] * 1000]]}}), 413),
    "a name with a lone surrogate": ('{"formula": "x", "values": {"\\ud800": 1, "x": 1}}', 400),
    "a formula with a lone surrogate": ('{"formula": "x+\\udfff", "values": {}}', 400),
    "not UTF-8": (b'{"formula": "x\xff"}', 400),
    "not JSON": ("{not json", 400),
    "a list": ("[1, 2]", 400),
    "a number for the formula": ('{"formula": 1}', 400),
    "values as a list": ('{"formula": "x", "values": [1]}', 400),
    "a value of nan text": ('{"formula": "x", "values": {"x": "nan"}}', 400),
    "a value of words": ('{"formula": "x", "values": {"x": "abc"}}', 400),
    "a check of neither": ('{"formula": "x", "values": {"x": 1}, "check": "maybe"}', 400),
    "NaN in JSON": ('{"formula": "x", "values": {"x": NaN}}', 400),
}


@pytest.fixture(scope="module")
def default_server():
    """bp serve with its default limits (a body of up to 140,000 bytes)."""
    proc, url = start()
    yield url
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=10)


@pytest.mark.parametrize("path", ["/api/grad", "/api/view"])
def test_every_malformed_body_gets_a_4xx_with_bps_json_error(default_server, path):
    server = default_server
    for name, (text, status) in MALFORMED.items():
        started = time.monotonic()
        r = post(server, text, path)
        assert r.status_code == status, (name, r.status_code, r.text[:300])
        body = r.json()
        assert set(body) == {"error", "kind", "position", "caret", "hint"}, name
        assert body["kind"] != "error" and body["error"], name
        assert body["hint"] and "--" not in body["hint"], (name, body["hint"])  # fields, not CLI flags
        assert time.monotonic() - started < 5, name
    assert post(server, CARD, path).status_code == 200


def test_a_json_error_says_where_in_the_body(server):
    body = post(server, '{"formula": "x",\n "values": {x}}').json()
    assert body["position"] == {"line": 2, "column": 13, "offset": 29}
    assert body["error"].startswith("the request is not JSON: Expecting property name")


def test_a_broadcast_past_the_bound_is_refused_by_shape_naming_the_node(server):
    body = post(server, MALFORMED["a broadcast to 1000³"][0]).json()
    assert body["error"].startswith("a node would hold 1,000,000,000 entries (1000×1000×1000)")
    assert body["position"] == {"line": 1, "column": 8, "offset": 7} and body["kind"] == "too large"


def test_the_check_field_is_honoured(server):
    for off in (False, "no"):
        r = post(server, {**CARD, "check": off})
        assert r.status_code == 200 and r.json()["check"] is None, off
    for on in (True, "yes"):
        assert post(server, {**CARD, "check": on}).json()["check"]["x"]["sympy"] == 12.0


# -- 5. The command's own edges -------------------------------------------------------------------------
def serve_and_read_banner(*args) -> tuple[subprocess.Popen, str]:
    """bp serve started with these arguments, and the first line it prints on stderr."""
    proc = subprocess.Popen([sys.executable, "-m", "bpcli", "serve", *args], cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    return proc, proc.stderr.readline()


def stop(proc: subprocess.Popen) -> str:
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=15)
    return proc.stderr.read()


def answered(port: int) -> int:
    deadline = time.monotonic() + 30
    while True:
        try:
            return post(f"http://127.0.0.1:{port}", CARD).status_code
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_port_0_prints_the_port_the_system_chose_and_127_1_is_loopback():
    proc, banner = serve_and_read_banner("--port", "0", "--host", "127.1")
    try:
        found = re.fullmatch(r"bp: serving on http://127\.1:(\d+)/ \(1 worker; Ctrl-C stops\)\n", banner)
        assert found and int(found[1]) > 0, banner
        assert answered(int(found[1])) == 200  # Host 127.0.0.1 names the loopback address bound
    finally:
        rest = stop(proc)
    assert "reachable from other machines" not in rest and "Traceback" not in rest
    assert rest.rstrip().endswith("bp: stopped")


def test_an_empty_host_is_refused_before_it_listens(bp):
    r = bp("serve", "--host", "", "--port", "0")
    assert (r.exit_code, r.stdout) == (2, "")
    assert r.stderr == ("bp: usage error: --host needs an address (an empty one would bind every interface)\n"
                        "hint: --host 127.0.0.1 serves this machine only; --host 0.0.0.0 every interface\n")
