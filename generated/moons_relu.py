"""Forward pass, loss and gradients of network `moons_relu`.

A 2-16-1 ReLU network with binary cross-entropy on the two-moons data set.

GENERATED FILE - do not edit. Regenerate with `make derive SPEC=specs/moons_relu.toml`
(python -m derive specs/moons_relu.toml): written from that spec, the SymPy derivation in
derive/ and the template derive/templates/module.py.j2. Gradients are SymPy's, proved
equal to the derivative of the loss.
inputs-sha256: 7d7af8ba842e8fd21c0c0908fe9c8ac91cebc72cb0cc04bfce41528f10c4714a
"""

import numpy as np

SPEC_NAME = "moons_relu"
# The spec this module was derived from, and what train.py needs to check it is fresh:
# the hash of (spec file, derive/ sources and templates, printer versions), and this file's
# own hash (computed without the MODULE_SHA256 line) to notice hand edits.
SPEC_FILE = "specs/moons_relu.toml"
INPUTS_SHA256 = "7d7af8ba842e8fd21c0c0908fe9c8ac91cebc72cb0cc04bfce41528f10c4714a"
MODULE_SHA256 = "ecf96f83927791642c0aa5210c27ad794104f6aaca5b2696f99b3ed9568a59b0"
DATASET = "moons"
LOSS = "binary cross-entropy"
LOSS_NAME = "bce"
ACTIVATIONS = ("relu", "sigmoid",)  # per layer, input side first
DEFAULTS = {"lr": 0.5, "epochs": 3000, "seed": 0}
N_INPUTS = 2
# (name, shape, fan-in) of every parameter, in initialisation order.
PARAMS = (
    ("W1", (16, 2), 2),
    ("b1", (16,), 2),
    ("w2", (16,), 16),
    ("b2", (), 16),
)


def sigmoid(z):
    """Logistic function 1 / (1 + exp(-z)), as exp(-log(1 + exp(-z))): no overflow."""
    return np.exp(-np.logaddexp(0.0, -z))


def _inputs(X):
    """X as a float array of shape (N, 2), or a clear error."""
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[1] != N_INPUTS:
        raise ValueError(f"X must have shape (N, {N_INPUTS}), got {X.shape}")
    return X


def _targets(y, n):
    """Check y holds one target per sample."""
    y = np.asarray(y, dtype=np.float64)
    if y.shape != (n,):
        raise ValueError(f"y must have shape ({n},), got {y.shape}")
    return y


def forward(params, X):
    """Predictions y_hat, shape (N,), for inputs X of shape (N, 2)."""
    W1 = np.asarray(params["W1"], dtype=np.float64)
    b1 = np.asarray(params["b1"], dtype=np.float64)
    w2 = np.asarray(params["w2"], dtype=np.float64)
    b2 = np.asarray(params["b2"], dtype=np.float64)
    X = _inputs(X)
    z1 = X @ W1.T + b1
    h = np.maximum(z1, 0.0)
    z2 = h @ w2 + b2
    y_hat = sigmoid(z2)
    return y_hat


def loss(params, X, y):
    """Mean binary cross-entropy over the N samples, computed from the output logit."""
    W1 = np.asarray(params["W1"], dtype=np.float64)
    b1 = np.asarray(params["b1"], dtype=np.float64)
    w2 = np.asarray(params["w2"], dtype=np.float64)
    b2 = np.asarray(params["b2"], dtype=np.float64)
    X = _inputs(X)
    y = _targets(y, X.shape[0])
    z1 = X @ W1.T + b1
    h = np.maximum(z1, 0.0)
    z2 = h @ w2 + b2
    return float(np.mean(-z2*y + np.logaddexp(0.0, z2)))


def loss_and_gradients(params, X, y):
    """The loss and dL/dtheta for every parameter, from one forward pass."""
    W1 = np.asarray(params["W1"], dtype=np.float64)
    b1 = np.asarray(params["b1"], dtype=np.float64)
    w2 = np.asarray(params["w2"], dtype=np.float64)
    b2 = np.asarray(params["b2"], dtype=np.float64)
    X = _inputs(X)
    y = _targets(y, X.shape[0])
    z1 = X @ W1.T + b1
    h = np.maximum(z1, 0.0)
    z2 = h @ w2 + b2
    y_hat = sigmoid(z2)
    loss_value = float(np.mean(-z2*y + np.logaddexp(0.0, z2)))
    delta2 = y_hat - y
    delta1 = (np.outer(delta2, w2))*(np.heaviside(z1, 0.0))
    grads = {
        "W1": delta1.T @ X / X.shape[0],
        "b1": delta1.mean(axis=0),
        "w2": h.T @ delta2 / X.shape[0],
        "b2": np.mean(delta2),
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
