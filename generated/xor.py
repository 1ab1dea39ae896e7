"""Forward pass, loss and gradients of network `xor`.

The assignment's 2-2-1 sigmoid network with binary cross-entropy on XOR.

GENERATED FILE - do not edit. Written by `make derive` (python -m derive --spec xor)
from the spec in derive/spec.py, the SymPy derivation in derive/ and the template
derive/templates/module.py.j2. Gradients are SymPy's, proved equal to the raw derivative.
inputs-sha256: 8a35847f334fa8d1db2dc1136ee51ad6bdbb9188cd86ab097ec11c98a3cb6ff7
"""

import numpy as np

SPEC_NAME = "xor"
# The spec this module was derived from, and what train.py needs to check it is fresh:
# the hash of (spec, derive/ sources and templates, printer versions), and this file's own
# hash (computed without the MODULE_SHA256 line) to notice hand edits.
SPEC_JSON = (
    '{"dataset":"xor","description":"The assignment\'s 2-2-1 sigmoid network with bina'
    'ry cross-entropy on XOR","hidden":[2],"hidden_activation":"sigmoid","loss":"bce"'
    ',"n_inputs":2,"name":"xor","output_activation":"sigmoid","training":{"epochs":20'
    '01,"lr":1.0,"seed":1}}'
)
INPUTS_SHA256 = "8a35847f334fa8d1db2dc1136ee51ad6bdbb9188cd86ab097ec11c98a3cb6ff7"
MODULE_SHA256 = "1e2c083fcb65102ae312cfc1bc13fdeb67d48671cf38bcd39e32a7d87017eed3"
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


def _columns(X):
    """Check X is (N, 2) and split it into one array per input."""
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[1] != N_INPUTS:
        raise ValueError(f"X must have shape (N, {N_INPUTS}), got {X.shape}")
    return X[:, 0], X[:, 1]


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
    x_1, x_2 = _columns(X)
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
    x_1, x_2 = _columns(X)
    y = _targets(y, x_1.shape[0])
    z1_1 = b1[0] + W1[0, 0]*x_1 + W1[0, 1]*x_2
    z1_2 = b1[1] + W1[1, 0]*x_1 + W1[1, 1]*x_2
    h_1 = sigmoid(z1_1)
    h_2 = sigmoid(z1_2)
    z2 = b2 + h_1*w2[0] + h_2*w2[1]
    return float(np.mean(-y*z2 + np.logaddexp(0.0, z2)))


def loss_and_gradients(params, X, y):
    """The loss and dL/dtheta for every parameter, from one forward pass."""
    W1 = np.asarray(params["W1"], dtype=np.float64)
    b1 = np.asarray(params["b1"], dtype=np.float64)
    w2 = np.asarray(params["w2"], dtype=np.float64)
    b2 = np.asarray(params["b2"], dtype=np.float64)
    x_1, x_2 = _columns(X)
    y = _targets(y, x_1.shape[0])
    z1_1 = b1[0] + W1[0, 0]*x_1 + W1[0, 1]*x_2
    z1_2 = b1[1] + W1[1, 0]*x_1 + W1[1, 1]*x_2
    h_1 = sigmoid(z1_1)
    h_2 = sigmoid(z1_2)
    z2 = b2 + h_1*w2[0] + h_2*w2[1]
    y_hat = sigmoid(z2)
    loss_value = float(np.mean(-y*z2 + np.logaddexp(0.0, z2)))
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
