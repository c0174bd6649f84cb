"""Text → graph: the Lark LALR parser builds the hash-consed DAG while it parses.

The builder is Lark's inline transformer, so no parse tree is made and nothing
recurses: a formula nested 100,000 deep parses like any other.
"""

from __future__ import annotations

import gc
import hashlib
import json
import re
import threading
import unicodedata
from contextlib import contextmanager
from functools import cache
from pathlib import Path

from bpcli.engine.graph import CONST, INPUT, NAMED_CONSTANTS, GraphBuilder
from bpcli.engine.ops import FUNCTIONS, OPS, Slice
from bpcli.errors import ParseError, Position, ShapeError
from bpcli.language import driver

_lock = threading.Lock()
_parser = None
_tables = None  # Lark's tables for the lean driver, or None when this Lark's cannot be read


def grammar_path() -> Path:
    """grammar/bp.lark: inside the package once installed, beside it in a source tree."""
    package = Path(__file__).resolve().parent.parent  # bpcli/, this module lives in bpcli/language/
    installed = package / "grammar" / "bp.lark"
    return installed if installed.exists() else package.parent / "grammar" / "bp.lark"


def grammar_text() -> str:
    return grammar_path().read_text(encoding="utf-8")


class _Dispatch:
    """Lark calls `__default__(alias, children, meta)` on every reduction; pass it on."""

    builder: _Builder

    def __default__(self, data, children, meta):
        if data.startswith("_"):  # Lark's helper rules for repetition: the parent inlines them
            from lark import Tree

            return Tree(data, children)
        return self.builder.reduce(data, children)


_dispatch = _Dispatch()


def tables_path() -> Path:
    """grammar/bp.tables.json, built from bp.lark by `python tools/build_tables.py`."""
    return grammar_path().with_name("bp.tables.json")


def _int_keys(doc: dict) -> dict:
    """JSON turns the tables' integer keys into strings; turn them back where Lark 1.x keeps
    them (the memo, the parser's tokens, its states and each state's actions): a hook on every
    object of the document would cost more than reading it."""
    parser = doc["data"]["parser"]["parser"]
    for holder, key in [(doc, "memo"), (parser, "tokens"), (parser, "states")]:
        holder[key] = {int(k): v for k, v in holder[key].items()}
    states = parser["states"]
    for k in states:
        states[k] = {int(t) if t.isdigit() else t: action for t, action in states[k].items()}
    return doc


def _fingerprint(grammar: str) -> dict:
    """What the shipped tables were built from: this grammar, this Lark."""
    import lark

    return {"lark": lark.__version__, "grammar": hashlib.sha256(grammar.encode()).hexdigest()}


def build_tables() -> dict:
    """Lark's LALR tables for the grammar, as the JSON document shipped beside it."""
    from lark import Lark
    from lark.grammar import Rule
    from lark.lexer import TerminalDef

    grammar = grammar_text()
    data, memo = Lark(grammar, parser="lalr", lexer="basic").memo_serialize([TerminalDef, Rule])
    data["options"] = {k: v for k, v in data["options"].items() if k != "transformer"}
    data["parser"]["parser"] = _canonical(data["parser"]["parser"])
    return {**_fingerprint(grammar), "data": data, "memo": memo}


def tables_text() -> str:
    """grammar/bp.tables.json as tools/build_tables.py writes it: the same bytes on every build."""
    return json.dumps(build_tables(), sort_keys=True, separators=(",", ":")) + "\n"


def _canonical(table: dict) -> dict:
    """Lark's parse table numbered the same way on every build: Lark numbers tokens and states
    in an order that changes from run to run (sets of objects hashed by address), so tokens
    are renumbered by name and states in breadth-first order from the start states, each
    state's moves taken in token order. The automaton is the same; the file is byte-stable."""
    token_id = {name: k for k, name in enumerate(sorted(table["tokens"].values()))}
    name_of = table["tokens"]
    states, order, seen = table["states"], [], set()
    queue = [table["start_states"][s] for s in sorted(table["start_states"])]
    while queue:  # a queue, not recursion: breadth first
        state = queue.pop(0)
        if state in seen:
            continue
        seen.add(state)
        order.append(state)
        for token in sorted(states[state], key=lambda t: name_of[t]):
            action, arg = states[state][token]
            if action == 0:  # a shift (or a goto): arg is the next state
                queue.append(arg)
    order += sorted(set(states) - seen)  # none in an LALR automaton; kept rather than dropped
    new = {old: k for k, old in enumerate(order)}
    return {
        "tokens": {k: name for name, k in token_id.items()},
        "states": {new[s]: {token_id[name_of[t]]: [a, new[arg] if a == 0 else arg]
                            for t, (a, arg) in sorted(states[s].items(), key=lambda kv: token_id[name_of[kv[0]]])}
                   for s in order},
        "start_states": {k: new[v] for k, v in table["start_states"].items()},
        "end_states": {k: new[v] for k, v in table["end_states"].items()},
    }


def shipped_tables() -> dict | None:
    """The tables shipped in the package, if they were built from this grammar by this Lark.

    Read only from the package (no user-writable cache: an edited table would change what
    a formula means, an edited pattern could hang every run)."""
    try:
        doc = json.loads(tables_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    fresh = isinstance(doc, dict) and all(doc.get(k) == v for k, v in _fingerprint(grammar_text()).items())
    try:
        return _int_keys(doc) if fresh else None
    except (KeyError, TypeError, AttributeError, ValueError):  # not shaped as Lark 1.x writes them
        return None


def _build_parser():
    """The LALR parser, from the shipped tables; built in memory when they are stale."""
    from lark import Lark

    doc = shipped_tables()
    if doc is not None:
        return Lark._load_from_dict(doc["data"], doc["memo"], transformer=_dispatch)
    return Lark(grammar_text(), parser="lalr", lexer="basic", transformer=_dispatch)


@contextmanager
def _no_gc():
    """Pause the cyclic garbage collector: parsing makes millions of acyclic objects, and
    collections triggered by them scan the growing graph again and again (superlinear)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _load() -> None:
    global _parser, _tables
    if _parser is None:
        _parser = _build_parser()
        try:
            _tables = driver.Tables(_parser, _Builder.action)
        except driver.Unsupported:
            _tables = None


def parse(text: str, lean: bool = True):
    """Parse bp source text into a frozen Formula.

    The lean driver walks Lark's tables fast; text it refuses is parsed again by Lark,
    whose errors bp shows (lean=False: Lark only, as the tests' reference)."""
    with _lock, _no_gc():
        _load()
        if lean and _tables is not None:
            builder = _Builder(text)
            try:
                driver.parse(_tables, text, builder)
                return builder.finish()
            except driver.Refused:
                pass
        return _parse_with_lark(text).finish()


def lean_driver_active() -> bool:
    """Whether this Lark's tables could be read by the lean driver."""
    with _lock:
        _load()
    return _tables is not None


def _parse_with_lark(text: str) -> _Builder:
    builder = _dispatch.builder = _Builder(text)
    try:
        _parser.parse(text)
    except ParseError:
        raise
    except Exception as e:  # Lark's errors, turned into bp's
        raise _lark_error(text, e) from None
    finally:
        del _dispatch.builder
    return builder


class _Args(list):
    """A function's positional arguments, with the commas between all its arguments (for error
    positions) and its keyword arguments."""

    commas: list
    keywords: list


class _SliceArg:
    """start:stop:step in a subscript, as written: the bounds' nodes (None where left out) and
    the colons' tokens (for error positions)."""

    def __init__(self, bounds: list, colons: list):
        self.bounds = bounds
        self.colons = colons


class _Keyword:
    """name=value in a call: the name's token (where it is written) and the value's node."""

    def __init__(self, token, node: int):
        self.token = token
        self.node = node


class _Builder:
    """Turns each reduction of the grammar into a node of the graph."""

    def __init__(self, text: str):
        self.text = text
        self.graph = GraphBuilder()
        self.env: dict[str, int] = {}
        self.last: tuple[str, int] | None = None  # the last statement: (assign or output, node)
        self.bare_before_last = False  # a bare expression came before another statement
        self.notes: list[str] = []  # what a reader must know about the text itself

    def reduce(self, alias: str, children: list):
        return self.action(alias)(self, *children)

    @classmethod
    def action(cls, alias: str):
        """What a reduction aliased `alias` does, as a function of (builder, *children):
        an operation, a function's name (which `call` then applies) or one of the methods below."""
        op = OPS.get(alias)
        if op is None or alias == "index":  # v[2] or p[y]: the builder decides which
            return getattr(cls, alias)
        if op.is_function:
            return lambda builder: alias
        return lambda builder, *operands: builder.graph.apply(alias, operands)

    def call(self, name: str, args: _Args) -> int:
        op = OPS[name]
        if not op.signature:
            if args.keywords:
                token = args.keywords[0].token
                raise _error(self.text, token.start_pos, f"{name}() takes no keyword arguments, got {token}=")
            self._check_arity(name, args)
            return self.graph.apply(name, tuple(args))
        operands, values = self._bind(op, args)
        params = op.canonical(values)
        if not params:
            return self.graph.apply(name, operands)
        return self.graph.apply_with(name, operands, params)

    def _bind(self, op, args: _Args) -> tuple[tuple, dict]:
        """A call's operands and its static parameters by name, from its positional and keyword
        arguments (as Python binds them); errors point at the argument."""
        name = op.name
        if op.operand_positions and len(args) > max(op.operand_positions):
            args = self._operands_first(op.operand_positions, args)
        if len(args) < op.arity:
            self._check_arity(name, args)
        operands, rest = tuple(args[:op.arity]), list(args[op.arity:])
        where = args.commas[op.arity - 1:] if op.arity else [None] + args.commas
        slots = [p for p in op.signature if not p.keyword]
        values: dict = {}
        k = 0
        for p in slots:
            if k == len(rest):
                break
            if p.kind == "ints":
                values[p.name] = tuple(self._read(op, p, node, where[j]) for j, node in
                                       enumerate(rest[k:], start=k))
                k = len(rest)
            else:
                values[p.name] = self._read(op, p, rest[k], where[k])
                k += 1
        if k < len(rest):
            plural = "s" if op.arity != 1 else ""
            names = ", ".join(p.name for p in slots) or "none by position"
            raise _error(self.text, where[k].start_pos,
                         f"{name}() takes {op.arity} argument{plural} and then {names}, got {len(args)}")
        for kw in args.keywords:
            p = next((q for q in op.signature if q.name == str(kw.token)), None)
            if p is None:
                known = ", ".join(q.name for q in op.signature)
                raise _error(self.text, kw.token.start_pos, f"{name}() has no parameter {kw.token}",
                             f"{name}'s parameters: {known}")
            if p.name in values:
                raise _error(self.text, kw.token.start_pos, f"{name}() got {p.name} twice")
            values[p.name] = self._read(op, p, kw.node, kw.token, positional=False)
        missing = [p.name for p in op.signature if p.required and p.name not in values]
        if missing:
            raise ParseError(f"{name}() needs {', '.join(missing)}: {op.written_signature()}")
        return operands, values

    @staticmethod
    def _operands_first(positions: tuple, args: _Args) -> _Args:
        """gather(x, dim, idx): the arguments reordered as (x, idx, dim), each still marked by
        the comma before it."""
        order = list(positions) + [k for k in range(len(args)) if k not in positions]
        marks = [None] + list(args.commas)
        out = _Args(args[k] for k in order)
        out.commas = [marks[k] for k in order[1:]] + list(args.commas[len(args) - 1:])
        out.keywords = args.keywords
        return out

    def _read(self, op, p, node: int, mark, positional: bool = True):
        """A static parameter's value, written as the node: an integer constant, or True/False."""
        what = f"{'the axis (dim)' if p.name == 'dim' else p.name} of {op.name}(…)"
        try:
            if p.kind == "bool":
                g = self.graph
                if g.kinds[node] == INPUT and g.names[node] in ("True", "False"):
                    return g.names[node] == "True"
                raise ParseError(f"{what} must be True or False")
            return self._static_int(node, what)
        except ParseError as e:
            reason = e.reason
            if positional:  # say what the argument is taken for
                plural = "s" if op.arity != 1 else ""
                reason = (f"{op.name}() takes {op.arity} argument{plural}, then constants as in "
                          f"{op.written_signature()}: {reason}")
            if mark is None:
                raise ParseError(reason) from None
            raise _error(self.text, mark.start_pos, reason) from None

    def index(self, node: int, args: _Args) -> int:
        """v[2], A[1, 0], x[1:3, ::2]: integer constants and slices, a static part of the node;
        p[y]: a class label."""
        if all(isinstance(a, _SliceArg) or self._is_constant(a) for a in args):
            where = "an index"
            return self.graph.apply_with("index", (node,), tuple(
                self._slice(a) if isinstance(a, _SliceArg) else self._static_int(a, where) for a in args))
        if len(args) == 1:
            return self.graph.apply("take", (node, args[0]))
        raise _error(self.text, args.commas[0].start_pos,
                     "indices are integer constants and slices (A[1, 0], x[1:3]), or one class label (p[y])")

    def subscripts(self, *children):
        args = _Args(c for c in children if isinstance(c, (int, _SliceArg)))
        args.commas = [c for c in children if not isinstance(c, (int, _SliceArg))]
        args.keywords = []
        return args

    def slice(self, *children):
        """start:stop:step, any bound left out: the colons say which bound each written one is."""
        bounds: list = [None, None, None]
        colons = []
        for c in children:
            if isinstance(c, int):
                bounds[len(colons)] = c
            else:
                colons.append(c)
        return _SliceArg(bounds, colons)

    def _slice(self, s: _SliceArg) -> Slice:
        values = []
        for k, bound in enumerate(s.bounds):
            if bound is None:
                values.append(None)
                continue
            mark = s.colons[k - 1] if k else s.colons[0]
            try:
                values.append(self._static_int(bound, "a slice bound"))
            except ParseError as e:
                raise _error(self.text, mark.start_pos, e.reason + " (slices are written with constants, "
                             "as in x[1:3])") from None
        if values[2] is not None and values[2] <= 0:
            raise _error(self.text, s.colons[1].start_pos,
                         f"a slice's step must be positive, as in PyTorch: got {values[2]}",
                         "to reverse an axis, use flip(x, dim)")
        return Slice(*values)

    def _is_constant(self, node: int) -> bool:
        g = self.graph
        return g.kinds[node] == CONST or (g.kinds[node] == "neg" and g.kinds[g.args[node][0]] == CONST)

    def _static_int(self, node: int, what: str) -> int:
        """An integer constant (negative allowed) written as an argument."""
        g = self.graph
        if not self._is_constant(node):
            raise ParseError(f"{what} must be an integer constant, such as 0 or -1")
        value = g.consts[node] if g.kinds[node] == CONST else -g.consts[g.args[node][0]]
        if not value.is_integer():
            raise ParseError(f"{what} must be a whole number, not {value!r}")
        return int(value)

    def _check_arity(self, name: str, args: _Args) -> None:
        want = OPS[name].arity
        if len(args) == want:
            return
        plural = "s" if want != 1 else ""
        message = f"{name}() takes {want} argument{plural}, got {len(args)}"
        if len(args) > want:
            raise _error(self.text, args.commas[want - 1].start_pos, message)
        raise ParseError(message + f": {name}(" + ", ".join("…" * want) + ")")

    # Grammar aliases that are not operations.
    def number(self, token):
        value = float(token)
        if value == float("inf"):
            raise _error(self.text, token.start_pos,
                         f"the number {_short(token)} is too large for float64 (max about 1.8e308)")
        return self.graph.const(value)

    def name(self, token):
        name = unicodedata.normalize("NFKC", str(token))
        node = self.env.get(name)
        return node if node is not None else self.graph.input(name)

    def constant(self, token):
        """pi or e: the constant, or the value assigned to that name (shadowing it)."""
        node = self.env.get(str(token))
        return node if node is not None else self.graph.const(NAMED_CONSTANTS[token][0], str(token))

    def unary(self, child):  # unary plus: no node
        return child

    def args(self, *children):
        if len(children) == 1 and isinstance(children[0], int):  # f(x), the most common call: nothing to bind
            args = _Args(children)
            args.commas, args.keywords = [], []
            return args
        args = _Args(c for c in children if isinstance(c, int))
        args.commas = [c for c in children if not isinstance(c, (int, _Keyword))]
        args.keywords = [c for c in children if isinstance(c, _Keyword)]
        seen = False
        for c, comma in zip(children[2::2], args.commas):
            seen = seen or isinstance(children[0], _Keyword)
            if isinstance(c, _Keyword):
                seen = True
            elif seen:
                raise _error(self.text, comma.start_pos, "a positional argument after a keyword argument")
        return args

    def keyword(self, token, node):
        return _Keyword(token, node)

    def unknown_function(self, token, args):
        import difflib

        close = difflib.get_close_matches(str(token), FUNCTIONS + ["ln"], n=1)
        message = f"unknown function {token}" + (f" (did you mean {close[0]}?)" if close else "")
        if close:
            hint = None
        elif len(token) <= 2:  # w(x+1): more likely a product than a function
            hint = f"bp has no implicit multiplication: write {token}*(…) for a product"
        else:
            hint = "bp's functions: " + ", ".join(FUNCTIONS) + " (bp ops lists them)"
        raise _error(self.text, token.start_pos, message, hint)

    def assign(self, token, node):
        name = unicodedata.normalize("NFKC", str(token))
        if name in NAMED_CONSTANTS and name not in self.env:
            line = self.text.count("\n", 0, token.start_pos) + 1
            self.notes.append(f"{name} is assigned on line {line}: from there on {name} is that value, "
                              f"not the constant {NAMED_CONSTANTS[name][0]!r}")
        self.env[name] = node
        self.graph.bind(name, node)
        self._statement("assign", node)

    def output(self, node):
        self._statement("output", node)

    def _statement(self, kind: str, node: int) -> None:
        if self.last is not None and self.last[0] == "output":
            self.bare_before_last = True
        self.last = (kind, node)

    def start(self, *statements):
        return None

    def finish(self):
        if self.last is None:
            raise ParseError("the formula is empty: write an expression such as (x*w - y)^2")
        if self.bare_before_last:
            raise ParseError(
                "only the last statement may be a bare expression; bind the others to names "
                "(name = …)")
        formula = self.graph.freeze(self.last[1], self.text)
        formula.source_notes = self.notes
        return formula


# -- where nodes are written (for carets under shape errors) -------------------------------

class _PositionDispatch:
    """Lark's own loop over a parser that keeps every token: the same builder calls, plus where
    each node's operator (or function name, or bracket) is written, first occurrence."""

    def __init__(self, builder: _Builder):
        self.builder = builder
        self.positions: dict[int, int] = {}
        self.names: list[int] = []  # where the function names being applied are written

    def __default__(self, data, children, meta):
        from lark import Token, Tree

        if data.startswith("_"):
            return Tree(data, children)
        marks = [c for c in children if isinstance(c, Token) and c.type not in _KEPT]
        rest = [c for c in children if not (isinstance(c, Token) and c.type not in _KEPT)]
        if data not in OPS and not hasattr(_Builder, data):  # ( sum ): the brackets were kept
            return rest[0]
        node = self.builder.reduce(data, rest)
        if isinstance(node, str):  # a function's name, which `call` applies next
            self.names.append(marks[0].start_pos)
            return node
        pos = self.names.pop() if data == "call" else marks[0].start_pos if marks else None
        if isinstance(node, int) and pos is not None and node not in self.positions:
            self.positions[node] = pos
        return node


_KEPT = ("NAME", "NUMBER", "COMMA", "COLON")  # the tokens bp's builder receives; others are punctuation


def positions(text: str) -> dict[int, int]:
    """Where each node of parse(text) is written: a second, slower parse, done only to point
    at a node in an error message."""
    dispatch = _PositionDispatch(_Builder(text))
    with _lock:
        _RELAY.dispatch = dispatch
        try:
            _position_parser().parse(text)
        finally:
            _RELAY.dispatch = None
    dispatch.builder.finish()
    renumbered = dispatch.builder.graph.renumbered
    if renumbered is None:
        return dispatch.positions
    return {renumbered[old]: pos for old, pos in dispatch.positions.items() if old in renumbered}


class _Relay:
    """The position parser's transformer, built into it once: it passes each reduction on to
    the dispatch of the parse under way (set, under _lock, for one parse at a time)."""

    dispatch = None

    def __default__(self, data, children, meta):
        return self.dispatch.__default__(data, children, meta)


_RELAY = _Relay()


@cache
def _position_parser():
    """The grammar's parser keeping every token, built once a process (about 60 ms): a server
    locating many errors pays for it once."""
    from lark import Lark  # deferred: Lark's grammar compiler, for an error's place only

    return Lark(grammar_text(), parser="lalr", lexer="basic", keep_all_tokens=True, transformer=_RELAY)


def located(text: str, e: ShapeError) -> ShapeError:
    """The shape error again, with the place in the formula where its node is written."""
    pos = positions(text).get(e.node)
    out = type(e)(e.reason, e.hint, e.node, e.op, e.shapes, None if pos is None else Position.in_text(text, pos))
    out.__dict__.update({k: v for k, v in vars(e).items() if k not in vars(out)})  # a subclass's own data
    return out


# -- error messages ---------------------------------------------------------------

_READABLE = {
    "NAME": "a name", "NUMBER": "a number", "LPAR": "(", "RPAR": ")", "COMMA": ",",
    "_SEP": "; or a new line", "$END": "the end", "PLUS": "+", "MINUS": "-", "STAR": "*",
    "SLASH": "/", "_POW": "^ or **", "EQUAL": "=", "LSQB": "[", "RSQB": "]", "AT": "@",
    "MORETHAN": "a comparison", "LESSTHAN": "a comparison",  # > <; >= <= == != come with them
}


def _short(token) -> str:
    s = str(token)
    return s if len(s) <= 24 else s[:10] + "…" + s[-10:]


def _error(text: str, pos: int, reason: str, hint: str | None = None) -> ParseError:
    """A parse error at a place in the text (its line and column; people see a caret under it)."""
    return ParseError(reason, hint, Position.in_text(text, pos))


def _expected(names) -> str:
    # Function names and constants are left out: "a name" stands for them all.
    shown = [word for name, word in _READABLE.items() if name in names]
    return ", ".join(dict.fromkeys(shown))


def _lark_error(text: str, e: Exception) -> ParseError:
    from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedToken

    if isinstance(e, UnexpectedCharacters):
        char = text[e.pos_in_stream]
        shown = repr(char) if char.isprintable() else f"U+{ord(char):04X}"
        hint = _prefix_hint(text, e.pos_in_stream) if char == "." else None
        return _error(text, e.pos_in_stream, f"unexpected character {shown}", hint or _char_hint(char))
    if isinstance(e, UnexpectedToken):
        token = e.token
        trailing = token.type == "_SEP" and not text[token.start_pos:].strip(" \t\r\n;")
        if token.type == "$END" or trailing:
            if not text.strip() or not re.sub(r"#[^\n]*", "", text).strip(" \t\r\n;"):
                return ParseError("the formula is empty: write an expression such as (x*w - y)^2")
            pos = len(text.rstrip())
            what = "the formula ends too early"
        elif token.type == "_SEP" and token.strip() == "":
            pos = token.start_pos
            what = "the line ends too early"
        else:
            pos = token.start_pos
            what = f"unexpected {_short(token)!r}"
        before = re.search(r"(\w+)\s*$", text[:pos])
        if before and before.group(1) in FUNCTIONS + ["ln"]:
            return _error(text, pos, f"{before.group(1)} is a function: call it as {before.group(1)}(…)")
        expected = _expected(_acceptable(e))
        hint = _char_hint(str(token)) if token.type == "LSQB" else _product_hint(text, token)
        if str(token) in (">", "<", ">=", "<=", "==", "!="):
            hint = "comparisons do not chain (nor do PyTorch's on tensors): write (a < b) * (b < c)"
        return _error(text, pos, what + (f"; expected {expected}" if expected else ""), hint)
    if isinstance(e, UnexpectedEOF):
        return ParseError("the formula ends too early")
    raise e


def _acceptable(e) -> set:
    """Every token the parser could take here: Lark's `expected` lists only those of the
    state it stopped in (after `(x*w` it names ) + - but not * / ^)."""
    try:
        return set(e.interactive_parser.accepts())
    except Exception:  # no interactive parser (or it cannot replay): the plain list
        return set(e.expected)


def _product_hint(text: str, token) -> str | None:
    """`3x`, `2(x+1)`, `(a)(b)`, `x y`: an operand right after an operand is a product
    written without its *."""
    function = str(token) in FUNCTIONS + ["ln"]
    if token.type not in ("NAME", "NUMBER", "LPAR", "PI", "E") and not function:
        return None
    left = re.search(r"(\w+|\))\s*$", text[: token.start_pos])
    if left is None:
        return None
    left = "(…)" if left.group(1) == ")" else left.group(1)
    right = "(…)" if token.type == "LPAR" else f"{token}(…)" if function else str(token)
    return f"bp has no implicit multiplication: write {left}*{right}"


def _prefix_hint(text: str, pos: int) -> str | None:
    """`torch.tanh(x)`, `np.exp(x)`, `math.log(x)`: a library's prefix on one of bp's functions."""
    prefix = re.search(r"([A-Za-z_][\w.]*)$", text[:pos])
    function = re.match(r"((?:\.\w+)*)\.(\w+)\s*\(", text[pos:])  # .nn.functional.relu(
    if prefix is None or function is None or function.group(2) not in FUNCTIONS + ["ln"]:
        return None
    name = function.group(2)
    return (f"bp's functions take no library prefix: write {name}(…), not "
            f"{prefix.group(1)}{function.group(1)}.{name}(…)")


def _char_hint(char: str) -> str | None:
    if char in "[]{}":
        return "use round brackets ( ) for grouping; [ ] only index a tensor, as in v[0]"
    if char == ",":
        return "commas only separate the two arguments of max and min"
    if char in "=<>!":
        return "assignments are name = expression; comparisons are a > b, <, >=, <=, ==, != (1 or 0)"
    return None
