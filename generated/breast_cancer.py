"""Forward pass, loss and gradients of network `breast_cancer`.

A 30-16-1 ReLU network with binary cross-entropy on the breast cancer data.

GENERATED FILE - do not edit. Regenerate with `make derive SPEC=specs/breast_cancer.toml`
(python -m derive specs/breast_cancer.toml): written from that spec, the SymPy derivation in
derive/ and the template derive/templates/module.py.j2. Gradients are SymPy's, proved
equal to the derivative of the loss.
Whether it is current (derived from today's spec and derive/) is recorded in
generated/manifest.json, which train.py checks.
"""

import numpy as np

SPEC_NAME = "breast_cancer"
# The spec this module was derived from, and this file's own hash (with the digits of
# MODULE_SHA256 zeroed) to notice hand edits.
SPEC_FILE = "specs/breast_cancer.toml"
MODULE_SHA256 = "c3a95e02139fb5250a721b86ec59d03935c7d16472d9aae035fbab766965ade6"
DATASET = "breast_cancer"
HELD_OUT = True  # dataset("test") exists
LOSS = "binary cross-entropy"
LOSS_NAME = "bce"
ACTIVATIONS = ("relu", "sigmoid",)  # per layer, input side first
# For the PyTorch referee (train.py --compare-torch): per layer, "" for the identity.
TORCH_ACTIVATIONS = ("torch.relu", "torch.sigmoid",)
TORCH_LOSS = "torch.nn.functional.binary_cross_entropy"
LABELS = "binary"  # binary: targets 0 or 1; real: any number; classes: 0 .. K-1
DEFAULTS = {"lr": 0.1, "epochs": 500, "seed": 0}
N_INPUTS = 30
N_OUTPUTS = 1
# (name, shape, fan-in) of every parameter, in initialisation order.
PARAMS = (
    ("W1", (16, 30), 30),
    ("b1", (16,), 30),
    ("w2", (16,), 16),
    ("b2", (), 16),
)


def relu(z):
    """max(z, 0), element by element."""
    return np.maximum(z, 0.0)


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
    """X as a float array of shape (N, 30), or a clear error."""
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
# forward, loss and gradients, written as the formulas in breast_cancer.md read, with the
# same names. Everything after the next rule of this kind is the same derivation again,
# arranged for speed (whole training loops); a reader of the model can stop there.


def forward(params, X):
    """Predictions y_hat, shape (N,), for inputs X of shape (N, 30)."""
    W1 = np.asarray(params["W1"], dtype=np.float64)
    b1 = np.asarray(params["b1"], dtype=np.float64)
    W2 = np.asarray(params["w2"], dtype=np.float64).reshape((1, 16))
    b2 = np.asarray(params["b2"], dtype=np.float64).reshape((1,))
    X = _inputs(X)
    Z1 = X @ W1.T + b1
    A1 = relu(Z1)
    Z2 = A1 @ W2.T + b2
    Y_hat = sigmoid(Z2)
    return Y_hat[:, 0]


def loss(params, X, y):
    """Mean binary cross-entropy over the N samples, computed from the output logit."""
    W1 = np.asarray(params["W1"], dtype=np.float64)
    b1 = np.asarray(params["b1"], dtype=np.float64)
    W2 = np.asarray(params["w2"], dtype=np.float64).reshape((1, 16))
    b2 = np.asarray(params["b2"], dtype=np.float64).reshape((1,))
    X = _inputs(X)
    Y = _targets(y, X.shape[0]).reshape(-1, 1)  # a row per sample
    N = X.shape[0]
    Z1 = X @ W1.T + b1
    A1 = relu(Z1)
    Z2 = A1 @ W2.T + b2
    return float((softplus(Z2) - Y*Z2).sum()) / N


def loss_and_gradients(params, X, y):
    """The loss and dL/dtheta for every parameter, from one forward pass."""
    W1 = np.asarray(params["W1"], dtype=np.float64)
    b1 = np.asarray(params["b1"], dtype=np.float64)
    W2 = np.asarray(params["w2"], dtype=np.float64).reshape((1, 16))
    b2 = np.asarray(params["b2"], dtype=np.float64).reshape((1,))
    X = _inputs(X)
    Y = _targets(y, X.shape[0]).reshape(-1, 1)  # a row per sample
    N = X.shape[0]
    Z1 = X @ W1.T + b1
    A1 = relu(Z1)
    Z2 = A1 @ W2.T + b2
    Y_hat = sigmoid(Z2)
    loss_value = float((softplus_from_sigmoid(Z2, Y_hat) - Y*Z2).sum()) / N
    Delta2 = (Y_hat - Y)/N
    Delta1 = (Delta2 @ W2) * (np.heaviside(Z1, 0.0))
    grads = {
        "W1": Delta1.T @ X,
        "b1": Delta1.T @ np.ones(N),
        "w2": np.reshape(Delta2.T @ A1, (16,)),
        "b2": np.reshape(Delta2.T @ np.ones(N), ()),
    }
    return loss_value, grads


def gradients(params, X, y):
    """dL/dtheta for every parameter: a dict with the keys and shapes of `params`."""
    return loss_and_gradients(params, X, y)[1]


def _split(seed, test_fraction):
    """scikit-learn's bundled breast_cancer data (no download), split as scikit-learn splits it
    (train_test_split, stratified by class, `test_fraction` held out, random_state `seed`)."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import train_test_split

    data = load_breast_cancer()
    X, y = data.data.astype(np.float64), data.target.astype(np.float64)
    return train_test_split(X, y, test_size=test_fraction, stratify=y, random_state=seed)


def _scaling(X_train):
    mean, std = X_train.mean(axis=0), X_train.std(axis=0)
    std[std == 0.0] = 1.0  # an input constant in training (a corner pixel) stays 0
    return mean, std


def dataset(part="train", seed=0, test_fraction=0.25):
    """The training or the held-out test part, every input standardised with the training
    part's mean and standard deviation only."""
    if part not in ("train", "test"):
        raise ValueError(f"part must be 'train' or 'test', got {part!r}")
    X_train, X_test, y_train, y_test = _split(seed, test_fraction)
    mean, std = _scaling(X_train)
    if part == "test":
        return (X_test - mean) / std, y_test
    return (X_train - mean) / std, y_train


def input_scaling(seed=0, test_fraction=0.25):
    """(mean, std) of every input over the training part: the network sees (x - mean) / std,
    so a raw measurement given to predict must be scaled the same way."""
    return _scaling(_split(seed, test_fraction)[0])


# ----------------------------------------------------------------------- the speed paths
# The same derived expressions as above, printed as one whole training loop, which
# train.py runs for plain gradient descent.


def _batches(X, Y, order, batch_size):
    """The rows of X and Y in `order`, cut into batches of `batch_size`, the last smaller:
    both put in that order once, so that each batch is a slice."""
    X, Y = X[order], Y[order]
    return [(X[start:start + batch_size], Y[start:start + batch_size])
            for start in range(0, len(order), batch_size)]


def train_batches(params, X, y, lr, epochs, orders=None, batch_size=None, full_losses=None):
    """Gradient descent theta <- theta - lr dL/dtheta in one loop: what train.py's loop over
    loss_and_gradients computes, bit for bit, without checking the inputs or making the
    targets again at every step, the parameters updated in place.

    Full batch when `orders` is None; else `orders` yields each epoch's order of the
    samples, cut into batches of `batch_size`. Returns (trained params, losses) where
    losses[e] is the loss before update e (full batch) or the mean of epoch e's batch
    losses, each before its own step. Stops at a non-finite loss. Given an array
    `full_losses`, fills full_losses[e] with the loss on all of X, y before epoch e.
    """
    # copies of the parameters, updated in place
    W1 = np.array(params["W1"], dtype=np.float64)
    b1 = np.array(params["b1"], dtype=np.float64)
    W2 = np.array(params["w2"], dtype=np.float64).reshape((1, 16))
    b2 = np.array(params["b2"], dtype=np.float64).reshape((1,))
    X = _inputs(X)
    Y = _targets(y, X.shape[0]).reshape(-1, 1)  # a row per sample
    X_all, Y_all = X, Y

    def current():
        return {
            "W1": W1,
            "b1": b1,
            "w2": W2.reshape((16,)),
            "b2": b2.reshape(()),
        }

    losses = np.empty(epochs)
    for epoch in range(epochs):
        if full_losses is not None:
            full_losses[epoch] = loss(current(), X_all, y)
        if orders is None:
            batches = [(X_all, Y_all)]
        else:
            batches = _batches(X_all, Y_all, next(orders), batch_size)
        batch_losses = []
        for X, Y in batches:
            N = X.shape[0]
            Z1 = X @ W1.T + b1
            A1 = relu(Z1)
            Z2 = A1 @ W2.T + b2
            Y_hat = sigmoid(Z2)
            loss_value = float((softplus_from_sigmoid(Z2, Y_hat) - Y*Z2).sum()) / N
            batch_losses.append(loss_value)
            if not np.isfinite(loss_value):
                break
            Delta2 = (Y_hat - Y)/N
            Delta1 = (Delta2 @ W2) * (np.heaviside(Z1, 0.0))
            W1 -= lr * (Delta1.T @ X)
            b1 -= lr * (Delta1.T @ np.ones(N))
            W2 -= lr * (Delta2.T @ A1)
            b2 -= lr * (Delta2.T @ np.ones(N))
        losses[epoch] = sum(batch_losses) / len(batch_losses)
        if not np.isfinite(losses[epoch]):
            break
    return current(), losses
