import json

import pytest
from typer.testing import CliRunner

from bpcli.cli import app


@pytest.fixture
def bp():
    """Run the CLI in-process: bp("grad", "x^2", "--x", "3") -> Click's Result."""
    runner = CliRunner()

    def run(*args, input=None):
        return runner.invoke(app, list(args), input=input)

    return run


@pytest.fixture
def bp_json(bp):
    """Run the CLI with --json and return the parsed document (asserting exit code 0)."""

    def run(*args, input=None):
        result = bp(*args, "--json", input=input)
        assert result.exit_code == 0, result.stderr
        return json.loads(result.stdout, parse_constant=_reject)

    return run


def _reject(name):
    raise AssertionError(f"non-standard JSON constant {name}")
