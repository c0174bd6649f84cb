"""Rich tables for people: names, edges, numbers and marks never cut; formulas and other text
fold onto more lines, and where even that does not fit each row is stacked as lines. Long
lists show their first and last rows, with a row saying how many lie between."""

from __future__ import annotations

from bpcli.errors import setting
from bpcli.views.numbers import show_number
from bpcli.views.text import rich_text

MARKS = {"ok": "✓", "convention": "✓ (convention)", "mismatch": "✗", "skipped": "–"}
NUMERIC = {"value", "adjoint", "local", "contribution", "backprop", "SymPy",
           "finite difference", "parent adjoint", "nodes", "edges"}  # right-aligned, never folded
KEYS = {"check", "agree", "label"}  # with the first column: never folded
FOLDED_MIN = 14  # the narrowest a folding column may get before rows are stacked instead
_fitted = None


def add_row(table, *cells) -> None:
    """Add a row, its text cells in the symbols this output can show."""
    table.add_row(*(rich_text(c) if isinstance(c, str) else c for c in cells))


def table(title: str, *columns: str, numeric_columns=()):
    """A table whose names, edges, numbers and marks are never cut: formulas and other text
    fold onto more lines, and where even that does not fit each row is stacked as lines."""
    made = _fitted_table_class()(title=rich_text(title), title_justify="left", title_style="bold")
    for k, name in enumerate(columns):
        numeric = name in NUMERIC or name in numeric_columns
        key = k == 0 or name in KEYS
        made.add_column(rich_text(name), justify="right" if numeric else "left",
                        no_wrap=numeric or key, overflow="fold")
    return made


def _fitted_table_class():
    """Rich's Table, rendered as stacked rows when its fixed columns do not fit the width."""
    global _fitted
    if _fitted is not None:
        return _fitted
    from rich.table import Table

    class FittedTable(Table):
        def needed_width(self) -> int:
            """The width at which no fixed column is cut and no folding one cuts a word of up
            to FOLDED_MIN cells (each folding column is held to that minimum)."""
            from rich.cells import cell_len

            total = self._extra_width
            for column in self.columns:
                texts = [str(getattr(c, "plain", c)) for c in [column.header, *column._cells]]
                if column.no_wrap:  # an array's cell has a line per row: its widest line counts
                    total += max(cell_len(line) for t in texts for line in t.split("\n"))
                else:
                    longest = max((cell_len(w) for t in texts for w in t.split()), default=1)
                    column.min_width = min(longest, FOLDED_MIN)
                    total += column.min_width
                total += self.padding[1] + self.padding[3]
            return total

        def __rich_console__(self, console, options):
            if self.needed_width() <= options.max_width:
                yield from super().__rich_console__(console, options)
            else:
                yield self.stacked()

        def stacked(self):
            """Each row as a heading (its first cell) over lines of `column  cell`."""
            from rich.console import Group

            table = Table(title=self.title, title_justify="left", title_style="bold", show_header=False,
                          show_lines=True)
            table.add_column(overflow="fold")
            heads = [column.header for column in self.columns]
            for r in range(self.row_count):
                cells = [column._cells[r] for column in self.columns]
                lines = Table.grid(padding=(0, 1))
                lines.add_column(no_wrap=True, style="dim")
                lines.add_column(overflow="fold")
                for head, cell in zip(heads[1:], cells[1:]):
                    if str(getattr(cell, "plain", cell)):  # an empty cell says nothing
                        lines.add_row(head, cell)
                table.add_row(Group(cells[0], lines))
            return table

    _fitted = FittedTable
    return _fitted


def _rows(items: list, limit: int | None):
    """All items, or the first and last when there are more than `limit`."""
    if limit is None or len(items) <= limit:
        return items, 0
    half = limit // 2
    return items[:half] + [None] + items[-half:], len(items) - 2 * half


def shown(table, items: list, limit: int | None, see: str | None = None):
    """The items to give a row each; past `limit`, the first and last, with a row saying how
    many more there are between them (and where to `see` them: else the setting `all`)."""
    return with_gap(table, *_rows(items, limit), see)


def with_gap(table, rows: list, hidden: int, see: str | None = None):
    """The rows to fill, None among them standing for the `hidden` ones: a row says how many."""
    see = see or f"{setting('all')} shows them"
    for item in rows:
        if item is None:
            add_row(table, "…", f"{hidden} more rows ({see})", *[""] * (len(table.columns) - 2))
        else:
            yield item


def points_table(inputs: dict, value, grads: dict, first_row: int):
    """bp grad --at for people: each row's inputs, then its value and gradient (rows a chunk)."""
    names = list(grads)
    heads = ["row", *inputs, "value", *(f"∂/∂{n}" for n in names)]
    out = table(f"Rows {first_row:,} to {first_row + len(value) - 1:,}", *heads, numeric_columns=heads)
    for r, v in enumerate(value):
        add_row(out, f"{first_row + r:,}", *(show_number(float(c[r])) for c in inputs.values()), show_number(v),
                *(show_number(grads[n][r]) for n in names))
    return out
