"""Forward pass, loss and gradients of network `moons_leaky_softplus`.

A 2-8-4-1 network with leaky ReLU then softplus hidden layers on two moons.

GENERATED FILE - do not edit. Regenerate with `make derive SPEC=specs/moons_leaky_softplus.toml`
(python -m derive specs/moons_leaky_softplus.toml): written from that spec, the SymPy derivation in
derive/ and the template derive/templates/module.py.j2. Gradients are SymPy's, proved
equal to the derivative of the loss.
Whether it is current (derived from today's spec and derive/) is recorded in
generated/manifest.json, which train.py checks.
"""

import numpy as np

SPEC_NAME = "moons_leaky_softplus"
# The spec this module was derived from, and this file's own hash (with the digits of
# MODULE_SHA256 zeroed) to notice hand edits.
SPEC_FILE = "specs/moons_leaky_softplus.toml"
MODULE_SHA256 = "13ac78bfc2272dcc7d21943745cf9010ba844aa0dce329ed5173f7f3ed0185d5"
DATASET = "moons"
HELD_OUT = False  # dataset("test") exists
LOSS = "binary cross-entropy"
LOSS_NAME = "bce"
ACTIVATIONS = ("leaky_relu", "softplus", "sigmoid",)  # per layer, input side first
# For the PyTorch referee (train.py --compare-torch): per layer, "" for the identity.
TORCH_ACTIVATIONS = (
    "torch.nn.functional.leaky_relu",
    "torch.nn.functional.softplus",
    "torch.sigmoid",
)
TORCH_LOSS = "torch.nn.functional.binary_cross_entropy"
LABELS = "binary"  # binary: targets 0 or 1; real: any number; classes: 0 .. K-1
DEFAULTS = {"lr": 0.5, "epochs": 3000, "seed": 0}
N_INPUTS = 2
N_OUTPUTS = 1
# (name, shape, fan-in) of every parameter, in initialisation order.
PARAMS = (
    ("W1", (8, 2), 2),
    ("b1", (8,), 2),
    ("W2", (4, 8), 8),
    ("b2", (4,), 8),
    ("w3", (4,), 4),
    ("b3", (), 4),
)


def leaky_relu(z):
    """z where z > 0, 0.01 z elsewhere (PyTorch's default negative slope)."""
    return np.where(z > 0.0, z, 0.01 * z)


def sigmoid(z):
    """Logistic function 1 / (1 + exp(-z)), as PyTorch computes it.

    exp(-z) overflows to inf for z < -709, which gives exactly 0: the warning is noise.
    """
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-z))


def softplus(z):
    """log(1 + exp(z)) without overflow, as max(z, 0) + log1p(exp(-|z|)).

    np.log1p, not np.log(1 + e): for z < -30 or so only log1p keeps the relative accuracy
    a hidden softplus unit needs (np.log near 1 is accurate to 1e-16 absolute only).
    """
    return np.maximum(z, 0.0) + np.log1p(np.exp(-np.abs(z)))


def softplus_from_sigmoid(z, s):
    """log(1 + exp(z)) given s = sigmoid(z): -log(1 - s) for z <= 0, z - log(s) for z > 0.

    Both logs take a number in [0.5, 1], so the result is exact to rounding, and one log
    costs less than the exp and log of softplus(z) when sigmoid(z) is at hand anyway.
    """
    return np.maximum(z, 0.0) - np.log(np.where(z > 0.0, s, 1.0 - s))


def _inputs(X):
    """X as a float array of shape (N, 2), or a clear error."""
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[1] != N_INPUTS:
        raise ValueError(f"X must have shape (N, {N_INPUTS}), got {X.shape}")
    return X


def _targets(y, n):
    """y as a float array of shape (N,); a column (N, 1), as PyTorch code keeps it, is fine."""
    y = np.asarray(y, dtype=np.float64)
    if y.shape == (n, 1):
        y = y[:, 0]
    if y.shape != (n,):
        raise ValueError(f"y must have shape ({n},), got {y.shape}")
    return y


# ---------------------------------------------------------------------------- the model
# forward, loss and gradients, written as the formulas in moons_leaky_softplus.md read, with the
# same names. Everything after the next rule of this kind is the same derivation again,
# arranged for speed (whole training loops); a reader of the model can stop there.


def forward(params, X):
    """Predictions y_hat, shape (N,), for inputs X of shape (N, 2)."""
    W1 = np.asarray(params["W1"], dtype=np.float64)
    b1 = np.asarray(params["b1"], dtype=np.float64)
    W2 = np.asarray(params["W2"], dtype=np.float64)
    b2 = np.asarray(params["b2"], dtype=np.float64)
    w3 = np.asarray(params["w3"], dtype=np.float64)
    b3 = np.asarray(params["b3"], dtype=np.float64)
    X = _inputs(X)
    z1 = X @ W1.T + b1
    h1 = leaky_relu(z1)
    z2 = h1 @ W2.T + b2
    h2 = softplus(z2)
    z3 = h2 @ w3 + b3
    y_hat = sigmoid(z3)
    return y_hat


def loss(params, X, y):
    """Mean binary cross-entropy over the N samples, computed from the output logit."""
    W1 = np.asarray(params["W1"], dtype=np.float64)
    b1 = np.asarray(params["b1"], dtype=np.float64)
    W2 = np.asarray(params["W2"], dtype=np.float64)
    b2 = np.asarray(params["b2"], dtype=np.float64)
    w3 = np.asarray(params["w3"], dtype=np.float64)
    b3 = np.asarray(params["b3"], dtype=np.float64)
    X = _inputs(X)
    y = _targets(y, X.shape[0])
    z1 = X @ W1.T + b1
    h1 = leaky_relu(z1)
    z2 = h1 @ W2.T + b2
    h2 = softplus(z2)
    z3 = h2 @ w3 + b3
    return float(np.mean(softplus(z3) - y * z3))


def loss_and_gradients(params, X, y):
    """The loss and dL/dtheta for every parameter, from one forward pass."""
    W1 = np.asarray(params["W1"], dtype=np.float64)
    b1 = np.asarray(params["b1"], dtype=np.float64)
    W2 = np.asarray(params["W2"], dtype=np.float64)
    b2 = np.asarray(params["b2"], dtype=np.float64)
    w3 = np.asarray(params["w3"], dtype=np.float64)
    b3 = np.asarray(params["b3"], dtype=np.float64)
    X = _inputs(X)
    y = _targets(y, X.shape[0])
    z1 = X @ W1.T + b1
    h1 = leaky_relu(z1)
    z2 = h1 @ W2.T + b2
    h2 = softplus(z2)
    z3 = h2 @ w3 + b3
    y_hat = sigmoid(z3)
    loss_value = float(np.mean(softplus_from_sigmoid(z3, y_hat) - y * z3))
    delta3 = y_hat - y
    delta2 = (np.outer(delta3, w3))*(sigmoid(z2))
    delta1 = (delta2 @ W2)*(1/100 * np.heaviside(-z1, 0.0) + np.heaviside(z1, 0.0))
    grads = {
        "W1": delta1.T @ X / X.shape[0],
        "b1": delta1.mean(axis=0),
        "W2": delta2.T @ h1 / X.shape[0],
        "b2": delta2.mean(axis=0),
        "w3": h2.T @ delta3 / X.shape[0],
        "b3": np.mean(delta3),
    }
    return loss_value, grads


def gradients(params, X, y):
    """dL/dtheta for every parameter: a dict with the keys and shapes of `params`."""
    return loss_and_gradients(params, X, y)[1]


def dataset(seed=0, n=200, noise=0.1):
    """Two interleaving half circles, n points, Gaussian noise; class 1 is the lower moon."""
    rng = np.random.default_rng(seed)
    upper, lower = n // 2, n - n // 2
    t_upper = np.linspace(0.0, np.pi, upper)
    t_lower = np.linspace(0.0, np.pi, lower)
    X = np.concatenate([
        np.column_stack([np.cos(t_upper), np.sin(t_upper)]),
        np.column_stack([1.0 - np.cos(t_lower), 0.5 - np.sin(t_lower)]),
    ])
    y = np.concatenate([np.zeros(upper), np.ones(lower)])
    return X + rng.normal(0.0, noise, X.shape), y
