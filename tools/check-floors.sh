#!/usr/bin/env bash
# The dependency floors that pyproject.toml declares (each "name>=X" of [project] dependencies)
# really work: a fresh virtual environment gets exactly version X of each (their own dependencies
# as pip resolves them), bp itself with --no-deps, and the test tools; then a subset of the tests
# that drives the CLI, the parser, the engine and the lecture runs against them.
# Usage: tools/check-floors.sh [pytest arguments, default: the subset below]
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.venv-floors
rm -rf "$venv"
python3 -m venv "$venv"
. "$venv/bin/activate"
mapfile -t floors < <(python - <<'PY'
import re, tomllib
for dep in tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]:
    name, floor = re.match(r"\s*([A-Za-z0-9_.-]+)\s*>=\s*([^,;\s]+)", dep).groups()
    print(f"{name}=={floor}")
PY
)
echo "floors: ${floors[*]}"
pip install -q --disable-pip-version-check "${floors[@]}" pytest pytest-xdist hypothesis
pip install -q --disable-pip-version-check --no-deps -e .
pip list --disable-pip-version-check 2>/dev/null | grep -iE "^(typer|click|lark|rich|sympy|mpmath|numpy|plotext) "
tests=("$@")
[ ${#tests[@]} -gt 0 ] || tests=(tests/test_cli_grad.py tests/test_lecture.py tests/test_parser.py tests/test_ops.py tests/test_train.py)
python -m pytest -p no:cacheprovider "${tests[@]}"
