"""Values for a formula's inputs: `--x 2`, `x=2`, `--W "[[1,2],[3,4]]"`, JSON documents and
numpy's .npy/.npz files. A number stays a float; a nested list becomes a float64 array."""

from __future__ import annotations

import difflib
import json
import math
import re
import unicodedata

from bpcli.engine import entries as bound
from bpcli.engine.entries import SizeError
from bpcli.engine.ops import OPS
from bpcli.errors import DataError, InputValueError, UsageError, input_value, setting

JSON_DEPTH = 100  # levels of nesting: a tensor has at most MAX_RANK axes, a bp document adds a few
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def check_depth(text: str, where: str, limit: int = JSON_DEPTH, lines: bool = True,
                error: type = DataError) -> None:
    """Refuse JSON nested deeper than `limit` before Python's reader recurses into it."""
    if text.count("[") + text.count("{") <= limit:
        return
    depth = 0
    for m in _TOKEN.finditer(text):
        t = m.group()
        if t == "[" or t == "{":
            depth += 1
            if depth > limit:
                line = f" line {text.count(chr(10), 0, m.start()) + 1}:" if lines else ""
                raise error(f"{where}:{line} JSON nested more than {limit} levels deep")
        elif t == "]" or t == "}":
            depth -= 1


def shape_of(v) -> tuple[int, ...]:
    """A value's shape: () for a number (a float, a numpy scalar, a 0-d array), else the array's."""
    return tuple(getattr(v, "shape", ()))


def is_number(v) -> bool:
    """A value with no axes; nested lists (an array not yet made one) are not numbers."""
    return not isinstance(v, list) and not shape_of(v)


_PAIR = re.compile(r"^\s*([^\W\d]\w*)\s*=\s*(.*?)\s*$")


def normalise(name: str) -> str:
    """Names compare as Python identifiers do: NFKC (𝜔 and ω are one name)."""
    return unicodedata.normalize("NFKC", name)


def pair(text: str) -> tuple[str, str] | None:
    """`name=value` as (normalised name, the value's text); None when the text is not a pair."""
    found = _PAIR.match(text)
    return (normalise(found.group(1)), found.group(2)) if found else None


NONFINITE = "must be a finite number"  # the words of the problem the setting allow_nonfinite lifts


def to_number(text: str, what: str, allow_nonfinite: bool = False) -> tuple[float | None, str | None]:
    """A finite float (or any float, if allowed) from text, or None and the problem in words."""
    try:
        value = float(text)
    except ValueError:
        return None, f"{what} is not a number: {text.strip()!r}"
    if not math.isfinite(value) and not allow_nonfinite:
        return None, f"{what} {NONFINITE}, got {text.strip()!r}"
    return value, None


def number(text: str, what: str, error: type = InputValueError, allow_nonfinite: bool = False) -> float:
    """A finite float from text, or an error that says which value is wrong."""
    value, problem = to_number(text, what, allow_nonfinite)
    if problem:
        raise _lifted(error(problem), problem)
    return value


def _lifted(e, problem: str):
    """The error, marked as one that allow_nonfinite lifts when its problem is a value not finite."""
    if NONFINITE in problem:
        e.lifted_by = "allow_nonfinite"
    return e


def _named_values(parts: list[str], what: str, example: str, convert, takes: str = "NAME=VALUE") -> dict:
    """NAME=VALUE texts as {name: convert(VALUE)}; every problem at once."""
    found: dict = {}
    problems = []
    for part in parts:
        named = pair(part)
        if named is None:
            problems.append(f"{what} takes {takes}, e.g. {what} {example}, not {part!r}")
            continue
        name, value_text = named
        value, problem = convert(value_text, f"{what} {name}")
        if name in found:
            problems.append(f"{what} {name} is given twice")
        elif problem:
            problems.append(problem)
        else:
            found[name] = value
    if problems:
        raise UsageError("; ".join(problems))
    return found


def read_pairs(texts: list[str], what: str, example: str) -> dict[str, float]:
    """NAME=VALUE texts (as --predict takes them) as {name: float}; every problem at once."""
    return _named_values(texts, what, example, to_number)


# A comma that starts another NAME=: `--init w1=0.15,w2=0.2`. An array's commas are followed
# by a number or a bracket, never by a name and =, so an array stays whole.
_NEXT_PAIR = re.compile(r",\s*(?=[^\W\d]\w*\s*=)")


def read_values(texts: list[str], what: str, example: str) -> dict:
    """NAME=VALUE texts whose values may be arrays (as --init takes them: `w=0.5`,
    `w1=0.15,w2=0.2` or `W1=[[0.15,0.2],[0.25,0.3]]`) as {name: float or float64 array};
    every problem at once."""
    parts = [part for text in texts for part in _NEXT_PAIR.split(text)]
    return _named_values(parts, what, example, to_value, "NAME=VALUE (a number or a JSON array)")


class Given:
    """Values from the command line (`--x 2`, `x=2`) and every problem found in them."""

    def __init__(self, allow_nonfinite: bool = False) -> None:
        self.allow_nonfinite = allow_nonfinite
        self.values: dict[str, float] = {}
        self.problems: list[str] = []
        self.names: list[str] = []  # every name given, its value good or not
        self.as_options: list[str] = []  # names given as --name: a typo may be a misspelt option
        self.without_value: list[str] = []

    def put(self, name: str, text: str, as_option: bool) -> None:
        name = normalise(name)
        if as_option:
            self.as_options.append(name)
        value, problem = to_value(text, name, self.allow_nonfinite)
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


def split_arguments(tokens: list[str], formula_given: bool, allow_nonfinite: bool = False
                    ) -> tuple[str | None, Given]:
    """Sort free command-line words into the formula and `--name value` / `name=value` pairs."""
    formula = None
    given = Given(allow_nonfinite)
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
        elif found and (_is_float(found[1]) or found[1].startswith("[")):
            given.put(*found, as_option=False)
        elif formula is None and not formula_given:
            formula = token
        else:
            raise UsageError(f"unexpected argument {token!r}; give values as {input_value('name', 'VALUE')} "
                             "or name=VALUE")
        i += 1
    return formula, given


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def value_problems(inputs: list[str], values: dict, complete: bool = True, given=None,
                   options: tuple[str, ...] = (), allow_nonfinite: bool = False) -> tuple[list, list]:
    """Every problem with values for these inputs, and the names still missing.

    `given` (a Given) adds the command line's own problems and names whose value was bad. A
    name that is not an input gets a did-you-mean among the inputs still missing, or among
    the command's `options` when it was typed as one (`--jsn` for `--json`)."""
    named = list(dict.fromkeys([*values, *(given.names if given else [])]))
    named_set, input_set = set(named), set(inputs)  # membership only: the lists keep the order
    still_missing = [n for n in inputs if n not in named_set]
    missing = still_missing if complete else []
    unknown = [n for n in named if n not in input_set]
    as_options = given.as_options if given else []
    problems = list(given.problems) if given else []
    problems += [f"{input_value(n)} needs a value, e.g. {input_value(n, 2)}"
                 for n in (given.without_value if given else []) if n in inputs]
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
            named.append(f"{name} (did you mean the option {setting(option[0])}?)" if option else name)
        known = ", ".join(inputs) or "none"
        problems.append(f"the formula has no input named {', '.join(named)}; its inputs: {known}")
    for name, v in values.items():  # arrays are taken as they are: IEEE rules apply
        if name in input_set and isinstance(v, (int, float)) and not math.isfinite(v) and not allow_nonfinite:
            problems.append(f"the value of {name} {NONFINITE}, got {v!r}")
    return problems, missing


def raise_problems(problems: list[str], missing: list[str]) -> None:
    """One error naming every problem, with the options that would give what is missing."""
    if problems:
        # A name no option can spell is asked for as NAME=VALUE, which the command line takes too.
        example = " ".join(input_value(n, "VALUE") if n.isascii() else f"{n}=VALUE" for n in missing)
        hint = f"give {example}" if missing else None
        e = InputValueError("; ".join(problems), hint=hint)
        raise e if hint else _lifted(e, e.reason)


def to_value(text: str, name: str, allow_nonfinite: bool = False) -> tuple:
    """A value as typed (a number, a JSON array of numbers, a .npy file), or None and the
    problem in words."""
    try:
        return value_text(text, name, allow_nonfinite), None
    except (InputValueError, DataError) as e:
        return None, e.message


def value_text(text: str, name: str, allow_nonfinite: bool = False):
    """One value as typed: a number, a JSON array of numbers, or a .npy file."""
    stripped = text.strip()
    if stripped.startswith("["):
        check_depth(stripped, f"the value of {name}", lines=False, error=InputValueError)
        try:
            obj = json.loads(python_numbers(stripped))
        except json.JSONDecodeError as e:
            raise InputValueError(f"the value of {name} is not a JSON array of numbers: {e.msg} "
                                  f"at column {e.colno}") from None
        return tensor(obj, name, InputValueError, allow_nonfinite)
    if stripped.endswith(".npy") and not _is_float(stripped):
        return from_numpy(stripped, allow_nonfinite, name)[0][0][1]
    return number(text, f"the value of {name}", allow_nonfinite=allow_nonfinite)


# Numbers as Python and numpy write them but JSON does not: .15, -.5, 2. (and 2.e3).
_BARE_POINT = re.compile(r"(?<![\w.])(-?)\.(?=\d)")
_TRAILING_POINT = re.compile(r"(?<=\d)\.(?!\d)")


def python_numbers(text: str) -> str:
    """An array's text with .15 and 2. written as JSON writes them (0.15, 2.0)."""
    if "." not in text:
        return text
    return _TRAILING_POINT.sub(".0", _BARE_POINT.sub(r"\g<1>0.", text))


def tensor(obj, name: str, error: type = DataError, allow_nonfinite: bool = False):
    """A nested list of numbers as a float64 array; ragged, empty or non-numeric lists are an
    error naming the input and where (W[1] has 3 entries, W[0] has 2), and so is an inf or nan
    unless allowed (W[0][1] must be a finite number). No recursion."""
    level = [(name, obj)]
    dims = []
    while isinstance(level[0][1], list):
        first, n = level[0][0], len(level[0][1])
        dims.append(n)
        bound.rank(len(dims), name)
        for where, item in level:
            if not isinstance(item, list):
                raise error(f"{where} is a number where {first} is a list: the array is ragged")
            if not item:
                raise error(f"{where} is empty: a tensor needs at least one number on every axis")
            if len(item) != n:
                raise error(f"{where} has {len(item)} entries, {first} has {n}: the array is ragged")
        level = [(f"{where}[{k}]", x) for where, item in level for k, x in enumerate(item)]
    first = level[0][0]
    for where, x in level:
        if isinstance(x, list):
            raise error(f"{where} is a list where {first} is a number: the array is ragged")
        if isinstance(x, bool) or not isinstance(x, (int, float)):
            raise error(f"{where} is not a number: {json.dumps(x)}")
        if not _finite(x):  # then number() words the problem (or lets it pass, if allowed)
            number(str(x), where, error, allow_nonfinite)
    bound.check(dims, name)
    import numpy as np

    return np.array(obj, dtype=np.float64)


def _finite(x) -> bool:
    """Whether a JSON number is a finite float64 (an integer beyond float64 is not)."""
    try:
        return math.isfinite(x)
    except OverflowError:
        return False


def from_numpy(path: str, allow_nonfinite: bool = False, name: str | None = None,
               wanted=None, max_bytes: int = 0) -> tuple[list, list[str]]:
    """(name, array) pairs from a .npz file (its members named in `wanted`, all if None) or a
    .npy file (named `name`, or by its stem), and the names of the members left unread. Each
    array's header is read and its shape checked against the bound on entries before its data;
    a .npz's members are first checked from the zip directory: their decompressed sizes
    together at most `max_bytes` (0: no bound). An inf or nan is refused, naming the first
    one's position, unless allowed."""
    import zipfile  # deferred: with numpy, for .npy/.npz files only (bp grad's start-up never reads one)
    from pathlib import Path

    import numpy as np  # deferred: loads numpy

    try:
        if not zipfile.is_zipfile(path):
            key = name or Path(path).stem
            with open(path, "rb") as stream:
                _check_header(stream, path, key)
            pairs = [(key, np.load(path, allow_pickle=False))]
            left = []
        else:
            with zipfile.ZipFile(path) as archive:
                members = {normalise(i.filename.removesuffix(".npy")): i for i in archive.infolist()}
                used = [k for k in members if wanted is None or k in wanted]
                left = [k for k in members if k not in used]
                size = sum(members[k].file_size for k in used)
                if max_bytes and size > max_bytes:
                    raise SizeError(f"{path}: the arrays used decompress to {size:,} bytes, past the bound of "
                                    f"{max_bytes:,}", path, size, max_bytes)
                for k in used:
                    with archive.open(members[k]) as stream:
                        _check_header(stream, path, k)
            with np.load(path, allow_pickle=False) as loaded:
                pairs = [(k, loaded[members[k].filename.removesuffix(".npy")]) for k in used]
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise DataError(f"{path}: numpy cannot read it: {e}") from None
    out = []
    for key, array in pairs:
        if array.dtype.kind not in "iuf" or array.size == 0:
            raise DataError(f"{path}: {key} must be a non-empty array of numbers, not {array.dtype} "
                            f"of shape {array.shape}")
        array = array.astype(np.float64)
        odd = np.argwhere(~np.isfinite(array))
        if len(odd) and not allow_nonfinite:
            where = entry(key, odd[0])
            more = f" ({len(odd):,} entries are not finite)" if len(odd) > 1 else ""
            problem = f"{path}: {where} {NONFINITE}, got {float(array[tuple(odd[0])])!r}{more}"
            raise _lifted(DataError(problem), problem)
        out.append((normalise(key), array if array.ndim else float(array)))
    return out, left


def _check_header(stream, path: str, key: str) -> None:
    """Read a .npy header (no data) and refuse its shape past the bounds on entries and axes."""
    from numpy.lib import format as npy

    version = npy.read_magic(stream)  # 1.0, or 2.0 and 3.0, whose headers read alike (a longer length)
    read = npy.read_array_header_1_0 if version == (1, 0) else npy.read_array_header_2_0
    shape, _, dtype = read(stream)
    if dtype.kind not in "iuf":
        return  # refused, with its dtype, once loaded (numpy refuses object arrays without reading them)
    bound.check(shape, f"{path}: {key}")


def entry(name: str, index) -> str:
    """An array entry as the user writes it: W[0][1]."""
    return name + "".join(f"[{int(i)}]" for i in index)


def nonfinite(name: str, value) -> str | None:
    """`x = inf`, or `W[0][1] = nan` (and how many more) for a tensor; None when all is finite."""
    if isinstance(value, (int, float)):
        return None if math.isfinite(value) else f"{name} = {value}"
    import numpy as np

    odd = np.argwhere(~np.isfinite(value))
    if not len(odd):
        return None
    shown = [f"{entry(name, k)} = {float(value[tuple(k)])}" for k in odd[:3]]
    more = f" and {len(odd) - 3:,} more" if len(odd) > 3 else ""
    return ", ".join(shown) + more


def require_scalars(formula, point: dict, feature: str) -> None:
    """Refuse tensors where a feature works on scalars only (forward mode, export, quiz)."""
    tensors = [n for n, v in point.items() if not isinstance(v, (int, float))]
    ops = [k for k in dict.fromkeys(formula.kinds) if k in OPS and not getattr(OPS[k], "elementwise", True)]
    if tensors or ops:
        what = [f"{', '.join(tensors)} {'is a tensor' if len(tensors) == 1 else 'are tensors'}"] if tensors else []
        what += [f"it uses {', '.join(ops)}"] if ops else []
        raise UsageError(f"{feature} works on scalars only, and {'; '.join(what)}")


def values_of(doc, source: str, inputs: list[str], allow_nonfinite: bool = False) -> tuple[dict, list[str]]:
    """The values of `inputs` in a JSON document (numbers, or nested lists of them), and the
    names it has that are not inputs (left unread). The document is an object of numbers,
    bp train's (its `params`) or bp grad's (its `inputs`)."""
    if isinstance(doc, dict) and isinstance(doc.get("params"), dict):
        doc = doc["params"]
    elif isinstance(doc, dict) and str(doc.get("schema", "")).startswith("bp.grad/") and isinstance(
            doc.get("inputs"), dict):
        doc = doc["inputs"]
    if not isinstance(doc, dict):
        raise DataError(f"{source}: expected a JSON object of numbers such as {{\"x\": 2, \"w\": 3}}")
    wanted = set(inputs)
    point, ignored = {}, []
    for name, v in doc.items():
        n = normalise(name)
        if n in wanted:
            point[n] = tensor(v, f"{source}: {name}", DataError, allow_nonfinite) if isinstance(v, list) else \
                json_scalar(v, f"{source}: the value of {name}", allow_nonfinite)
        else:
            ignored.append(name)
    return point, ignored


def json_scalar(v, what: str, allow_nonfinite: bool = False) -> float:
    """A JSON value that must be a finite number, as a float."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        shown = json.dumps(v)
        raise DataError(f"{what} is not a number: {shown if len(shown) <= 60 else shown[:50] + '…'}")
    try:
        value = float(v)
    except OverflowError:  # an integer beyond float64 (json reads up to 4,300 digits)
        raise DataError(f"{what} must be a finite number, got an integer of {len(str(abs(v))):,} digits") from None
    if value - value != 0 and not allow_nonfinite:
        problem = f"{what} {NONFINITE}, got {json.dumps(v)}"
        raise _lifted(DataError(problem), problem)
    return value


NO_INPUTS = "the formula has no inputs: its value is a constant, and there is nothing to differentiate"
