"""bp serve: the page of bp view with a formula box, and a JSON API, on Starlette + Uvicorn.

Every request is computed from its own body alone: no state is kept between requests.
Each is bounded: body and formula size (413), node count (413) and compute time (422),
so one request that hits a bound gets a clear answer and the server goes on serving.

Only its own page can use it: a request whose Host header names anything but the bound
address or a loopback one is refused (421: a DNS-rebinding page gets nothing), a POST must
say `Content-Type: application/json` (415: a cross-origin "simple" request computes nothing),
and no CORS header is ever sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import math
import os
from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from bpcli.check import sympy_bridge
from bpcli.check.verify import checked_grad
from bpcli.engine.entries import bounded
from bpcli.engine.tensor import shapes
from bpcli.engine.values import number, tensor, value_problems
from bpcli.errors import BPError, EntriesError, InputValueError, LimitError, Position, ShapeError
from bpcli.language.parser import located, parse, positions
from bpcli.views.documents import dumps, grad_document
from bpcli.views.notes import grad_notes
from bpcli.views.web import page, view_data

EXAMPLE = ("(x*w-y)^2", {"x": 2.0, "w": 3.0, "y": 4.0})
ENV = "BP_SERVE_LIMITS"  # how `bp serve` hands its limits to Uvicorn's worker processes


@dataclass(frozen=True)
class Limits:
    max_size: int = 10_000  # characters of formula
    max_nodes: int = 5_000
    seconds: float = 10.0  # a whole request's computation
    check_seconds: float = 2.0  # SymPy's share of it
    sympy_workers: int = 2  # warm SymPy processes kept by each server process
    max_entries: int = 10_000_000  # entries of one node's array (80 MB of float64)
    host: str = "127.0.0.1"  # the address bound: Host headers naming it are accepted

    @property
    def max_body(self) -> int:
        return 4 * self.max_size + 100_000  # the formula (JSON-escaped) and the values


class TooLarge(LimitError):
    """A request past one of the server's size bounds (kind "too large")."""


def local_host(header: str, bound: str) -> bool:
    """Whether a Host header names this server as a local tool: localhost, a loopback address
    (127.0.0.0/8, ::1), or the address bound; when the bound address is a wildcard (0.0.0.0,
    ::), any IP address, never a DNS name (DNS rebinding needs one)."""
    name = header.strip().lower()
    if name.startswith("["):
        name = name[1:name.index("]")] if "]" in name else ""
    elif name.count(":") == 1:
        name = name.split(":")[0]
    bound = bound.strip("[]").lower()
    if name == "localhost" or name == bound:
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    return address.is_loopback or bound in ("0.0.0.0", "::")


def refusal(status: int, kind: str, reason: str, hint: str | None = None, position: dict | None = None):
    """bp's JSON error for a request refused before any formula is read (a position in the body, if any)."""
    return JSONResponse({"error": reason, "kind": kind, "position": position, "caret": None, "hint": hint}, status)


class LocalOnly:
    """ASGI middleware: a request whose Host header is not local gets 421 and nothing else."""

    def __init__(self, app, bound: str):
        self.app, self.bound = app, bound

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            host = next((v for k, v in scope["headers"] if k == b"host"), b"").decode("latin-1")
            if not local_host(host, self.bound):
                shown = json.dumps(host) if host else "no Host header"
                response = refusal(421, "wrong host", f"this server answers only requests to {self.bound} or "
                                   f"localhost, not {shown}", hint="open the address bp serve printed")
                return await response(scope, receive, send)
        await self.app(scope, receive, send)


VALUES_HINT = ('"values" maps each input\'s name to a number, numeric text or a nested list of numbers, '
               'e.g. {"x": 2, "W": [[1, 2]]}')
BODY_HINT = 'send a JSON object: {"formula": "(x*w-y)^2", "values": {"x": 2, "w": 3, "y": 4}}'
MAX_DIMENSIONS = 32  # numpy's limit for broadcasting


def _text(s: str, where: str) -> str:
    """A string of the request that can be encoded (a lone surrogate cannot)."""
    try:
        s.encode("utf-8")
    except UnicodeEncodeError as e:
        raise InputValueError(f"{where} has a lone surrogate (U+{ord(s[e.start]):04X}) at character {e.start + 1}",
                              hint="send text as UTF-8: JSON escapes \\ud800-\\udfff only in pairs") from None
    return s


def _array(v: list, name: str):
    """A "values" entry given as a nested list: of one shape, numbers only, at most 32 axes."""
    depth, inner = 0, v
    while isinstance(inner, list) and inner and depth <= MAX_DIMENSIONS:
        depth, inner = depth + 1, inner[0]
    if depth > MAX_DIMENSIONS:
        raise InputValueError(f"the value of {name} is nested more than {MAX_DIMENSIONS} lists deep",
                              hint=f"a tensor has at most {MAX_DIMENSIONS} axes")
    try:
        return tensor(v, name, InputValueError)
    except InputValueError as e:
        raise InputValueError(e.reason, hint=VALUES_HINT) from None


def _values(raw, formula, fill: bool) -> tuple[dict, list[str]]:
    """The point from a request's "values": numbers or numeric text; with `fill`, inputs not
    given are 1 (the page's fields start there), and their names are returned."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise InputValueError('"values" must be a JSON object such as {"x": 2, "w": 3}', hint=VALUES_HINT)
    point = {}
    for name, v in raw.items():
        _text(name, "a name in \"values\"")
        if isinstance(v, bool) or not isinstance(v, (int, float, str, list)):
            raise InputValueError(f"the value of {name} is not a number: {json.dumps(v)}", hint=VALUES_HINT)
        if fill and name not in formula.inputs:
            continue  # a field left from the previous formula
        if isinstance(v, list):
            point[name] = _array(v, name)
        elif isinstance(v, int) and not math.isfinite(float(v) if abs(v) < 2 ** 1024 else math.inf):
            raise InputValueError(f"the value of {name} is beyond float64's range", hint=VALUES_HINT)
        else:
            try:
                point[name] = number(str(v).strip(), f"the value of {name}")
            except InputValueError as e:  # its hint words bp grad's flags
                raise InputValueError(e.reason, hint=VALUES_HINT + "; finite numbers only") from None
    defaulted = [n for n in formula.inputs if n not in point] if fill else []
    for name in defaulted:
        point[name] = 1.0
    problems, missing = value_problems(list(formula.inputs), point, True)
    if problems:
        hint = (f'add {", ".join(json.dumps(n) for n in missing)} to "values"' if missing else VALUES_HINT)
        raise InputValueError("; ".join(problems), hint=hint)
    return point, defaulted


def _where(text: str, node: int) -> Position | None:
    """Where a node is written in the formula's text, if it is."""
    at = positions(text).get(node)
    return None if at is None else Position.in_text(text, at)


def _entries(formula, text: str, point: dict, limits: Limits) -> None:
    """Refuse, from the shapes alone (before any array is made), a node of more entries than the bound."""
    if not any(getattr(v, "ndim", 0) for v in point.values()):
        return
    with bounded(0):  # the engine's bound would refuse first, without the node's place in the text
        found = shapes(formula, {n: getattr(v, "shape", ()) for n, v in point.items()})
    for i, shape in enumerate(found):
        if math.prod(shape) > limits.max_entries:
            raise TooLarge(f"a node would hold {math.prod(shape):,} entries ({'×'.join(map(str, shape))}), "
                           f"more than this server's limit of {limits.max_entries:,}",
                           hint="send smaller arrays in \"values\"", position=_where(text, i))


def _inputs(text: str) -> dict:
    """For the page's value boxes as a formula is typed: its inputs, or null and the error
    (a formula half typed is no failed request)."""
    try:
        return {"inputs": list(parse(_text(text, '"formula"')).inputs), "error": None}
    except BPError as e:
        return {"inputs": None, "error": error_body(e)}


def compute(body: dict, limits: Limits, with_layout: bool, questions=None) -> dict:
    """The document `bp grad --json` prints for the request (and, for the page, its layout;
    with `questions`, a function of the result and the document, predict mode's questions
    when the body asks "questions": true)."""
    text = body.get("formula")
    if not isinstance(text, str):
        raise InputValueError('the request needs "formula": a bp formula as a JSON string', hint=BODY_HINT)
    if len(text) > limits.max_size:
        raise TooLarge(f"the formula has {len(text):,} characters, more than this server's limit of "
                       f"{limits.max_size:,}", hint="bp serve --max-size N raises it")
    if with_layout and body.get("inputs_only") is True:
        return _inputs(text)
    f = parse(_text(text, '"formula"'))
    if len(f) > limits.max_nodes:
        raise TooLarge(f"the formula has {len(f):,} nodes, more than this server's limit of {limits.max_nodes:,}",
                       hint="bp serve --max-nodes N raises it")
    check = body.get("check", True)
    if check not in (True, False, "yes", "no"):
        raise InputValueError(f'"check" must be true, false, "yes" or "no", not {json.dumps(check)}',
                              hint='"check": false answers without SymPy\'s check')
    check = check in (True, "yes")
    point, defaulted = _values(body.get("values"), f, fill=with_layout)
    try:
        _entries(f, text, point, limits)
        with bounded(limits.max_entries):
            result, checked = checked_grad(f, point, check, limits.check_seconds)
    except ShapeError as e:
        if e.node is None:
            raise
        raise located(text, e) from None
    doc = grad_document(result, point, checked, grad_notes(result, [], checked))
    if not with_layout:
        return doc
    found, why_not = questions(result, doc) if questions and body.get("questions") is True else (None, None)
    return {**view_data(f, doc), "defaulted": defaulted,
            **({"questions": found} if found else {"no_questions": why_not} if why_not else {})}


def error_body(e: BPError) -> dict:
    """bp's error as data: the sentence the terminal shows (with where), the position (line and
    column from 1; offset: characters before it), the line with its caret, the hint."""
    at = e.position
    position = None if at is None else {"line": at.line, "column": at.column, "offset": at.offset}
    return {"error": e.headline, "kind": e.kind, "position": position,
            "caret": None if at is None else at.pointer(), "hint": e.hint}


def create_app(limits: Limits | None = None, questions=None) -> Starlette:
    """The application; limits from the argument, else from bp serve's environment, else defaults.
    `questions(result, document)`: predict mode's questions for the page (bp quiz's, from the
    layer above), or (None, why not)."""
    if limits is None:
        limits = Limits(**json.loads(os.environ[ENV])) if ENV in os.environ else Limits()

    async def answer(request: Request, with_layout: bool) -> Response:
        media = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media != "application/json":
            return refusal(415, "wrong content type", f"the request's Content-Type is {media or 'missing'}; "
                           "this server reads only application/json",
                           hint="send the header Content-Type: application/json")
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limits.max_body:
            return refusal(413, "too large", f"the request has {int(declared):,} bytes, more than this "
                           f"server's limit of {limits.max_body:,}")
        chunks, size = [], 0
        async for chunk in request.stream():  # counted as it arrives: the bound stops the reading
            size += len(chunk)
            if size > limits.max_body:
                return refusal(413, "too large", f"the request is larger than this server's limit of "
                               f"{limits.max_body:,} bytes")
            chunks.append(chunk)
        raw = b"".join(chunks)
        try:
            body = json.loads(raw)
        except json.JSONDecodeError as e:
            return refusal(400, "usage error", f"the request is not JSON: {e.msg} at line {e.lineno}, column "
                           f"{e.colno}", BODY_HINT, {"line": e.lineno, "column": e.colno, "offset": e.pos})
        except (ValueError, RecursionError) as e:  # not UTF-8, nested too deep, an integer of > 4,300 digits
            reason = "nested too deep" if isinstance(e, RecursionError) else str(e).split(";")[0]
            return refusal(400, "usage error", f"the request is not JSON bp can read: {reason}", hint=BODY_HINT)
        if not isinstance(body, dict):
            return refusal(400, "usage error", "the request must be a JSON object", hint=BODY_HINT)
        try:
            found = await asyncio.wait_for(run_in_threadpool(compute, body, limits, with_layout, questions),
                                           limits.seconds)
        except (TooLarge, EntriesError) as e:
            e.hint = e.hint or 'send smaller arrays in "values"'
            return JSONResponse(error_body(e), 413)
        except BPError as e:
            return JSONResponse(error_body(e), 400)
        except TimeoutError:
            return JSONResponse({"error": f"bp took more than {limits.seconds:g} s on this formula, this "
                                          "server's limit", "kind": "too slow"}, 422)
        return Response(dumps(found), media_type="application/json")

    async def grad(request: Request) -> Response:
        return await answer(request, with_layout=False)

    async def view(request: Request) -> Response:
        return await answer(request, with_layout=True)

    async def home(request: Request) -> Response:
        data = await run_in_threadpool(compute, {"formula": EXAMPLE[0], "values": EXAMPLE[1], "questions": True},
                                       limits, True, questions)
        return HTMLResponse(page(data, mode="serve", title="bp serve", api="api/view"))

    @contextlib.asynccontextmanager
    async def warm_sympy(app):
        # SymPy's first derivative in a fresh process costs ~40 ms of set-up; a worker kept
        # for the server's life answers the card example's check in ~1 ms.
        await run_in_threadpool(sympy_bridge.keep_warm, limits.sympy_workers)
        try:
            yield
        finally:
            sympy_bridge.stop_warm()

    return Starlette(routes=[Route("/", home), Route("/api/grad", grad, methods=["POST"]),
                             Route("/api/view", view, methods=["POST"])], lifespan=warm_sympy,
                     middleware=[Middleware(LocalOnly, bound=limits.host)])
