"""Many points at once: rows of a CSV or JSON Lines file, read and differentiated in chunks.

Memory stays bounded however long the file is: each chunk of rows becomes numpy arrays,
goes through the compiled formula's vectorised forward and backward passes, and is
written out before the next chunk is read.
"""

from __future__ import annotations

import io
import itertools
import json
import re
import sys
from dataclasses import dataclass
from operator import itemgetter
from typing import Iterator

from .data import (as_matrix, decode_text, empty_file, header_of, no_rows, numbers_fast, open_binary,
                   rows_one_by_one)
from .errors import DataError
from .values import object_of_numbers

CHUNK = 65_536  # rows per vectorised pass


@dataclass
class Chunk:
    first_row: int  # 1-based number of the chunk's first data row
    columns: dict  # name -> numpy array


def open_text(path: str):
    """A text stream of the file (or stdin), checked up front for being text."""
    if path == "-":
        return io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8-sig", newline=""), "stdin"
    f = open_binary(path, "file of points")
    decode_text(f.peek(8192)[:8192], path, partial=True)
    return io.TextIOWrapper(f, encoding="utf-8-sig", newline=""), path


def read_points(path: str) -> Iterator[Chunk]:
    """Chunks of points from a CSV (header row) or JSON Lines file, by name.

    JSON Lines by the extension .jsonl or .ndjson, or on stdin by a first line that opens
    a JSON object; CSV otherwise.
    """
    stream, source = open_text(path)
    with stream:
        lines = iter(stream)
        if path.lower().endswith((".jsonl", ".ndjson")):
            jsonl = True
        elif path == "-":
            first = next(lines, "")
            lines = itertools.chain([first], lines)
            jsonl = first.lstrip().startswith("{")
        else:
            jsonl = False
        yield from (_jsonl_chunks if jsonl else _csv_chunks)(lines, source)


def _chunks(lines, line_no: int, names: list[str], rows_of, empty: DataError) -> Iterator[Chunk]:
    """Chunks of CHUNK lines as columns of numbers; `rows_of(block, first line, first row)`
    turns a block of lines (blank ones included) into a matrix with a row per point."""
    row = 0
    while block := list(itertools.islice(lines, CHUNK)):
        matrix = rows_of(block, line_no + 1, row + 1)
        if len(matrix):
            yield Chunk(row + 1, {name: matrix[:, j] for j, name in enumerate(names)})
        row += len(matrix)
        line_no += len(block)
    if row == 0:
        raise empty


def _csv_chunks(lines, source: str) -> Iterator[Chunk]:
    line_no = 0
    for line_no, line in enumerate(lines, start=1):
        if line.strip():
            header = header_of(line, line_no, source)
            break
    else:
        raise empty_file(source)

    def rows_of(block: list[str], first_line: int, first_row: int):
        fast = numbers_fast(block, len(header))
        if fast is not None:
            return fast
        return as_matrix(list(rows_one_by_one(block, first_line, first_row, header, source)), len(header))

    return _chunks(lines, line_no, header, rows_of, no_rows(source, header))


def _jsonl_chunks(lines, source: str) -> Iterator[Chunk]:
    no_points = DataError(f"{source}: no points: expected one JSON object per line")
    line_no = 0
    for line_no, line in enumerate(lines, start=1):
        if line.strip():
            names = list(_json_point(line, f"{source}: line {line_no}"))
            keys = list(json.loads(line))  # as written, before NFKC
            break
    else:
        raise no_points

    def rows_of(block: list[str], first_line: int, first_row: int):
        fast = _json_block(block, keys)
        if fast is not None:
            return fast
        rows = []
        for n, line in enumerate(block, start=first_line):
            if line.strip():
                point = _json_point(line, f"{source}: line {n}")
                if set(point) != set(names):
                    raise DataError(f"{source}: line {n}: keys {', '.join(point)} differ from the "
                                    f"first line's ({', '.join(names)})")
                rows.append([point[name] for name in names])
        return as_matrix(rows, len(names))

    return _chunks(itertools.chain([line], lines), line_no - 1, names, rows_of, no_points)


# true, false or null as a value (not inside a key such as "nullable", which would send every
# block of the file to the slow reader).
_LITERAL_VALUE = re.compile(r"[:\[,]\s*(?:true|false|null)\b")


def _json_block(block: list[str], keys: list[str]):
    """The block's points as a matrix when every line is an object with exactly these keys
    and finite numbers for values; None otherwise (then bp's own reader says what is wrong)."""
    import numpy as np

    if _LITERAL_VALUE.search("".join(block)):
        return None  # numpy would take true as 1.0
    try:
        points = [json.loads(line) for line in block if line.strip()]
    except ValueError:
        return None
    if not points:
        return np.empty((0, len(keys)))
    wanted = set(keys)
    if not all(type(p) is dict and p.keys() == wanted for p in points):
        return None
    try:
        matrix = np.array(list(map(itemgetter(*keys), points))).reshape(len(points), len(keys))
    except (ValueError, TypeError, OverflowError):
        return None
    if matrix.dtype.kind not in "fi":  # strings, lists, ints beyond 64 bits
        return None
    matrix = matrix.astype(np.float64)
    return matrix if np.isfinite(matrix).all() else None


def _json_point(line: str, where: str) -> dict:
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as e:
        raise DataError(f"{where}, column {e.colno}: not valid JSON: {e.msg}") from None
    return object_of_numbers(obj, where)


def gradients(formula, chunks: Iterator[Chunk], fixed: dict[str, float]):
    """(chunk, value array, {input: gradient array}) for each chunk of points."""
    import numpy as np

    from .numeric import ArrayMath

    m = ArrayMath("float64")
    for chunk in chunks:
        values = {n: chunk.columns[n] if n in chunk.columns else fixed.get(n) for n in formula.inputs}
        missing = [n for n, v in values.items() if v is None]
        if missing:
            from .errors import InputValueError

            raise InputValueError(f"no value for {', '.join(missing)}: not a column of the points "
                                  "and not given", hint=" ".join(f"--{n} VALUE" for n in missing))
        size = len(next(iter(chunk.columns.values())))
        with np.errstate(all="ignore"):
            result = formula.grad(values, m)
            value = np.broadcast_to(result.value, (size,))
            grads = {n: np.broadcast_to(g, (size,)) for n, g in result.gradient.items()}
        yield chunk, value, grads
