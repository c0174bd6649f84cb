"""The core never words a CLI flag: it names a setting (errors.setting) or an input given a value
(errors.input_value), and the face in force words it: the library its keywords, the command line
its flags, bp serve its request's fields."""

from __future__ import annotations

import json

import pytest

from bpcli import api
from bpcli.cli.exits import FLAGS
from bpcli.errors import LIBRARY, UsageError, input_value, setting, worded
from bpcli.views.web.server import FIELDS, Limits, computed


def test_the_library_names_a_setting_by_its_keyword():
    assert setting("batch_size") == "batch_size="
    assert setting("optimizer", "adam") == "optimizer='adam'"
    assert setting("lr", 0.5 * 5) == "lr=2.5"
    assert setting("lr", 0.1 / 10) == "lr=0.01"  # as few digits as %g gives, not 0.010000000000000002
    assert setting("epochs", 40) == "epochs=40"
    assert setting("latex", True) == "latex=True"
    assert setting("max_nodes", "N") == "max_nodes=N"  # a value in capitals stands for one


def test_the_command_line_names_a_setting_by_its_flag():
    with worded(FLAGS):
        assert setting("batch_size") == "--batch-size"
        assert setting("batch_size", "all") == "--batch-size all"
        assert setting("lr", 0.1 / 10) == "--lr 0.01"
        assert setting("hidden", [16, 16]) == "--hidden 16,16"
        assert setting("latex", True) == "--latex"  # a switch set is its flag alone
        assert setting("max_nodes", "N") == "--max-nodes N"
        assert setting("params", "W1=16x2") == "--param W1=16x2"  # the flag the library spells params=


def test_an_input_given_a_value_is_named_as_each_face_takes_it():
    assert input_value("y_hat", "VALUE") == "y_hat=VALUE"
    with worded(FLAGS):
        assert input_value("y_hat", "VALUE") == "--y_hat VALUE"  # an input keeps its own name
        assert input_value("x") == "--x"
    with worded(FIELDS):
        assert input_value("x", 2) == '"x": 2 in "values"'


def test_bp_serve_names_a_request_field_as_the_field_and_any_other_setting_as_the_library():
    with worded(FIELDS):
        assert setting("check") == '"check"'
        assert setting("check", False) == '"check": false'
        assert setting("batch_size") == "batch_size="


def test_a_face_words_only_while_it_works_and_the_library_words_again_after():
    with pytest.raises(UsageError), worded(FLAGS):
        with worded(FIELDS):
            assert setting("check") == '"check"'
        assert setting("check") == "--check"
        raise UsageError(setting("check"))
    assert setting("check") == "check="
    with worded(LIBRARY):
        assert setting("check") == "check="


def test_a_cli_error_names_the_flag(bp, tmp_path):
    data = tmp_path / "d.csv"
    data.write_text("x,y\n1,2\n2,4\n")
    r = bp("train", "linear", str(data), "--optimizer", "adamw")
    assert r.exit_code == 2 and r.stdout == ""
    assert r.stderr == "bp: usage error: --optimizer must be one of sgd, momentum, adam, not 'adamw'\n"


def test_the_same_error_from_the_library_names_the_keyword():
    with pytest.raises(UsageError) as e:
        api.train("linear", {"x": [1, 2], "y": [2, 4]}, optimizer="adamw")
    assert str(e.value) == "optimizer= must be one of sgd, momentum, adam, not 'adamw'"


def test_a_hint_with_a_value_names_the_flag_and_its_value_on_the_command_line_and_the_keyword_in_the_library(
        bp, tmp_path):
    data = tmp_path / "d.csv"
    data.write_text("x,y\n1,2\n2,4\n3,9\n")
    r = bp("train", "affine", str(data), "--lr", "100", "--epochs", "50")
    assert r.exit_code == 4 and r.stderr.endswith("hint: try a smaller learning rate, e.g. --lr 10\n")
    with pytest.raises(Exception) as e:
        api.train("affine", str(data), lr=100.0, epochs=50)
    assert e.value.hint == "try a smaller learning rate, e.g. lr=10"


def test_a_missing_value_is_asked_for_as_each_face_takes_it(bp):
    r = bp("grad", "x*w", "--x", "2")
    assert r.exit_code == 2 and r.stdout == ""
    assert r.stderr == "bp: value error: no value for w\nhint: give --w VALUE\n"
    with pytest.raises(Exception) as e:
        api.grad("x*w", x=2)
    assert str(e.value) == "no value for w\nhint: give w=VALUE"


def test_a_refusal_only_a_flag_lifts_gets_its_hint_on_the_command_line_alone(bp):
    r = bp("grad", "x*w", "--x", "inf", "--w", "2")
    assert r.exit_code == 2 and r.stdout == ""
    assert r.stderr == ("bp: value error: the value of x must be a finite number, got 'inf'\n"
                        "hint: bp grad --allow-nonfinite takes inf, -inf and nan as values, to see what they do\n")
    with pytest.raises(Exception) as e:
        api.grad("x*w", x=float("inf"), w=2.0)
    assert str(e.value) == "the value of x must be a finite number, got inf"  # the library has no such setting
    assert e.value.lifted_by == "allow_nonfinite"


def test_bp_serve_answers_in_its_own_words_though_it_runs_under_the_command_lines():
    body = json.dumps({"formula": "x*w", "values": {"x": "inf", "w": 2}}).encode()
    with worded(FLAGS):  # as in bp serve's own process, a command of bp
        status, answer = computed(body, Limits(), with_layout=False)
    error = json.loads(answer)
    assert status == 400 and error["error"] == "the value of x must be a finite number, got 'inf'"
    assert error["hint"].startswith('"values" maps each input') and "--" not in error["hint"]
