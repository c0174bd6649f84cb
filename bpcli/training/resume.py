"""Continuing a run: the parameters, the epoch reached and the optimizer's state of a
`bp train --json` document (or the summary line of --jsonl), checked, as a run's start.

A run resumed for M epochs from a run of N ends where a run of N + M epochs ends, to the bit:
the optimizer's state (momentum's velocity, Adam's step count and moments) travels in the
document, and the epochs go on being numbered (and, with --shuffle, ordered) from N.
"""

from __future__ import annotations

from dataclasses import dataclass

from bpcli.engine.values import json_scalar, normalise, tensor
from bpcli.errors import DataError
from bpcli.training.optim import OPTIMIZERS

SCHEMA = "bp.train/1"


@dataclass
class Resume:
    params: dict  # name -> float or float64 array
    next_epoch: int  # the first epoch of the resumed run
    optimizer: str  # the optimizer that made the state
    optimizer_state: dict | None  # None: the document has none (then the optimizer starts afresh)


def from_document(doc, source: str, params: list[str]) -> Resume:
    """The start a bp train document gives a model of these parameters; a document that is not
    one, or whose parameters are not the model's, is a DataError naming what is wrong."""
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
        raise DataError(f"{source}: not a bp train --json document (its schema is not {SCHEMA!r})",
                        hint="write one with bp train … --json > run.json")
    given = doc.get("params")
    if not isinstance(given, dict) or not given:
        raise DataError(f"{source}: the document has no params")
    values = {normalise(str(name)): _value(v, f"{source}: params.{name}") for name, v in given.items()}
    unknown = [n for n in values if n not in params]
    missing = [n for n in params if n not in values]
    if unknown or missing:
        said = ([f"{', '.join(unknown)} {'is' if len(unknown) == 1 else 'are'} not a parameter of the model"]
                if unknown else []) + ([f"it has no {', '.join(missing)}"] if missing else [])
        raise DataError(f"{source}: the run's parameters are not this model's: {'; '.join(said)}; "
                        f"the model's parameters are {', '.join(params)}")
    settings = doc.get("settings") if isinstance(doc.get("settings"), dict) else {}
    optimizer = settings.get("optimizer", "sgd")
    if optimizer not in OPTIMIZERS:
        raise DataError(f"{source}: settings.optimizer is {optimizer!r}, not one of {', '.join(OPTIMIZERS)}")
    start, run = settings.get("start_epoch", 0), doc.get("epochs_run", 0)
    for what, n in (("settings.start_epoch", start), ("epochs_run", run)):
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise DataError(f"{source}: {what} must be a whole number >= 0, not {n!r}")
    state = doc.get("optimizer_state")
    return Resume(values, start + run, optimizer,
                  None if state is None else _state(state, optimizer, values, source))


def _value(v, what: str):
    return tensor(v, what, DataError) if isinstance(v, list) else json_scalar(v, what)


def _state(state, optimizer: str, params: dict, source: str) -> dict:
    """The optimizer's state as optim's load() takes it, every number checked and each shaped
    as its parameter (`params`, the document's)."""
    import numpy as np  # deferred: loads numpy

    keys = {"sgd": (), "momentum": ("velocity",), "adam": ("step", "m", "v")}[optimizer]
    if not isinstance(state, dict) or sorted(state) != sorted(keys):
        raise DataError(f"{source}: optimizer_state of {optimizer} must hold "
                        f"{', '.join(keys) if keys else 'nothing'}")
    out = {}
    for key in keys:
        if key == "step":
            step = state[key]
            if isinstance(step, bool) or not isinstance(step, int) or step < 0:
                raise DataError(f"{source}: optimizer_state.step must be a whole number >= 0, not {step!r}")
            out[key] = step
            continue
        part = state[key]
        if not isinstance(part, dict) or any(str(p) not in params for p in part):
            raise DataError(f"{source}: optimizer_state.{key} must map the model's parameters to values")
        out[key] = {normalise(str(p)): _value(v, f"{source}: optimizer_state.{key}.{p}") for p, v in part.items()}
        for p, v in out[key].items():
            if np.shape(v) != np.shape(params[p]):
                raise DataError(f"{source}: optimizer_state.{key}.{p} has shape {np.shape(v)}, "
                                f"the parameter {np.shape(params[p])}")
    return out
