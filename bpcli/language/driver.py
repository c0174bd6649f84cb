"""A lean loop over Lark's LALR tables: Lark's grammar, lexer pattern and parse table, walked
by one loop that hands each reduction straight to the graph builder.

Lark's own driver is general (interactive parsing, error recovery, tree building, line
counting), and pays for it on every token of a long program. This loop runs only the
success path: at the first character or token it cannot take it gives up (`Refused`) and the
caller re-parses with Lark, whose errors bp shows. Both call the same builder in the same
order, so they build the same graph (tests compare them on every case bp knows).
"""

from __future__ import annotations

import re

from bpcli.engine.ops import OPS


class Refused(Exception):
    """The text is not in the language here; Lark will say why."""


class Unsupported(Exception):
    """This Lark build is shaped differently than the driver expects: use Lark's own loop."""


class _Token(str):
    """A kept token's text and where it starts (what the builder reads of Lark's Token)."""

    __slots__ = ("start_pos",)


def _inlined(symbol) -> bool:
    # Lark splices the children of rules named _x (its helpers for x* and x+) into the parent.
    return not symbol.is_term and symbol.name.startswith("_")


class Tables:
    """What the loop needs of a Lark LALR parser, in plain dicts and ints."""

    def __init__(self, lark, action) -> None:
        """`action(alias)`: the builder's function (builder, *children) for a reduction."""
        try:
            self._read_lexer(lark.parser.lexer)
            self._read_parser(lark.parser.parser.parser)
            # (size, rule name, function (builder, popped values), or None when the value stays)
            self.reducers = [(len(rule.expansion), rule.origin.name, _reducer(rule, action))
                             for rule in self.rules]
        except Unsupported:
            raise
        except Exception as e:  # a Lark whose insides moved: Lark's loop still works
            raise Unsupported(f"cannot read Lark's tables: {e!r}") from None

    def _read_lexer(self, lexer) -> None:
        terminals, self.keywords = _keywords(lexer)  # Lark's order, which decides between alternatives
        ignored = "|".join(t.pattern.to_regexp() for t in terminals if t.name in lexer.ignore_types)
        tokens = "|".join(f"(?P<{t.name}>{t.pattern.to_regexp()})"
                          for t in terminals if t.name not in lexer.ignore_types)
        # Spaces and comments are eaten in front of each token, not matched on their own: each
        # as Lark would match it, whole (*+ never backtracks into a comment to find a token).
        # bp's grammar has no token that could also match a space, # or \\, so Lark's order
        # between them and the ignored terminals is moot.
        self.pattern = re.compile(f"(?:{ignored})*+(?:{tokens})", lexer.g_regex_flags)
        self.trailing = re.compile(f"(?:{ignored})*+", lexer.g_regex_flags)

    def _read_parser(self, parser) -> None:
        from lark.parsers.lalr_analysis import Shift

        table = parser.parse_table
        self.start = table.start_states["start"]
        self.end = table.end_states["start"]
        self.rules: list = []
        number: dict[int, int] = {}
        # One dict per state: terminal or rule name -> state to shift to (>= 0) or ~rule (< 0).
        self.actions: dict[int, dict[str, int]] = {}
        for state, row in table.states.items():
            actions = self.actions[state] = {}
            for symbol, (action, arg) in row.items():
                if action is Shift:
                    actions[symbol] = arg
                    continue
                if id(arg) not in number:
                    number[id(arg)] = len(self.rules)
                    self.rules.append(arg)
                actions[symbol] = ~number[id(arg)]
        if any(rule.options.empty_indices or not rule.expansion for rule in self.rules):
            raise Unsupported("empty rules or placeholders")  # the loop slices values[-size:]
        self.is_chain = [_is_chain(rule) for rule in self.rules]
        self.chains: dict[tuple, int] = {}  # (state below, state, lookahead) -> state after the chain
        self.kept = frozenset(s.name for rule in self.rules for s in rule.expansion
                              if s.is_term and not s.filter_out)

    def chain(self, key: tuple) -> int:
        """The state a run of chain rules ends in, from `below` and `state` on lookahead
        `type_`: each pops one state and pushes its goto, so nothing else matters."""
        below, state, type_ = key
        while True:
            action = self.actions[state].get(type_)
            if action is None or action >= 0 or not self.is_chain[~action]:
                break
            state = self.actions[below][self.rules[~action].origin.name]
        self.chains[key] = state
        return state


def _keywords(lexer) -> tuple[list, dict[str, dict[str, str]]]:
    """Lark's terminals less the keywords a pattern also matches (tanh, pi: NAME matches them),
    and those keywords by pattern: {NAME: {"tanh": "TANH", …}}, which Lark retypes after the
    match. What Lark's own scanner derives (lark.lexer._create_unless), without compiling the
    two regexes it would build for it: the lean loop compiles its own, and start-up reads this."""
    from lark.lexer import PatternRE, PatternStr

    if lexer.user_callbacks:
        raise Unsupported("lexer callbacks")
    strings = [t for t in lexer.terminals if isinstance(t.pattern, PatternStr)]
    keywords: dict[str, dict[str, str]] = {}
    embedded = []
    for pattern in (t for t in lexer.terminals if isinstance(t.pattern, PatternRE)):
        regexp = pattern.pattern.to_regexp()
        for word in strings:
            s = word.pattern.value
            if word.priority != pattern.priority or not _matches_whole(lexer, regexp, s):
                continue
            if word.pattern.flags:
                raise Unsupported(f"a keyword with flags: {word.name}")
            keywords.setdefault(pattern.name, {})[s] = word.name
            embedded.append(word.name)  # flagless, so within the pattern's flags: Lark embeds it
    return [t for t in lexer.terminals if t.name not in embedded], keywords


def _matches_whole(lexer, regexp: str, s: str) -> bool:
    m = lexer.re.match(regexp, s, lexer.g_regex_flags)
    return m is not None and m.group(0) == s


def _kept(rule) -> list[tuple[int, bool]]:
    """(index, spliced?) of the children Lark keeps: punctuation and _TERMINALS are dropped."""
    return [(i, _inlined(s)) for i, s in enumerate(rule.expansion) if not (s.is_term and s.filter_out)]


def _is_chain(rule) -> bool:
    """A rule like ?sum: product, whose reduction passes its one child on unchanged."""
    keep = _kept(rule)
    return (rule.options.expand1 and not rule.alias and len(rule.expansion) == 1
            and len(keep) == 1 and not keep[0][1])


def _reducer(rule, action):
    """What one reduction does, as Lark's tree builder and bp's inline transformer would:
    a function of (builder, the popped values)."""
    if _is_chain(rule):
        return None
    keep = _kept(rule)
    name = rule.alias or rule.origin.name
    expand1 = rule.options.expand1 and not rule.alias
    spliced = any(inline for _, inline in keep)
    if name.startswith("_"):
        return _splicer(keep)
    if expand1 and len(keep) == 1 and not spliced:  # ( sum ) and + unary: the kept child
        (index, _), = keep
        return lambda builder, values: values[index]
    if spliced:
        gather, function = _splicer(keep), action(name)

        def reduce(builder, values):
            children = gather(builder, values)
            return children[0] if expand1 and len(children) == 1 else function(builder, *children)

        return reduce
    indices = [i for i, _ in keep]
    if name in OPS and not OPS[name].is_function and len(indices) == OPS[name].arity:
        return _operation(name, indices)
    return _call(action(name), indices)


def _operation(name: str, indices: list[int]):
    """Straight to the graph: the hot path."""
    if len(indices) == 2:
        a, b = indices
        return lambda builder, values: builder.graph.apply(name, (values[a], values[b]))
    (a,) = indices
    return lambda builder, values: builder.graph.apply(name, (values[a],))


def _call(function, indices: list[int]):
    """function(builder, the values at `indices`)."""
    if len(indices) == 1:
        (a,) = indices
        return lambda builder, values: function(builder, values[a])
    if len(indices) == 2:
        a, b = indices
        return lambda builder, values: function(builder, values[a], values[b])
    return lambda builder, values: function(builder, *[values[i] for i in indices])


def _splicer(keep):
    """The kept values, with those of spliced helper rules put in their place."""
    if keep and keep[0][1]:  # left recursion (x x x …): grow the first list in place
        first, rest = keep[0][0], keep[1:]

        def splice_onto_first(builder, values):
            out = values[first]
            for i, inline in rest:
                out.extend(values[i]) if inline else out.append(values[i])
            return out

        return splice_onto_first

    def splice(builder, values):
        out = []
        for i, inline in keep:
            out.extend(values[i]) if inline else out.append(values[i])
        return out

    return splice


def parse(tables: Tables, text: str, builder):
    """Run the text through the tables, calling the builder; Refused at the first problem."""
    actions, keywords, kept, chains = tables.actions, tables.keywords, tables.kept, tables.chains
    reducers = tables.reducers
    states = [tables.start]
    values: list = []
    pos = 0
    for match in tables.pattern.finditer(text):
        if match.start() != pos:
            break  # a gap: trailing spaces or a comment (checked below), else an error
        pos = match.end()
        group = type_ = match.lastgroup
        token = None
        if type_ in keywords:
            type_ = keywords[type_].get(match.group(type_), type_)
        if type_ in kept:  # a keyword kept as a token (pi, e) is in its NAME group
            token = _Token(match.group(group))
            token.start_pos = match.start(group)
        while True:
            state = states[-1]
            action = actions[state].get(type_)
            if action is None:
                raise Refused(pos)
            if action >= 0:
                states.append(action)
                values.append(token)
                break
            # A reduction, written out here rather than called: this loop runs a million times.
            size, origin, reduce = reducers[~action]
            if reduce is None:  # chain rules (?sum: product): the value stays, the state moves
                key = (states[-2], state, type_)
                top = chains.get(key)
                states[-1] = top if top is not None else tables.chain(key)
                continue
            children = values[-size:]
            del values[-size:]
            del states[-size:]
            values.append(reduce(builder, children))
            states.append(actions[states[-1]][origin])
    if tables.trailing.match(text, pos).end() != len(text):
        raise Refused(pos)
    while states[-1] != tables.end:
        action = actions[states[-1]].get("$END")
        if action is None or action >= 0:
            raise Refused(pos)
        _reduce(actions, states, values, reducers[~action], builder)
    return values[-1]


def _reduce(actions, states, values, reducer, builder) -> None:
    """One reduction (the loop above has its own copy, written out for speed)."""
    size, origin, reduce = reducer
    if reduce is None:
        del states[-1]
    else:
        children = values[-size:]
        del values[-size:]
        del states[-size:]
        values.append(reduce(builder, children))
    states.append(actions[states[-1]][origin])
