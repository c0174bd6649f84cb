"""Many points at once: rows of a CSV or JSON Lines file, read and differentiated in chunks.

Memory stays bounded however long the file is: each chunk of rows becomes numpy arrays,
goes through the compiled formula's vectorised forward and backward passes, and is
written out before the next chunk is read.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import sys
from dataclasses import dataclass
from operator import itemgetter
from typing import Iterator

from .data import decode_text, open_binary
from .errors import DataError
from .values import normalise, number, object_of_numbers

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


def _chunks(lines, line_no: int, names: list[str], rows_of, empty: str) -> Iterator[Chunk]:
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
        raise DataError(empty)


def _matrix(rows: list, width: int):
    import numpy as np

    return np.array(rows, dtype=np.float64).reshape(len(rows), width)


def _csv_chunks(lines, source: str) -> Iterator[Chunk]:
    line_no = 0
    for line_no, line in enumerate(lines, start=1):
        if line.strip():
            header = [normalise(c.strip()) for c in next(csv.reader([line]))]
            break
    else:
        raise DataError(f"{source}: the file is empty; expected a header row and rows of numbers")

    def rows_of(block: list[str], first_line: int, first_row: int):
        fast = _loadtxt(block, len(header))
        return fast if fast is not None else _matrix(list(cells_one_by_one(block, first_line, first_row)),
                                                     len(header))

    def cells_one_by_one(block, first_line, row):
        """bp's own reader: slower, but it names the row, line and column of a bad cell."""
        for n, cells in enumerate(csv.reader(block), start=first_line):
            if not any(c.strip() for c in cells):
                continue
            if len(cells) != len(header):
                raise DataError(f"{source}: row {row} (line {n}) has {len(cells)} cells, "
                                f"the header has {len(header)}")
            yield [_cell(c, f"{source}: row {row} (line {n}), column {name}") for c, name in zip(cells, header)]
            row += 1

    return _chunks(lines, line_no, header, rows_of,
                   f"{source}: the header has no rows below it: {', '.join(header)}")


def _loadtxt(block: list[str], width: int):
    """numpy's C parser on a block of CSV lines; None where it refuses (then bp's own reader
    finds the bad cell and says where) or reads anything but finite numbers in every cell."""
    import warnings

    import numpy as np

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "empty input": a block of blank lines
            matrix = np.loadtxt(block, delimiter=",", dtype=np.float64, ndmin=2, comments=None)
    except ValueError:
        return None
    if matrix.shape[1] != width or not np.isfinite(matrix).all():
        return None
    return matrix


def _cell(text: str, where: str) -> float:
    try:
        value = float(text)  # the common case, fast
    except ValueError:
        if not text.strip():
            raise DataError(f"{where}: the cell is empty") from None
        return number(text.strip()[:40], where, DataError)
    if value - value != 0:  # inf or nan
        number(text.strip(), where, DataError)
    return value


def _jsonl_chunks(lines, source: str) -> Iterator[Chunk]:
    line_no = 0
    for line_no, line in enumerate(lines, start=1):
        if line.strip():
            names = list(_json_point(line, f"{source}: line {line_no}"))
            keys = list(json.loads(line))  # as written, before NFKC
            break
    else:
        raise DataError(f"{source}: no points: expected one JSON object per line")

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
        return _matrix(rows, len(names))

    return _chunks(itertools.chain([line], lines), line_no - 1, names, rows_of,
                   f"{source}: no points: expected one JSON object per line")


def _json_block(block: list[str], keys: list[str]):
    """The block's points as a matrix when every line is an object with exactly these keys
    and finite numbers for values; None otherwise (then bp's own reader says what is wrong)."""
    import numpy as np

    text = "".join(block)
    if "true" in text or "false" in text or "null" in text:
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
