"""No path from user text to code: bp never calls eval-like functions or unpickles."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "bpcli"
BUILTINS = {"eval", "exec", "compile", "__import__"}  # as bare names: re.compile is fine
TEXT_TO_CODE = {"sympify", "S", "parse_expr", "lambdify", "literal_eval"}  # any spelling
FORBIDDEN_MODULES = {"pickle", "marshal", "shelve", "dill"}


def calls_and_imports(path: Path):
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            fn = node.func
            if isinstance(fn, ast.Name):
                yield "call", fn.id, node.lineno
            elif isinstance(fn, ast.Attribute):
                yield "method call", fn.attr, node.lineno
            if isinstance(fn, ast.Attribute) and isinstance(fn.value, ast.Name):
                yield "module call", fn.value.id, node.lineno
        elif isinstance(node, ast.Import):
            for alias in node.names:
                yield "import", alias.name.split(".")[0], node.lineno
        elif isinstance(node, ast.ImportFrom):
            yield "import", (node.module or "").split(".")[0], node.lineno


def test_the_package_calls_no_eval_like_function_and_imports_no_pickle():
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for kind, name, line in calls_and_imports(path):
            if (kind == "call" and name in BUILTINS | TEXT_TO_CODE) or (
                    kind == "method call" and name in TEXT_TO_CODE):
                found.append(f"{path.name}:{line} calls {name}")
            if kind in ("import", "module call") and name in FORBIDDEN_MODULES:
                found.append(f"{path.name}:{line} uses {name}")
    assert found == []


def test_the_scan_would_notice(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import pickle\nimport sympy\nsympy.sympify(text)\neval(text)\n")
    names = {(k, n) for k, n, _ in calls_and_imports(bad)}
    assert ("method call", "sympify") in names and ("call", "eval") in names and ("import", "pickle") in names
