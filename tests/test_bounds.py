"""Every input bp cannot serve gets a clear refusal (exit 2) in bounded time and memory."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("seconds", ["nan", "inf", "1e308", "-1", "0.01"])
def test_a_check_timeout_no_clock_can_wait_for_is_refused(bp, seconds):
    r = bp("grad", "x^2", "--x", "1", "--check-timeout", seconds)
    assert r.exit_code == 2 and "--check-timeout must be a number of seconds" in r.stderr


@pytest.mark.parametrize("args, fragment", [
    (["--shuffle", "--seed", "-1"], "--seed"),
    (["--batch-size", "²"], "--batch-size must be a whole number"),
    (["--batch-size", "٣"], "--batch-size must be a whole number"),
])
def test_training_options_out_of_range_are_refused(bp, tmp_path, args, fragment):
    data = tmp_path / "d.csv"
    data.write_text("x,y\n1,2\n2,4\n")
    r = bp("train", "linear", str(data), "--epochs", "2", *args)
    assert r.exit_code == 2 and fragment in r.stderr and "internal error" not in r.stderr
