"""Training health (bp train --health): what makemore part 3 watches while a network trains.

Per parameter and epoch, from the epoch's last step (the gradient g of that step, the
parameter p after its update, the update u = p_after − p_before):

    grad_norm    ‖g‖, the square root of the sum of g's squared entries
    grad_data    std(g) / std(p)
    update_data  log10(std(u) / std(p)); with SGD u = −lr·g, makemore's
                 ((lr*p.grad).std() / p.data.std()).log10()

std is over the parameter's entries (the ratio is the same with or without Bessel's
correction); for a parameter of one entry, which has no spread, |·| stands in for std. A
ratio whose denominator is 0 (or an update of 0, whose log is −∞) is None.

Per activation (each tanh, relu and sigmoid node of the model, named by its label, as h1),
over every row of every step of the epoch:

    tanh      saturated: the share of outputs with |tanh| > 0.97
    sigmoid   saturated: the share of outputs below 0.03 or above 0.97
    relu      dead: the share of its units (entries for one row) whose output is 0 for
              every row of the epoch

A warning in words names the parameter or layer and the epoch when: the gradient vanishes
(grad_data below VANISHING, or the gradient is 0 everywhere), explodes (grad_data above
EXPLODING, or not finite), or a layer is mostly (more than MOSTLY) saturated or dead (not the
model's output ŷ: a confident classifier's sigmoid saturates by design).
"""

from __future__ import annotations

import math

SATURATION = 0.97  # |tanh| above this is saturated
SIGMOID_LOW, SIGMOID_HIGH = 0.03, 0.97  # sigmoid below or above these is saturated
VANISHING = 1e-5  # grad:data below this: the gradient vanishes
EXPLODING = 1e3  # grad:data above this: the gradient explodes
MOSTLY = 0.5  # a layer more than half saturated (or dead) is warned about
ACTIVATIONS = ("tanh", "relu", "sigmoid")
OUTPUT = "yhat"  # the model's prediction: its figures are kept, but it is not warned about
THRESHOLDS = {"tanh_saturated_above": SATURATION, "sigmoid_saturated_below": SIGMOID_LOW,
              "sigmoid_saturated_above": SIGMOID_HIGH, "vanishing_grad_data_below": VANISHING,
              "exploding_grad_data_above": EXPLODING, "mostly": MOSTLY}


def layers(formula, data: tuple) -> list[tuple[int, str, str, bool]]:
    """(node, name, kind, reads data) for each activation node of the formula, in tape order.
    A node reads data when a data input lies below it (then a batch step gives it a row axis)."""
    reads = [False] * len(formula.kinds)
    data_nodes = {formula.inputs[n] for n in data if n in formula.inputs}
    for i, args in enumerate(formula.args):  # tape order is topological: operands come first
        reads[i] = i in data_nodes or any(reads[a] for a in args)
    out, taken = [], set()
    for i, kind in enumerate(formula.kinds):
        if kind in ACTIVATIONS:
            name = next(iter(formula.labels.get(i) or []), None) or f"{kind} at node {i}"
            name = name if name not in taken else f"{name} (node {i})"
            taken.add(name)
            out.append((i, name, kind, reads[i]))
    return out


class Recorder:
    """Collects an epoch's figures step by step (`activations`, `update`) and hands them over
    with `epoch`."""

    def __init__(self, formula, data: tuple, np, logit: int | None = None):
        self.np = np
        self.layers = layers(formula, data)
        # A sigmoid head trained through its logit z (bce's stable form) has no sigmoid node in the
        # training graph: its output is watched at z, as sigmoid(z).
        self.logit = logit
        if logit is not None:
            self.layers.append((logit, OUTPUT, "sigmoid", True))
        self.watch = [i for i, *_ in self.layers]  # the nodes whose values a step keeps
        self.seen: dict = {}  # per layer: [saturated entries, entries] or the units ever active
        self.last = None
        self.warned: dict = {}  # (subject, kind) -> the warning, with how many epochs it held

    def activations(self, values, batched: bool) -> None:
        """A step's (or a chunk's) activation values; `batched`: data-reading nodes carry a row axis."""
        np = self.np
        for i, name, kind, reads in self.layers:
            a = np.asarray(values[i], dtype=np.float64)
            if i == self.logit:
                a = 0.5 * (1.0 + np.tanh(0.5 * a))  # sigmoid(z), without exp's overflow warnings
            if kind == "relu":
                active = (a != 0).any(axis=0) if batched and reads else (a != 0)
                self.seen[name] = active if name not in self.seen else self.seen[name] | active
                continue
            if kind == "tanh":
                hit = int(np.count_nonzero(np.abs(a) > SATURATION))
            else:
                hit = int(np.count_nonzero((a < SIGMOID_LOW) | (a > SIGMOID_HIGH)))
            counts = self.seen.setdefault(name, [0, 0])
            counts[0] += hit
            counts[1] += a.size

    def update(self, before: dict, grads: dict, after: dict) -> None:
        """A step's gradient and the parameters before and after its update (the last one counts)."""
        self.last = (before, grads, after)

    def epoch(self, epoch: int) -> dict:
        """The epoch's figures, as JSON-ready numbers, with its warnings; the counts start anew."""
        params = {p: self._param(p) for p in (self.last[1] if self.last else {})}
        acts = {}
        for _, name, kind, _ in self.layers:
            seen = self.seen.get(name)
            if seen is None:
                continue
            if kind == "relu":
                acts[name] = {"kind": kind, "dead": float(1.0 - self.np.mean(seen))}
            else:
                acts[name] = {"kind": kind, "saturated": seen[0] / seen[1] if seen[1] else 0.0}
        self.seen, self.last = {}, None
        record = {"params": params, "activations": acts}
        record["warnings"] = self._warnings(epoch, record)
        return record

    def _param(self, p: str) -> dict:
        np = self.np
        before, grads, after = self.last
        g = np.asarray(grads[p], dtype=np.float64)
        new = np.asarray(after[p], dtype=np.float64)
        u = new - np.asarray(before[p], dtype=np.float64)
        norm = float(np.sqrt(np.sum(g * g)))
        data = _spread(np, new)
        grad_data = _ratio(_spread(np, g), data)
        ud = _ratio(_spread(np, u), data)
        return {"grad_norm": norm if math.isfinite(norm) else None, "grad_data": grad_data,
                "update_data": math.log10(ud) if ud else None}

    def _warnings(self, epoch: int, record: dict) -> list[str]:
        """This epoch's warnings in words; each (subject, kind) is also kept for the run's
        summary once, at its first epoch, with how many epochs it held."""
        found = []
        for p, h in record["params"].items():
            ratio, norm = h["grad_data"], h["grad_norm"]
            if norm == 0.0 or (ratio is not None and ratio < VANISHING):
                shown = "0 everywhere" if norm == 0.0 else f"grad:data = {ratio:.3g}, below {VANISHING:g}"
                found.append(("vanishing", p, f"the gradient of {p} vanishes ({shown})"))
            elif norm is None or (ratio is not None and ratio > EXPLODING):
                shown = "not finite" if norm is None else f"grad:data = {ratio:.3g}, above {EXPLODING:g}"
                found.append(("exploding", p, f"the gradient of {p} explodes ({shown})"))
        for name, h in record["activations"].items():
            if name == OUTPUT:
                continue  # a confident classifier's output saturates by design: recorded, not warned about
            if h.get("saturated", 0.0) > MOSTLY:
                bounds = (f"|tanh| > {SATURATION:g}" if h["kind"] == "tanh"
                          else f"sigmoid < {SIGMOID_LOW:g} or > {SIGMOID_HIGH:g}")
                found.append(("saturated", name, f"layer {name} is mostly saturated: {h['saturated']:.1%} of "
                                                 f"its outputs have {bounds}, so little gradient passes"))
            if h.get("dead", 0.0) > MOSTLY:
                found.append(("dead", name, f"layer {name} is mostly dead: {h['dead']:.1%} of its relu units "
                                            "gave 0 for every row of the epoch, so they pass no gradient"))
        for kind, subject, text in found:
            key = (subject, kind)
            if key in self.warned:
                self.warned[key]["epochs"] += 1
            else:
                self.warned[key] = {"epoch": epoch, "subject": subject, "kind": kind,
                                    "message": f"epoch {epoch}: {text}", "epochs": 1}
        return [f"epoch {epoch}: {text}" for _, _, text in found]

    def warnings(self, epochs_run: int) -> list[dict]:
        """Every warning of the run, once, at the first epoch it held, and how often it held."""
        out = []
        for w in sorted(self.warned.values(), key=lambda w: (w["epoch"], w["subject"], w["kind"])):
            more = f" (so in {w['epochs']} of the {epochs_run} epochs)" if epochs_run > 1 else ""
            out.append({**w, "message": w["message"] + more})
        return out


def _spread(np, a) -> float:
    """std over the entries; for one entry, its magnitude."""
    return float(np.abs(a).reshape(())) if a.size == 1 else float(np.std(a))


def _ratio(top: float, bottom: float) -> float | None:
    if bottom == 0.0 or not math.isfinite(bottom) or not math.isfinite(top):
        return None
    return top / bottom
