"""Update rules for training: the lecture's SGD, SGD with momentum, and Adam.

Each optimizer takes the parameters and their gradients (floats or numpy arrays) and
returns the new parameters, as torch.optim's SGD and Adam compute them with their defaults.
Each also gives its state (`state()`: momentum's velocity, Adam's step count and moments) and
takes it back (`load`), so a run resumed from bp train --json continues as if never stopped.
"""

from __future__ import annotations

OPTIMIZERS = {
    "sgd": "p -= lr·g (the lecture's update)",
    "momentum": "v = 0.9·v + g; p -= lr·v (torch.optim.SGD with momentum=0.9)",
    "adam": "Adam with betas (0.9, 0.999) and eps 1e-8 (torch.optim.Adam's defaults)",
}


class SGD:
    """p ← p − lr·g."""

    def __init__(self, lr):
        self.lr = lr

    def step(self, params: dict, grads: dict) -> dict:
        return {p: v - self.lr * grads[p] for p, v in params.items()}

    def state(self) -> dict:
        return {}

    def load(self, state: dict, cast) -> None:
        pass


class Momentum:
    """v ← μ·v + g, p ← p − lr·v (PyTorch's form: the first v is g itself)."""

    def __init__(self, lr, mu=0.9):
        self.lr, self.mu = lr, mu
        self.velocity: dict = {}

    def step(self, params: dict, grads: dict) -> dict:
        for p, g in grads.items():
            self.velocity[p] = g if p not in self.velocity else self.mu * self.velocity[p] + g
        return {p: v - self.lr * self.velocity[p] for p, v in params.items()}

    def state(self) -> dict:
        return {"velocity": dict(self.velocity)}

    def load(self, state: dict, cast) -> None:
        """`state` as state() gave it, each value through `cast` (the training dtype)."""
        self.velocity = {p: cast(v) for p, v in state["velocity"].items()}


class Adam:
    """Adam (Kingma and Ba), bias-corrected, as torch.optim.Adam computes it."""

    def __init__(self, lr, beta1=0.9, beta2=0.999, eps=1e-8):
        self.lr, self.beta1, self.beta2, self.eps = lr, beta1, beta2, eps
        self.t = 0
        self.m: dict = {}
        self.v: dict = {}

    def step(self, params: dict, grads: dict) -> dict:
        self.t += 1
        b1, b2 = self.beta1, self.beta2
        correction1 = 1 - b1 ** self.t
        root_correction2 = (1 - b2 ** self.t) ** 0.5
        new = {}
        for p, value in params.items():
            g = grads[p]
            self.m[p] = (1 - b1) * g + (b1 * self.m[p] if p in self.m else 0.0)
            self.v[p] = (1 - b2) * g * g + (b2 * self.v[p] if p in self.v else 0.0)
            denominator = (self.v[p] ** 0.5) / root_correction2 + self.eps
            new[p] = value - (self.lr / correction1) * self.m[p] / denominator
        return new

    def state(self) -> dict:
        return {"step": self.t, "m": dict(self.m), "v": dict(self.v)}

    def load(self, state: dict, cast) -> None:
        """`state` as state() gave it, each value through `cast` (the training dtype)."""
        self.t = state["step"]
        self.m = {p: cast(v) for p, v in state["m"].items()}
        self.v = {p: cast(v) for p, v in state["v"].items()}


def make(name: str, lr):
    """The optimizer called `name` (a key of OPTIMIZERS) at learning rate `lr`."""
    return {"sgd": SGD, "momentum": Momentum, "adam": Adam}[name](lr)
