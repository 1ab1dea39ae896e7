"""Forward pass, loss and gradients of network `xor`.

The assignment's 2-2-1 sigmoid network with binary cross-entropy on XOR.

GENERATED FILE - do not edit. Regenerate with `make derive SPEC=specs/xor.toml`
(python -m derive specs/xor.toml): written from that spec, the SymPy derivation in
derive/ and the template derive/templates/module.py.j2. Gradients are SymPy's, proved
equal to the derivative of the loss.
inputs-sha256: b5f11fe6a4e43d5236693c68daa8f6af2cedeecfd0149952ba545b4820ae0c4b
"""

import numpy as np

SPEC_NAME = "xor"
# The spec this module was derived from, and what train.py needs to check it is fresh:
# the hash of (spec file, derive/ sources and templates, printer versions), and this file's
# own hash (computed without the MODULE_SHA256 line) to notice hand edits.
SPEC_FILE = "specs/xor.toml"
INPUTS_SHA256 = "b5f11fe6a4e43d5236693c68daa8f6af2cedeecfd0149952ba545b4820ae0c4b"
MODULE_SHA256 = "a6624a3c4fb6458911874e4598a38bbc73cdeebf5fc1344711328f32b5374e31"
DATASET = "xor"
LOSS = "binary cross-entropy"
LOSS_NAME = "bce"
ACTIVATIONS = ("sigmoid", "sigmoid",)  # per layer, input side first
DEFAULTS = {"lr": 1.0, "epochs": 2001, "seed": 1}
N_INPUTS = 2
# (name, shape, fan-in) of every parameter, in initialisation order.
PARAMS = (
    ("W1", (2, 2), 2),
    ("b1", (2,), 2),
    ("w2", (2,), 2),
    ("b2", (), 2),
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
    x_1, x_2 = X[:, 0], X[:, 1]
    z1_1 = b1[0] + W1[0, 0]*x_1 + W1[0, 1]*x_2
    z1_2 = b1[1] + W1[1, 0]*x_1 + W1[1, 1]*x_2
    h_1 = sigmoid(z1_1)
    h_2 = sigmoid(z1_2)
    z2 = b2 + h_1*w2[0] + h_2*w2[1]
    y_hat = sigmoid(z2)
    return y_hat


def loss(params, X, y):
    """Mean binary cross-entropy over the N samples, computed from the output logit."""
    W1 = np.asarray(params["W1"], dtype=np.float64)
    b1 = np.asarray(params["b1"], dtype=np.float64)
    w2 = np.asarray(params["w2"], dtype=np.float64)
    b2 = np.asarray(params["b2"], dtype=np.float64)
    X = _inputs(X)
    x_1, x_2 = X[:, 0], X[:, 1]
    y = _targets(y, X.shape[0])
    z1_1 = b1[0] + W1[0, 0]*x_1 + W1[0, 1]*x_2
    z1_2 = b1[1] + W1[1, 0]*x_1 + W1[1, 1]*x_2
    h_1 = sigmoid(z1_1)
    h_2 = sigmoid(z1_2)
    z2 = b2 + h_1*w2[0] + h_2*w2[1]
    return float(np.mean(-z2*y + np.logaddexp(0.0, z2)))


def loss_and_gradients(params, X, y):
    """The loss and dL/dtheta for every parameter, from one forward pass."""
    W1 = np.asarray(params["W1"], dtype=np.float64)
    b1 = np.asarray(params["b1"], dtype=np.float64)
    w2 = np.asarray(params["w2"], dtype=np.float64)
    b2 = np.asarray(params["b2"], dtype=np.float64)
    X = _inputs(X)
    x_1, x_2 = X[:, 0], X[:, 1]
    y = _targets(y, X.shape[0])
    z1_1 = b1[0] + W1[0, 0]*x_1 + W1[0, 1]*x_2
    z1_2 = b1[1] + W1[1, 0]*x_1 + W1[1, 1]*x_2
    h_1 = sigmoid(z1_1)
    h_2 = sigmoid(z1_2)
    z2 = b2 + h_1*w2[0] + h_2*w2[1]
    y_hat = sigmoid(z2)
    loss_value = float(np.mean(-z2*y + np.logaddexp(0.0, z2)))
    delta2 = y_hat - y
    delta1_1 = h_1*delta2*w2[0]*(1 - h_1)
    delta1_2 = h_2*delta2*w2[1]*(1 - h_2)
    grads = {
        "W1": np.array([
            [np.mean(delta1_1*x_1), np.mean(delta1_1*x_2)],
            [np.mean(delta1_2*x_1), np.mean(delta1_2*x_2)],
        ]),
        "b1": np.array([np.mean(delta1_1), np.mean(delta1_2)]),
        "w2": np.array([np.mean(h_1*delta2), np.mean(h_2*delta2)]),
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
