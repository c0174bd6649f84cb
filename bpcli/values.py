"""Values for a formula's inputs: `--x 2`, `x=2` and JSON documents."""

from __future__ import annotations

import difflib
import json
import math
import re
import unicodedata

from .errors import DataError, InputValueError, UsageError

_PAIR = re.compile(r"^\s*([^\W\d]\w*)\s*=\s*(.*?)\s*$")


def normalise(name: str) -> str:
    """Names compare as Python identifiers do: NFKC (𝜔 and ω are one name)."""
    return unicodedata.normalize("NFKC", name)


def pair(text: str) -> tuple[str, str] | None:
    """`name=value` as (normalised name, the value's text); None when the text is not a pair."""
    found = _PAIR.match(text)
    return (normalise(found.group(1)), found.group(2)) if found else None


def to_number(text: str, what: str) -> tuple[float | None, str | None]:
    """A finite float from text, or None and the problem in words."""
    try:
        value = float(text)
    except ValueError:
        return None, f"{what} is not a number: {text.strip()!r}"
    if not math.isfinite(value):
        return None, f"{what} must be a finite number, got {text.strip()!r}"
    return value, None


def number(text: str, what: str, error: type = InputValueError) -> float:
    """A finite float from text, or an error that says which value is wrong."""
    value, problem = to_number(text, what)
    if problem:
        raise error(problem)
    return value


def read_pairs(texts: list[str], what: str, example: str) -> dict[str, float]:
    """NAME=VALUE texts (as --init and --predict take them) as {name: float}; every problem at once."""
    values: dict[str, float] = {}
    problems = []
    for text in texts:
        found = pair(text)
        if found is None:
            problems.append(f"{what} takes NAME=VALUE, e.g. {what} {example}, not {text!r}")
            continue
        name, value_text = found
        value, problem = to_number(value_text, f"{what} {name}")
        if name in values:
            problems.append(f"{what} {name} is given twice")
        elif problem:
            problems.append(problem)
        else:
            values[name] = value
    if problems:
        raise UsageError("; ".join(problems))
    return values


class Given:
    """Values from the command line (`--x 2`, `x=2`) and every problem found in them."""

    def __init__(self) -> None:
        self.values: dict[str, float] = {}
        self.problems: list[str] = []
        self.names: list[str] = []  # every name given, its value good or not
        self.as_options: list[str] = []  # names given as --name: a typo may be a misspelt option
        self.without_value: list[str] = []

    def put(self, name: str, text: str, as_option: bool) -> None:
        name = normalise(name)
        if as_option:
            self.as_options.append(name)
        value, problem = to_number(text, f"the value of {name}")
        if name in self.names:
            self.problems.append(f"{name} is given twice")
        elif problem:
            self.problems.append(problem)
        else:
            self.values[name] = value
        self.names.append(name)

    def valueless(self, name: str) -> None:
        """--name with no value after it: a value forgotten, or an option misspelt (--jsn)."""
        name = normalise(name)
        self.as_options.append(name)
        self.names.append(name)
        self.without_value.append(name)


def split_arguments(tokens: list[str], formula_given: bool) -> tuple[str | None, Given]:
    """Sort free command-line words into the formula and `--name value` / `name=value` pairs."""
    formula = None
    given = Given()
    i = 0
    while i < len(tokens):
        token = tokens[i]
        found = pair(token)
        if token.startswith("--") and len(token) > 2:
            name, eq, text = token[2:].partition("=")
            if not eq:
                following = tokens[i + 1] if i + 1 < len(tokens) else None
                if following is None or following.startswith("--") or pair(following):
                    given.valueless(name)
                    i += 1
                    continue
                i += 1
                text = following
            given.put(name, text, as_option=True)
        elif found and _is_float(found[1]):
            given.put(*found, as_option=False)
        elif formula is None and not formula_given:
            formula = token
        else:
            raise UsageError(f"unexpected argument {token!r}; give values as --name VALUE or name=VALUE")
        i += 1
    return formula, given


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def value_problems(inputs: list[str], values: dict, complete: bool = True, given=None,
                   options: tuple[str, ...] = ()) -> tuple[list, list]:
    """Every problem with values for these inputs, and the names still missing.

    `given` (a Given) adds the command line's own problems and names whose value was bad. A
    name that is not an input gets a did-you-mean among the inputs still missing, or among
    the command's `options` when it was typed as one (`--jsn` for `--json`)."""
    named = list(dict.fromkeys([*values, *(given.names if given else [])]))
    still_missing = [n for n in inputs if n not in named]
    missing = still_missing if complete else []
    unknown = [n for n in named if n not in inputs]
    as_options = given.as_options if given else []
    problems = list(given.problems) if given else []
    problems += [f"--{n} needs a value, e.g. --{n} 2" for n in (given.without_value if given else [])
                 if n in inputs]
    if missing:
        problems.append("no value for " + ", ".join(missing))
    if unknown:
        named = []
        for name in unknown:
            close = difflib.get_close_matches(name, still_missing, n=1)
            if close:
                named.append(f"{name} (did you mean {close[0]}?)")
                continue
            option = difflib.get_close_matches(name, options, n=1) if name in as_options else []
            named.append(f"{name} (did you mean the option --{option[0]}?)" if option else name)
        known = ", ".join(inputs) or "none"
        problems.append(f"the formula has no input named {', '.join(named)}; its inputs: {known}")
    for name, v in values.items():  # arrays are taken as they are: IEEE rules apply
        if name in inputs and isinstance(v, (int, float)) and not math.isfinite(v):
            problems.append(f"the value of {name} is not a finite number: {v!r}")
    return problems, missing


def raise_problems(problems: list[str], missing: list[str]) -> None:
    """One error naming every problem, with the options that would give what is missing."""
    if problems:
        example = " ".join(f"--{n} VALUE" if n.isascii() else f"{n}=VALUE" for n in missing)
        raise InputValueError("; ".join(problems), hint=f"give {example}" if missing else None)


def from_json(text: str, source: str) -> dict[str, float]:
    """Values from a JSON object of numbers, or from a bp document's `params`."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise DataError(f"{source}: not valid JSON at line {e.lineno}, column {e.colno}: {e.msg}") from None
    if isinstance(doc, dict) and isinstance(doc.get("params"), dict):
        doc = doc["params"]
    return object_of_numbers(doc, source)


def object_of_numbers(obj, where: str) -> dict[str, float]:
    """A JSON object whose every value is a finite number, as {name: float}."""
    if not isinstance(obj, dict):
        raise DataError(f"{where}: expected a JSON object of numbers such as {{\"x\": 2, \"w\": 3}}")
    values = {}
    for name, v in obj.items():
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise DataError(f"{where}: the value of {name} is not a number: {json.dumps(v)}")
        values[normalise(name)] = number(str(v), f"{where}: the value of {name}", DataError)
    return values


def require_scalars(formula, point: dict, feature: str) -> None:
    """Refuse tensors where a feature works on scalars only (forward mode, export, quiz)."""
    from .ops import OPS

    tensors = [n for n, v in point.items() if not isinstance(v, (int, float))]
    ops = [k for k in dict.fromkeys(formula.kinds) if k in OPS and not getattr(OPS[k], "elementwise", True)]
    if tensors or ops:
        what = [f"{', '.join(tensors)} {'is a tensor' if len(tensors) == 1 else 'are tensors'}"] if tensors else []
        what += [f"it uses {', '.join(ops)}"] if ops else []
        raise UsageError(f"{feature} works on scalars only, and {'; '.join(what)}")
