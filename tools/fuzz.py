"""Fuzz bp's parser and engine for a while and report what was tried and what broke.

    python tools/fuzz.py [SECONDS]      # default 60
    python tools/fuzz.py --hostile      # the command line against hostile files and streams,
                                        # and bp serve against hostile requests and clients

Inputs: random Unicode (control characters, NUL, astral planes), grammar-shaped noise,
byte-level mutations of valid formulas, and random valid programs evaluated at random
points. Anything other than a result or bp's own error is a crash, printed with its input;
so is any input on which the lean parse loop and Lark's own loop disagree.
"""

from __future__ import annotations

import json
import random
import sys
import time
import traceback
from pathlib import Path

from bpcli import BPError, parse
from bpcli.engine.ops import OPS
from bpcli.views import labels as view

VALID = ["(x*w-y)^2", "y_hat = x*w; r = y_hat - y; loss = r^2", "max(x, 2) + sigmoid(-x)^2",
         "a = 𝜔 * x # weight\nb = a / 2\nb", "2^3^2 - -x**2 / (1e-3 + .5)", "relu(x) + abs(w) + sqrt(y)"]
PIECES = list("xyw()+-*/^,;=.e0123456789 \n\t#_") + ["exp", "max", "**", "1e999", "sigmoid(", "𝜔", "\x00",
                                                    "pi", "ln(", "min(", ")" * 3, "(" * 3]


def random_unicode(rng: random.Random) -> str:
    return "".join(chr(rng.choice([rng.randrange(0, 128), rng.randrange(0, 0x3000),
                                   rng.randrange(0x10000, 0x20000)])) for _ in range(rng.randrange(0, 40)))


def noise(rng: random.Random) -> str:
    return "".join(rng.choice(PIECES) for _ in range(rng.randrange(0, 40)))


def mutation(rng: random.Random) -> str:
    s = bytearray(rng.choice(VALID).encode())
    for _ in range(rng.randrange(1, 4)):
        at = rng.randrange(len(s) + 1)
        op = rng.randrange(3)
        if op == 0 and s:
            del s[min(at, len(s) - 1)]
        elif op == 1:
            s[at:at] = bytes([rng.randrange(256)])
        elif s:
            s[min(at, len(s) - 1)] = rng.randrange(32, 127)
    return s.decode("utf-8", "replace")


def program(rng: random.Random) -> str:
    refs, lines = ["x", "w", "y"], []
    for k in range(rng.randrange(1, 12)):
        op = rng.choice(list(OPS.values()))
        args = [rng.choice(refs + ["2", "0.5", "1e308", "0"]) for _ in range(op.arity)]
        infix = {"add": "+", "sub": "-", "mul": "*", "div": "/", "pow": "^"}
        expr = (f"({args[0]}) {infix[op.name]} ({args[1]})" if op.name in infix else
                f"-({args[0]})" if op.name == "neg" else f"{op.name}({', '.join(args)})")
        lines.append(f"t{k} = {expr}")
        refs.append(f"t{k}")
    return "\n".join(lines)


def disagreement(text: str, f) -> str | None:
    """What Lark's own loop gives differently from the lean loop's graph `f` (None: same)."""
    try:
        g = parse(text, lean=False)
    except BPError as e:
        return f"Lark refuses what the lean loop parsed: {e}"
    mine, lark = ((h.kinds, h.args, h.consts, h.names, h.labels) for h in (f, g))
    return None if mine == lark else "the two loops built different graphs"


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 60
    rng = random.Random(0)
    kinds = {"unicode": random_unicode, "noise": noise, "mutation": mutation, "program": program}
    tried = {k: 0 for k in kinds}
    parsed = refused = evaluated = 0
    crashes = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        kind = rng.choice(list(kinds))
        text = kinds[kind](rng)
        tried[kind] += 1
        try:
            f = parse(text)
            parsed += 1
            problem = disagreement(text, f)
            if problem:
                crashes.append((text, problem))
                continue
            point = {n: rng.choice([0.0, -1.0, 1e-300, 1e300, rng.uniform(-5, 5)]) for n in f.inputs}
            r = f.grad(point)
            # A scalar output: a float, or a 0-d array where a tensor op sent it through the tensor pass.
            assert isinstance(r.value, float) or getattr(r.value, "ndim", None) == 0
            view.nodes(r), view.edges(r), view.notes(r)  # build them: they must not fail either
            evaluated += 1
        except BPError:
            refused += 1
        except Exception:  # a crash: bp let something else escape
            crashes.append((text, traceback.format_exc(limit=3)))
    report(seconds, tried, parsed, evaluated, refused, crashes)


def report(seconds, tried, parsed, evaluated, refused, crashes) -> None:
    total = sum(tried.values())
    print(f"fuzzed {seconds:g} s: {total:,} inputs ({', '.join(f'{k} {v:,}' for k, v in tried.items())})")
    print(f"  parsed {parsed:,} (evaluated forward and backward: {evaluated:,}), refused with bp's error {refused:,}")
    print(f"  crashes: {len(crashes)}")
    for text, tb in crashes[:10]:
        print(repr(text)[:200])
        print(tb)
    sys.exit(1 if crashes else 0)


# -- the command line against hostile files and streams -------------------------------------------
def hostile_files(folder: Path) -> dict[str, str]:
    """Files an attacker (or an accident) hands bp: deep JSON, huge cells, odd line endings."""
    files = {
        "deep.json": "[" * 100_000 + "]" * 100_000,
        "deep_values.json": '{"x": ' + "[" * 100_000 + "1" + "]" * 100_000 + "}",
        "surrogate.json": '{"x": 1, "\\ud800": 2}',
        "huge_cell.csv": "x,y\n" + "1" * 200_000 + ",2\n",
        "digits.csv": "x,y\n" + "7" * 5_000 + ",2\n",
        "lone_cr.csv": "x,y\r1,2\r2,4\r",
        "wide.csv": ",".join(f"c{i}" for i in range(20_000)) + "\n" + ",".join("1" * 20_000) + "\n",
        "deep.jsonl": "[" * 100_000 + "]" * 100_000 + "\n",
        "evil_header.csv": "x,\x1b[2J\x1b]0;PWNED\x07\n1,2\n",
        "formula.bp": "(" * 100_000 + "x" + ")" * 100_000,
        # x, y, z shaped n×1×1, 1×n×1, 1×1×n: their product broadcasts to 10^9 entries
        "outer.json": json.dumps({"x": [[[1]]] * 1000, "y": [[[1]] * 1000], "z": [[[1] * 1000]]}),
        "deep70.json": '{"x": ' + "[" * 70 + "1" + "]" * 70 + "}",
        "two.csv": "x,y\n1,2\n2,4\n",
    }
    paths = {}
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8", errors="surrogatepass")
        paths[name] = str(folder / name)
    paths.update(hostile_arrays(folder))
    return paths


def hostile_arrays(folder: Path) -> dict[str, str]:
    """numpy files whose headers lie about their size: a 144-byte .npy claiming 100000×100000,
    and a .npz of about 250 KB whose member decompresses to 256 MiB."""
    import zipfile

    from numpy.lib import format as npy

    header = {"descr": "<f8", "fortran_order": False}
    with open(folder / "huge.npy", "wb") as f:
        npy.write_array_header_1_0(f, {**header, "shape": (100_000, 100_000)})
        f.write(bytes(16))
    with zipfile.ZipFile(folder / "bomb.npz", "w", zipfile.ZIP_DEFLATED) as archive:
        with archive.open("x.npy", "w") as member:
            npy.write_array_header_1_0(member, {**header, "shape": (2**25,)})
            for _ in range(16):
                member.write(bytes(1 << 24))
    return {"huge.npy": str(folder / "huge.npy"), "bomb.npz": str(folder / "bomb.npz")}


def hostile_commands(files: dict[str, str]) -> list[str]:
    devices = ["/dev/zero", "/dev/urandom", "/dev/null", "/dev/full"]
    commands = []
    for device in devices:
        commands += [f"grad -f {device}", f"grad x*2 --values {device}", f"grad x*2 --at {device}",
                     f"train linear {device}", f"graph x*w -o {device}"]
    for name in ("deep.json", "deep_values.json", "surrogate.json"):
        commands.append(f"grad x*2 --values {files[name]}")
    for name in ("huge_cell.csv", "digits.csv", "lone_cr.csv", "wide.csv", "evil_header.csv"):
        commands += [f"train linear {files[name]}", f"grad x*y --at {files[name]}"]
    commands += [f"grad x*2 --at {files['deep.jsonl']}", f"grad -f {files['formula.bp']} --x 1",
                 "grad x*2 --x 1 > /dev/full", "graph x*w --format dot >&-", "grad - <&-",
                 "train linear - <&-", "grad 'x*' 2>&-", "grad x --check-timeout nan",
                 "train linear - --seed -1 < /dev/null", "graph x*w -o /proc/version", "graph x*w -o /",
                 f"graph -f {files['formula.bp']} --max-depth 0 --max-nodes 0",
                 "graph 'a = x; a*ω' ω=1 --x 2 --format dot", "grad 'x*w^2' --x 2 --w 3 --hessian"]
    # tensors past the bounds on entries and axes
    commands += [f"grad 'sum(x*y*z)' --values {files['outer.json']}", f"grad 'sum(x)' --x {files['huge.npy']}",
                 f"grad 'sum(x)' --values {files['huge.npy']}", f"grad 'sum(x)' --values {files['bomb.npz']}",
                 f"grad 'sum(x)' --values {files['bomb.npz']} --max-values 0",
                 f"grad 'sum(x*x)' --values {files['deep70.json']}",
                 "grad 'sum(x*x)' --x '" + "[" * 30_000 + "1" + "]" * 30_000 + "'",
                 "grad 'sum(x*x)' --x '" + "[" * 40 + "1" + "]" * 40 + "'",
                 f"train 'sum(W)*x' {files['two.csv']} --param W=100000x100000 --epochs 1",
                 f"train mlp {files['two.csv']} --hidden 100000,100000 --epochs 1",
                 f"export 'sum(x*y*z)' --values {files['outer.json']}",
                 f"view 'sum(x*y*z)' --values {files['outer.json']} -o /dev/null"]
    return commands


# -- bp serve against hostile requests and clients ---------------------------------------------------
def nested(depth: int, inner: str = "1") -> str:
    return "[" * depth + inner + "]" * depth


def hostile_bodies() -> dict[str, bytes]:
    """Bodies of POSTs an attacker's page or script sends: each must get a 4xx, never a 500."""
    chain = "a0 = x*y; " + "".join(f"a{i} = sin(a{i - 1}); " for i in range(1, 60)) + "sum(a59)"
    slow = {"formula": chain, "values": {"x": [[1.0]] * 300, "y": [[1.0] * 300]}, "check": False}
    bodies = {
        "JSON nested 60,000 deep": '{"formula": "x", "values": {"x": ' + nested(60_000) + "}}",
        "JSON nested 900 deep": '{"formula": "x", "values": {"x": ' + nested(900) + "}}",
        "a 5,000-digit integer": '{"formula": "x", "values": {"x": ' + "9" * 5000 + "}}",
        "a 400-digit entry": '{"formula": "sum(x)", "values": {"x": [' + "9" * 400 + "]}}",
        "strings, null, objects in a list": '{"formula": "sum(x)", "values": {"x": [1, "a", null, {}]}}',
        "a ragged list": '{"formula": "sum(x)", "values": {"x": [[1, 2], [3]]}}',
        "70-deep lists": '{"formula": "sum(x)", "values": {"x": ' + nested(70) + "}}",
        "40-deep lists under x*x": '{"formula": "sum(x*x)", "values": {"x": ' + nested(40) + "}}",
        "a broadcast to 1000³": json.dumps({"formula": "sum(x*y*z)", "values": {
            "x": [[[1]]] * 1000, "y": [[[1]] * 1000], "z": [[[1] * 1000]]}}),
        "an answer of 115 MB from 4 kB": json.dumps({"formula": chain, "values": {
            "x": [[1.0]] * 400, "y": [[1.0] * 400]}, "check": False}),
        "an answer of 65 MB, seconds to write": json.dumps(slow),  # stopped at the deadline
        "a formula of 10,000 nested calls": json.dumps({"formula": "sin(" * 5000 + "x" + ")" * 5000}),
        "a formula of 1,500 nested calls": json.dumps({"formula": "sin(" * 1500 + "x" + ")" * 1500,
                                                       "values": {"x": 1}}),
        "SymPy's slow check": json.dumps({"formula": "sin(" * 150 + "x" + ")" * 150, "values": {"x": 0.5}}),
        "SymPy's exact power": json.dumps({"formula": "(x-x+3)^4503599627370496", "values": {"x": 1}}),
        "lone surrogates": '{"formula": "x+\\udfff", "values": {"\\ud800": 1}}',
        "NaN and Infinity": '{"formula": "x*y", "values": {"x": NaN, "y": Infinity}}',
        "a list for the body": "[1, 2]",
        "not JSON": "{not json",
        "empty": "",
        "a check of neither": '{"formula": "x", "values": {"x": 1}, "check": "maybe"}',
    }
    out = {name: text.encode("utf-8", "surrogatepass") for name, text in bodies.items()}
    out["not UTF-8"] = b'{"formula": "x\xff"}'
    return out


def post_head(length: int | None, host: str = "127.0.0.1", media: str = "application/json") -> bytes:
    size = "Transfer-Encoding: chunked" if length is None else f"Content-Length: {length}"
    return f"POST /api/grad HTTP/1.1\r\nHost: {host}\r\nContent-Type: {media}\r\n{size}\r\n\r\n".encode()


def hostile_requests() -> dict[str, list[bytes]]:
    """Whole or partial requests, each as the pieces sent (the server may answer before the last)."""
    card = b'{"formula": "(x*w-y)^2", "values": {"x": 2, "w": 3, "y": 4}}'
    requests = {f"body: {name}": [post_head(len(body)) + body] for name, body in hostile_bodies().items()}
    requests.update({
        "a DNS-rebinding Host": [post_head(len(card), "evil.example") + card],
        "a cross-origin text/plain POST": [post_head(len(card), media="text/plain") + card],
        "a declared length of 50 MB": [post_head(50_000_000)] + [b" " * 65536] * 100,
        "a chunked body of 64 MB": [post_head(None)] + [b"%x\r\n%s\r\n" % (65536, b" " * 65536)] * 1000,
        "half a head": [b"POST /api/grad HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Ty"],
        "half a body": [post_head(100) + b'{"formula": '],
        "a head without a Host": [b"GET / HTTP/1.0\r\n\r\n"],
        "not HTTP": [b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(100)],
    })
    return requests


def exchange(port: int, pieces: list[bytes], seconds: float) -> bytes:
    """Send the pieces (stopping when the server answers or closes) and read until it closes."""
    import socket

    got = b""
    with socket.create_connection(("127.0.0.1", port), timeout=seconds) as s:
        for piece in pieces:
            try:
                s.sendall(piece)
            except OSError:
                break
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                part = s.recv(65536)
            except (TimeoutError, ConnectionResetError):
                break
            if not part:
                break
            got += part
            top, _, rest = got.partition(b"\r\n\r\n")
            length = [line.split(b":")[1] for line in top.lower().split(b"\r\n") if line.startswith(b"content-length:")]
            if length and len(rest) >= int(length[0]):
                break
    return got


def hostile_server(seconds: float = 30) -> list[tuple[str, str]]:
    """Every hostile request against a real bp serve on 127.0.0.1 (a 2 s deadline, a 2 s read
    deadline, answers up to 64 MiB): a 5xx, no answer in `seconds`, a traceback, or the server
    dead after it is a failure."""
    import signal
    import subprocess

    root = Path(__file__).resolve().parent.parent
    server = subprocess.Popen([sys.executable, "-m", "bpcli", "serve", "--port", "0", "--timeout", "2",
                               "--read-timeout", "2", "--max-response", "64M"], cwd=root,
                              stderr=subprocess.PIPE, text=True)
    failures = []
    try:
        port = int(server.stderr.readline().split("/")[2].rsplit(":", 1)[1])  # bp: serving on http://HOST:PORT/
        card = hostile_requests()["body: a check of neither"]
        for _ in range(300):
            try:
                exchange(port, card, 2)
                break
            except OSError:
                time.sleep(0.1)
        for name, pieces in hostile_requests().items():
            t = time.monotonic()
            answer = exchange(port, pieces, seconds)
            status = answer.split(b" ", 2)[1].decode() if answer.startswith(b"HTTP/1.1 ") else None
            quiet = name in ("half a head", "half a body", "not HTTP") and status in (None, "400", "408")
            if status is None and not quiet:
                failures.append((f"serve: {name}", f"no answer within {time.monotonic() - t:.1f} s"))
            elif status is not None and status.startswith("5"):
                failures.append((f"serve: {name}", f"status {status}: {answer[-300:]!r}"))
            probe = b'{"formula": "x*2", "values": {"x": 1}, "check": false}'
            alive = exchange(port, [post_head(len(probe)) + probe], 10)
            if not alive.startswith(b"HTTP/1.1 200"):
                failures.append((f"serve: after {name}", f"the server no longer answers: {alive[:200]!r}"))
    finally:
        server.send_signal(signal.SIGINT)
        err = server.communicate(timeout=30)[1]
    if "Traceback" in err or "internal error" in err:
        failures.append(("serve", f"stderr: {err.strip()[-300:]}"))
    return failures


def hostile(timeout: float = 120) -> None:
    """Run every hostile command through the CLI; exit 1 ('a bug in bp'), a traceback or a run past
    `timeout` seconds is a failure."""
    import subprocess
    import tempfile

    root = Path(__file__).resolve().parent.parent
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        commands = hostile_commands(hostile_files(Path(tmp)))
        for command in commands:
            ascii_too = "ω" in command or "hessian" in command  # symbols on a stream that cannot take them
            line = (f"ulimit -v 8000000; {'PYTHONIOENCODING=ascii ' if ascii_too else ''}"
                    f"{sys.executable} -m bpcli {command}")
            try:
                done = subprocess.run(line, shell=True, cwd=root, capture_output=True, timeout=timeout)
            except subprocess.TimeoutExpired:
                failures.append((command, f"still running after {timeout:g} s"))
                continue
            err = done.stderr.decode("utf-8", "replace")
            if done.returncode == 1 or "internal error" in err or "Traceback" in err or done.returncode < 0:
                failures.append((command, f"exit {done.returncode}: {err.strip()[-300:]}"))
    requests = len(hostile_requests())
    failures += hostile_server()
    print(f"hostile inputs: {len(commands)} commands and {requests} requests to bp serve, "
          f"internal errors or hangs: {len(failures)}")
    for command, problem in failures:
        print(f"  bp {command}\n    {problem}")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    if sys.argv[1:2] in (["--help"], ["-h"]):
        print(__doc__.strip())
    elif sys.argv[1:2] == ["--hostile"]:
        hostile()
    else:
        main()
