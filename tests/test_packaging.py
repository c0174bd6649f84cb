"""A plain, non-editable install carries the grammar and works from any directory."""

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_wheel_ships_the_grammar_and_runs_from_elsewhere(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", str(ROOT), "-w", str(tmp_path)],
                   check=True, capture_output=True)
    wheel = next(tmp_path.glob("backprop_cli-*.whl"))
    assert "bpcli/grammar/bp.lark" in zipfile.ZipFile(wheel).namelist()
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
                   check=True, capture_output=True)
    env = {**os.environ, "PYTHONPATH": str(target), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    out = subprocess.run([sys.executable, "-m", "bpcli", "grad", "(x*w-y)^2", "--x", "2", "--w", "3", "--y", "4",
                          "--json", "--no-check"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["gradient"] == {"x": 12.0, "w": 8.0, "y": -4.0}


def test_parser_cache_is_written_and_a_broken_one_is_rebuilt(tmp_path):
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path)}
    run = [sys.executable, "-m", "bpcli", "grad", "x^2", "--x", "3", "--json", "--no-check"]
    assert subprocess.run(run, env=env, capture_output=True).returncode == 0
    (cache,) = (tmp_path / "bp").glob("parser-*.json")
    cache.write_text("{broken")
    out = subprocess.run(run, env=env, capture_output=True, text=True)
    assert out.returncode == 0 and json.loads(out.stdout)["value"] == 9.0
    json.loads(cache.read_text())  # rewritten whole
