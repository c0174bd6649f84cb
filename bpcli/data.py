"""Reading data: a CSV with a header row into float columns, with errors that say where."""

from __future__ import annotations

import csv
import io
import sys
from dataclasses import dataclass
from pathlib import Path

from .errors import DataError
from .values import normalise


@dataclass
class Table:
    """Numeric columns of a CSV, by header name, in file order."""

    source: str
    columns: list[str]
    data: dict  # column name -> numpy float64 array
    rows: int


def read_bytes(path: str, what: str = "data file") -> tuple[bytes, str]:
    """The raw bytes of a file (or stdin for `-`) and a name for messages."""
    if path == "-":
        return sys.stdin.buffer.read(), "stdin"
    p = Path(path)
    try:
        return p.read_bytes(), path
    except IsADirectoryError:
        raise DataError(f"{path}: is a directory, not a {what}") from None
    except FileNotFoundError:
        raise DataError(f"{path}: no such {what}") from None
    except OSError as e:
        raise DataError(f"{path}: cannot read it: {e.strerror}") from None


def decode_text(raw: bytes, source: str) -> str:
    """UTF-8 text with or without a BOM; anything else is refused as not text."""
    if b"\x00" in raw[:8192]:
        raise DataError(f"{source}: not a text file (it contains NUL bytes); expected a CSV")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise DataError(f"{source}: line {line}: not UTF-8 text (byte {e.start}); expected a CSV") from None


def read_csv(path: str) -> Table:
    """A CSV with a header row and numbers in every cell."""
    raw, source = read_bytes(path)
    text = decode_text(raw, source)
    if not text.strip():
        raise DataError(f"{source}: the file is empty; expected a header row and rows of numbers")
    first, _, rest = text.partition("\n")
    header = [normalise(h.strip()) for h in next(csv.reader([first]))]
    _check_header(header, source)
    if not rest.strip():
        raise DataError(f"{source}: the header has no rows below it: {', '.join(header)}")
    import warnings

    import numpy as np

    try:  # the fast path: numpy's C parser; any trouble is located by the slow path
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            matrix = np.loadtxt(io.StringIO(rest), delimiter=",", dtype=np.float64, ndmin=2,
                                comments=None, encoding=None)
    except ValueError:
        matrix = None
    if matrix is None or matrix.shape[1] != len(header) or not np.isfinite(matrix).all():
        body = [(n, line) for n, line in enumerate(rest.splitlines(), start=2) if line.strip()]
        _locate_bad_cell(body, header, source)
    columns = {name: np.ascontiguousarray(matrix[:, j]) for j, name in enumerate(header)}
    return Table(source, header, columns, matrix.shape[0])


def _check_header(header: list[str], source: str) -> None:
    for j, name in enumerate(header, start=1):
        if not name:
            raise DataError(f"{source}: line 1, column {j}: the header has an empty column name")
    seen = set()
    for name in header:
        if name in seen:
            raise DataError(f"{source}: line 1: the column name {name} appears twice")
        seen.add(name)


def _locate_bad_cell(body: list[tuple[int, str]], header: list[str], source: str):
    """Walk the rows with the csv module and raise for the first cell that is not a number."""
    for row, (line_no, line) in enumerate(body, start=1):
        cells = next(csv.reader([line]))
        if len(cells) != len(header):
            raise DataError(f"{source}: row {row} (line {line_no}) has {len(cells)} cells, "
                            f"the header has {len(header)}: {line.strip()[:60]}")
        for name, cell in zip(header, cells):
            where = f"{source}: row {row} (line {line_no}), column {name}"
            if not cell.strip():
                raise DataError(f"{where}: the cell is empty")
            try:
                value = float(cell)
            except ValueError:
                raise DataError(f"{where}: {cell.strip()[:40]!r} is not a number") from None
            if value != value or value in (float("inf"), float("-inf")):
                raise DataError(f"{where}: {cell.strip()!r} is not a finite number")
    raise DataError(f"{source}: could not read the numbers")  # pragma: no cover - loadtxt and csv disagree
