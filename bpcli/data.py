"""Reading data: a CSV with a header row into float columns, with errors that say where."""

from __future__ import annotations

import csv
import io
import sys
from dataclasses import dataclass

from .errors import DataError
from .values import normalise, number

HEAD = 1 << 16  # bytes read up front: enough for the header and a check for binary data


@dataclass
class Table:
    """Numeric columns of a CSV, by header name, in file order."""

    source: str
    columns: list[str]
    data: dict  # column name -> numpy float64 array
    rows: int


def open_binary(path: str, what: str = "data file"):
    """The file opened for reading bytes; errors say which file and what is wrong."""
    try:
        return open(path, "rb")
    except IsADirectoryError:
        raise DataError(f"{path}: is a directory, not a {what}") from None
    except FileNotFoundError:
        raise DataError(f"{path}: no such {what}") from None
    except OSError as e:
        raise DataError(f"{path}: cannot read it: {e.strerror}") from None


def read_bytes(path: str, what: str = "data file", limit: int | None = None) -> tuple[bytes, str]:
    """The raw bytes of a file (or stdin for `-`), at most `limit` of them, and a name for messages."""
    if path == "-":
        return sys.stdin.buffer.read(), "stdin"
    with open_binary(path, what) as f:
        return f.read(limit if limit is not None else -1), path


def decode_text(raw: bytes, source: str, partial: bool = False, expected: str = "a CSV") -> str:
    """UTF-8 text with or without a BOM; anything else is refused as not text."""
    if b"\x00" in raw[:8192]:
        raise DataError(f"{source}: not a text file (it contains NUL bytes); expected {expected}")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        if partial and e.start >= len(raw) - 3:  # a character cut by the read limit
            return raw[: e.start].decode("utf-8-sig")
        line = raw[: e.start].count(b"\n") + 1
        raise DataError(f"{source}: line {line}: not UTF-8 text (byte {e.start}); expected {expected}") from None


def read_csv(path: str) -> Table:
    """A CSV with a header row and numbers in every cell.

    numpy's C parser reads the numbers straight from the file, in chunks; only when it
    refuses does bp read the whole text to find the first bad cell and say where it is.
    """
    stdin = path == "-"
    raw, source = read_bytes(path, limit=None if stdin else HEAD)
    head = decode_text(raw, source, partial=not stdin)
    header, header_lines = _header(head, source)
    import warnings

    import numpy as np

    body = io.StringIO(head) if stdin else path
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "empty input": handled below
            matrix = np.loadtxt(body, delimiter=",", dtype=np.float64, ndmin=2, comments=None,
                                skiprows=header_lines, encoding="utf-8-sig")
    except ValueError:  # includes UnicodeDecodeError
        matrix = None
    if matrix is not None and matrix.shape[0] == 0:
        raise DataError(f"{source}: the header has no rows below it: {', '.join(header)}")
    if matrix is None or matrix.shape[1] != len(header) or not np.isfinite(matrix).all():
        text = head if stdin else decode_text(read_bytes(path)[0], source)
        _locate_bad_cell(text, header_lines, header, source)
    return Table(source, header, {name: matrix[:, j] for j, name in enumerate(header)}, matrix.shape[0])


def _header(head: str, source: str) -> tuple[list[str], int]:
    """The column names, and how many lines (blank ones included) lead up to them."""
    lines = head.split("\n")
    for n, line in enumerate(lines):
        if line.strip():
            break
    else:
        raise DataError(f"{source}: the file is empty; expected a header row and rows of numbers")
    header = [normalise(h.strip()) for h in next(csv.reader([line]))]
    for j, name in enumerate(header, start=1):
        if not name:
            raise DataError(f"{source}: line {n + 1}, column {j}: the header has an empty column name")
    for j, name in enumerate(header):
        if name in header[:j]:
            raise DataError(f"{source}: line {n + 1}: the column name {name} appears twice")
    return header, n + 1


def _locate_bad_cell(text: str, header_lines: int, header: list[str], source: str):
    """Walk the rows with the csv module and raise for the first cell that is not a number."""
    lines = text.splitlines()[header_lines:]
    body = [(n, line) for n, line in enumerate(lines, start=header_lines + 1) if line.strip()]
    if not body:
        raise DataError(f"{source}: the header has no rows below it: {', '.join(header)}")
    for row, (line_no, line) in enumerate(body, start=1):
        cells = next(csv.reader([line]))
        if len(cells) != len(header):
            raise DataError(f"{source}: row {row} (line {line_no}) has {len(cells)} cells, "
                            f"the header has {len(header)}: {line.strip()[:60]}")
        for name, cell in zip(header, cells):
            where = f"{source}: row {row} (line {line_no}), column {name}"
            if not cell.strip():
                raise DataError(f"{where}: the cell is empty")
            number(cell.strip()[:40], where, DataError)
    raise DataError(f"{source}: numpy could not read the numbers, and bp found no bad cell")
