"""bce on a model that ends in a sigmoid is computed on its logit z, as PyTorch's
BCEWithLogitsLoss: the same values and gradients in float64, where the clamped form of
BCELoss saturates too (|z| past 37, where 1 - sigmoid(z) rounds to 0)."""

from __future__ import annotations

import math

import pytest

from bpcli.training.loop import LOGIT_BCE, LOSSES, build_model

COLUMNS = ["x", "y"]
# z = w*x + b, from the kink at 0 to far past where the sigmoid saturates
POINTS = [(w, b, x) for w, b in ((2.0, -1.0), (-3.0, 0.5), (40.0, 1.0), (-400.0, 2.0), (1.0, 0.0))
          for x in (-2.5, 0.0, 1e-3, 1.0, 2.5)]


def logistic(loss="bce"):
    return build_model("sigmoid(w*x + b)", COLUMNS, "y", "test", loss)


@pytest.mark.parametrize("y", [0.0, 1.0, 0.25])
@pytest.mark.parametrize("w, b, x", POINTS)
def test_bce_values_and_gradients_are_torchs_binary_cross_entropy_with_logits(w, b, x, y):
    torch = pytest.importorskip("torch")
    model = logistic()
    assert model.loss_text == LOGIT_BCE
    result = model.loss.grad({"w": w, "b": b, "x": x, "y": y})
    tw = torch.tensor(w, dtype=torch.float64, requires_grad=True)
    tb = torch.tensor(b, dtype=torch.float64, requires_grad=True)
    z = tw * x + tb
    expected = torch.nn.functional.binary_cross_entropy_with_logits(z, torch.tensor(y, dtype=torch.float64))
    expected.backward()
    # The value as torch computes it, to the last bits (a loss of 1e-18 too). The gradient is
    # σ(z) - y; torch rounds σ(z) before subtracting y, bp computes (1 - y) - σ(-z): the two
    # agree to a rounding of 1 (2.3e-16) where either side cancels, and relatively elsewhere.
    assert result.value == pytest.approx(expected.item(), rel=4e-16, abs=0)
    assert result.gradient["w"] == pytest.approx(tw.grad.item(), rel=1e-15, abs=2.3e-16 * abs(x))
    assert result.gradient["b"] == pytest.approx(tb.grad.item(), rel=1e-15, abs=2.3e-16)


def test_where_the_clamped_form_saturates_the_logits_form_does_not():
    z = 50.0  # sigmoid(50) rounds to 1: -log(1 - ŷ) is log(0), clamped at 100; the truth is 50
    clamped = build_model("sigmoid(w*x)", COLUMNS, "y", "test", LOSSES["bce"]).loss
    assert clamped.grad({"w": z, "x": 1.0, "y": 0.0}).value == 100.0
    stable = logistic().loss.grad({"w": z, "b": 0.0, "x": 1.0, "y": 0.0})
    assert stable.value == 50.0  # (1 - y)·z + log(1 + e^-50), which rounds to 50
    assert stable.gradient["b"] == 1.0  # σ(z) - y, where the clamped form sends 0
    right = logistic().loss.grad({"w": z, "b": 0.0, "x": 1.0, "y": 1.0}).value  # a loss of 2e-22, kept
    assert right == math.log1p(math.exp(-50.0)) and right > 0


def test_bce_on_a_model_without_a_final_sigmoid_keeps_the_clamped_form():
    model = build_model("w*x + b", COLUMNS, "y", "test", "bce")
    assert model.loss_text == LOSSES["bce"] and model.logit is None


def test_a_classifier_is_still_judged_by_yhat_at_one_half(bp, tmp_path):
    data = tmp_path / "d.csv"
    data.write_text("x,y\n-2,0\n-1,0\n1,1\n2,1\n")
    r = bp("train", "logistic", str(data), "--epochs", "20", "--lr", "0.5", "--json")
    assert r.exit_code == 0
    import json

    doc = json.loads(r.stdout)
    assert doc["final_accuracy"] == 1.0
    assert doc["loss_formula"] == LOGIT_BCE
    r = bp("train", "logistic", str(data), "--epochs", "2")
    assert r.exit_code == 0
    assert " ".join(r.stdout.split("note: ")[-1].split()) == (
        "the loss is bce on the logit z of the model's last sigmoid: (1 - y)*z + softplus(-z), as "
        "torch.nn.BCEWithLogitsLoss (stable for any z)")
