"""What a command reads: the formula (argument, --file or stdin, within --max-size), the point
(--values, then values on the command line, which win) and files within their size bounds."""

from __future__ import annotations

from bpcli.cli import options, program
from bpcli.engine import values
from bpcli.errors import LimitError, UsageError
from bpcli.language.parser import parse

NOTED_NAMES = 5  # unused names of a values file listed by name; the rest are counted
NO_INPUTS = "the formula has no inputs: its value is a constant, and there is nothing to differentiate"


def load_formula(formula: str | None, file: str | None, max_size: int = options.MAX_SIZE):
    if formula is not None and file is not None:
        raise UsageError("give the formula as an argument or with --file, not both")
    if formula is None and file is None:
        raise UsageError('no formula: try bp grad "(x*w-y)^2" --x 2 --w 3 --y 4')
    if file is None and formula.endswith(".bp"):
        file = formula  # bp grad model.bp: a program file named as the formula
    if formula == "-":
        file = "-"
    text = read_formula(file, max_size) if file is not None else formula
    if max_size and len(text) > max_size:
        raise too_long(max_size, len(text))
    return parse(text)


def read_text(path: str, what: str, expected: str, limit=None) -> str:
    """A text file, or stdin for `-`, read once within a size bound (a values file's by default)."""
    from bpcli.data import files  # deferred: loads csv and the data readers, which bp grad "…" does not use

    return files.read_text(path, what, expected, limit or files.Limit(files.MAX_VALUES))[0]


def read_formula(path: str, max_size: int = options.MAX_SIZE) -> str:
    """A formula file (or stdin) within --max-size: at most 4 bytes a character are read."""
    from bpcli.data import files  # deferred: loads csv and the data readers, which bp grad "…" does not use

    try:
        return read_text(path, "formula file", "a bp formula", files.Limit(4 * max_size))
    except files.TooBig:
        raise too_long(max_size) from None


def too_long(max_size: int, size: int | None = None) -> LimitError:
    has = f"has {size:,} characters, more than" if size is not None else "is longer than"
    return LimitError(f"the formula {has} the limit of {max_size:,} (about 4 s of parsing)",
                      hint="raise the limit with --max-size N, or 0 for none")


def data_limit(size: str, flag: str):
    """A size bound from an option's text such as 500M (0: none), with the flag that raises it."""
    from bpcli.data import files  # deferred: loads csv and the data readers, which bp grad "…" does not use

    try:
        return files.Limit(files.parse_size(size), flag)
    except ValueError as e:
        raise UsageError(f"{flag}: {e}") from None


def split_formula(formula: str | None, extra: list[str], file: str | None, allow_nonfinite: bool = False):
    """Click puts the first free word in `formula`; sort all free words ourselves into the
    formula (unless --file gives it) and the values."""
    words = ([formula] if formula is not None else []) + list(extra)
    return values.split_arguments(words, formula_given=file is not None, allow_nonfinite=allow_nonfinite)


def gather_values(formula, given, given_formula: str | None, values_file: str | None,
                  complete: bool | None = True, options: tuple[str, ...] = (), max_values: str = "128M",
                  command: str | None = None):
    """The point: values from --values, then from the command line (which win), checked once
    (complete=None: complete if any value is given). Returns the point and notes."""
    if values_file == "-" and given_formula == "-":
        raise UsageError("stdin can hold the formula or the values, not both")
    point: dict[str, float] = {}
    notes = list(formula.source_notes)
    if not formula.inputs:
        notes.append(NO_INPUTS)
    if values_file is not None:
        point, ignored, source = _values_file(formula, values_file, given.allow_nonfinite, max_values)
        if ignored:
            notes.append(ignored_note(source, ignored))
    point.update(given.values)
    if complete is None:
        complete = bool(point) or bool(given.names)
    _foreign_options(formula, given, options, command)
    values.raise_problems(*values.value_problems(list(formula.inputs), point, complete, given, options,
                                                 allow_nonfinite=given.allow_nonfinite))
    odd = [text for name, v in point.items() if (text := values.nonfinite(name, v))]
    if odd:
        notes.append(f"{', '.join(odd)}: not finite (--allow-nonfinite); IEEE arithmetic gives every value "
                     "that follows from it (inf - inf and 0·inf are nan)")
    return point, notes


def _foreign_options(formula, given, own: tuple[str, ...], command: str | None) -> None:
    """--wrt given to bp grad is no input's value: it is bp diff's option, and is said so."""
    if command is None:
        return
    for name in given.as_options:
        if name in formula.inputs or name in own:
            continue
        others = [c for c in program.owners(f"--{name}") if c != command]
        if others:
            whose = " and ".join(f"bp {c}" for c in others)
            raise UsageError(f"--{name} is an option of {whose}, not of bp {command}; the formula has no "
                             f"input named {name}", hint=f"bp {command} --help lists the options, with examples")


def _values_file(formula, path: str, allow_nonfinite: bool, max_values: str):
    """The inputs' values in a --values file (JSON, .npy or .npz), the names it holds that are
    not inputs, and what to call it."""
    if path.endswith((".npy", ".npz")):
        limit = data_limit(max_values, "--max-values")
        pairs, left = values.from_numpy(path, allow_nonfinite, wanted=formula.inputs, max_bytes=limit.size)
        arrays = dict(pairs)
        point = {n: v for n, v in arrays.items() if n in formula.inputs}
        return point, [n for n in arrays if n not in formula.inputs] + left, path
    from bpcli.data import files  # deferred: loads csv and the data readers, which bp grad "…" does not use

    return files.read_values(path, list(formula.inputs), data_limit(max_values, "--max-values"), allow_nonfinite)


def ignored_note(source: str, names: list[str]) -> str:
    """`a, b and c are not inputs…`, naming the first few and counting the rest."""
    shown = [shown_name(n) for n in names[:NOTED_NAMES]]
    if len(names) > NOTED_NAMES:
        shown.append(f"{len(names) - NOTED_NAMES:,} more")
    listed = shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " and " + shown[-1]
    verb = "is not an input" if len(names) == 1 else "are not inputs"
    return f"{source}: {listed} {verb} of the formula; ignored"


def shown_name(name: str) -> str:
    """A name as any output can take it (a lone surrogate from a JSON file is escaped)."""
    return name.encode("utf-8", "backslashreplace").decode("utf-8")


def long_options(ctx) -> tuple[str, ...]:
    """The command's own long options, without their dashes (for a did-you-mean)."""
    return tuple(o[2:] for p in ctx.command.params for o in p.opts if o.startswith("--"))
