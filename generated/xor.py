"""Forward pass, loss and gradients of network `xor`.

The assignment's 2-2-1 sigmoid network with binary cross-entropy on XOR.

GENERATED FILE - do not edit. Regenerate with `make derive SPEC=specs/xor.toml`
(python -m derive specs/xor.toml): written from that spec, the SymPy derivation in
derive/ and the template derive/templates/module.py.j2. Gradients are SymPy's, proved
equal to the derivative of the loss.
Whether it is current (derived from today's spec and derive/) is recorded in
generated/manifest.json, which train.py checks.
"""

from math import exp, log1p

import numpy as np

SPEC_NAME = "xor"
# The spec this module was derived from, and this file's own hash (with the digits of
# MODULE_SHA256 zeroed) to notice hand edits.
SPEC_FILE = "specs/xor.toml"
MODULE_SHA256 = "094633ee8de2b319b7c432dcc6a7b2a19a3490f1b1c371bbc167e347702e20da"
DATASET = "xor"
HELD_OUT = False  # dataset("test") exists
LOSS = "binary cross-entropy"
LOSS_NAME = "bce"
ACTIVATIONS = ("sigmoid", "sigmoid",)  # per layer, input side first
# For the PyTorch referee (train.py --compare-torch): per layer, "" for the identity.
TORCH_ACTIVATIONS = ("torch.sigmoid", "torch.sigmoid",)
TORCH_LOSS = "torch.nn.functional.binary_cross_entropy"
LABELS = "binary"  # binary: targets 0 or 1; real: any number; classes: 0 .. K-1
DEFAULTS = {"lr": 1.0, "epochs": 2001, "seed": 1}
N_INPUTS = 2
N_OUTPUTS = 1
# (name, shape, fan-in) of every parameter, in initialisation order.
PARAMS = (
    ("W1", (2, 2), 2),
    ("b1", (2,), 2),
    ("w2", (2,), 2),
    ("b2", (), 2),
)


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
# forward, loss and gradients, written as the formulas in gradients.md read, with the
# same names. Everything after the next rule of this kind is the same derivation again,
# arranged for speed (whole training loops); a reader of the model can stop there.


def forward(params, X):
    """Predictions y_hat, shape (N,), for inputs X of shape (N, 2)."""
    W1 = np.asarray(params["W1"], dtype=np.float64)
    b1 = np.asarray(params["b1"], dtype=np.float64)
    w2 = np.asarray(params["w2"], dtype=np.float64)
    b2 = np.asarray(params["b2"], dtype=np.float64)
    X = _inputs(X)
    x_1, x_2 = X[:, 0], X[:, 1]
    z1_1 = W1[0, 0] * x_1 + W1[0, 1] * x_2 + b1[0]
    z1_2 = W1[1, 0] * x_1 + W1[1, 1] * x_2 + b1[1]
    h_1 = sigmoid(z1_1)
    h_2 = sigmoid(z1_2)
    z2 = w2[0] * h_1 + w2[1] * h_2 + b2
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
    z1_1 = W1[0, 0] * x_1 + W1[0, 1] * x_2 + b1[0]
    z1_2 = W1[1, 0] * x_1 + W1[1, 1] * x_2 + b1[1]
    h_1 = sigmoid(z1_1)
    h_2 = sigmoid(z1_2)
    z2 = w2[0] * h_1 + w2[1] * h_2 + b2
    return float(np.mean(softplus(z2) - y * z2))


def loss_and_gradients(params, X, y):
    """The loss and dL/dtheta for every parameter, from one forward pass."""
    W1 = np.asarray(params["W1"], dtype=np.float64)
    b1 = np.asarray(params["b1"], dtype=np.float64)
    w2 = np.asarray(params["w2"], dtype=np.float64)
    b2 = np.asarray(params["b2"], dtype=np.float64)
    X = _inputs(X)
    x_1, x_2 = X[:, 0], X[:, 1]
    y = _targets(y, X.shape[0])
    z1_1 = W1[0, 0] * x_1 + W1[0, 1] * x_2 + b1[0]
    z1_2 = W1[1, 0] * x_1 + W1[1, 1] * x_2 + b1[1]
    h_1 = sigmoid(z1_1)
    h_2 = sigmoid(z1_2)
    z2 = w2[0] * h_1 + w2[1] * h_2 + b2
    y_hat = sigmoid(z2)
    loss_value = float(np.mean(softplus_from_sigmoid(z2, y_hat) - y * z2))
    delta2 = y_hat - y
    delta1_1 = delta2 * w2[0] * h_1 * (1 - h_1)
    delta1_2 = delta2 * w2[1] * h_2 * (1 - h_2)
    grads = {
        "W1": np.array([
            [np.mean(delta1_1 * x_1), np.mean(delta1_1 * x_2)],
            [np.mean(delta1_2 * x_1), np.mean(delta1_2 * x_2)],
        ]),
        "b1": np.array([np.mean(delta1_1), np.mean(delta1_2)]),
        "w2": np.array([np.mean(delta2 * h_1), np.mean(delta2 * h_2)]),
        "b2": np.mean(delta2),
    }
    return loss_value, grads


def gradients(params, X, y):
    """dL/dtheta for every parameter: a dict with the keys and shapes of `params`."""
    return loss_and_gradients(params, X, y)[1]


def dataset():
    """The XOR truth table: X of shape (4, 2), y of shape (4,)."""
    X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    y = np.array([0.0, 1.0, 1.0, 0.0])
    return X, y


# ----------------------------------------------------------------------- the speed paths
# The same derived expressions as above, printed as whole training loops: train_fast on
# Python floats, train_ensemble over K networks at once. train.py picks them by size.


def _floats(value):
    """A parameter array as a flat list of Python floats (C order)."""
    return np.asarray(value, dtype=np.float64).ravel().tolist()


def train_fast(params, X, y, lr, epochs):
    """Full-batch gradient descent on Python floats: the fastest path for small batches.

    Returns (trained params, losses) where losses[e] is the loss before update e, exactly
    as train.py's loop over loss_and_gradients computes it but with no NumPy call per step.
    Raises OverflowError where exp() overflows (a logit beyond +-709): use that loop there.
    """
    W1_1_1, W1_1_2, W1_2_1, W1_2_2 = _floats(params["W1"])
    b1_1, b1_2 = _floats(params["b1"])
    w2_1, w2_2 = _floats(params["w2"])
    b2, = _floats(params["b2"])
    X = _inputs(X)
    y = _targets(y, X.shape[0])
    samples = [(*row, target) for row, target in zip(X.tolist(), y.tolist())]
    n = len(samples)
    losses = [0.0] * epochs
    for epoch in range(epochs):
        total = 0.0
        g_W1_1_1 = g_W1_1_2 = g_W1_2_1 = g_W1_2_2 = 0.0
        g_b1_1 = g_b1_2 = 0.0
        g_w2_1 = g_w2_2 = 0.0
        g_b2 = 0.0
        for x_1, x_2, y in samples:
            z1_1 = W1_1_1 * x_1 + W1_1_2 * x_2 + b1_1
            z1_2 = W1_2_1 * x_1 + W1_2_2 * x_2 + b1_2
            e_z1_1 = exp(-z1_1)
            h_1 = (1.0 / (1.0 + e_z1_1))
            e_z1_2 = exp(-z1_2)
            h_2 = (1.0 / (1.0 + e_z1_2))
            z2 = w2_1 * h_1 + w2_2 * h_2 + b2
            e_z2 = exp(-z2)
            y_hat = (1.0 / (1.0 + e_z2))
            total += (z2 + log1p(e_z2)) - y * z2
            delta2 = y_hat - y
            delta1_1 = delta2 * w2_1 * h_1 * (1.0 - h_1)
            delta1_2 = delta2 * w2_2 * h_2 * (1.0 - h_2)
            g_W1_1_1 += delta1_1 * x_1
            g_W1_1_2 += delta1_1 * x_2
            g_W1_2_1 += delta1_2 * x_1
            g_W1_2_2 += delta1_2 * x_2
            g_b1_1 += delta1_1
            g_b1_2 += delta1_2
            g_w2_1 += delta2 * h_1
            g_w2_2 += delta2 * h_2
            g_b2 += delta2
        losses[epoch] = total / n
        W1_1_1 -= lr * (g_W1_1_1 / n)
        W1_1_2 -= lr * (g_W1_1_2 / n)
        W1_2_1 -= lr * (g_W1_2_1 / n)
        W1_2_2 -= lr * (g_W1_2_2 / n)
        b1_1 -= lr * (g_b1_1 / n)
        b1_2 -= lr * (g_b1_2 / n)
        w2_1 -= lr * (g_w2_1 / n)
        w2_2 -= lr * (g_w2_2 / n)
        b2 -= lr * (g_b2 / n)
    trained = {
        "W1": np.array([[W1_1_1, W1_1_2], [W1_2_1, W1_2_2]]),
        "b1": np.array([b1_1, b1_2]),
        "w2": np.array([w2_1, w2_2]),
        "b2": np.array(b2),
    }
    return trained, np.array(losses)


def _quantiles(values, quantiles):
    """np.quantile(values, quantiles) (linear interpolation), by one partial sort."""
    position = np.asarray(quantiles) * (len(values) - 1)
    low = np.floor(position).astype(int)
    high = np.minimum(low + 1, len(values) - 1)
    ordered = np.partition(values, np.unique(np.concatenate([low, high])))
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


ENSEMBLE_CHUNK_ELEMENTS = 32768  # per NumPy array; make bench measured this size fastest


def train_ensemble(params, X, y, lr, epochs, quantiles=(0.1, 0.5, 0.9), every=1):
    """Train K networks at once; every parameter array carries a trailing axis of length K.

    Network k follows exactly the steps of loss_and_gradients on its own parameters. The
    networks are processed in chunks whose arrays stay small (fastest here). Memory grows
    with K, not with the epochs: per epoch only the loss quantiles are kept.
    Returns (trained params, loss quantiles per epoch (epochs, len(quantiles)); computed
    every `every` epochs and at the last, NaN rows between,
    loss of every network before its last update (K,), first epoch at which each network
    classified every sample correctly, -1 if never (K,)).
    """
    X = _inputs(X)
    y = _targets(y, X.shape[0])[:, None]
    x_1, x_2 = X[:, 0:1], X[:, 1:2]
    target_class = y >= 0.5
    n = X.shape[0]  # np.sum(..., axis=0) / n is np.mean, bit for bit, with less overhead
    k = np.shape(params["b2"])[-1]
    count = max(1, -(-k * n // ENSEMBLE_CHUNK_ELEMENTS))  # chunks of (nearly) equal size
    bounds = [k * c // count for c in range(count + 1)]
    slices = [slice(start, stop) for start, stop in zip(bounds, bounds[1:])]
    chunks = [{name: np.array(np.asarray(value, dtype=np.float64)[..., part])
               for name, value in params.items()} for part in slices]
    curves = np.full((epochs, len(quantiles)), np.nan)
    losses = np.empty(k)
    first_solved = np.full(k, -1)
    for epoch in range(epochs):
        for part, chunk in zip(slices, chunks):
            W1 = chunk["W1"]  # updated in place below
            b1 = chunk["b1"]  # updated in place below
            w2 = chunk["w2"]  # updated in place below
            b2 = chunk["b2"]  # updated in place below
            z1_1 = W1[0, 0] * x_1 + W1[0, 1] * x_2 + b1[0]
            z1_2 = W1[1, 0] * x_1 + W1[1, 1] * x_2 + b1[1]
            h_1 = sigmoid(z1_1)
            h_2 = sigmoid(z1_2)
            z2 = w2[0] * h_1 + w2[1] * h_2 + b2
            y_hat = sigmoid(z2)
            losses[part] = np.sum(softplus_from_sigmoid(z2, y_hat) - y * z2, axis=0) / n
            solved = np.all((y_hat >= 0.5) == target_class, axis=0)
            newly = (first_solved[part] < 0) & solved
            first_solved[part][newly] = epoch
            delta2 = y_hat - y
            delta1_1 = delta2 * w2[0] * h_1 * (1 - h_1)
            delta1_2 = delta2 * w2[1] * h_2 * (1 - h_2)
            W1[0, 0] -= lr * (np.sum(delta1_1 * x_1, axis=0) / n)
            W1[0, 1] -= lr * (np.sum(delta1_1 * x_2, axis=0) / n)
            W1[1, 0] -= lr * (np.sum(delta1_2 * x_1, axis=0) / n)
            W1[1, 1] -= lr * (np.sum(delta1_2 * x_2, axis=0) / n)
            b1[0] -= lr * (np.sum(delta1_1, axis=0) / n)
            b1[1] -= lr * (np.sum(delta1_2, axis=0) / n)
            w2[0] -= lr * (np.sum(delta2 * h_1, axis=0) / n)
            w2[1] -= lr * (np.sum(delta2 * h_2, axis=0) / n)
            b2[...] -= lr * (np.sum(delta2, axis=0) / n)
        if epoch % every == 0 or epoch == epochs - 1:  # NaN rows between
            curves[epoch] = _quantiles(losses, quantiles)
    trained = {name: np.concatenate([chunk[name] for chunk in chunks], axis=-1)
               for name in params}
    return trained, curves, losses, first_solved


def ensemble_forward(params, X):
    """Predictions y_hat of K networks at once, shape (N, K): the K axis trails as above."""
    W1 = np.asarray(params["W1"], dtype=np.float64)
    b1 = np.asarray(params["b1"], dtype=np.float64)
    w2 = np.asarray(params["w2"], dtype=np.float64)
    b2 = np.asarray(params["b2"], dtype=np.float64)
    X = _inputs(X)
    x_1, x_2 = X[:, 0:1], X[:, 1:2]
    z1_1 = W1[0, 0] * x_1 + W1[0, 1] * x_2 + b1[0]
    z1_2 = W1[1, 0] * x_1 + W1[1, 1] * x_2 + b1[1]
    h_1 = sigmoid(z1_1)
    h_2 = sigmoid(z1_2)
    z2 = w2[0] * h_1 + w2[1] * h_2 + b2
    y_hat = sigmoid(z2)
    return y_hat
