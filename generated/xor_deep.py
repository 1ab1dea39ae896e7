"""Forward pass, loss and gradients of network `xor_deep`.

A 2-3-3-1 network (tanh, then sigmoid hidden layers) with binary cross-entropy on XOR.

GENERATED FILE - do not edit. Regenerate with `make derive SPEC=specs/xor_deep.toml`
(python -m derive specs/xor_deep.toml): written from that spec, the SymPy derivation in
derive/ and the template derive/templates/module.py.j2. Gradients are SymPy's, proved
equal to the derivative of the loss.
inputs-sha256: 47eca6096b1ba60667294ec0629967e4dfefd24960bb969c57cb022ba3177b76
"""

import numpy as np

SPEC_NAME = "xor_deep"
# The spec this module was derived from, and what train.py needs to check it is fresh:
# the hash of (spec file, derive/ sources and templates, printer versions), and this file's
# own hash (computed without the MODULE_SHA256 line) to notice hand edits.
SPEC_FILE = "specs/xor_deep.toml"
INPUTS_SHA256 = "47eca6096b1ba60667294ec0629967e4dfefd24960bb969c57cb022ba3177b76"
MODULE_SHA256 = "02c8f0646846daac92fee7da17f9836f081d2b4aa03cefd7b392d924301306b1"
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
    x_1, x_2 = X[:, 0], X[:, 1]
    z1_1 = b1[0] + W1[0, 0]*x_1 + W1[0, 1]*x_2
    z1_2 = b1[1] + W1[1, 0]*x_1 + W1[1, 1]*x_2
    z1_3 = b1[2] + W1[2, 0]*x_1 + W1[2, 1]*x_2
    h1_1 = np.tanh(z1_1)
    h1_2 = np.tanh(z1_2)
    h1_3 = np.tanh(z1_3)
    z2_1 = b2[0] + W2[0, 0]*h1_1 + W2[0, 1]*h1_2 + W2[0, 2]*h1_3
    z2_2 = b2[1] + W2[1, 0]*h1_1 + W2[1, 1]*h1_2 + W2[1, 2]*h1_3
    z2_3 = b2[2] + W2[2, 0]*h1_1 + W2[2, 1]*h1_2 + W2[2, 2]*h1_3
    h2_1 = sigmoid(z2_1)
    h2_2 = sigmoid(z2_2)
    h2_3 = sigmoid(z2_3)
    z3 = b3 + h2_1*w3[0] + h2_2*w3[1] + h2_3*w3[2]
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
    x_1, x_2 = X[:, 0], X[:, 1]
    y = _targets(y, X.shape[0])
    z1_1 = b1[0] + W1[0, 0]*x_1 + W1[0, 1]*x_2
    z1_2 = b1[1] + W1[1, 0]*x_1 + W1[1, 1]*x_2
    z1_3 = b1[2] + W1[2, 0]*x_1 + W1[2, 1]*x_2
    h1_1 = np.tanh(z1_1)
    h1_2 = np.tanh(z1_2)
    h1_3 = np.tanh(z1_3)
    z2_1 = b2[0] + W2[0, 0]*h1_1 + W2[0, 1]*h1_2 + W2[0, 2]*h1_3
    z2_2 = b2[1] + W2[1, 0]*h1_1 + W2[1, 1]*h1_2 + W2[1, 2]*h1_3
    z2_3 = b2[2] + W2[2, 0]*h1_1 + W2[2, 1]*h1_2 + W2[2, 2]*h1_3
    h2_1 = sigmoid(z2_1)
    h2_2 = sigmoid(z2_2)
    h2_3 = sigmoid(z2_3)
    z3 = b3 + h2_1*w3[0] + h2_2*w3[1] + h2_3*w3[2]
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
    x_1, x_2 = X[:, 0], X[:, 1]
    y = _targets(y, X.shape[0])
    z1_1 = b1[0] + W1[0, 0]*x_1 + W1[0, 1]*x_2
    z1_2 = b1[1] + W1[1, 0]*x_1 + W1[1, 1]*x_2
    z1_3 = b1[2] + W1[2, 0]*x_1 + W1[2, 1]*x_2
    h1_1 = np.tanh(z1_1)
    h1_2 = np.tanh(z1_2)
    h1_3 = np.tanh(z1_3)
    z2_1 = b2[0] + W2[0, 0]*h1_1 + W2[0, 1]*h1_2 + W2[0, 2]*h1_3
    z2_2 = b2[1] + W2[1, 0]*h1_1 + W2[1, 1]*h1_2 + W2[1, 2]*h1_3
    z2_3 = b2[2] + W2[2, 0]*h1_1 + W2[2, 1]*h1_2 + W2[2, 2]*h1_3
    h2_1 = sigmoid(z2_1)
    h2_2 = sigmoid(z2_2)
    h2_3 = sigmoid(z2_3)
    z3 = b3 + h2_1*w3[0] + h2_2*w3[1] + h2_3*w3[2]
    y_hat = sigmoid(z3)
    loss_value = float(np.mean(-z3*y + np.logaddexp(0.0, z3)))
    delta3 = y_hat - y
    delta2_1 = h2_1*delta3*w3[0]*(1 - h2_1)
    delta2_2 = h2_2*delta3*w3[1]*(1 - h2_2)
    delta2_3 = h2_3*delta3*w3[2]*(1 - h2_3)
    delta1_1 = (1 - h1_1**2)*(W2[0, 0]*delta2_1 + W2[1, 0]*delta2_2 + W2[2, 0]*delta2_3)
    delta1_2 = (1 - h1_2**2)*(W2[0, 1]*delta2_1 + W2[1, 1]*delta2_2 + W2[2, 1]*delta2_3)
    delta1_3 = (1 - h1_3**2)*(W2[0, 2]*delta2_1 + W2[1, 2]*delta2_2 + W2[2, 2]*delta2_3)
    grads = {
        "W1": np.array([
            [np.mean(delta1_1*x_1), np.mean(delta1_1*x_2)],
            [np.mean(delta1_2*x_1), np.mean(delta1_2*x_2)],
            [np.mean(delta1_3*x_1), np.mean(delta1_3*x_2)],
        ]),
        "b1": np.array([np.mean(delta1_1), np.mean(delta1_2), np.mean(delta1_3)]),
        "W2": np.array([
            [np.mean(h1_1*delta2_1), np.mean(h1_2*delta2_1), np.mean(h1_3*delta2_1)],
            [np.mean(h1_1*delta2_2), np.mean(h1_2*delta2_2), np.mean(h1_3*delta2_2)],
            [np.mean(h1_1*delta2_3), np.mean(h1_2*delta2_3), np.mean(h1_3*delta2_3)],
        ]),
        "b2": np.array([np.mean(delta2_1), np.mean(delta2_2), np.mean(delta2_3)]),
        "w3": np.array([np.mean(h2_1*delta3), np.mean(h2_2*delta3), np.mean(h2_3*delta3)]),
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
