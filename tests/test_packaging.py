"""A plain, non-editable install carries the grammar and works from any directory."""

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_wheel_ships_the_grammar_and_runs_from_elsewhere(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", str(ROOT), "-w", str(tmp_path)],
                   check=True, capture_output=True)
    wheel = next(tmp_path.glob("backprop_cli-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"bpcli/grammar/bp.lark", "bpcli/grammar/bp.tables.json"} <= names
    assert {f"bpcli/views/web/{name}" for name in ("head.html", "page.html", "page.css", "page.js", "report.html",
                                            "report.css", "report.js")} <= names
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
                   check=True, capture_output=True)
    env = {**os.environ, "PYTHONPATH": str(target), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    out = subprocess.run([sys.executable, "-m", "bpcli", "grad", "(x*w-y)^2", "--x", "2", "--w", "3", "--y", "4",
                          "--json", "--no-check"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["gradient"] == {"x": 12.0, "w": 8.0, "y": -4.0}
    out = subprocess.run([sys.executable, "-m", "bpcli", "view", "(x*w-y)^2", "--x", "2", "--w", "3", "--y", "4",
                          "--no-check", "-o", "page.html"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "const SVG" in (tmp_path / "page.html").read_text(encoding="utf-8")  # the script, inlined


STALE = "grammar/bp.tables.json is stale (built from another grammar or Lark): run python tools/build_tables.py"


def test_the_shipped_parse_tables_match_the_grammar_and_lark():
    from bpcli.language import parser

    assert parser.shipped_tables() is not None, STALE


@pytest.mark.parametrize("hash_seed", ["0", "1"])
def test_a_rebuild_of_the_tables_is_byte_identical_to_the_shipped_file(hash_seed):
    """Lark numbers its states differently from run to run; bp renumbers them canonically, so a
    rebuild (in a fresh process, under another hash seed) changes no byte of the file."""
    from bpcli.language import parser

    code = "import sys; from bpcli.language.parser import tables_text; sys.stdout.write(tables_text())"
    built = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={**os.environ, "PYTHONHASHSEED": hash_seed}).stdout
    assert built == parser.tables_path().read_text(encoding="utf-8"), STALE


def test_the_shipped_tables_parse_as_a_fresh_build_of_the_grammar(monkeypatch):
    from lark import Lark
    from test_driver import outcome
    from test_fuzz import PIECES, VALID

    from bpcli.language import driver, parser

    texts = VALID + PIECES + ["x +", "(x", "sin x", "foo(x)", "max(x)", "1e999", "a = x; a = a*a; a"]
    shipped = [outcome(t, lean) for t in texts for lean in (True, False)]
    fresh = Lark(parser.grammar_text(), parser="lalr", lexer="basic", transformer=parser._dispatch)
    monkeypatch.setattr(parser, "_parser", fresh)
    monkeypatch.setattr(parser, "_tables", driver.Tables(fresh, parser._Builder.action))
    assert shipped == [outcome(t, lean) for t in texts for lean in (True, False)]


def test_stale_tables_are_rebuilt_in_memory_and_never_read(monkeypatch, tmp_path):
    from bpcli.language import parser

    stale = tmp_path / "bp.tables.json"
    stale.write_text(json.dumps({"lark": "0.0", "grammar": "edited", "data": {}, "memo": {}}))
    monkeypatch.setattr(parser, "tables_path", lambda: stale)
    monkeypatch.setattr(parser, "_parser", None)
    monkeypatch.setattr(parser, "_tables", None)
    assert parser.shipped_tables() is None
    assert parser.parse("(x*w-y)^2").grad({"x": 2, "w": 3, "y": 4}).gradient == {"x": 12.0, "w": 8.0, "y": -4.0}


def test_bp_writes_no_cache_and_reads_none(tmp_path):
    """A user-writable cache of parse tables would be trusted as code: bp keeps none."""
    cache = tmp_path / "cache"
    (cache / "bp").mkdir(parents=True)
    os.mkfifo(cache / "bp" / "parser-0000000000000000.json")  # once made every bp hang
    env = {**os.environ, "XDG_CACHE_HOME": str(cache), "HOME": str(tmp_path)}
    out = subprocess.run([sys.executable, "-m", "bpcli", "grad", "x^2", "--x", "3", "--json", "--no-check"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and json.loads(out.stdout)["value"] == 9.0
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["bp", "cache", "parser-0000000000000000.json"]
