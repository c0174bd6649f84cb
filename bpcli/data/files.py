"""Reading data: CSV and JSON Lines rows, JSON values files: each read once, as a stream,
within a size bound, with errors that say where."""

from __future__ import annotations

import csv
import io
import json
import math
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field

from bpcli.engine.values import check_depth, normalise, values_of
from bpcli.errors import DataError, LimitError, setting

MAX_DATA = 1 << 30  # bytes of a data file (bp train's CSV, --at's points)
MAX_VALUES = 128 << 20  # bytes of a values file
CHUNK_ROWS = 65_536  # rows per block: numpy's reader and the vectorised passes work block by block
CHUNK_CHARS = 8 << 20  # characters read ahead at a time, so that very wide rows come in small blocks
# A table (bp train) is kept whole: it is read in smaller blocks, so that the text of a block
# (Python strings, ten times the numbers' size) stays small beside the numbers.
TABLE_ROWS, TABLE_CHARS = 8192, 1 << 20
DELIMITERS = [",", ";", "\t", "|"]  # tried in this order on the header line
MISSING = frozenset({"", "na", "n/a", "#n/a", "nan", "-nan", "null", "none", "<na>"})  # any case

csv.field_size_limit(2**31 - 1)  # a cell is bounded by the file's size bound, not by csv's 128 KB


@dataclass(frozen=True)
class Limit:
    """A size bound in bytes (0: none) and how the user raises it, worded by the face."""

    size: int
    raise_with: str = ""


def show_size(size: int) -> str:
    """1073741824 -> '1 GiB'."""
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size >= scale and size % scale == 0:
            return f"{size // scale} {unit}"
    return f"{size:,} bytes"


def parse_size(text: str) -> int:
    """'500M', '2G', '64K' or a number of bytes; 0 means no bound."""
    scale = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}.get(text[-1:].lower(), 1)
    digits = text[:-1] if scale > 1 else text
    if not digits.isdigit() or not digits.isascii():
        raise ValueError(f"{text!r} is not a size such as 500M, 2G or 0 (no bound)")
    return int(digits) * scale


class _Bounded(io.RawIOBase):
    """A binary stream that refuses to give more than `limit` bytes."""

    def __init__(self, stream, limit: Limit, source: str, what: str, owned: bool):
        self.stream, self.limit, self.source, self.what, self.owned = stream, limit, source, what, owned
        self.seen = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        n = self.stream.readinto(buffer)
        self.seen += n or 0
        if self.limit.size and self.seen > self.limit.size:
            raise too_big(self.source, self.what, self.limit)
        return n

    def close(self) -> None:
        if self.owned:
            self.stream.close()
        super().close()


class TooBig(LimitError):
    """A file or stream past its size bound."""


def too_big(source: str, what: str, limit: Limit) -> DataError:
    hint = f"raise the bound with {limit.raise_with} SIZE (0: none)" if limit.raise_with else None
    return TooBig(f"{source}: more than {show_size(limit.size)}, the size bound for a {what}", hint=hint)


def open_binary(path: str, what: str = "data file"):
    """The file opened once for reading bytes (stdin for `-`); errors say which file and why."""
    if path == "-":
        stdin = getattr(sys.stdin, "buffer", None)
        if stdin is None or stdin.closed:
            raise DataError(f"stdin is closed; expected a {what}")
        return stdin
    try:
        return open(path, "rb")
    except IsADirectoryError:
        raise DataError(f"{path}: is a directory, not a {what}") from None
    except FileNotFoundError:
        raise DataError(f"{path}: no such {what}") from None
    except OSError as e:
        raise DataError(f"{path}: cannot read it: {e.strerror}") from None


def source_name(path: str) -> str:
    return "stdin" if path == "-" else path


def read_bytes(path: str, what: str, limit: Limit, expected: str) -> tuple[bytes, str]:
    """The raw bytes of a text file (or stdin), refused past the bound or when its first
    bytes show it is not text (a device such as /dev/zero); and a name for messages."""
    source = source_name(path)
    stream = open_binary(path, what)
    try:
        raw = stream.read(8192)
        not_text(raw, source, expected)
        rest = max(0, limit.size + 1 - len(raw)) if limit.size else -1  # a bound below 8 KiB: read no more
        raw += stream.read(rest) if raw and rest else b""
    except OSError as e:
        raise DataError(f"{source}: cannot read it: {e.strerror}") from None
    finally:
        if path != "-":
            stream.close()
    if limit.size and len(raw) > limit.size:
        raise too_big(source, what, limit)
    return raw, source


def not_text(head: bytes, source: str, expected: str) -> None:
    """Refuse a file whose first bytes hold a NUL: binary data, not text."""
    if b"\x00" in head:
        raise DataError(f"{source}: not a text file (it contains NUL bytes); expected {expected}")


def decode_text(raw: bytes, source: str, expected: str = "a CSV") -> str:
    """UTF-8 text with or without a BOM; anything else is refused as not text."""
    not_text(raw[:8192], source, expected)
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise DataError(f"{source}: line {line}: not UTF-8 text (byte {e.start}); expected {expected}") from None


def read_text(path: str, what: str, expected: str, limit: Limit) -> tuple[str, str]:
    """A whole text file (or stdin) within its bound, and a name for messages."""
    raw, source = read_bytes(path, what, limit, expected)
    return decode_text(raw, source, expected), source


# -- lines -------------------------------------------------------------------------------
class Lines:
    """The lines of a text file (or stdin), read once as a stream: UTF-8 with or without BOM,
    any line ending (\\n, \\r\\n, a lone \\r), within a size bound. `number` is the last line's."""

    def __init__(self, path: str, limit: Limit, what: str = "data file", expected: str = "a CSV"):
        self.source, self.expected = source_name(path), expected
        stream = open_binary(path, what)
        if not hasattr(stream, "peek"):
            stream = io.BufferedReader(stream)
        try:
            head = stream.peek(8192)[:8192]
        except OSError as e:
            raise DataError(f"{self.source}: cannot read it: {e.strerror}") from None
        not_text(head, self.source, expected)
        raw = io.BufferedReader(_Bounded(stream, limit, self.source, what, owned=path != "-"), 1 << 16)
        # surrogateescape keeps C speed; bad bytes are looked for block by block (checked()).
        self.text = io.TextIOWrapper(raw, encoding="utf-8-sig", errors="surrogateescape")
        self.number = 0
        self.pending: list[str] = []  # lines read ahead, in file order

    def __iter__(self):
        return self

    def __next__(self) -> str:
        line = self.pending.pop(0) if self.pending else self._checked(next(self.text))
        self.number += 1
        return line

    def unread(self, line: str) -> None:
        """Give the last line back: the next block starts with it."""
        self.pending.insert(0, line)
        self.number -= 1

    def block(self, rows: int | None = None, chars: int | None = None) -> list[str]:
        """The next `rows` lines (CHUNK_ROWS), fewer where they pass `chars` characters
        (CHUNK_CHARS); [] at the end."""
        rows, chars = rows or CHUNK_ROWS, chars or CHUNK_CHARS
        if len(self.pending) < rows:
            more = self.text.readlines(chars)  # Python's C loop: whole lines, about that much text
            if not "".join(more).isascii():
                for n, line in enumerate(more, start=self.number + len(self.pending) + 1):
                    self._checked(line, n)
            self.pending += more
        lines, self.pending = self.pending[:rows], self.pending[rows:]
        self.number += len(lines)
        return lines

    def _checked(self, line: str, number: int | None = None) -> str:
        if not line.isascii():
            try:
                line.encode("utf-8")
            except UnicodeEncodeError:
                n = self.number + 1 if number is None else number
                raise DataError(f"{self.source}: line {n}: not UTF-8 text; expected {self.expected}") from None
        return line

    def close(self) -> None:
        self.text.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# -- CSV ---------------------------------------------------------------------------------
@dataclass
class Table:
    """Numeric columns of a CSV, by header name, in file order."""

    source: str
    columns: list[str]
    data: dict  # column name -> numpy float64 array (the columns read)
    rows: int
    dropped: list[int] = field(default_factory=list)  # rows left out for missing cells (1-based)
    classes: list | None = None  # the target holds class indices into these labels (train.encode_classes)
    matrix: object = None  # the columns read, side by side (data's arrays are its columns), if read so
    used: list[str] = field(default_factory=list)  # the names of matrix's columns, in order

    def stack(self, names: list[str]):
        """The named columns side by side (a row per row): a view where they are adjacent
        in the matrix, in this order, else a new array."""
        import numpy as np

        if self.matrix is not None and names and all(self.data[n].base is self.matrix for n in names):
            first = self.used.index(names[0])
            if self.used[first:first + len(names)] == names:
                return self.matrix[:, first:first + len(names)]
        return np.column_stack([self.data[n] for n in names])


@dataclass
class Block:
    first_row: int  # 1-based number of the block's first data row
    matrix: object  # numpy float64 array: a row per point, a column per column read
    dropped: list[int]  # rows of the block left out for missing cells
    labels: list[str] | None = None  # the label column's cells as text, if one of them is not a number


class CSV:
    """A CSV with a header row, read once: the header first (so that the caller can decide
    which columns it needs), then the rows block by block; only the columns asked for must
    hold numbers."""

    def __init__(self, lines: Lines, delimiter: str | None = None, line: str | None = None):
        """The header is `line` if given (already read from `lines`), else the first non-blank line."""
        self.lines, self.source = lines, lines.source
        if line is None:
            line = next((text for text in lines if text.strip()), "")
        if not line:
            raise empty_file(self.source)
        self.delimiter = delimiter or sniff(line)
        self.columns = header_of(line.rstrip("\r\n"), self.lines.number, self.source, self.delimiter)

    def blocks(self, used: list[str], drop_missing: bool = False, labels: str | None = None,
               size: tuple = (None, None)) -> Iterator[Block]:
        """Blocks of rows as matrices of the `used` columns (in that order); the column `labels`
        may hold text (class labels), given in Block.labels where it does. `size`: (rows,
        characters) of a block of lines, by default CHUNK_ROWS and CHUNK_CHARS."""
        where = [self.columns.index(n) for n in used]
        label = self.columns.index(labels) if labels is not None else None
        row = 0
        while block := self.lines.block(*size):
            first_line = self.lines.number - len(block) + 1
            matrix, dropped, texts = self._numbers(block, where, first_line, row + 1, drop_missing, label)
            del block
            if len(matrix) or dropped:
                yield Block(row + 1, matrix, dropped, texts)
            row += len(matrix) + len(dropped)
        if row == 0:
            raise no_rows(self.source, self.columns)

    def table(self, used: list[str], drop_missing: bool = False, labels: str | None = None) -> Table:
        """Every row at once, as a Table of the used columns: one matrix, whose columns are
        the table's arrays (views); the column `labels` (one of them) may hold text: then it
        is an array of strings."""
        import numpy as np

        with self.lines:
            blocks = list(self.blocks(used, drop_missing, labels, (TABLE_ROWS, TABLE_CHARS)))
        texts = [(b.labels, len(b.matrix)) for b in blocks] if any(b.labels is not None for b in blocks) else None
        dropped = [r for b in blocks for r in b.dropped]
        parts = [b.matrix for b in blocks]
        del blocks
        matrix = np.concatenate(parts) if parts else np.empty((0, len(used)))
        del parts
        if len(matrix) == 0:
            raise DataError(f"{self.source}: every row has a missing cell in {', '.join(used)}")
        data = {n: matrix[:, j] for j, n in enumerate(used)}
        if texts is not None:
            data[labels] = _label_column(texts, data[labels])
        return Table(self.source, self.columns, data, len(matrix), dropped, matrix=matrix, used=list(used))

    def _numbers(self, block: list[str], where: list[int], first_line: int, first_row: int,
                 drop_missing: bool, label: int | None = None):
        fast = numbers_fast(block, len(self.columns), where, self.delimiter)
        if fast is not None:
            return fast, [], None
        rows, dropped, texts = [], [], []
        for row, line, cells in self._rows(block, first_line, first_row):
            at = f"{self.source}: row {row} (line {line}), column"
            try:
                numbers = [label_cell(cells[j], f"{at} {self.columns[j]}") if j == label else
                           cell(cells[j], f"{at} {self.columns[j]}", self.columns[j]) for j in where]
            except MissingCell:
                if not drop_missing:
                    raise
                dropped.append(row)
                continue
            if label is not None:
                texts.append(cells[label].strip())
            rows.append(numbers)
        matrix = as_matrix(rows, len(where))
        text = label is not None and any(math.isnan(v) for v in matrix[:, where.index(label)].tolist())
        return matrix, dropped, texts if text else None

    def _rows(self, block: list[str], first_line: int, first_row: int):
        """(row number, line number, cells) of each non-blank line; a ragged row is an error."""
        row = first_row
        for n, line in enumerate(block):
            if not line.strip():
                continue
            cells = next(csv.reader([line], delimiter=self.delimiter))
            if len(cells) != len(self.columns):
                raise DataError(f"{self.source}: row {row} (line {first_line + n}) has {len(cells)} cells, "
                                f"the header has {len(self.columns)}: {line.strip()[:60]}")
            yield row, first_line + n, cells
            row += 1


def _label_column(texts: list, numbers):
    """A label column as text: each block's cells as written, or its numbers written back."""
    import numpy as np

    out, start = [], 0
    for labels, rows in texts:
        out += labels if labels is not None else map(label_text, numbers[start:start + rows].tolist())
        start += rows
    return np.array(out)


def open_csv(path: str, limit: Limit, delimiter: str | None = None) -> CSV:
    return CSV(Lines(path, limit), delimiter)


def sniff(header: str) -> str:
    """The delimiter of a header line: the most frequent of DELIMITERS (a comma on a tie)."""
    counts = [header.count(d) for d in DELIMITERS]
    return DELIMITERS[counts.index(max(counts))]


def header_of(line: str, line_no: int, source: str, delimiter: str = ",") -> list[str]:
    """The column names of a header line; an empty or repeated name is an error."""
    header = [normalise(h.strip()) for h in next(csv.reader([line], delimiter=delimiter))]
    seen: dict[str, int] = {}
    for j, name in enumerate(header, start=1):
        if not name:
            raise DataError(f"{source}: line {line_no}, column {j}: the header has an empty column name")
        if name in seen:
            raise DataError(f"{source}: line {line_no}: the column name {name} appears twice "
                            f"(columns {seen[name]} and {j})")
        seen[name] = j
    return header


def empty_file(source: str) -> DataError:
    return DataError(f"{source}: the file is empty; expected a header row and rows of numbers")


def no_rows(source: str, header: list[str]) -> DataError:
    shown = ", ".join(header[:10]) + (f", … ({len(header):,} columns)" if len(header) > 10 else "")
    return DataError(f"{source}: the header has no rows below it: {shown}")


def numbers_fast(block: list[str], width: int, where: list[int], delimiter: str):
    """numpy's C parser on a block of CSV lines: the `where` columns as a float64 matrix, or None
    where a row is ragged or quoted, or a cell in those columns is not a finite number."""
    import warnings

    import numpy as np

    every = sorted(where) == list(range(width))  # then numpy itself refuses a ragged row
    if not every:  # numpy reads only the columns used: look for ragged rows first
        odd = [line for line in block if line.count(delimiter) != width - 1]
        if any(line.strip() for line in odd):
            return None  # ragged, or a quoted delimiter: bp's own reader says which
        if odd:
            block = [line for line in block if line.strip()]
        if not where:
            return np.empty((len(block), 0))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "empty input": no rows, said by the caller
            matrix = np.loadtxt(block, delimiter=delimiter, usecols=None if every else where, quotechar='"',
                                dtype=np.float64, ndmin=2, comments=None)
    except ValueError:
        return None
    if matrix.shape[0] == 0:
        return np.empty((0, len(where)))
    if every and where != list(range(width)):
        matrix = matrix[:, where]
    if matrix.shape[1] != len(where) or not np.isfinite(matrix).all():
        return None
    return matrix


class MissingCell(DataError):
    """An empty, NA or NaN cell in a column that is used."""


class NotANumber(DataError):
    """Text in a column that must hold numbers; `column` and `text` say which."""

    def __init__(self, message: str, column: str | None = None, text: str = ""):
        super().__init__(message)
        self.column, self.text = column, text


def label_cell(text: str, where: str) -> float:
    """A class label's number, or nan where it is text (a missing cell is still an error)."""
    shown = text.strip()
    if shown.lower() in MISSING:
        return cell(text, where)  # raises MissingCell
    try:
        value = float(shown)
    except ValueError:
        return math.nan
    return value if math.isfinite(value) else math.nan


def label_text(v: float) -> str:
    """A number read from a label column, written back as text (1.0 -> '1')."""
    return str(int(v)) if v.is_integer() else repr(v)


def cell(text: str, where: str, column: str | None = None) -> float:
    """One cell's number: finite, or an error saying where and what is wrong."""
    try:
        value = float(text)  # the common case, fast
    except ValueError:
        value = None
    if value is not None and value - value == 0:
        return value
    shown = text.strip()
    if shown.lower() in MISSING:
        what = "the cell is empty" if not shown else f"the cell is missing ({shown!r})"
        raise MissingCell(f"{where}: {what}",
                          hint=f"{setting('drop_missing', True)} leaves out the rows with missing cells")
    if len(shown) > 40:
        shown = f"{shown[:20]}…{shown[-10:]} ({len(shown):,} characters)"
    if value is None:
        raise NotANumber(f"{where} is not a number: {shown!r}", column, shown)
    raise DataError(f"{where} must be a finite number, got {shown!r}")


def as_matrix(rows: list, width: int):
    """Rows of floats as a float64 matrix of `width` columns (also when there are none)."""
    import numpy as np

    return np.array(rows, dtype=np.float64).reshape(len(rows), width)


# -- JSON --------------------------------------------------------------------------------
def loads(text: str, where: str):
    """One JSON value, nested at most JSON_DEPTH deep; errors say where."""
    check_depth(text, where)
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise DataError(f"{where}: not valid JSON at line {e.lineno}, column {e.colno}: {e.msg}") from None
    except ValueError as e:  # an integer of more than 4,300 digits
        raise DataError(f"{where}: cannot read a number in it: {e}".split(";")[0]) from None


def last_document(text: str, where: str):
    """The JSON document of a file, or the last complete one of a JSON Lines stream
    (bp train --jsonl: a line per epoch, then the summary; a last line cut short is skipped)."""
    check_depth(text, where)
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        error = e
    except ValueError as e:  # an integer of more than 4,300 digits
        raise DataError(f"{where}: cannot read a number in it: {e}".split(";")[0]) from None
    objects = [line for line in text.splitlines() if line.lstrip().startswith("{")][-2:]
    for line in reversed(objects if len(objects) > 1 or error.msg == "Extra data" else []):
        try:
            return json.loads(line)
        except ValueError:
            continue
    raise DataError(f"{where}: not valid JSON at line {error.lineno}, column {error.colno}: {error.msg}")


def read_values(path: str, inputs: list[str], limit: Limit, allow_nonfinite: bool = False) -> tuple:
    """A values file (or stdin): the values of `inputs`, the other names (unread), a name for messages."""
    text, source = read_text(path, "values file", "JSON", limit)
    return (*values_of(last_document(text, source), source, inputs, allow_nonfinite), source)


def read_csv(path: str, limit: Limit = Limit(MAX_DATA), delimiter: str | None = None) -> Table:
    """Every column of a CSV, each of which must hold numbers (the library's one-call reader)."""
    reader = open_csv(path, limit, delimiter)
    return reader.table(reader.columns)
