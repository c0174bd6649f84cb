"""Values for a formula's inputs: `--x 2`, `x=2` and JSON documents."""

from __future__ import annotations

import json
import re
import unicodedata

from .errors import DataError, InputValueError, UsageError

_PAIR = re.compile(r"^\s*([^\W\d]\w*)\s*=\s*(\S+)\s*$")


def normalise(name: str) -> str:
    """Names compare as Python identifiers do: NFKC (𝜔 and ω are one name)."""
    return unicodedata.normalize("NFKC", name)


def number(text: str, what: str, error: type = InputValueError) -> float:
    """A finite float from text, or an error that says which value is wrong."""
    try:
        value = float(text)
    except ValueError:
        raise error(f"{what} is not a number: {text!r}") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise error(f"{what} must be a finite number, got {text!r}")
    return value


def split_arguments(tokens: list[str], formula_given: bool) -> tuple[str | None, dict[str, float]]:
    """Sort free command-line words into the formula and `--name value` / `name=value` pairs."""
    formula = None
    values: dict[str, float] = {}

    def put(name: str, text: str) -> None:
        name = normalise(name)
        if name in values:
            raise InputValueError(f"{name} is given twice")
        values[name] = number(text, f"the value of {name}")

    i = 0
    while i < len(tokens):
        token = tokens[i]
        pair = _PAIR.match(token)
        if token.startswith("--") and len(token) > 2:
            name, eq, text = token[2:].partition("=")
            if not eq:
                if i + 1 >= len(tokens):
                    raise UsageError(f"{token} needs a value, e.g. {token} 2")
                i += 1
                text = tokens[i]
            put(name, text)
        elif pair and _is_float(pair.group(2)):
            put(pair.group(1), pair.group(2))
        elif formula is None and not formula_given:
            formula = token
        else:
            raise UsageError(f"unexpected argument {token!r}; give values as --name VALUE or name=VALUE")
        i += 1
    return formula, values


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


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
