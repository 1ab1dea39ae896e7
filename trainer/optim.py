"""Update rules over parameter dicts, in PyTorch's forms (torch.optim.SGD and Adam), each
one record: its settings, its step, its LaTeX. Standard library and NumPy only, so train.py
can use it; the update rule is written here once.

Plain gradient descent (sgd, no weight decay) is theta <- theta - eta g exactly, bit for bit
what the generated loops compute; the other rules run on the NumPy loop.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

Params = dict[str, np.ndarray]


@dataclass(frozen=True)
class Optimizer:
    """One update rule with its settings; `state` is what it carries between steps."""

    name: str
    lr: float
    momentum: float = 0.0
    nesterov: bool = False
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    weight_decay: float = 0.0
    state: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def is_plain(self) -> bool:
        """theta <- theta - eta g: what the compiled and plain-Python loops compute."""
        return self.name == "sgd" and self.momentum == 0.0 and self.weight_decay == 0.0

    def settings(self) -> dict[str, object]:
        """What params.json records, enough to replay the run."""
        out: dict[str, object] = {"name": self.name, "lr": self.lr,
                                  "weight_decay": self.weight_decay}
        if self.name == "momentum":
            out.update(momentum=self.momentum, nesterov=self.nesterov)
        if self.name == "adam":
            out.update(betas=list(self.betas), eps=self.eps)
        return out

    def step(self, params: Params, grads: Params) -> Params:
        """The parameters after one update (PyTorch's arithmetic, in its order)."""
        return STEPS[self.name](self, params, grads)

    def latex(self) -> list[str]:
        """The update rule in the report's notation, for any parameter theta."""
        decay = r" + \lambda \theta" if self.weight_decay else ""
        g = rf"g_t = \frac{{\partial L}}{{\partial \theta}}{decay}"
        if self.name == "sgd":
            return [rf"\theta \leftarrow \theta - \eta\, \left(\frac{{\partial L}}"
                    rf"{{\partial \theta}}{decay}\right)"]
        if self.name == "momentum":
            rules = [g, r"b_t = \mu\, b_{t-1} + g_t \quad (b_1 = g_1)"]
            last = r"g_t + \mu\, b_t" if self.nesterov else "b_t"
            return [*rules, rf"\theta \leftarrow \theta - \eta\, \left({last}\right)"]
        return [g, r"m_t = \beta_1 m_{t-1} + (1 - \beta_1)\, g_t",
                r"v_t = \beta_2 v_{t-1} + (1 - \beta_2)\, g_t^2",
                r"\theta \leftarrow \theta - \frac{\eta}{1 - \beta_1^t}\, \frac{m_t}"
                r"{\sqrt{v_t} / \sqrt{1 - \beta_2^t} + \epsilon}"]


def _with_decay(opt: Optimizer, params: Params, grads: Params) -> Params:
    if opt.weight_decay == 0.0:
        return grads
    return {k: grads[k] + opt.weight_decay * params[k] for k in grads}


def _sgd(opt: Optimizer, params: Params, grads: Params) -> Params:
    grads = _with_decay(opt, params, grads)
    return {k: params[k] - opt.lr * grads[k] for k in params}


def _momentum(opt: Optimizer, params: Params, grads: Params) -> Params:
    grads = _with_decay(opt, params, grads)
    buffers = opt.state.setdefault("momentum", {})
    out = {}
    for k in params:
        if k not in buffers:
            buffers[k] = np.array(grads[k], dtype=np.float64, copy=True)
        else:
            buffers[k] = opt.momentum * buffers[k] + grads[k]
        direction = grads[k] + opt.momentum * buffers[k] if opt.nesterov else buffers[k]
        out[k] = params[k] - opt.lr * direction
    return out


def _adam(opt: Optimizer, params: Params, grads: Params) -> Params:
    grads = _with_decay(opt, params, grads)
    beta1, beta2 = opt.betas
    state = opt.state.setdefault("adam", {"t": 0, "m": {}, "v": {}})
    state["t"] += 1
    t = state["t"]
    step_size = opt.lr / (1.0 - beta1 ** t)
    root_correction = math.sqrt(1.0 - beta2 ** t)
    out = {}
    for k in params:
        m = state["m"].get(k, np.zeros_like(np.asarray(params[k], dtype=np.float64)))
        v = state["v"].get(k, np.zeros_like(np.asarray(params[k], dtype=np.float64)))
        m = m + (1.0 - beta1) * (grads[k] - m)  # torch: exp_avg.lerp_(grad, 1 - beta1)
        v = beta2 * v + (1.0 - beta2) * grads[k] * grads[k]
        state["m"][k], state["v"][k] = m, v
        denom = np.sqrt(v) / root_correction + opt.eps
        out[k] = params[k] - step_size * (m / denom)
    return out


STEPS = {"sgd": _sgd, "momentum": _momentum, "adam": _adam}
NAMES = tuple(STEPS)


def make(name: str, lr: float, momentum: float = 0.9, nesterov: bool = False,
         betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
         weight_decay: float = 0.0) -> Optimizer:
    """An optimizer record; `momentum` counts only for "momentum"."""
    if name not in STEPS:
        raise ValueError(f"unknown optimizer {name!r}; one of {', '.join(NAMES)}")
    return Optimizer(name, lr, momentum if name == "momentum" else 0.0,
                     nesterov and name == "momentum", betas, eps, weight_decay)
