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


# Hypothesis profiles: a quick default for every run, a deeper one for CI or a long look
# (pytest --hypothesis-profile=deep).
from hypothesis import HealthCheck, settings  # noqa: E402

settings.register_profile("default", max_examples=60, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("deep", max_examples=2000, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("default")
