"""bp serve under attack, through real HTTP on 127.0.0.1 only (bounded counts and times): a
DNS-rebinding page, cross-origin "simple" POSTs, oversized and chunked bodies, malformed bodies."""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from test_web_serve import CARD, ROOT, descendants, live_processes, post, serving, start


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


def test_every_413_says_too_large_with_a_hint_naming_fields_not_flags(server):
    r = post(server, {"formula": "x+" * 1500 + "x", "values": {"x": 1}})
    assert assert_bp_error(r, 413, "too large")["hint"] == 'send a shorter "formula"'
    r = post(server, {"formula": "(" * 200 + "x" + "+1)*x" * 200, "values": {"x": 1}})
    assert assert_bp_error(r, 413, "too large")["hint"] == 'send a "formula" of fewer operations'
    r = post(server, b"{" + b" " * 200_000 + b"}")
    assert assert_bp_error(r, 413, "too large")["hint"] == 'send a smaller formula or smaller arrays in "values"'


# -- 4. Malformed bodies: a 4xx with bp's JSON error, never a 500 -------------------------------------
def nested(depth: int, inner: str = "1") -> str:
    return "[" * depth + inner + "]" * depth


MALFORMED = {  # name: (body text, status)
    "JSON nested 60,000 deep": ('{"formula": "x", "values": {"x": ' + nested(60_000) + "}}", 400),
    "JSON nested 900 deep": ('{"formula": "x", "values": {"x": ' + nested(900) + "}}", 400),  # past pickle's depth
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
    with serving() as (_, url):
        yield url


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


# -- 6. A request past its deadline is stopped: its worker process is killed, CPU and memory return ---
def proc_stat(pid: int) -> tuple[float, int] | None:
    """(CPU seconds used, resident bytes) of a live process, from /proc; None once it has ended."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    if fields[0] == "Z":
        return None
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks, int(fields[21]) * os.sysconf("SC_PAGE_SIZE")


def tree(pid: int) -> dict[int, tuple[float, int]]:
    """{pid: (CPU seconds, resident bytes)} of a server and every process below it."""
    found = {p: proc_stat(p) for p in [pid, *descendants(pid)]}
    return {p: s for p, s in found.items() if s is not None}


def slow_body(n: int = 300, steps: int = 60) -> dict:
    """A request whose answer takes many seconds and hundreds of MB to write (n² entries a node,
    each node's value, adjoint and contribution in the answer), from a 4 kB body."""
    chain = "a0 = x*y; " + "".join(f"a{i} = sin(a{i - 1}); " for i in range(1, steps)) + f"sum(a{steps - 1})"
    return {"formula": chain, "values": {"x": [[1.0]] * n, "y": [[1.0] * n]}, "check": False}


@pytest.fixture
def slow_server():
    """bp serve (one process) with a 2 s deadline and no bound on the answer's size."""
    with serving("--timeout", "2", "--max-response", "0", "--max-computations", "2") as (proc, url):
        yield proc, url


@pytest.mark.slow
def test_a_request_past_its_deadline_is_stopped_and_its_cpu_and_memory_return(slow_server):
    proc, url = slow_server
    time.sleep(1)
    idle = tree(proc.pid)
    workers_before = set(idle) - {proc.pid}
    assert len(workers_before) == 2  # --max-computations 2: two warm worker processes
    for p in workers_before:  # each holds its pipe to the server, and none of the server's sockets
        sockets = [fd for fd in Path(f"/proc/{p}/fd").iterdir() if os.readlink(fd).startswith("socket:")]
        assert len(sockets) == 1, p
    answer = {}
    asking = threading.Thread(target=lambda: answer.update(r=post(url, slow_body())))
    started_at = time.monotonic()
    asking.start()
    peak: dict[int, tuple[float, int]] = {}
    while asking.is_alive():
        for p, (cpu, rss) in tree(proc.pid).items():
            peak[p] = tuple(map(max, peak.get(p, (cpu, rss)), (cpu, rss)))
        time.sleep(0.05)
    took = time.monotonic() - started_at
    r = answer["r"]
    body = assert_bp_error(r, 422, "too slow")
    assert body["error"].startswith("bp took more than 2 s on this formula") and "stopped" in body["error"]
    assert 1.9 < took < 6
    # The worker that computed grew (it was really working), and is gone now: killed, not left running.
    busy = max(workers_before, key=lambda p: peak.get(p, (0, 0))[0] - idle[p][0])
    # (how much it grew in 2 s depends on the CPU it got: on a loaded machine, 0.13 s and 87 MB)
    assert peak[busy][1] - idle[busy][1] > 40 << 20, (peak[busy], idle[busy])
    assert peak[busy][0] - idle[busy][0] > 0.05
    time.sleep(0.5)
    assert proc_stat(busy) is None
    after = tree(proc.pid)
    assert busy not in after and len(after) == len(idle)  # replaced by a fresh warm worker
    # Memory back near idle, and nothing computing: the whole tree uses almost no CPU for a second.
    assert sum(s[1] for s in after.values()) < sum(s[1] for s in idle.values()) + (60 << 20)
    time.sleep(1)
    later = tree(proc.pid)
    assert sum(later[p][0] - after[p][0] for p in after if p in later) < 0.3
    assert post(url, CARD).json()["gradient"] == {"x": 12.0, "w": 8.0, "y": -4.0}


# -- 7. Concurrent computations are capped: 503 with Retry-After, fast requests still answered -------
@pytest.mark.slow
def test_a_burst_of_slow_requests_does_not_starve_fast_ones(slow_server):
    proc, url = slow_server
    answers: dict[str, list] = {"slow": [], "fast": []}

    def ask(kind: str, body: dict):
        t = time.monotonic()
        r = post(url, body)
        answers[kind].append((r.status_code, r.headers.get("retry-after"), time.monotonic() - t, r.json()))

    # One slow request beside fast ones, under the cap of two: every fast one is computed at once.
    slow = threading.Thread(target=ask, args=("slow", slow_body()))
    slow.start()
    time.sleep(0.3)
    for _ in range(10):
        ask("fast", CARD)
    slow.join()
    assert [a[0] for a in answers["fast"]] == [200] * 10 and max(a[2] for a in answers["fast"]) < 1.5
    assert [a[0] for a in answers["slow"]] == [422]
    # A burst of six slow ones: two compute until their deadline, the rest get 503 with Retry-After
    # within the wait of a second; fast ones beside them are answered at once (503, Retry-After) and
    # computed again as soon as the slow ones are stopped.
    answers = {"slow": [], "fast": []}
    burst = [threading.Thread(target=ask, args=("slow", slow_body())) for _ in range(6)]
    for t in burst:
        t.start()
    time.sleep(0.3)
    fast = [threading.Thread(target=ask, args=("fast", CARD)) for _ in range(6)]
    for t in fast:
        t.start()
    for t in burst + fast:
        t.join()
    statuses = sorted(a[0] for a in answers["slow"])
    assert statuses == [422, 422, 503, 503, 503, 503], statuses
    for status, retry, took, body in answers["slow"] + answers["fast"]:
        assert status in (200, 503) or (status, body["kind"]) == (422, "too slow")
        if status == 503:
            assert retry == "1" and body["kind"] == "busy" and took < 2.5
            assert set(body) == {"error", "kind", "position", "caret", "hint"}
            assert "--" not in body["hint"]
    assert all(a[2] < 3 for a in answers["fast"])
    assert post(url, CARD).status_code == 200


# -- 8. Slow clients: a request's head and body must arrive within --read-timeout -------------------
@pytest.fixture(scope="module")
def impatient_server():
    """bp serve with a 1 s read deadline and room for 20 connections."""
    with serving("--read-timeout", "1", "--max-connections", "20") as (_, url):
        yield url


def read_all(s: socket.socket, seconds: float) -> bytes:
    """What the server sends until it closes the connection (or `seconds` pass)."""
    s.settimeout(seconds)
    got = b""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            part = s.recv(65536)
        except (TimeoutError, ConnectionResetError):
            break
        if not part:
            break
        got += part
    return got


HALF_HEAD = b"POST /api/grad HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: appl"


def test_half_a_head_gets_408_at_the_read_deadline(impatient_server):
    port = urlsplit(impatient_server).port
    with socket.create_connection(("127.0.0.1", port)) as s:
        t = time.monotonic()
        s.sendall(HALF_HEAD)
        got = read_all(s, 5)
        took = time.monotonic() - t
    assert got.startswith(b"HTTP/1.1 408 ") and 0.9 < took < 2.5
    body = json.loads(got.partition(b"\r\n\r\n")[2])
    assert body["kind"] == "too slow" and body["error"].startswith("the request's head did not arrive within 1 s")


def test_a_head_sent_a_byte_at_a_time_is_cut_at_the_deadline_not_kept_alive_by_each_byte(impatient_server):
    port = urlsplit(impatient_server).port
    with socket.create_connection(("127.0.0.1", port)) as s:
        t = time.monotonic()
        closed = False
        for byte in HALF_HEAD * 4:
            try:
                s.sendall(bytes([byte]))
            except OSError:
                closed = True
                break
            time.sleep(0.05)
            if time.monotonic() - t > 4:
                break
        got = read_all(s, 3)
        took = time.monotonic() - t
    assert (closed or got.startswith(b"HTTP/1.1 408 ")) and took < 3.5


def test_half_a_body_gets_408_at_the_read_deadline(impatient_server):
    port = urlsplit(impatient_server).port
    head = (b"POST /api/grad HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: 100\r\n\r\n")
    with socket.create_connection(("127.0.0.1", port)) as s:
        t = time.monotonic()
        s.sendall(head + b'{"formula": ')
        got = read_all(s, 5)
        took = time.monotonic() - t
    top, _, rest = got.partition(b"\r\n\r\n")
    assert top.startswith(b"HTTP/1.1 408 ") and b"connection: close" in top.lower() and 0.9 < took < 2.5
    body = json.loads(rest)
    assert body["kind"] == "too slow" and body["error"].startswith("the request's body did not arrive within 1 s")
    assert "--" not in body["hint"]


@pytest.mark.slow
def test_many_half_sent_requests_neither_starve_others_nor_stay_open(impatient_server):
    port = urlsplit(impatient_server).port
    slow = []
    try:
        for _ in range(60):  # three times the cap on connections
            s = socket.create_connection(("127.0.0.1", port))
            s.sendall(HALF_HEAD)
            slow.append(s)
        t = time.monotonic()
        for _ in range(5):  # ordinary requests are answered at once: they make room for themselves
            assert post(impatient_server, CARD).status_code == 200
        assert time.monotonic() - t < 2
        time.sleep(1.5)  # past the read deadline: every half-sent request's connection is closed
        for s in slow:
            s.settimeout(0.5)
            try:
                rest = s.recv(65536)
                while rest.startswith(b"HTTP/1.1 408"):
                    rest = s.recv(65536)
            except ConnectionResetError:
                rest = b""
            assert rest == b""  # closed by the server (408 first, or to make room)
    finally:
        for s in slow:
            s.close()
    assert post(impatient_server, CARD).status_code == 200


# -- 9. The answer's size is bounded ----------------------------------------------------------------
def test_an_answer_past_the_size_bound_is_refused_before_it_is_written(default_server):
    t = time.monotonic()
    r = post(default_server, slow_body(400, 60))  # 60 nodes of 160,000 entries each
    body = assert_bp_error(r, 413, "too large")
    # 180·n² + 6·n + 2 numbers: each node's value and adjoint, each edge's contribution
    assert body["error"].startswith("the answer would have at least 115,209,608 bytes (28,802,402 numbers), "
                                    "more than this server's limit of 16,777,216")
    assert "--" not in body["hint"] and '"values"' in body["hint"]
    assert time.monotonic() - t < 15


@pytest.mark.slow
def test_a_server_with_a_small_answer_bound_refuses_even_the_card_example():
    proc, url = start("--max-response", "1K")
    try:
        r = post(url, CARD)
        body = assert_bp_error(r, 413, "too large")
        assert re.match(r"the answer would have [\d,]+ bytes, more than this server's limit of 1,024$", body["error"])
        assert post(url, {"formula": "x", "values": {"x": 2}, "check": False}).status_code == 200
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=20)


# -- 10. Stopping: Ctrl-C during a request answers it 503; SIGINT and SIGTERM exit alike ---------------
@pytest.mark.slow
def test_ctrl_c_during_a_request_answers_it_503_without_a_traceback():
    proc, url = start("--timeout", "60", "--max-response", "0")
    answer = {}
    asking = threading.Thread(target=lambda: answer.update(r=post(url, slow_body())))
    asking.start()
    time.sleep(1.5)
    t = time.monotonic()
    proc.send_signal(signal.SIGINT)
    asking.join(timeout=20)
    code = proc.wait(timeout=20)
    took = time.monotonic() - t
    body = assert_bp_error(answer["r"], 503, "stopping")
    assert body["error"] == "bp serve stopped while computing this request"
    err = proc.stderr.read()
    assert code == 0 and took < 5
    assert "Traceback" not in err and "Cancel" not in err and err.rstrip().endswith("bp: stopped")


@pytest.mark.slow
@pytest.mark.parametrize("workers", ["1", "2"])
@pytest.mark.parametrize("stop_with", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_sigint_and_sigterm_stop_with_exit_0_whatever_the_worker_count(workers, stop_with):
    proc, url = start("--workers", workers)
    assert post(url, CARD).status_code == 200
    below = descendants(proc.pid)
    proc.send_signal(stop_with)
    assert proc.wait(timeout=20) == 0
    err = proc.stderr.read()
    assert "Traceback" not in err and err.rstrip().endswith("bp: stopped")
    time.sleep(0.5)
    assert [p for p in below if p in live_processes()] == []


def test_the_entries_bound_is_the_engines_own_with_the_node_placed_in_a_program(server):
    # the server has no shape pass of its own: the engine's EntriesError carries the node, and the
    # server places it in the text (here the second line of a program)
    body = {"formula": "a = x\nb = a*y\nsum(b)", "values": {"x": [[1]] * 4000, "y": [[1] * 4000]}}
    found = post(server, body).json()
    assert found["error"].startswith("a node would hold 16,000,000 entries (4000×4000)")
    assert found["position"] == {"line": 2, "column": 6, "offset": 11} and found["kind"] == "too large"
