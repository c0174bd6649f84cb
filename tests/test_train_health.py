"""bp train --health: each parameter's gradient norm, grad:data and update:data ratios and
each activation's saturated or dead share, checked against a PyTorch loop computing the same
figures on the same MLP, data and starting weights; the warnings in words; the faces."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from bpcli.cli import app
from bpcli.data.files import read_csv
from bpcli.training import health
from bpcli.training.loop import NetOptions, Settings, Trainer, build_model, choose_target

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
MOONS = str(EXAMPLES / "moons.csv")


def trainer(path: str, settings: Settings, net: NetOptions) -> Trainer:
    table = read_csv(path)
    target = choose_target(table.columns, None, table.source)
    spec = build_model("mlp", table.columns, target, table.source, None, net, table.data[target])
    return Trainer(spec, table, settings)


def spread(t):
    """std over the entries (Bessel or not: the ratios are the same); one entry: its magnitude."""
    return t.abs().reshape(()) if t.numel() == 1 else t.std()


def torch_health(t: Trainer, activation: str, epochs: int, batch: int, optimizer):
    """The same MLP in PyTorch, from bp's starting weights, and the figures of each epoch."""
    p = {k: torch.tensor(np.array(v), dtype=torch.float64, requires_grad=True) for k, v in t.params.items()}
    opt = optimizer(list(p.values()))
    x = torch.tensor(t.columns["features"], dtype=torch.float64)
    y = torch.tensor(t.columns[t.model.target], dtype=torch.float64)
    act = {"tanh": torch.tanh, "relu": torch.relu}[activation]
    out = []
    for _ in range(epochs):
        seen = {"h1": [], "h2": [], "yhat": []}
        for s in range(0, len(x), batch):
            xb, yb = x[s:s + batch], y[s:s + batch]
            h1 = act(xb @ p["W1"].T + p["b1"])
            h2 = act(h1 @ p["W2"].T + p["b2"])
            yhat = torch.sigmoid(h2 @ p["W3"] + p["b3"])
            loss = torch.nn.functional.binary_cross_entropy(yhat, yb)
            opt.zero_grad()
            loss.backward()
            before = {k: v.detach().clone() for k, v in p.items()}
            opt.step()
            for k, v in (("h1", h1), ("h2", h2), ("yhat", yhat)):
                seen[k].append(v.detach())
        figures = {}
        for k, v in p.items():
            g, data, u = v.grad, v.detach(), v.detach() - before[k]
            ud = (spread(u) / spread(data)).log10().item()
            figures[k] = {"grad_norm": g.norm().item(), "grad_data": (spread(g) / spread(data)).item(),
                          "update_data": ud if math.isfinite(ud) else None}  # bp: None for log10(0)
        acts = {}
        for k in ("h1", "h2"):
            a = torch.cat(seen[k])
            if activation == "tanh":
                acts[k] = {"kind": "tanh", "saturated": (a.abs() > 0.97).double().mean().item()}
            else:
                acts[k] = {"kind": "relu", "dead": 1 - (a != 0).any(dim=0).double().mean().item()}
        s = torch.cat(seen["yhat"])
        acts["yhat"] = {"kind": "sigmoid", "saturated": ((s < 0.03) | (s > 0.97)).double().mean().item()}
        out.append((figures, acts))
    return out


def assert_same(bp_epochs, torch_epochs):
    assert len(bp_epochs) == len(torch_epochs)
    for e, (figures, acts) in zip(bp_epochs, torch_epochs):
        assert set(e.health["params"]) == set(figures)
        for k, want in figures.items():
            for name, v in want.items():
                assert e.health["params"][k][name] == pytest.approx(v, rel=1e-9, abs=1e-12), (e.epoch, k, name)
        assert e.health["activations"].keys() == acts.keys()
        for k, want in acts.items():
            got = dict(e.health["activations"][k])
            assert got.pop("kind") == want.pop("kind")
            assert got == pytest.approx(want, rel=1e-12, abs=1e-12), (e.epoch, k)


def test_a_full_batch_tanh_mlp_has_pytorchs_ratios_and_saturation():
    t = trainer(MOONS, Settings(lr=0.5, epochs=6, batch_size=None, health=True), NetOptions([8, 6], "tanh"))
    want = torch_health(t, "tanh", 6, t.rows, lambda ps: torch.optim.SGD(ps, lr=0.5))
    run = t.run()
    assert_same(run.epochs, want)
    # SGD: the update is −lr·g, so update:data is grad:data shifted by log10(lr), as makemore writes it
    h = run.epochs[0].health["params"]["W1"]
    assert h["update_data"] == pytest.approx(math.log10(0.5 * h["grad_data"]), rel=1e-12)


def test_a_minibatch_relu_mlp_with_momentum_has_pytorchs_figures_and_dead_units_over_the_epoch():
    settings = Settings(lr=0.3, epochs=4, batch_size=64, optimizer="momentum", seed=3, health=True)
    t = trainer(MOONS, settings, NetOptions([12, 8], "relu"))
    t.params["b2"] = t.params["b2"] - 0.15  # some units of h2 die: the dead share is not 0
    want = torch_health(t, "relu", 4, 64, lambda ps: torch.optim.SGD(ps, lr=0.3, momentum=0.9))
    run = t.run()
    assert_same(run.epochs, want)
    assert any(e.health["activations"]["h2"]["dead"] > 0 for e in run.epochs)


@pytest.mark.parametrize("batch", [1, None])
def test_a_scalar_model_row_by_row_and_full_batch_has_pytorchs_figures(tmp_path, batch):
    """The lecture's per-row loop (floats) and a batch of numpy columns: the same figures as
    PyTorch; a parameter of one entry has |·| for std."""
    path = tmp_path / "d.csv"
    x = [0.5, 1.5, -2.0, 3.0, 0.25]
    y = [0.4, 0.9, -0.99, 1.0, 0.1]
    path.write_text("x,y\n" + "".join(f"{a!r},{b!r}\n" for a, b in zip(x, y)))
    table = read_csv(str(path))
    spec = build_model("tanh(w*x + b)", table.columns, "y", table.source)
    run = Trainer(spec, table, Settings(lr=0.2, epochs=3, batch_size=batch, init={"w": 2.0, "b": 0.5},
                                        health=True)).run()
    w = torch.tensor(2.0, dtype=torch.float64, requires_grad=True)
    b = torch.tensor(0.5, dtype=torch.float64, requires_grad=True)
    X, Y = torch.tensor(x, dtype=torch.float64), torch.tensor(y, dtype=torch.float64)
    size = batch or len(x)
    for e in run.epochs:
        outs = []
        for s in range(0, len(x), size):
            h = torch.tanh(w * X[s:s + size] + b)
            loss = ((h - Y[s:s + size]) ** 2).mean()
            w.grad = b.grad = None
            loss.backward()
            before = {"w": w.item(), "b": b.item()}
            with torch.no_grad():
                w -= 0.2 * w.grad
                b -= 0.2 * b.grad
            outs.append(h.detach())
        for name, p in (("w", w), ("b", b)):
            got = e.health["params"][name]
            assert got["grad_norm"] == pytest.approx(abs(p.grad.item()), rel=1e-12)
            assert got["grad_data"] == pytest.approx(abs(p.grad.item()) / abs(p.item()), rel=1e-12)
            assert got["update_data"] == pytest.approx(math.log10(abs(p.item() - before[name]) / abs(p.item())),
                                                       rel=1e-9)
        h = torch.cat(outs)
        assert e.health["activations"] == {"yhat": {"kind": "tanh",
                                                              "saturated": (h.abs() > 0.97).double().mean().item()}}
    assert e.health["activations"]["yhat"]["saturated"] > 0


def test_no_warning_for_a_healthy_run_and_each_kind_worded_with_layer_and_epoch():
    healthy = trainer(MOONS, Settings(lr=0.1, epochs=3, batch_size=None, health=True), NetOptions([8], "tanh"))
    assert healthy.run().health.warnings(3) == []
    dead = trainer(MOONS, Settings(lr=0.1, epochs=3, batch_size=None, health=True, init={"b1": -10.0}),
                   NetOptions([8], "relu"))
    run = dead.run()
    words = [w["message"] for w in run.health.warnings(3)]
    assert words == [
        "epoch 0: the gradient of W1 vanishes (0 everywhere) (so in 3 of the 3 epochs)",
        "epoch 0: the gradient of W2 vanishes (0 everywhere) (so in 3 of the 3 epochs)",
        "epoch 0: the gradient of b1 vanishes (0 everywhere) (so in 3 of the 3 epochs)",
        # the output's bias too: with every unit dead, ŷ = sigmoid(0) = 1/2 and the moons are half 1s
        "epoch 0: the gradient of b2 vanishes (0 everywhere) (so in 3 of the 3 epochs)",
        "epoch 0: layer h1 is mostly dead: 100.0% of its relu units gave 0 for every row of the epoch, "
        "so they pass no gradient (so in 3 of the 3 epochs)",
    ]
    assert run.epochs[1].health["warnings"][0] == "epoch 1: the gradient of W1 vanishes (0 everywhere)"
    exploding = health.Recorder.__new__(health.Recorder)
    exploding.warned = {}
    found = exploding._warnings(4, {"params": {"W": {"grad_norm": 5e4, "grad_data": 2e3, "update_data": 1.0}},
                                    "activations": {}})
    assert found == ["epoch 4: the gradient of W explodes (grad:data = 2e+03, above 1000)"]


def run_cli(*args):
    return CliRunner().invoke(app, list(args))


SATURATING = ("train", "mlp", MOONS, "--hidden", "8", "--lr", "0.5", "--epochs", "4", "--batch-size", "all",
              "--health", "--init", "W1=3")
WARNING = ("bp: warning: epoch 0: layer h1 is mostly saturated: 56.6% of its outputs have |tanh| > 0.97, "
           "so little gradient passes (so in 4 of the 4 epochs)\n")


def test_cli_tables_show_each_parameters_health_and_the_layers_by_epoch_and_warn_on_stderr():
    result = run_cli(*SATURATING)
    assert result.exit_code == 0, result.stderr
    assert result.stderr == WARNING
    out = result.stdout
    assert "Health by parameter (epoch 3, the last)" in out
    assert "log10 update:data (-3 is healthy)" in out
    assert "Activations by epoch" in out
    assert all(len(line) <= 80 for line in out.splitlines())
    row = next(line for line in out.splitlines() if line.startswith("│     3 │") and "sat." in line)
    assert row.split("│")[2].strip() == "57.8% sat."


def test_cli_json_and_jsonl_carry_each_epochs_health_and_the_warnings_once():
    doc = json.loads(run_cli(*SATURATING, "--json").stdout)
    h = doc["health"]
    assert h["thresholds"]["tanh_saturated_above"] == 0.97 and len(h["epochs"]) == 4
    assert h["epochs"][0]["activations"]["h1"] == {"kind": "tanh", "saturated": 0.56625}
    assert set(h["epochs"][0]["params"]["W1"]) == {"grad_norm", "grad_data", "update_data"}
    assert [(w["epoch"], w["subject"], w["kind"], w["epochs"]) for w in h["warnings"]] == [(0, "h1", "saturated", 4)]
    result = run_cli(*SATURATING, "--jsonl")
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["type"] for line in lines] == ["epoch"] * 4 + ["summary"]
    assert lines[2]["health"]["warnings"] == ["epoch 2: layer h1 is mostly saturated: 56.4% of its outputs have "
                                              "|tanh| > 0.97, so little gradient passes"]
    assert lines[2]["health"] | {"epoch": 2} == h["epochs"][2] and "epoch" not in lines[2]["health"]
    assert result.stderr == WARNING
    plain = json.loads(run_cli(*SATURATING[:-3], "--json").stdout)  # without --health: nothing about it
    assert "health" not in plain


def test_the_report_plots_update_and_grad_ratios_and_activations_over_epochs(tmp_path, page):
    out = tmp_path / "report.html"
    result = run_cli(*SATURATING, "--report", str(out), "--json")
    assert result.exit_code == 0, result.stderr
    page.goto(out.as_uri())
    page.wait_for_selector("body[data-ready='1']")
    for card in ("#r-update-card", "#r-grad-card", "#r-act-card", "#r-health-warnings"):
        assert page.is_visible(card)
    assert page.locator("#r-update polyline.series").count() == 4  # W1, b1, W2, b2
    assert page.locator("#r-update line.reference").count() == 1  # makemore's -3
    assert page.locator("#r-act polyline.series").count() == 2  # h1, yhat
    assert page.inner_text("#r-act-legend").split() == ["h1", "(tanh,", "saturated)", "yhat", "(sigmoid,",
                                                       "saturated)"]
    assert page.inner_text("#r-warnings") == WARNING.removeprefix("bp: warning: ").strip()
    plain = tmp_path / "plain.html"
    assert run_cli(*SATURATING[:-3], "--report", str(plain)).exit_code == 0
    page.goto(plain.as_uri())
    page.wait_for_selector("body[data-ready='1']")
    assert page.is_hidden("#r-update-card") and page.is_hidden("#r-health-warnings")


def test_a_confident_classifiers_saturated_output_is_recorded_but_not_warned_about():
    t = trainer(MOONS, Settings(lr=0.5, epochs=30, batch_size=None, health=True, init={"b2": 6.0}),
                NetOptions([4], "tanh"))
    run = t.run()
    assert run.epochs[0].health["activations"]["yhat"]["saturated"] == 1.0  # sigmoid(≈6) > 0.97 everywhere
    assert not any("yhat" in w["subject"] for w in run.health.warnings(30))
