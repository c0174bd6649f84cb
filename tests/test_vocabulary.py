"""One vocabulary (#22 item 13): the words of docs/glossary.md, used by every table and picture;
the Forward table names operands as the Backward table does."""

from __future__ import annotations

import json
import re
from pathlib import Path

GLOSSARY = Path(__file__).resolve().parent.parent / "docs" / "glossary.md"


def cells(line: str, bar: str) -> list[str]:
    return [c.strip() for c in line.split(bar)[1:-1]]


def test_the_forward_table_names_operands_as_the_backward_table(bp):
    r = bp("grad", "(x*w-y)^2", "--x", "2", "--w", "3", "--y", "4", "--no-check")
    assert r.exit_code == 0
    rows = [cells(line, "│") for line in r.stdout.splitlines() if line.startswith("│")]
    operations = {row[0]: row[2] for row in rows if len(row) == 5 and row[0] and "←" not in row[0]}
    assert operations == {"n0": "input", "n1": "input", "n2": "x · w", "n3": "input", "n4": "n2 - y",
                          "n5": "constant 2", "n6": "n4^2"}
    wholes = set(re.findall(r"∂\(([^)]*)\)/∂", r.stdout))
    assert wholes == {"x · w", "n2 - y", "n4^2"} == {v for v in operations.values() if v[0] in "xn"}


def test_pictures_write_adjoint_and_local_not_a_bare_d(bp):
    tree = bp("graph", "(x*w-y)^2", "--x", "2", "--w", "3", "--y", "4").stdout
    assert tree.splitlines()[2] == "│   ├── n2: x · w  = 6.0  adjoint = 4.0"
    dot = bp("graph", "(x*w-y)^2", "--x", "2", "--w", "3", "--y", "4", "--format", "dot").stdout
    assert "adjoint = 12.0" in dot and ">local 3.0<" in dot and "∂out" not in dot and "∂ " not in dot
    mermaid = bp("graph", "x*w", "--x", "2", "--w", "3", "--format", "mermaid").stdout
    assert "adjoint = 3.0" in mermaid and "∂out" not in mermaid


def test_every_word_of_the_tables_is_in_the_glossary_and_the_glossary_in_the_site(bp):
    text = GLOSSARY.read_text()
    defined = {w.lower() for w in re.findall(r"\*\*([^*]+)\*\*", text)}
    assert {"node", "value", "operand", "edge", "local gradient", "adjoint", "contribution", "gradient",
            "forward pass"} <= defined
    doc = json.loads(bp("grad", "(x*w-y)^2", "--x", "2", "--w", "3", "--y", "4", "--json").stdout)
    for key in ["value", "gradient", "nodes", "edges", "adjoint", "local", "contribution", "operands", "formula"]:
        assert f'`"{key}"`' in text, key  # every JSON field a learner meets
    assert {"adjoint", "operands"} <= set(doc["nodes"][0]) and {"local", "contribution"} <= set(doc["edges"][0])
    headers = "node label operation value adjoint edge local parent contribution backprop".split()
    for word in headers:
        assert re.search(rf"\b{word}\b", text), word
    mkdocs = (GLOSSARY.parent.parent / "mkdocs.yml").read_text()
    assert "glossary.md" in mkdocs
    readme = (GLOSSARY.parent.parent / "README.md").read_text()
    assert "docs/glossary.md" in readme
