"""bp train's defaults learn the README's small examples, and a classifier that stays at chance
is told what to change (#22 item 6)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
XOR, MOONS = str(EXAMPLES / "xor.csv"), str(EXAMPLES / "moons.csv")


def doc_of(r):
    assert r.exit_code == 0, r.stderr
    return json.loads(r.stdout)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_an_mlp_with_the_defaults_learns_xor_and_moons(bp, seed):
    for data, least in ((XOR, 1.0), (MOONS, 0.97)):
        r = bp("train", "mlp", data, "--seed", str(seed), "--json")
        doc = doc_of(r)
        assert doc["final_accuracy"] >= least, (data, doc["final_accuracy"])
        assert (doc["settings"]["optimizer"], doc["settings"]["batch_size"], doc["settings"]["epochs"]) == \
            ("adam", "all", 500)
        assert doc["notes"] == [] and r.stderr == ""


def test_the_table_run_of_the_readme_says_nothing_more(bp):
    r = bp("train", "mlp", XOR, "--hidden", "4", "--predict", "0,1")
    assert r.exit_code == 0 and r.stderr == ""
    assert "Training: 500 epochs" in r.stdout and "100.0%" in r.stdout


def test_given_settings_win_and_other_models_keep_the_lectures_defaults(bp):
    doc = doc_of(bp("train", "mlp", XOR, "--optimizer", "momentum", "--epochs", "3", "--batch-size", "2", "--json"))
    assert (doc["settings"]["optimizer"], doc["settings"]["batch_size"], doc["settings"]["epochs"]) == \
        ("momentum", 2, 3)
    doc = doc_of(bp("train", "linear", XOR, "--target", "y", "--json"))
    assert (doc["settings"]["optimizer"], doc["settings"]["batch_size"], doc["settings"]["epochs"]) == \
        ("sgd", 1, 100)


def test_export_loop_of_a_network_takes_the_same_defaults(bp):
    r = bp("export", "--loop", "mlp", XOR, "--hidden", "2", "--epochs", "5")
    assert r.exit_code == 0, r.stderr
    assert "torch.optim.Adam([W1, b1, W2, b2], lr=0.01)" in r.stdout
    assert "torch.func.vmap(row_loss)" in r.stdout  # the whole batch a step


def test_a_classifier_at_chance_is_told_what_to_change(bp):
    r = bp("train", "mlp", XOR, "--optimizer", "sgd", "--batch-size", "1", "--epochs", "100")
    assert r.exit_code == 0
    assert "Training: 100 epochs" in r.stdout
    assert r.stderr == (
        "bp: note: the accuracy ended at 50.0%, no better than chance (50.0%, always answering the most common "
        "class): the model learned nothing that classifies. Try --optimizer adam; more epochs (--epochs 400); "
        "a larger learning rate (--lr 0.05); --batch-size all\n")
    doc = doc_of(bp("train", "mlp", XOR, "--hidden", "4", "--activation", "none", "--json"))
    [note] = doc["notes"]
    assert note.startswith("the accuracy ended at ") and "no better than chance (50.0%" in note
    assert "Try an activation (--activation tanh): without one the layers are one linear map" in note
    r = bp("train", "logistic", XOR)
    assert "Try a network (bp train mlp) if no straight line separates the classes" in r.stderr


def test_no_note_for_a_regression_or_a_classifier_that_learned(bp, tmp_path):
    doc = doc_of(bp("train", "linear", XOR, "--target", "y", "--json"))
    assert doc["notes"] == []
    data = tmp_path / "sep.csv"
    data.write_text("x,y\n-2,0\n-1,0\n1,1\n2,1\n")
    r = bp("train", "logistic", str(data), "--lr", "0.5")
    assert r.exit_code == 0 and r.stderr == ""
