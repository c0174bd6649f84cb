"""bp serve: the page of bp view with a formula box, and a JSON API, on Starlette + Uvicorn.

Every request is computed from its own body alone: no state is kept between requests.
Each is bounded: the time its head and body take to arrive (408), body and formula size,
node count, entries of any array and the answer's size (413), and compute time (422): every
computation runs in a worker process of its own (bpcli.check.workers), killed at the deadline
and replaced, so its CPU and memory stop with it. At most `computations` run at once in each
server process; a request that finds them all busy waits a moment, then gets 503 with
Retry-After. So one request that hits a bound gets a clear answer, and the server goes on serving.

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
from dataclasses import asdict, dataclass

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from bpcli.check import sympy_bridge, workers
from bpcli.check.verify import checked_grad
from bpcli.engine.entries import bounded
from bpcli.engine.values import number, tensor, value_problems
from bpcli.errors import (
    NO_VALUE,
    BPError,
    EntriesError,
    InputValueError,
    LimitError,
    Position,
    ShapeError,
    Wording,
    worded,
)
from bpcli.language.parser import located, parse, positions
from bpcli.views.documents import dumps, grad_document
from bpcli.views.notes import grad_notes
from bpcli.views.web import page, view_data
from bpcli.views.web.guard import ENV, error, stopping  # ENV: how bp serve hands its limits to each process

EXAMPLE = ("(x*w-y)^2", {"x": 2.0, "w": 3.0, "y": 4.0})


@dataclass(frozen=True)
class Limits:
    max_size: int = 10_000  # characters of formula
    max_nodes: int = 5_000
    seconds: float = 10.0  # a whole request's computation
    check_seconds: float = 2.0  # SymPy's share of it
    max_entries: int = 10_000_000  # entries of one node's array (80 MB of float64)
    max_response: int = 16 << 20  # bytes of one answer
    computations: int = 4  # at once in each server process, each in a warm worker process
    queue_seconds: float = 1.0  # how long a request waits for a free worker before 503
    read_seconds: float = 10.0  # for a request's head to arrive, then for its body (408)
    max_connections: int = 100  # open at once in each server process
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


def refusal(status: int, kind: str, reason: str, hint: str | None = None, close: bool = False):
    """bp's JSON error for a request refused before its body is read; `close`: the connection is
    closed after it (the rest of the body is never read)."""
    return JSONResponse(error(reason, kind, hint), status, headers={"connection": "close"} if close else None)


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
BODY_SIZE_HINT = 'send a smaller formula or smaller arrays in "values"'
BODY_HINT = 'send a JSON object: {"formula": "(x*w-y)^2", "values": {"x": 2, "w": 3, "y": 4}}'
MAX_DIMENSIONS = 32  # numpy's limit for broadcasting


class Fields(Wording):
    """This server's words: a setting that is a field of the request is that field (`"check"`,
    `"check": false`), an input given a value its member of "values" (`"x": 2 in "values"`);
    any other setting, which no request sets, as the library says it."""

    FIELDS = ("formula", "values", "check", "questions")

    def setting(self, name: str, value=NO_VALUE) -> str:
        if name not in self.FIELDS:
            return super().setting(name, value)
        return json.dumps(name) if value is NO_VALUE else f"{json.dumps(name)}: {json.dumps(value)}"

    def input(self, name: str, value=NO_VALUE) -> str:
        member = json.dumps(name) if value is NO_VALUE else f"{json.dumps(name)}: {value}"
        return f'{member} in "values"'


FIELDS = Fields()


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
            except InputValueError as e:  # a value not finite: this server lets none through
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


def _too_many(e: EntriesError, text: str) -> TooLarge:
    """The engine's refusal of an array, said of this server's limit, at the node's place in the text."""
    if e.rank:
        return TooLarge(e.reason, hint=VALUES_HINT)
    what = "a node" if e.node is not None else e.what
    return TooLarge(f"{what} would hold {e.entries:,} entries ({'×'.join(map(str, e.shape))}), more than "
                    f"this server's limit of {e.limit:,}", hint='send smaller arrays in "values"',
                    position=None if e.node is None else _where(text, e.node))


BYTES_PER_ENTRY = 4  # the fewest bytes a number takes in an answer's JSON ("0.0" and its comma)


def _answer_fits(formula, result, max_response: int) -> None:
    """Refuse, before it is written, an answer that cannot fit in `max_response` bytes: it holds
    every node's value and adjoint, and every edge's contribution (the operand's entries)."""
    if not max_response or result.shapes is None:
        return
    entries = [math.prod(shape) for shape in result.shapes]
    total = 2 * sum(entries) + sum(entries[a] for args in formula.args for a in args)
    if BYTES_PER_ENTRY * total > max_response:
        raise TooLarge(f"the answer would have at least {BYTES_PER_ENTRY * total:,} bytes ({total:,} numbers), "
                       f"more than this server's limit of {max_response:,}", hint='send smaller arrays in "values"')


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
                       f"{limits.max_size:,}", hint='send a shorter "formula"')
    if with_layout and body.get("inputs_only") is True:
        return _inputs(text)
    f = parse(_text(text, '"formula"'))
    if len(f) > limits.max_nodes:
        raise TooLarge(f"the formula has {len(f):,} nodes, more than this server's limit of {limits.max_nodes:,}",
                       hint='send a "formula" of fewer operations')
    check = body.get("check", True)
    if check not in (True, False, "yes", "no"):
        raise InputValueError(f'"check" must be true, false, "yes" or "no", not {json.dumps(check)}',
                              hint='"check": false answers without SymPy\'s check')
    check = check in (True, "yes")
    point, defaulted = _values(body.get("values"), f, fill=with_layout)
    try:
        with bounded(limits.max_entries):
            result, checked = checked_grad(f, point, check, limits.check_seconds)
    except ShapeError as e:
        if e.node is None:
            raise
        raise located(text, e) from None
    except EntriesError as e:  # the engine's bound, found from the shapes before any array is made
        raise _too_many(e, text) from None
    _answer_fits(f, result, limits.max_response)
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


def read_json(raw: bytes) -> dict:
    """The request's body as a JSON object, else bp's JSON error (with where in the body, if known)."""
    try:
        body = json.loads(raw)
    except json.JSONDecodeError as e:
        return error(f"the request is not JSON: {e.msg} at line {e.lineno}, column {e.colno}", "usage error",
                     BODY_HINT) | {"position": {"line": e.lineno, "column": e.colno, "offset": e.pos}}
    except (ValueError, RecursionError) as e:  # not UTF-8, nested too deep, an integer of > 4,300 digits
        reason = "nested too deep" if isinstance(e, RecursionError) else str(e).split(";")[0]
        return error(f"the request is not JSON bp can read: {reason}", "usage error", BODY_HINT)
    if not isinstance(body, dict):
        return error("the request must be a JSON object", "usage error", BODY_HINT)
    return {"body": body}


def computed(raw: bytes, limits: Limits, with_layout: bool, questions=None) -> tuple[int, bytes]:
    """(HTTP status, JSON answer) for a request's body: the job a worker process runs (the body
    travels as bytes: a nested JSON value never meets the pipe's pickling)."""
    read = read_json(raw)
    if "body" not in read:
        return 400, _json(read)
    body = read["body"]
    try:
        try:
            with worded(FIELDS):  # not bp serve's flags, in force where the server runs in-process
                found = compute(body, limits, with_layout, questions)
        except EntriesError as e:  # an input's own array, before any node is made
            raise _too_many(e, body.get("formula", "")) from None
    except TooLarge as e:
        return 413, _error_json(e)
    except BPError as e:
        return 400, _error_json(e)
    answer = dumps(found).encode()
    if limits.max_response and len(answer) > limits.max_response:
        e = TooLarge(f"the answer would have {len(answer):,} bytes, more than this server's limit of "
                     f"{limits.max_response:,}", hint='send smaller arrays in "values", or ask /api/grad '
                     'rather than /api/view' if with_layout else 'send smaller arrays in "values"')
        return 413, _error_json(e)
    return 200, answer


def _error_json(e: BPError) -> bytes:
    return _json(error_body(e))


def _json(doc: dict) -> bytes:
    """An error document as JSON, written as every refusal of the server is (Starlette's JSONResponse)."""
    return json.dumps(doc, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()


def _failed(failure: workers.Failure, limits: Limits) -> tuple[int, dict]:
    """The answer when a computation's worker gave none."""
    if failure.kind == workers.TIMEOUT:
        return 422, error(f"bp took more than {limits.seconds:g} s on this formula, this server's limit; "
                          "the computation was stopped", "too slow",
                          'send a smaller formula or smaller arrays in "values", or "check": false')
    if failure.kind == workers.MEMORY_ERROR:
        return 413, error(f"the computation needed more than {workers.MEMORY >> 30} GiB of memory, this "
                          "server's limit; it was stopped", "too large", 'send smaller arrays in "values"')
    if failure.kind == workers.RECURSION:
        return 400, error("the formula is nested too deep to compute", "too large",
                          "write deep chains as a program of named steps")
    detail = failure.detail or "its worker process stopped without an answer"
    return 500, error(f"internal error: {detail}", "internal error", "this is a bug in bp: please report it")


class Computations:
    """A server process's warm worker processes and who waits for them."""

    def __init__(self, limits: Limits, questions=None) -> None:
        self.limits = limits
        self.questions = questions  # predict mode's questions (a module-level function: it travels by name)
        self.pool: workers.Pool | None = None
        self.free = asyncio.Semaphore(limits.computations)

    def start(self) -> None:
        # A worker is forked from this process after SymPy's and bp's own first use here, so every
        # worker (and every replacement) starts warm: the card example's check then costs ~1 ms.
        self.pool = workers.Pool(self.limits.computations, sympy_bridge.warm_up)

    def close(self) -> None:
        if self.pool is not None:
            self.pool.close()

    async def run(self, raw: bytes, with_layout: bool) -> tuple[int, bytes | dict]:
        """(status, answer bytes or an error document) for one request's body."""
        limits = self.limits
        busy = (503, error(f"this server is computing {limits.computations} requests at once, its limit",
                           "busy", "try again in a moment"))
        if stopping().is_set():
            return 503, error("bp serve is stopping", "stopping", "start bp serve again")
        try:  # those waiting are bounded by the connections open (max_connections)
            await asyncio.wait_for(self.free.acquire(), limits.queue_seconds)
        except TimeoutError:
            return busy
        worker, fit = self.pool.take(0), False
        try:
            if worker is None:  # the pool was closed (the server is stopping), or could not fork
                return busy if not stopping().is_set() else (503, error("bp serve is stopping", "stopping",
                                                                        "start bp serve again"))
            asked = asyncio.ensure_future(run_in_threadpool(
                worker.ask, computed, (raw, limits, with_layout, self.questions), limits.seconds))
            stop = asyncio.ensure_future(stopping().wait())
            try:
                await asyncio.wait({asked, stop}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                stop.cancel()
                if not asked.done():  # stopping, or this request cancelled: its work ends now
                    worker.process.kill()
                    await asyncio.wait({asked})  # the pipe reports the death at once
            done, answer, fit = await asked
            if stop.done() and not stop.cancelled() and not done:
                return 503, error("bp serve stopped while computing this request", "stopping",
                                  "start bp serve again and send the request again")
            return answer if done else _failed(answer, limits)
        finally:
            try:
                if worker is not None and fit:
                    self.pool.give_back(worker, True)
                elif worker is not None:  # killed: the replacement is forked off the event loop
                    await run_in_threadpool(self.pool.give_back, worker, False)
            finally:
                self.free.release()


def create_app(limits: Limits | None = None, questions=None) -> Starlette:
    """The application; limits from the argument, else from bp serve's environment, else defaults.
    `questions(result, document)`: predict mode's questions for the page (bp quiz's, from the
    layer above), or (None, why not)."""
    if limits is None:
        limits = Limits(**json.loads(os.environ[ENV])) if ENV in os.environ else Limits()
    computations = Computations(limits, questions)
    home_page: list[str] = []

    async def read_body(request: Request) -> bytes | Response:
        """The body, counted as it arrives: the bound stops the reading (413), and so does the
        read deadline (408)."""
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limits.max_body:
            return refusal(413, "too large", f"the request has {int(declared):,} bytes, more than this "
                           f"server's limit of {limits.max_body:,}", hint=BODY_SIZE_HINT, close=True)
        chunks, size = [], 0
        try:
            async with asyncio.timeout(limits.read_seconds):
                async for chunk in request.stream():
                    size += len(chunk)
                    if size > limits.max_body:
                        return refusal(413, "too large", f"the request is larger than this server's limit of "
                                       f"{limits.max_body:,} bytes", hint=BODY_SIZE_HINT, close=True)
                    chunks.append(chunk)
        except TimeoutError:
            return refusal(408, "too slow", f"the request's body did not arrive within {limits.read_seconds:g} s, "
                           "this server's limit", hint="send the whole request at once", close=True)
        return b"".join(chunks)

    async def answer(request: Request, with_layout: bool) -> Response:
        media = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media != "application/json":
            return refusal(415, "wrong content type", f"the request's Content-Type is {media or 'missing'}; "
                           "this server reads only application/json",
                           hint="send the header Content-Type: application/json")
        raw = await read_body(request)
        if isinstance(raw, Response):
            return raw
        status, found = await computations.run(raw, with_layout)
        if isinstance(found, dict):
            headers = {"retry-after": "1"} if status == 503 else None
            return JSONResponse(found, status, headers=headers)
        return Response(found, status, media_type="application/json")

    async def grad(request: Request) -> Response:
        return await answer(request, with_layout=False)

    async def view(request: Request) -> Response:
        return await answer(request, with_layout=True)

    async def home(request: Request) -> Response:
        return HTMLResponse(home_page[0])

    @contextlib.asynccontextmanager
    async def lifespan(app):
        # The page's example is computed once, here: it also readies bp's own code before the
        # worker processes are forked from this one.
        data = await run_in_threadpool(compute, {"formula": EXAMPLE[0], "values": EXAMPLE[1], "questions": True},
                                       limits, True, questions)
        home_page.append(page(data, mode="serve", title="bp serve", api="api/view"))
        await run_in_threadpool(computations.start)
        try:
            yield
        finally:
            await run_in_threadpool(computations.close)

    return Starlette(routes=[Route("/", home), Route("/api/grad", grad, methods=["POST"]),
                             Route("/api/view", view, methods=["POST"])], lifespan=lifespan,
                     middleware=[Middleware(LocalOnly, bound=limits.host)])


def settings(limits: Limits) -> str:
    """The limits as bp serve hands them to every server process (the environment's ENV)."""
    return json.dumps(asdict(limits))
