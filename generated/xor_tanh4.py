"""Forward pass, loss and gradients of network `xor_tanh4`.

A 2-4-1 network with tanh hidden units and binary cross-entropy on XOR.

GENERATED FILE - do not edit. Regenerate with `make derive SPEC=specs/xor_tanh4.toml`
(python -m derive specs/xor_tanh4.toml): written from that spec, the SymPy derivation in
derive/ and the template derive/templates/module.py.j2. Gradients are SymPy's, proved
equal to the derivative of the loss.
inputs-sha256: ead3b9a56af5f446def6515887a32ef03ba8a20378d91741e48d89eb0c1d9af5
"""

import numpy as np

SPEC_NAME = "xor_tanh4"
# The spec this module was derived from, and what train.py needs to check it is fresh:
# the hash of (spec file, derive/ sources and templates, printer versions), and this file's
# own hash (computed without the MODULE_SHA256 line) to notice hand edits.
SPEC_FILE = "specs/xor_tanh4.toml"
INPUTS_SHA256 = "ead3b9a56af5f446def6515887a32ef03ba8a20378d91741e48d89eb0c1d9af5"
MODULE_SHA256 = "3aef9f43d38cb92a334cc5a4ce51632e05c29ad6b990ff4e6b396aa1de16ece2"
DATASET = "xor"
LOSS = "binary cross-entropy"
LOSS_NAME = "bce"
ACTIVATIONS = ("tanh", "sigmoid",)  # per layer, input side first
DEFAULTS = {"lr": 0.5, "epochs": 2000, "seed": 0}
N_INPUTS = 2
# (name, shape, fan-in) of every parameter, in initialisation order.
PARAMS = (
    ("W1", (4, 2), 2),
    ("b1", (4,), 2),
    ("w2", (4,), 4),
    ("b2", (), 4),
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
    h = np.tanh(z1)
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
    h = np.tanh(z1)
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
    h = np.tanh(z1)
    z2 = h @ w2 + b2
    y_hat = sigmoid(z2)
    loss_value = float(np.mean(-z2*y + np.logaddexp(0.0, z2)))
    delta2 = y_hat - y
    delta1 = (np.outer(delta2, w2))*(1 - h**2)
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


def dataset(seed=0):
    """The XOR truth table: X of shape (4, 2), y of shape (4,), float64.

    `seed` is unused: a truth table is the same every time.
    """
    X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    y = np.array([0.0, 1.0, 1.0, 0.0])
    return X, y
