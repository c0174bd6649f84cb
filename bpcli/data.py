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
    refuses does bp read the whole text with its own reader, which finds the first bad cell
    and says where it is (or reads what numpy would not, such as quoted numbers).
    """
    stdin = path == "-"
    raw, source = read_bytes(path, limit=None if stdin else HEAD)
    head = decode_text(raw, source, partial=not stdin)
    header, header_lines = _header(head, source)
    matrix = numbers_fast(io.StringIO(head) if stdin else path, len(header),
                          skiprows=header_lines, encoding="utf-8-sig")
    if matrix is None:
        text = head if stdin else decode_text(read_bytes(path)[0], source)
        lines = text.splitlines()[header_lines:]
        matrix = as_matrix(list(rows_one_by_one(lines, header_lines + 1, 1, header, source)), len(header))
    if matrix.shape[0] == 0:
        raise no_rows(source, header)
    return Table(source, header, {name: matrix[:, j] for j, name in enumerate(header)}, matrix.shape[0])


def _header(head: str, source: str) -> tuple[list[str], int]:
    """The column names, and how many lines (blank ones included) lead up to them."""
    for n, line in enumerate(head.split("\n"), start=1):
        if line.strip():
            return header_of(line, n, source), n
    raise empty_file(source)


def header_of(line: str, line_no: int, source: str) -> list[str]:
    """The column names of a header line; an empty or repeated name is an error."""
    header = [normalise(h.strip()) for h in next(csv.reader([line]))]
    for j, name in enumerate(header, start=1):
        if not name:
            raise DataError(f"{source}: line {line_no}, column {j}: the header has an empty column name")
    for j, name in enumerate(header):
        if name in header[:j]:
            raise DataError(f"{source}: line {line_no}: the column name {name} appears twice")
    return header


def empty_file(source: str) -> DataError:
    return DataError(f"{source}: the file is empty; expected a header row and rows of numbers")


def no_rows(source: str, header: list[str]) -> DataError:
    return DataError(f"{source}: the header has no rows below it: {', '.join(header)}")


def numbers_fast(body, width: int, **loadtxt):
    """numpy's C parser on CSV lines (a file, a path or a list of lines); None where it
    refuses or reads anything but finite numbers in every one of `width` columns."""
    import warnings

    import numpy as np

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "empty input": no rows, said by the caller
            matrix = np.loadtxt(body, delimiter=",", dtype=np.float64, ndmin=2, comments=None, **loadtxt)
    except ValueError:  # includes UnicodeDecodeError
        return None
    if matrix.shape[0] == 0:
        return np.empty((0, width))
    if matrix.shape[1] != width or not np.isfinite(matrix).all():
        return None
    return matrix


def rows_one_by_one(lines, first_line: int, first_row: int, header: list[str], source: str):
    """bp's own reader, row by row (blank lines skipped): slower than numpy, but it reads
    whatever Python reads as a number and names the row, line and column of a bad cell."""
    row = first_row
    for line_no, line in enumerate(lines, start=first_line):
        if not line.strip():
            continue
        cells = next(csv.reader([line]))
        if len(cells) != len(header):
            raise DataError(f"{source}: row {row} (line {line_no}) has {len(cells)} cells, "
                            f"the header has {len(header)}: {line.strip()[:60]}")
        yield [cell(c, f"{source}: row {row} (line {line_no}), column {name}") for c, name in zip(cells, header)]
        row += 1


def cell(text: str, where: str) -> float:
    """One cell's number: finite, or an error saying where and what is wrong."""
    try:
        value = float(text)  # the common case, fast
    except ValueError:
        if not text.strip():
            raise DataError(f"{where}: the cell is empty") from None
        return number(text.strip()[:40], where, DataError)
    if value - value != 0:  # inf or nan
        number(text.strip(), where, DataError)
    return value


def as_matrix(rows: list, width: int):
    """Rows of floats as a float64 matrix of `width` columns (also when there are none)."""
    import numpy as np

    return np.array(rows, dtype=np.float64).reshape(len(rows), width)
