"""bp train from given weights: --init with numbers and arrays, --resume from a run's document,
and Mazur's step-by-step network reproduced as scalars and as tensors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
XOR, MOONS = str(EXAMPLES / "xor.csv"), str(EXAMPLES / "moons.csv")

# Matt Mazur, "A Step by Step Backpropagation Example": a 2-2-2 sigmoid network, one sample,
# E = Σ ½(target − out)², lr 0.5, the biases held (here: columns of the data).
MAZUR_CSV = "i1,i2,t1,t2,b1,b2\n0.05,0.10,0.01,0.99,0.35,0.60\n"
MAZUR_SCALARS = ("h1 = sigmoid(w1*i1 + w2*i2 + b1); h2 = sigmoid(w3*i1 + w4*i2 + b1); "
                 "o1 = sigmoid(w5*h1 + w6*h2 + b2); o2 = sigmoid(w7*h1 + w8*h2 + b2); "
                 "0.5*(t1 - o1)^2 + 0.5*(t2 - o2)^2")
MAZUR_TENSORS = ("h = sigmoid(W1 @ features + b1); o = sigmoid(W2 @ h + b2); "
                 "0.5*(t1 - o[0])^2 + 0.5*(t2 - o[1])^2")
# His published numbers, as he writes them (digits as printed).
MAZUR_AFTER = {"w1": "0.149780716", "w2": "0.19956143", "w3": "0.24975114", "w4": "0.29950229",
               "w5": "0.35891648", "w6": "0.408666186", "w7": "0.511301270", "w8": "0.561370121"}
MAZUR_ERROR = "0.298371109"


def to_his_digits(value: float, published: str) -> bool:
    """Whether value rounds to the published number at the digits he printed."""
    digits = len(published.split(".")[1])
    return abs(value - float(published)) <= 0.5 * 10 ** -digits


@pytest.fixture
def mazur(tmp_path):
    path = tmp_path / "mazur.csv"
    path.write_text(MAZUR_CSV)
    return str(path)


def test_mazur_as_scalars_reproduces_his_updated_weights(bp_json, mazur):
    doc = bp_json("train", MAZUR_SCALARS, mazur, "--target", "t1", "--loss", "yhat", "--lr", "0.5",
                  "--epochs", "1", "--init", "w1=0.15,w2=0.20,w3=0.25,w4=0.30,w5=0.40,w6=0.45,w7=0.50,w8=0.55")
    assert to_his_digits(doc["loss"][0], MAZUR_ERROR)
    assert sorted(doc["params"]) == sorted(MAZUR_AFTER)
    for name, published in MAZUR_AFTER.items():
        assert to_his_digits(doc["params"][name], published), (name, doc["params"][name], published)


def test_mazur_as_tensors_reproduces_his_updated_weights(bp_json, mazur):
    doc = bp_json("train", MAZUR_TENSORS, mazur, "--target", "t1", "--loss", "yhat", "--features", "i1,i2",
                  "--lr", "0.5", "--epochs", "1", "--param", "W1=2x2",
                  "--init", "W1=[[0.15,0.20],[0.25,0.30]]", "--init", "W2=[[.40,.45],[.50,.55]]")
    assert to_his_digits(doc["loss"][0], MAZUR_ERROR)
    (w1, w2), (w3, w4) = doc["params"]["W1"]
    (w5, w6), (w7, w8) = doc["params"]["W2"]
    got = {"w1": w1, "w2": w2, "w3": w3, "w4": w4, "w5": w5, "w6": w6, "w7": w7, "w8": w8}
    for name, published in MAZUR_AFTER.items():
        assert to_his_digits(got[name], published), (name, got[name], published)
    assert doc["settings"]["shapes"] == {"W1": [2, 2], "W2": [2, 2]}  # W2's shape from its array


def test_mazur_scalars_and_tensors_agree_to_the_bit(bp_json, mazur):
    scalars = bp_json("train", MAZUR_SCALARS, mazur, "--target", "t1", "--loss", "yhat", "--lr", "0.5",
                      "--epochs", "3", "--init", "w1=0.15,w2=0.20,w3=0.25,w4=0.30",
                      "--init", "w5=0.40,w6=0.45,w7=0.50,w8=0.55")["params"]
    tensors = bp_json("train", MAZUR_TENSORS, mazur, "--target", "t1", "--loss", "yhat", "--features", "i1,i2",
                      "--lr", "0.5", "--epochs", "3", "--init", "W1=[[0.15,0.20],[0.25,0.30]]",
                      "--init", "W2=[[0.40,0.45],[0.50,0.55]]")["params"]
    assert tensors["W1"] == [[scalars["w1"], scalars["w2"]], [scalars["w3"], scalars["w4"]]]
    assert tensors["W2"] == [[scalars["w5"], scalars["w6"]], [scalars["w7"], scalars["w8"]]]


def test_an_array_of_the_wrong_shape_is_refused_naming_the_parameter_and_both_shapes(bp, mazur):
    r = bp("train", MAZUR_TENSORS, mazur, "--target", "t1", "--loss", "yhat", "--features", "i1,i2",
           "--param", "W1=2x2", "--init", "W1=[[0.15,0.20,0.1],[0.25,0.30,0.1]]", "--init", "W2=0.5")
    assert r.exit_code == 2
    assert r.stdout == ""
    assert r.stderr == ("bp: usage error: the starting value of W1 (--init or --resume) has shape 2×3, "
                        "but the parameter W1 has shape 2×2\n")
    r = bp("train", "mlp", XOR, "--hidden", "2", "--init", "b2=[0.5]")
    assert r.exit_code == 2
    assert "the starting value of b2 (--init or --resume) has shape 1, but the parameter b2 has shape () " \
           "(a number)" in r.stderr


def test_init_gives_a_preset_network_its_weights(bp_json):
    doc = bp_json("train", "mlp", XOR, "--hidden", "2", "--epochs", "1", "--lr", "0.1", "--optimizer", "sgd",
                  "--init", "W1=[[1,2],[3,4]]", "--init", "b1=[0,0]", "--init", "W2=[1,-1]", "--init", "b2=0")
    assert doc["settings"]["init"] == {"W1": [[1.0, 2.0], [3.0, 4.0]], "b1": [0.0, 0.0], "W2": [1.0, -1.0],
                                       "b2": 0.0}
    # the same start as torch's, one full-batch step of BCE
    torch = pytest.importorskip("torch")
    x = torch.tensor([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=torch.float64)
    y = torch.tensor([0, 1, 1, 0], dtype=torch.float64)
    W1 = torch.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=torch.float64, requires_grad=True)
    b1 = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    W2 = torch.tensor([1.0, -1.0], dtype=torch.float64, requires_grad=True)
    b2 = torch.zeros((), dtype=torch.float64, requires_grad=True)
    z = torch.tanh(x @ W1.T + b1) @ W2 + b2
    torch.nn.functional.binary_cross_entropy_with_logits(z, y).backward()
    for name, t in {"W1": W1, "b1": b1, "W2": W2, "b2": b2}.items():
        expected = (t - 0.1 * t.grad).detach().numpy()
        np.testing.assert_allclose(doc["params"][name], expected, rtol=1e-12, atol=1e-15)


def test_init_problems_are_all_said_at_once(bp):
    r = bp("train", "linear", XOR, "--init", "w=[1,2],w=3", "--init", "v=abc", "--init", "nothing")
    assert r.exit_code == 2 and r.stdout == ""
    assert "--init w is given twice" in r.stderr
    assert "the value of --init v is not a number: 'abc'" in r.stderr
    assert "--init takes NAME=VALUE (a number or a JSON array), e.g. --init w=0.5, not 'nothing'" in r.stderr


# -- --resume -------------------------------------------------------------------------------------
RUNS = [
    ("sgd", ["mlp", XOR, "--hidden", "4", "--lr", "0.3", "--batch-size", "2", "--shuffle", "--seed", "3"]),
    ("momentum", ["mlp", XOR, "--hidden", "4", "--lr", "0.1", "--batch-size", "all"]),
    ("adam", ["mlp", MOONS, "--hidden", "8", "--lr", "0.01", "--batch-size", "32", "--shuffle"]),
    ("sgd", ["w*a^2 + c", XOR, "--target", "b", "--lr", "0.05"]),  # the lecture's loop, on floats
    ("adam", ["w*a + v*b", XOR, "--target", "y", "--lr", "0.05", "--batch-size", "all"]),
]


@pytest.mark.parametrize("optimizer, args", RUNS)
def test_a_resumed_run_ends_where_the_straight_run_ends_to_the_bit(bp, optimizer, args, tmp_path):
    def train(epochs, *more):
        r = bp("train", *args, "--optimizer", optimizer, "--epochs", str(epochs), "--json", *more)
        assert r.exit_code == 0, r.stderr
        return r.stdout, json.loads(r.stdout)

    text, first = train(7)
    saved = tmp_path / "run.json"
    saved.write_text(text)
    _, rest = train(5, "--resume", str(saved))
    _, straight = train(12)
    assert rest["params"] == straight["params"]
    assert first["loss"] + rest["loss"] == straight["loss"]
    assert rest["optimizer_state"] == straight["optimizer_state"]
    assert rest["settings"]["start_epoch"] == 7 and straight["settings"]["start_epoch"] == 0
    if optimizer == "adam":
        assert rest["optimizer_state"]["step"] == straight["optimizer_state"]["step"]


def test_resume_reads_the_summary_line_of_jsonl_and_numbers_the_epochs_on(bp, tmp_path):
    r = bp("train", "linear", XOR, "--target", "y", "--epochs", "3", "--jsonl")
    saved = tmp_path / "run.jsonl"
    saved.write_text(r.stdout)
    r = bp("train", "linear", XOR, "--target", "y", "--epochs", "2", "--jsonl", "--resume", str(saved))
    assert r.exit_code == 0, r.stderr
    lines = [json.loads(line) for line in r.stdout.splitlines()]
    assert [line["epoch"] for line in lines[:-1]] == [3, 4]


def test_resume_with_another_optimizer_says_it_starts_afresh(bp, tmp_path):
    r = bp("train", "mlp", XOR, "--hidden", "2", "--optimizer", "adam", "--epochs", "2", "--json")
    saved = tmp_path / "run.json"
    saved.write_text(r.stdout)
    params = json.loads(r.stdout)["params"]
    r = bp("train", "mlp", XOR, "--hidden", "2", "--epochs", "1", "--resume", str(saved), "--json",
           "--optimizer", "sgd")
    assert r.exit_code == 0
    assert r.stderr == f"bp: note: {saved} was trained with adam; sgd starts afresh from its parameters\n"
    assert json.loads(r.stdout)["settings"]["init"] == params
    # without --optimizer the run's own goes on, with its state
    r = bp("train", "mlp", XOR, "--hidden", "2", "--epochs", "1", "--resume", str(saved), "--json")
    assert (r.exit_code, r.stderr) == (0, "")
    assert json.loads(r.stdout)["optimizer_state"]["step"] == 3


@pytest.mark.parametrize("content, message", [
    ('{"x": 1}', "not a bp train --json document (its schema is not 'bp.train/1')"),
    ('{"schema": "bp.train/1", "params": {}}', "the document has no params"),
    ('{"schema": "bp.train/1", "params": {"w": "big"}}', 'params.w is not a number: "big"'),
    ('{"schema": "bp.train/1", "params": {"w": [1, [2]]}}', "the array is ragged"),
    ('{"schema": "bp.train/1", "params": {"v": 1}}',
     "the run's parameters are not this model's: v is not a parameter of the model; it has no w; "
     "the model's parameters are w"),
    ('{"schema": "bp.train/1", "params": {"w": 1}, "epochs_run": -1}',
     "epochs_run must be a whole number >= 0, not -1"),
    ('{"schema": "bp.train/1", "params": {"w": 1}, "settings": {"optimizer": "adam"}, '
     '"optimizer_state": {"step": 1, "m": {"w": [1, 2]}, "v": {"w": 1}}}',
     "optimizer_state.m.w has shape (2,), the parameter ()"),
    ('{"schema": "bp.train/1", "params": {"w": 1}, "settings": {"optimizer": "adam"}, '
     '"optimizer_state": {"step": 1}}', "optimizer_state of adam must hold step, m, v"),
    ("{not json", "not valid JSON at line 1, column 2"),
])
def test_a_document_that_cannot_be_resumed_is_refused_saying_why(bp, tmp_path, content, message):
    saved = tmp_path / "run.json"
    saved.write_text(content)
    r = bp("train", "w*a", XOR, "--target", "y", "--resume", str(saved))
    assert r.exit_code == 2
    assert r.stdout == ""
    assert message in r.stderr and r.stderr.startswith("bp: data error: ")


def test_resume_reads_within_the_data_bound_and_refuses_init_of_the_same_parameter(bp, tmp_path):
    saved = tmp_path / "run.json"
    saved.write_text(json.dumps({"schema": "bp.train/1", "params": {"w": 1.0}, "pad": "x" * 5000}))
    r = bp("train", "w*a", XOR, "--target", "y", "--resume", str(saved), "--max-data", "2K")
    assert r.exit_code == 2 and "--max-data" in r.stderr
    r = bp("train", "w*a", XOR, "--target", "y", "--resume", str(saved), "--init", "w=2")
    assert r.exit_code == 2
    assert r.stderr == f"bp: usage error: --init w: --resume {saved} gives every parameter's start already\n"
    r = bp("train", "linear", XOR, "--target", "y", "--resume", str(tmp_path / "none.json"))
    assert r.exit_code == 2 and "none.json" in r.stderr


def test_the_library_takes_arrays_as_init_too():
    from bpcli import api

    columns = {"i1": [0.05], "i2": [0.10], "t1": [0.01], "t2": [0.99], "b1": [0.35], "b2": [0.60]}
    t = api.train(MAZUR_TENSORS, columns, target="t1", loss="yhat", features=["i1", "i2"], lr=0.5, epochs=1,
                  init={"W1": np.array([[0.15, 0.20], [0.25, 0.30]]), "W2": [[0.40, 0.45], [0.50, 0.55]]})
    assert to_his_digits(t.params["W2"][0][0], MAZUR_AFTER["w5"])
    assert to_his_digits(t.params["W1"][1][1], MAZUR_AFTER["w4"])
    with pytest.raises(api.UsageError, match="init W1"):
        api.train(MAZUR_TENSORS, columns, target="t1", loss="yhat", features=["i1", "i2"],
                  init={"W1": [[1, 2], [3]]})
