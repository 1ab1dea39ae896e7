"""An independent referee built from a spec file: `tomllib` and hand-written NumPy only.

Nothing here imports derive/ or generated/. The spec's meaning is read from the raw TOML as
the README documents it (input width, hidden widths, one activation for every hidden layer
or a list with one per layer, output activation, loss, training defaults), so a generated
module that disagrees with its spec file disagrees with this referee, whatever its own
metadata (PARAMS, ACTIVATIONS, LOSS_NAME) says.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
SPECS_DIR = REPO / "specs"
SHIPPED = sorted(p.stem for p in SPECS_DIR.glob("*.toml"))
assert SHIPPED, f"no spec files in {SPECS_DIR}"

# What a spec without a [training] entry trains with (README, "Other networks: specs").
TRAINING_DEFAULTS = {"lr": 1.0, "epochs": 2001, "seed": 0}

_erf = np.vectorize(math.erf, otypes=[float])
_exp_shifted = lambda z: np.exp(z - z.max(axis=1, keepdims=True))  # noqa: E731


def _sigmoid(z):
    with np.errstate(over="ignore"):  # exp(-z) = inf for z < -709: sigmoid is 0 there
        return 1.0 / (1.0 + np.exp(-z))


ACTIVATIONS = {
    "sigmoid": _sigmoid,
    "tanh": np.tanh,
    "relu": lambda z: np.maximum(z, 0.0),
    "identity": lambda z: z,
    "silu": lambda z: z * _sigmoid(z),
    "softplus": lambda z: np.logaddexp(0.0, z),
    "gelu": lambda z: 0.5 * z * (1.0 + _erf(z / math.sqrt(2.0))),
    "leaky_relu": lambda z: np.where(z > 0.0, z, 0.01 * z),
    # over each row of logits, not element by element (an output only)
    "softmax": lambda z: _exp_shifted(z) / _exp_shifted(z).sum(axis=1, keepdims=True),
}
# f'(z), written by hand (not by SymPy): for the hand-written backpropagation below.
DERIVATIVES = {
    "sigmoid": lambda z: np.exp(-np.abs(z)) / (1.0 + np.exp(-np.abs(z))) ** 2,
    "tanh": lambda z: 1.0 / np.cosh(z) ** 2,
    "relu": lambda z: (z > 0.0).astype(float),
    "identity": np.ones_like,
    "silu": lambda z: _sigmoid(z) * (1.0 + z * (1.0 - _sigmoid(z))),
    "softplus": _sigmoid,
    "gelu": lambda z: 0.5 * (1.0 + _erf(z / math.sqrt(2.0)))
    + z * np.exp(-z * z / 2.0) / math.sqrt(2.0 * math.pi),
    "leaky_relu": lambda z: np.where(z > 0.0, 1.0, 0.01),
}
# Truth tables of the built-in logic data sets (README: "truth tables").
TRUTH_TABLES = {"xor": (0, 1, 1, 0), "and": (0, 0, 0, 1), "or": (0, 1, 1, 1),
                "nand": (1, 1, 1, 0), "xnor": (1, 0, 0, 1)}


@dataclass(frozen=True)
class RawSpec:
    """A spec file's fields, taken literally from the TOML."""

    name: str
    n_inputs: int
    hidden: tuple[int, ...]
    hidden_activations: tuple[str, ...]
    output: str
    loss: str
    dataset: str
    lr: float
    epochs: int
    seed: int
    n_outputs: int = 1  # `outputs`: the classes of a softmax output
    batch_size: int | None = None  # [training] batch_size: mini-batches

    @property
    def widths(self) -> tuple[int, ...]:
        return (self.n_inputs, *self.hidden, self.n_outputs)

    @property
    def n_params(self) -> int:
        return sum((a + 1) * b for a, b in zip(self.widths, self.widths[1:]))

    @property
    def unit_by_unit(self) -> bool:
        """The README: networks of at most 200 parameters and one output are derived unit
        by unit too (their report and notebook show every entry)."""
        return self.n_params <= 200 and self.n_outputs == 1

    @property
    def layout(self) -> list[tuple[str, tuple[int, ...], int]]:
        """(name, shape, fan-in) per parameter, input side first: W1, b1, ..., w_L, b_L.

        Hidden layer l has W{l} (width, fan-in) and b{l}; the single output unit has a
        weight vector w{L} and a scalar bias b{L}, as the assignment names them.
        """
        out = []
        last = len(self.widths) - 1
        for number in range(1, last + 1):
            fan_in, width = self.widths[number - 1], self.widths[number]
            if number == last and width == 1:
                out += [(f"w{number}", (fan_in,), fan_in), (f"b{number}", (), fan_in)]
            else:
                out += [(f"W{number}", (width, fan_in), fan_in), (f"b{number}", (width,), fan_in)]
        return out


def read_spec(name: str | Path) -> RawSpec:
    """specs/<name>.toml (or a spec file's path) read with tomllib; a single activation
    string means every layer."""
    path = name if isinstance(name, Path) else SPECS_DIR / f"{name}.toml"
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    hidden = tuple(data["hidden"])
    activation = data["activation"]
    activations = (activation,) * len(hidden) if isinstance(activation, str) else activation
    assert len(activations) == len(hidden), f"{name}: one activation per hidden layer"
    training = {**TRAINING_DEFAULTS, **data.get("training", {})}
    return RawSpec(name=data["name"], n_inputs=data["inputs"], hidden=hidden,
                   hidden_activations=tuple(activations), output=data["output"],
                   loss=data["loss"], dataset=data["dataset"], lr=float(training["lr"]),
                   epochs=int(training["epochs"]), seed=int(training["seed"]),
                   n_outputs=int(data.get("outputs", 1)),
                   batch_size=data.get("training", {}).get("batch_size"))


def _layers(spec: RawSpec, params: dict[str, np.ndarray]):
    """(weight matrix (out, in), bias (out,), activation name) per layer; the output
    layer's weight vector and scalar bias as a 1-row matrix and a 1-vector."""
    names = [name for name, _, _ in spec.layout]
    acts = [*spec.hidden_activations, spec.output]
    for (weight, bias), act in zip(zip(names[0::2], names[1::2]), acts):
        W = np.asarray(params[weight], dtype=np.float64)
        yield W.reshape(-1, W.shape[-1]), np.reshape(params[bias], -1), act


def forward_pass(spec: RawSpec, params: dict[str, np.ndarray],
                 X: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Pre-activations and activations of every layer; the last activation is y_hat."""
    a = np.asarray(X, dtype=np.float64)
    zs, acts = [], [a]
    for W, b, act in _layers(spec, params):
        z = np.einsum("ni,oi->no", a, W) + b
        a = ACTIVATIONS[act](z)
        zs.append(z)
        acts.append(a)
    return zs, acts


def predict(spec: RawSpec, params: dict[str, np.ndarray], X: np.ndarray) -> np.ndarray:
    """y_hat, shape (N,); a softmax output's probabilities, shape (N, K)."""
    y_hat = forward_pass(spec, params, X)[1][-1]
    return y_hat if spec.output == "softmax" else y_hat[:, 0]


def classes(spec: RawSpec, params: dict[str, np.ndarray], X: np.ndarray) -> np.ndarray:
    """The predicted class: the most probable, or y_hat >= 0.5."""
    y_hat = predict(spec, params, X)
    return y_hat.argmax(axis=1) if spec.output == "softmax" else (y_hat >= 0.5).astype(int)


def loss(spec: RawSpec, params: dict[str, np.ndarray], X: np.ndarray, y: np.ndarray) -> float:
    """The mean over samples of the spec's loss: binary cross-entropy or squared error.

    BCE of a sigmoid output uses log sigmoid(z) = -log(1 + e^-z) and 1 - sigmoid(z) =
    sigmoid(-z), the definition itself, written so that it stays finite for large |z|.
    """
    zs, acts = forward_pass(spec, params, X)
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    if spec.loss == "cross_entropy":  # -log softmax(z)[label] = log sum exp z - z[label]
        z = zs[-1]
        top = z.max(axis=1)
        log_total = top + np.log(np.sum(np.exp(z - top[:, None]), axis=1))
        return float(np.mean(log_total - z[np.arange(len(y)), y.astype(int)]))
    y_hat = acts[-1][:, 0]
    if spec.loss == "mse":
        return float(np.mean((y_hat - y) ** 2))
    assert spec.loss == "bce" and spec.output == "sigmoid", spec
    z = zs[-1][:, 0]
    log_p, log_not_p = -np.logaddexp(0.0, -z), -np.logaddexp(0.0, z)
    return float(np.mean(-(y * log_p + (1.0 - y) * log_not_p)))


def backprop(spec: RawSpec, params: dict[str, np.ndarray], X: np.ndarray,
             y: np.ndarray) -> dict[str, np.ndarray]:
    """dL/dtheta by textbook backpropagation, written out by hand for any spec."""
    zs, acts = forward_pass(spec, params, X)
    y = np.asarray(y, dtype=np.float64).reshape(-1, 1)
    y_hat, z_out = acts[-1], zs[-1]
    if spec.loss == "cross_entropy":  # softmax: dl/dz = y_hat - onehot(y), the textbook's
        delta = y_hat - np.eye(spec.n_outputs)[y[:, 0].astype(int)]
    elif spec.loss == "bce":  # sigmoid output: the cancellation dl/dz = y_hat - y
        delta = y_hat - y
    else:
        delta = 2.0 * (y_hat - y) * DERIVATIVES[spec.output](z_out)
    layers = list(_layers(spec, params))
    names = [name for name, _, _ in spec.layout]
    shape = {name: dims for name, dims, _ in spec.layout}
    grads = {}
    n = len(y)
    for number in range(len(layers), 0, -1):
        weight, bias = names[2 * number - 2], names[2 * number - 1]
        grads[weight] = (delta.T @ acts[number - 1] / n).reshape(shape[weight])
        grads[bias] = delta.mean(axis=0).reshape(shape[bias])
        if number > 1:
            W = layers[number - 1][0]
            act = layers[number - 2][2]
            delta = (delta @ W) * DERIVATIVES[act](zs[number - 2])
    return {name: grads[name] for name in names}


def central_differences(function: Callable[[dict[str, np.ndarray]], float],
                        params: dict[str, np.ndarray], step: float = 1e-6,
                        ) -> dict[str, np.ndarray]:
    """d function / d theta, one entry at a time: (f(theta + h) - f(theta - h)) / 2h."""
    grads = {}
    for name, value in params.items():
        value = np.asarray(value, dtype=np.float64)
        grad = np.zeros_like(value)
        for index in np.ndindex(value.shape):
            plus, minus = value.copy(), value.copy()
            plus[index] += step
            minus[index] -= step
            grad[index] = (function({**params, name: plus})
                           - function({**params, name: minus})) / (2 * step)
        grads[name] = grad
    return grads


def init_params(spec: RawSpec, seed: int) -> dict[str, np.ndarray]:
    """PyTorch's nn.Linear default, uniform in +-1/sqrt(fan_in), as the README states it:
    one NumPy generator seeded with `seed`, parameters drawn in the order W1, b1, ..."""
    rng = np.random.default_rng(seed)
    return {name: np.asarray(rng.uniform(-1 / math.sqrt(fan_in), 1 / math.sqrt(fan_in),
                                         size=shape), dtype=np.float64)
            for name, shape, fan_in in spec.layout}


def descend(spec: RawSpec, params: dict[str, np.ndarray], X: np.ndarray, y: np.ndarray,
            lr: float, epochs: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Full-batch gradient descent; history[e] is the loss before update e. With the spec's
    batch_size, mini-batches as the README describes them: each epoch's order a permutation
    from NumPy's generator seeded with SeedSequence(seed, spawn_key=(1,)), batches in that
    order, the last smaller; history[e] the mean of the epoch's batch losses."""
    history = np.empty(epochs)
    if spec.batch_size is not None and spec.batch_size < len(X):
        rng = np.random.default_rng(np.random.SeedSequence(spec.seed, spawn_key=(1,)))
        for epoch in range(epochs):
            order = rng.permutation(len(X))
            losses = []
            for start in range(0, len(X), spec.batch_size):
                part = order[start:start + spec.batch_size]
                losses.append(loss(spec, params, X[part], y[part]))
                grads = backprop(spec, params, X[part], y[part])
                params = {name: value - lr * grads[name] for name, value in params.items()}
            history[epoch] = np.mean(losses)
        return params, history
    for epoch in range(epochs):
        history[epoch] = loss(spec, params, X, y)
        grads = backprop(spec, params, X, y)
        params = {name: value - lr * grads[name] for name, value in params.items()}
    return params, history


def relu_margin(spec: RawSpec, params: dict[str, np.ndarray], X: np.ndarray) -> float:
    """Distance of the nearest ReLU or leaky-ReLU pre-activation from its kink (inf without
    one): where it is 0 the derivative is a convention and central differences mean nothing."""
    zs, _ = forward_pass(spec, params, X)
    acts = [*spec.hidden_activations, spec.output]
    near = [np.min(np.abs(z)) for z, act in zip(zs, acts) if act in ("relu", "leaky_relu")]
    return float(min(near, default=np.inf))
