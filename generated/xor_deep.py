"""Forward pass, loss and gradients of network `xor_deep`.

A 2-3-3-1 network (tanh, then sigmoid hidden layers) with binary cross-entropy on XOR.

GENERATED FILE - do not edit. Regenerate with `make derive SPEC=specs/xor_deep.toml`
(python -m derive specs/xor_deep.toml): written from that spec, the SymPy derivation in
derive/ and the template derive/templates/module.py.j2. Gradients are SymPy's, proved
equal to the derivative of the loss.
inputs-sha256: a475038f0e82b89360f96d2f1e6728d55474f5b4e6b295db48f8a717d656a66e
"""

import numpy as np

SPEC_NAME = "xor_deep"
# The spec this module was derived from, and what train.py needs to check it is fresh:
# the hash of (spec file, derive/ sources and templates, printer versions), and this file's
# own hash (computed without the MODULE_SHA256 line) to notice hand edits.
SPEC_FILE = "specs/xor_deep.toml"
INPUTS_SHA256 = "a475038f0e82b89360f96d2f1e6728d55474f5b4e6b295db48f8a717d656a66e"
MODULE_SHA256 = "d211c50f1ce31672cfa477b4add10ce18b25392a21c388e54dae0dc340f291f2"
DATASET = "xor"
LOSS = "binary cross-entropy"
LOSS_NAME = "bce"
ACTIVATIONS = ("tanh", "sigmoid", "sigmoid",)  # per layer, input side first
DEFAULTS = {"lr": 1.0, "epochs": 3000, "seed": 0}
N_INPUTS = 2
# (name, shape, fan-in) of every parameter, in initialisation order.
PARAMS = (
    ("W1", (3, 2), 2),
    ("b1", (3,), 2),
    ("W2", (3, 3), 3),
    ("b2", (3,), 3),
    ("w3", (3,), 3),
    ("b3", (), 3),
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
    W2 = np.asarray(params["W2"], dtype=np.float64)
    b2 = np.asarray(params["b2"], dtype=np.float64)
    w3 = np.asarray(params["w3"], dtype=np.float64)
    b3 = np.asarray(params["b3"], dtype=np.float64)
    X = _inputs(X)
    z1 = X @ W1.T + b1
    h1 = np.tanh(z1)
    z2 = h1 @ W2.T + b2
    h2 = sigmoid(z2)
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
    h1 = np.tanh(z1)
    z2 = h1 @ W2.T + b2
    h2 = sigmoid(z2)
    z3 = h2 @ w3 + b3
    return float(np.mean(-z3*y + np.logaddexp(0.0, z3)))


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
    h1 = np.tanh(z1)
    z2 = h1 @ W2.T + b2
    h2 = sigmoid(z2)
    z3 = h2 @ w3 + b3
    y_hat = sigmoid(z3)
    loss_value = float(np.mean(-z3*y + np.logaddexp(0.0, z3)))
    delta3 = y_hat - y
    delta2 = (np.outer(delta3, w3))*(h2*(1 - h2))
    delta1 = (delta2 @ W2)*(1 - h1**2)
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


def dataset(seed=0):
    """The XOR truth table: X of shape (4, 2), y of shape (4,), float64.

    `seed` is unused: a truth table is the same every time.
    """
    X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    y = np.array([0.0, 1.0, 1.0, 0.0])
    return X, y
