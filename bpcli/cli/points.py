"""bp grad --at FILE: the gradient at every row of a CSV or JSON Lines file, streamed out chunk
by chunk, the first rows cross-checked with SymPy."""

from __future__ import annotations

import sys

from bpcli.check import verify
from bpcli.cli import inputs, options, output
from bpcli.cli.exits import say_error
from bpcli.errors import CheckError, InputValueError, UsageError
from bpcli.views import documents, tables

CHECKED_ROWS = 3  # rows of an --at file that are cross-checked with SymPy: the first three


class Sources:
    """Where the points come from (--at, --format, --max-data, --delimiter), and what else
    reads stdin (the formula, the values)."""

    __slots__ = ("at", "out_format", "formula_text", "values_file", "max_data", "delimiter")

    def __init__(self, at: str, out_format: str | None, formula_text: str | None, values_file: str | None,
                 max_data: str, delimiter: str | None):
        self.at, self.out_format, self.formula_text = at, out_format, formula_text
        self.values_file, self.max_data, self.delimiter = values_file, max_data, delimiter


def grad_at(f, sources: Sources, fixed: dict, notes: list, check: bool, budget: float) -> None:
    """The gradient at every row of a file, streamed out chunk by chunk (values given on the
    command line are the same in every row)."""
    from bpcli.data import batch  # deferred: loads csv and the batch engine, for --at only

    for note in notes:
        say_error(f"bp: note: {note}")
    if sources.at == "-" and (sources.formula_text == "-" or sources.values_file == "-"):
        raise UsageError("stdin can hold the formula, the values or the points, not two of them")
    out_format = sources.out_format or ("table" if output.stdout_console().is_terminal else "csv")
    if out_format not in ("csv", "jsonl", "table"):
        raise UsageError(f"--format must be csv, jsonl or table, not {out_format!r}")
    points = batch.Points(sources.at, inputs.data_limit(sources.max_data, "--max-data"),
                          options.delimiter_char(sources.delimiter))
    names = list(f.inputs)
    _say_overridden([n for n in names if n in fixed and n in points.columns], points.source)
    missing = [n for n in names if n not in fixed and n not in points.columns]
    if missing:
        raise InputValueError(f"no value for {', '.join(missing)}: not a column of {points.source} "
                              "and not given", hint=" ".join(f"--{n} VALUE" for n in missing))
    write = sys.stdout.write
    checked = None
    for chunk, value, grads in batch.gradients(f, points.chunks([n for n in names if n not in fixed]), fixed):
        given = {n: chunk.columns[n].tolist() if n in chunk.columns else [fixed[n]] * chunk.rows for n in names}
        columns = [*given.values(), value.tolist()] + [grads[n].tolist() for n in names]
        if out_format == "table":  # for people: each row's inputs beside its value and gradient
            gradient = {n: grads[n].tolist() for n in names}
            output.print_all([tables.points_table(given, value.tolist(), gradient, chunk.first_row)])
        elif out_format == "csv":
            write(documents.csv_rows(names, columns, header=chunk.first_row == 1))
        else:
            write(documents.jsonl_rows(names, columns))
        if check and checked is None:
            checked = _check_rows(f, chunk, fixed, budget)
    sys.stdout.flush()
    if checked:
        raise CheckError(checked)


def _say_overridden(overridden: list[str], source: str) -> None:
    if overridden:
        s = "s" if len(overridden) > 1 else ""
        say_error(f"bp: note: {', '.join(overridden)} given as {'values' if s else 'a value'}: the same in "
                  f"every row, in place of the column{s} of {source}")


def _check_rows(f, chunk, fixed: dict, budget: float) -> str:
    """Cross-check the first rows with SymPy; the failures as text ('' if none)."""
    failures = []
    for r in range(min(CHECKED_ROWS, chunk.rows)):
        point = {n: float(chunk.columns[n][r]) if n in chunk.columns else fixed[n] for n in f.inputs}
        result = f.grad(point)
        for c in verify.check(f, result, point, budget=budget).inputs:
            if not c.ok:
                failures.append(f"row {chunk.first_row + r}: ∂/∂{c.name}: backprop {c.backprop!r}, "
                                f"SymPy {c.sympy!r}")
    return "; ".join(failures)
