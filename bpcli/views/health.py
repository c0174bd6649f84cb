"""bp train --health's faces: the run's health as JSON, as tables, and as the series the
--report page plots (the figures themselves are training/health.py's)."""

from __future__ import annotations

import math

from bpcli.training.health import THRESHOLDS
from bpcli.views.numbers import show_number
from bpcli.views.tables import add_row, table

SHOWN_LAYERS = 4  # activation columns of the table (the JSON has them all)
SHOWN_PARAMS = 5  # update:data columns of the table
REPORT_EPOCHS = 300  # epochs the report plots, sampled evenly


def health_document(run) -> dict:
    """Every epoch's figures, the thresholds, and each warning once (at its first epoch)."""
    return {"thresholds": THRESHOLDS, "epochs": [{"epoch": e.epoch, **e.health} for e in run.epochs],
            "warnings": run.health.warnings(len(run.epochs))}


def warnings(run) -> list[str]:
    """The run's warnings in words, each once."""
    return [w["message"] for w in run.health.warnings(len(run.epochs))]


def _ratio(v) -> str:
    return "–" if v is None else f"{v:.3g}"


def _share(h: dict) -> str:
    """An activation's figure: 12.5% saturated, 40% dead."""
    return f"{h['dead']:.1%} dead" if h["kind"] == "relu" else f"{h['saturated']:.1%} sat."


def health_tables(run, sample) -> list:
    """The last epoch per parameter; the activations and update:data over sampled epochs."""
    if not run.epochs:
        return []
    last = run.epochs[-1]
    params = table(f"Health by parameter (epoch {last.epoch}, the last)", "parameter", "‖grad‖",
                   "grad:data", "log10 update:data", numeric_columns=("‖grad‖", "grad:data", "log10 update:data"))
    for p, h in last.health["params"].items():
        grad = "–" if h["grad_norm"] is None else show_number(h["grad_norm"])
        add_row(params, p, grad, _ratio(h["grad_data"]), _ratio(h["update_data"]))
    out = [params]
    epochs = sample(run.epochs)
    names = list(last.health["params"])[:SHOWN_PARAMS]
    ud = table("log10 update:data (-3 is healthy)", "epoch", *names,
               numeric_columns=("epoch", *names))
    for e in epochs:
        add_row(ud, str(e.epoch), *(_ratio(e.health["params"][p]["update_data"]) for p in names))
    out.append(ud)
    layers = list(last.health["activations"])[:SHOWN_LAYERS]
    if layers:
        acts = table("Activations by epoch", "epoch", *layers,
                     numeric_columns=("epoch", *layers))
        for e in epochs:
            add_row(acts, str(e.epoch), *(_share(e.health["activations"][n]) for n in layers))
        out.append(acts)
    return out


def report_health(run, evenly) -> dict | None:
    """The series the report plots (sampled epochs): grad:data and update:data per parameter
    (log10), and each activation's saturated or dead share; the warnings."""
    if run.health is None or not run.epochs:
        return None
    picked = [run.epochs[i] for i in evenly(len(run.epochs), REPORT_EPOCHS)]
    names = list(run.epochs[-1].health["params"])

    def log(v):
        return math.log10(v) if v else None

    return {
        "epochs": [e.epoch for e in picked],
        "grad_data": {p: [log(e.health["params"][p]["grad_data"]) for e in picked] for p in names},
        "update_data": {p: [e.health["params"][p]["update_data"] for e in picked] for p in names},
        "activations": {n: {"kind": h["kind"], "figure": "dead" if h["kind"] == "relu" else "saturated",
                            "values": [e.health["activations"][n].get("dead", e.health["activations"][n].get(
                                "saturated")) for e in picked]}
                        for n, h in run.epochs[-1].health["activations"].items()},
        "warnings": warnings(run),
    }
