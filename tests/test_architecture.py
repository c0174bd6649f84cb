"""The house: layers whose imports only go down, no import circles, imports inside functions only
to defer a heavy third-party module, modules of a readable size, no private names across modules."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "bpcli"
SOURCES = sorted(PACKAGE.rglob("*.py"))
LONGEST = 800  # lines; the op table is the one exception: every operation declared in one place
OP_TABLE = PACKAGE / "engine" / "ops.py"  # the exception to LONGEST: every operation declared in one place
DEFERRED = "# deferred:"  # the comment that says which heavy third-party module an inner import defers


def _module(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports_of_bp(tree: ast.AST, module: str):
    """(node, target) for every import of a bp module, with whether it sits inside a function."""
    stack = [(tree, False)]
    while stack:
        node, inner = stack.pop()
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ImportFrom):
                target = "." * child.level + (child.module or "")  # relative: bp's own, and refused below
                if child.level or target == "bpcli" or target.startswith("bpcli."):
                    yield child, target, inner
            elif isinstance(child, ast.Import):
                for alias in child.names:
                    if alias.name.startswith("bpcli"):
                        yield child, alias.name, inner
            stack.append((child, inner or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))))


def test_the_layers_contract_holds():
    """import-linter's layers contract in pyproject.toml: cli > api > teach > views > train > ..."""
    lint = Path(sys.executable).with_name("lint-imports")
    out = subprocess.run([str(lint)], capture_output=True, text=True, cwd=PACKAGE.parent)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]


def test_no_module_takes_part_in_an_import_circle():
    graph = grimp.build_graph("bpcli", include_external_packages=False)
    edges = {m: sorted(graph.find_modules_directly_imported_by(m)) for m in graph.modules}
    circles = _strongly_connected(edges)
    assert not circles, "import circles: " + "; ".join(" <-> ".join(sorted(c)) for c in circles)


def _strongly_connected(edges: dict) -> list[set]:
    """Tarjan's components of more than one module, walked with an explicit stack."""
    index, low, on, order, found, counter = {}, {}, set(), [], [], [0]
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(edges.get(root, ())))]
        index[root] = low[root] = counter[0]
        counter[0] += 1
        order.append(root)
        on.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    part = set()
                    while True:
                        m = order.pop()
                        on.discard(m)
                        part.add(m)
                        if m == node:
                            break
                    if len(part) > 1:
                        found.append(part)
            elif child not in index:
                index[child] = low[child] = counter[0]
                counter[0] += 1
                order.append(child)
                on.add(child)
                work.append((child, iter(edges.get(child, ()))))
            elif child in on:
                low[node] = min(low[node], index[child])
    return found


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_an_import_inside_a_function_only_defers_a_heavy_module_and_says_so(path):
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    bad = [f"{path.name}:{node.lineno}: {lines[node.lineno - 1].strip()}"
           for node, _, inner in _imports_of_bp(ast.parse(text), _module(path))
           if inner and not any(DEFERRED in lines[n - 1] for n in range(node.lineno, node.end_lineno + 1))]
    assert not bad, (f"inner imports of bp's own modules without a '{DEFERRED} <heavy module>' comment:\n"
                     + "\n".join(bad))


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_private_name_is_imported_from_another_module(path):
    text = path.read_text(encoding="utf-8")
    relative = [n.lineno for n, target, _ in _imports_of_bp(ast.parse(text), _module(path)) if target.startswith(".")]
    assert not relative, f"relative imports (bp imports its own modules by absolute name) at lines {relative}"
    bad = [f"{path.name}:{node.lineno}: {alias.name} from {target}"
           for node, target, _ in _imports_of_bp(ast.parse(text), _module(path))
           if isinstance(node, ast.ImportFrom) for alias in node.names
           if alias.name.startswith("_") and not alias.name.startswith("__")]
    assert not bad, "\n".join(bad)
    assert "typer._" not in text and "click._" not in text, "a private module of typer or click"


@pytest.mark.parametrize("path", [p for p in SOURCES if p != OP_TABLE], ids=lambda p: str(p.relative_to(PACKAGE)))
def test_every_module_reads_in_one_sitting(path):
    assert len(path.read_text(encoding="utf-8").splitlines()) <= LONGEST


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_face_asks_hasattr_whether_a_result_is_a_tensor(path):
    text = path.read_text(encoding="utf-8")
    asked = [line for line in text.splitlines()
             if ("hasattr(" in line or "getattr(result" in line) and "shape" in line]
    assert not asked, "\n".join(asked)


def test_no_tracked_file_holds_a_merge_conflict_marker():
    """A merge left `<<<<<<<`/`>>>>>>>` lines in docs/language.md once, and no test read them."""
    found = subprocess.run(["git", "grep", "-n", "-E", "^(<<<<<<< |>>>>>>> |=======$)"], cwd=PACKAGE.parent,
                           capture_output=True, text=True)
    assert found.stdout == ""


# -- the core never words a CLI flag -------------------------------------------------------------------
FLAG = re.compile(r"(?<![\w-])--[A-Za-z][\w-]*")  # --batch-size, --x; not a decrement, an em dash or ---
# The strings outside bpcli/cli/ that write a `--flag` on purpose, each (file, the string as written),
# not by line number, which every edit above it moves. Each writes out a command of bp, one
# that made or reads what the text is about; none names a setting to change.
WRITES_A_COMMAND = {
    # bp export's scripts (also the library's export() and Training.script()) are titled with the
    # command that writes them (bp export --torch, --jax, --loop); the loop's comments cite the
    # bp train run it reproduces, flag by flag, as one would type it again.
    ("views/export.py", "bp export --"),
    ("views/export.py", "bp export --loop: the lecture's training loop in PyTorch, for the bp train run below."),
    ("views/export.py", ", --optimizer "),
    ("views/export.py", "  # bp train --dtype "),
    ("views/export.py", "--init-scheme "),
    ("views/export.py", ", --seed "),
    ("views/export.py", "  # bp train --optimizer "),
    # A printed worksheet's answer key: the command that reads the key below it.
    ("teach/worksheet.py", "As `bp quiz --answers` reads it:"),
    # bp train --resume's document: its format is what the command `bp train … --json` writes.
    ("training/resume.py", ": not a bp train --json document (its schema is not "),
    ("training/resume.py", "write one with bp train … --json > run.json"),
}
WORDS = ("setting", "input_value")  # bpcli.errors' functions that word a setting as the face in force says it


def _docstrings(tree: ast.AST) -> set[int]:
    """The ids of the docstrings' nodes: documentation, which may cite bp's commands as typed."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(getattr(first.value, "value", None), str):
                found.add(id(first.value))
    return found


DASHES_BEFORE = re.compile(r"(?<![\w-])--$")  # f"--{name}": a flag made from a name


def _flags_in_strings(path: Path) -> list[tuple[int, str]]:
    """(line, string) for every string in the module's code (docstrings and comments aside) with
    a --flag in it, or an f-string's part that puts -- before a name (f"--{name}")."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    documentation = _docstrings(tree)
    found = [(node.lineno, node.value) for node in ast.walk(tree)
             if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in documentation
             and FLAG.search(node.value)]
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            found += [(part.lineno, part.value) for part, after in zip(node.values, node.values[1:])
                      if isinstance(part, ast.Constant) and isinstance(after, ast.FormattedValue)
                      and DASHES_BEFORE.search(part.value)]
    return sorted(found)


def test_no_module_below_the_cli_words_a_flag():
    """The core never words a CLI flag: errors carry data, the faces word them (bpcli/errors.py's setting)."""
    found, used = [], set()
    for path in SOURCES:
        name = str(path.relative_to(PACKAGE))
        if name.startswith("cli/"):
            continue
        for line, text in _flags_in_strings(path):
            if (name, text) in WRITES_A_COMMAND:
                used.add((name, text))
            else:
                found.append(f"bpcli/{name}:{line}: {text!r}")
    assert not found, "a --flag below bpcli/cli/: name it with bpcli.errors.setting(...)\n" + "\n".join(found)
    assert used == WRITES_A_COMMAND, f"exempted strings no longer in the code: {WRITES_A_COMMAND - used}"


def test_the_check_finds_a_flag_in_a_string_but_not_in_a_docstring_or_a_comment(tmp_path):
    module = tmp_path / "m.py"
    module.write_text('"""Run bp grad --json."""\n# --comment\nX = "---- x--y, 1 - -2"\n'
                      'def f(n):\n    """--doc"""\n    raise ValueError(f"--lr {n} is too large; em — dash")\n'
                      'HINT = f"give --{X} VALUE, x--{X}"\n')
    assert _flags_in_strings(module) == [(6, "--lr "), (7, "give --")]


def _calls_at_import(tree: ast.AST):
    """The calls of `setting`/`input_value` that run when the module is imported (at its top,
    in a class body, in a default argument or a decorator), not when a function is called."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            args = node.args
            stack += [*args.defaults, *(d for d in args.kw_defaults if d is not None),
                      *getattr(node, "decorator_list", [])]
            continue  # its body runs when it is called
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in WORDS:
            yield node
        stack += list(ast.iter_child_nodes(node))


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_a_setting_is_worded_when_the_text_is_made_never_at_import(path):
    """The face in force words a setting when it is named: a constant made at import would keep the library's words."""
    early = [node.lineno for node in _calls_at_import(ast.parse(path.read_text(encoding="utf-8")))]
    assert not early, f"setting() or input_value() called at import, lines {early}"


def test_the_import_check_finds_a_setting_named_at_import_and_lets_one_in_a_function_be():
    tree = ast.parse("A = setting('lr')\ndef f(x=input_value('x')):\n    return setting('lr')\n"
                     "class C:\n    B = setting('lr')\n")
    assert sorted(n.lineno for n in _calls_at_import(tree)) == [1, 2, 5]
