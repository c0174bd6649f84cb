"""Many points at once: rows of a CSV or JSON Lines file, read and differentiated in chunks.

Memory stays bounded however long the file is: each chunk of rows becomes numpy arrays,
goes through the compiled formula's vectorised forward and backward passes, and is
written out before the next chunk is read.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from operator import itemgetter

from bpcli.data.files import CSV, Limit, Lines, as_matrix, open_csv
from bpcli.engine.numeric import ArrayMath
from bpcli.engine.values import JSON_DEPTH, check_depth, json_scalar, normalise
from bpcli.errors import DataError, InputValueError, input_value


@dataclass
class Chunk:
    first_row: int  # 1-based number of the chunk's first data row
    rows: int
    columns: dict  # name -> numpy array


class Points:
    """Points from a CSV (header row) or JSON Lines file, read once as a stream.

    JSON Lines by the extension .jsonl or .ndjson, or on stdin by a first line that opens
    a JSON object; CSV otherwise. `columns` are known before any row is read.
    """

    def __init__(self, path: str, limit: Limit, delimiter: str | None = None):
        jsonl = path.lower().endswith((".jsonl", ".ndjson"))
        if path == "-" and delimiter is None:
            lines = Lines(path, limit, "file of points")
            first = next((line for line in lines if line.strip()), "")
            jsonl = first.lstrip().startswith("{")
            if jsonl:
                self._jsonl(lines, first)
            else:
                self.csv = CSV(lines, delimiter, first)
        elif jsonl:
            lines = Lines(path, limit, "file of points", "JSON Lines")
            self._jsonl(lines, next((line for line in lines if line.strip()), ""))
        else:
            self.csv = open_csv(path, limit, delimiter)
        self.jsonl = jsonl
        self.source = lines.source if jsonl else self.csv.source
        self.columns = self.keys if jsonl else self.csv.columns

    def _jsonl(self, lines: Lines, first: str) -> None:
        self.lines = lines
        if not first:
            raise DataError(f"{lines.source}: no points: expected one JSON object per line")
        self.first = first
        self.keys = list(_json_point(first, f"{lines.source}: line {lines.number}"))

    def chunks(self, used: list[str]) -> Iterator[Chunk]:
        """Chunks of points: the `used` columns as numpy arrays (other columns are not read)."""
        if not self.jsonl:
            with self.csv.lines:
                for b in self.csv.blocks(used):
                    yield Chunk(b.first_row, len(b.matrix), {n: b.matrix[:, j] for j, n in enumerate(used)})
            return
        with self.lines:
            yield from self._jsonl_chunks(used)

    def _jsonl_chunks(self, used: list[str]) -> Iterator[Chunk]:
        source, row = self.source, 0
        raw = [k for k in json.loads(self.first)]  # keys as written, before NFKC
        keys = [raw[self.keys.index(n)] for n in used]
        self.lines.unread(self.first)
        while block := self.lines.block():
            first_line = self.lines.number - len(block) + 1
            matrix = _json_block(block, keys)
            if matrix is None:
                matrix = _json_rows(block, first_line, used, source)
            if len(matrix):
                yield Chunk(row + 1, len(matrix), {n: matrix[:, j] for j, n in enumerate(used)})
            row += len(matrix)


def _json_rows(block: list[str], first_line: int, used: list[str], source: str):
    """bp's own reader for a block of JSON lines: slower, and it says what is wrong where."""
    rows = []
    for n, line in enumerate(block, start=first_line):
        if line.strip():
            point = _json_point(line, f"{source}: line {n}")
            rows.append([_json_value(point, name, f"{source}: line {n}") for name in used])
    return as_matrix(rows, len(used))


def _json_value(point: dict, name: str, where: str) -> float:
    if name not in point:
        raise DataError(f"{where}: no {name} in this point (its keys: {', '.join(list(point)[:10])})")
    return json_scalar(point[name], f"{where}: the value of {name}")


# true, false or null as a value (not inside a key such as "nullable", which would send every
# block of the file to the slow reader).
_LITERAL_VALUE = re.compile(r"[:\[,]\s*(?:true|false|null)\b")


def _json_block(block: list[str], keys: list[str]):
    """The block's points as a matrix of the `keys` when every line is an object that has them,
    with finite numbers for values; None otherwise (then bp's own reader says what is wrong)."""
    import numpy as np

    if _LITERAL_VALUE.search("".join(block)):
        return None  # numpy would take true as 1.0
    try:
        points = [json.loads(line) for line in block if line.strip()]
    except (ValueError, RecursionError):
        return None
    if not points:
        return np.empty((0, len(keys)))
    if not keys:
        return np.empty((len(points), 0)) if all(type(p) is dict for p in points) else None
    try:
        matrix = np.array(list(map(itemgetter(*keys), points))).reshape(len(points), len(keys))
    except (ValueError, TypeError, OverflowError, KeyError):
        return None
    if matrix.dtype.kind not in "fi":  # strings, lists, ints beyond 64 bits
        return None
    matrix = matrix.astype(np.float64)
    return matrix if np.isfinite(matrix).all() else None


def _json_point(line: str, where: str) -> dict:
    check_depth(line, where, JSON_DEPTH, lines=False)
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as e:
        raise DataError(f"{where}, column {e.colno}: not valid JSON: {e.msg}") from None
    except ValueError as e:  # an integer of more than 4,300 digits
        raise DataError(f"{where}: cannot read a number in it: {e}".split(";")[0]) from None
    if not isinstance(obj, dict):
        raise DataError(f"{where}: expected a JSON object such as {{\"x\": 2, \"w\": 3}}")
    return {normalise(k): v for k, v in obj.items()}


def gradients(formula, chunks: Iterator[Chunk], fixed: dict[str, float]):
    """(chunk, value array, {input: gradient array}) for each chunk of points."""
    import numpy as np

    m = ArrayMath("float64")
    for chunk in chunks:
        values = {n: chunk.columns[n] if n in chunk.columns else fixed.get(n) for n in formula.inputs}
        missing = [n for n, v in values.items() if v is None]
        if missing:
            raise InputValueError(f"no value for {', '.join(missing)}: not a column of the points "
                                  "and not given", hint=" ".join(input_value(n, "VALUE") for n in missing))
        size = chunk.rows
        with np.errstate(all="ignore"):
            result = formula.grad(values, m)
            value = np.broadcast_to(result.value, (size,))
            grads = {n: np.broadcast_to(g, (size,)) for n, g in result.gradient.items()}
        yield chunk, value, grads
