"""The bad-input corpus (tests/corpus/cases.json): every case through the CLI, with its
exit code and a fragment of its message, and never a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

CORPUS = Path(__file__).resolve().parent / "corpus"
CASES = json.loads((CORPUS / "cases.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("case", CASES, ids=[" ".join(c["args"][:3]) for c in CASES])
def test_bad_input_gives_its_exit_code_and_message(bp, case, monkeypatch):
    monkeypatch.chdir(CORPUS)
    r = bp(*case["args"])
    assert r.exit_code == case["exit"], (r.stdout, r.stderr)
    assert case["fragment"] in r.stderr
    assert "Traceback" not in r.stderr and r.stdout == ""


def test_oversized_formula_is_refused_naming_the_limit(bp):
    r = bp("grad", "x" + "+x" * 1_000_000, "--x", "1", "--no-check")
    assert r.exit_code == 2
    assert "more than the limit of 2,000,000" in r.stderr and "--max-size" in r.stderr


def test_the_size_limit_can_be_raised(bp):
    r = bp("grad", "x+x+x", "--x", "1", "--no-check", "--max-size", "3")
    assert r.exit_code == 2
    assert bp("grad", "x+x+x", "--x", "1", "--no-check", "--max-size", "0", "--json").exit_code == 0
