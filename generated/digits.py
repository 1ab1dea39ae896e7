"""Forward pass, loss and gradients of network `digits`.

A 64-32-10 tanh network with softmax and cross-entropy on the 8x8 digits.

GENERATED FILE - do not edit. Regenerate with `make derive SPEC=specs/digits.toml`
(python -m derive specs/digits.toml): written from that spec, the SymPy derivation in
derive/ and the template derive/templates/module.py.j2. Gradients are SymPy's, proved
equal to the derivative of the loss.
Whether it is current (derived from today's spec and derive/) is recorded in
generated/manifest.json, which train.py checks.
"""

import numpy as np

SPEC_NAME = "digits"
# The spec this module was derived from, and this file's own hash (with the digits of
# MODULE_SHA256 zeroed) to notice hand edits.
SPEC_FILE = "specs/digits.toml"
MODULE_SHA256 = "d85e8fb37b0187bb00c2e00717861def3e923a19421aa8f7a9f3014f484e33d7"
DATASET = "digits"
HELD_OUT = True  # dataset("test") exists
LOSS = "categorical cross-entropy"
LOSS_NAME = "cross_entropy"
ACTIVATIONS = ("tanh", "softmax",)  # per layer, input side first
# For the PyTorch referee (train.py --compare-torch): per layer, "" for the identity.
TORCH_ACTIVATIONS = ("torch.tanh", "",)
TORCH_LOSS = "torch.nn.functional.cross_entropy"
LABELS = "classes"  # binary: targets 0 or 1; real: any number; classes: 0 .. K-1
DEFAULTS = {"lr": 0.5, "epochs": 60, "seed": 0, "batch_size": 64}
N_INPUTS = 64
N_OUTPUTS = 10
# (name, shape, fan-in) of every parameter, in initialisation order.
PARAMS = (
    ("W1", (32, 64), 64),
    ("b1", (32,), 64),
    ("W2", (10, 32), 32),
    ("b2", (10,), 32),
)


def row_max(M):
    """Each row's largest entry; of many short rows, taken column by column."""
    if M.shape[0] < 32 * M.shape[1]:
        return M.max(axis=1)
    top = M[:, 0].copy()
    for k in range(1, M.shape[1]):
        np.maximum(top, M[:, k], out=top)
    return top


def row_sums(M):
    """Each row's sum; of many short rows, as M 1 (one matrix-vector product)."""
    if M.shape[0] < 32 * M.shape[1]:
        return M.sum(axis=1)
    return M @ np.ones(M.shape[1])


def softmax(Z):
    """Each row's exp(z_k) / sum_j exp(z_j), computed without overflow."""
    E = np.exp(Z - row_max(Z)[:, None])
    return E / row_sums(E)[:, None]


def logsumexp(Z):
    """Each row's log sum_j exp(z_j), computed without overflow."""
    top = row_max(Z)
    return top + np.log(row_sums(np.exp(Z - top[:, None])))


def logsumexp_from_softmax(Z, P):
    """Each row's log sum_j exp(z_j) from its softmax P, without another exp: the largest
    logit minus the log of its probability (at least 1/K, so the log loses nothing)."""
    rows, top = np.arange(len(Z)), Z.argmax(axis=1)
    return Z[rows, top] - np.log(P[rows, top])


def _inputs(X):
    """X as a float array of shape (N, 64), or a clear error."""
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


def _one_hot(y, n):
    """Class labels 0..K-1, shape (N,), as one-hot rows of shape (N, K)."""
    y = _targets(y, n)
    if not np.all((y == np.round(y)) & (y >= 0) & (y < N_OUTPUTS)):
        raise ValueError(f"y must hold class labels 0..{N_OUTPUTS - 1}")
    return np.eye(N_OUTPUTS)[y.astype(int)]


# ---------------------------------------------------------------------------- the model
# forward, loss and gradients, written as the formulas in digits.md read, with the
# same names. Everything after the next rule of this kind is the same derivation again,
# arranged for speed (whole training loops); a reader of the model can stop there.


def forward(params, X):
    """Class probabilities y_hat, shape (N, 10), for inputs X of shape (N, 64)."""
    W1 = np.asarray(params["W1"], dtype=np.float64)
    b1 = np.asarray(params["b1"], dtype=np.float64)
    W2 = np.asarray(params["W2"], dtype=np.float64)
    b2 = np.asarray(params["b2"], dtype=np.float64)
    X = _inputs(X)
    Z1 = X @ W1.T + b1
    A1 = np.tanh(Z1)
    Z2 = A1 @ W2.T + b2
    Y_hat = softmax(Z2)
    return Y_hat


def loss(params, X, y):
    """Mean categorical cross-entropy over the N samples, computed from the output logit."""
    W1 = np.asarray(params["W1"], dtype=np.float64)
    b1 = np.asarray(params["b1"], dtype=np.float64)
    W2 = np.asarray(params["W2"], dtype=np.float64)
    b2 = np.asarray(params["b2"], dtype=np.float64)
    X = _inputs(X)
    Y = _one_hot(y, X.shape[0])
    N = X.shape[0]
    Z1 = X @ W1.T + b1
    A1 = np.tanh(Z1)
    Z2 = A1 @ W2.T + b2
    return float((logsumexp(Z2) - row_sums(Y * Z2)).sum()) / N


def loss_and_gradients(params, X, y):
    """The loss and dL/dtheta for every parameter, from one forward pass."""
    W1 = np.asarray(params["W1"], dtype=np.float64)
    b1 = np.asarray(params["b1"], dtype=np.float64)
    W2 = np.asarray(params["W2"], dtype=np.float64)
    b2 = np.asarray(params["b2"], dtype=np.float64)
    X = _inputs(X)
    Y = _one_hot(y, X.shape[0])
    N = X.shape[0]
    Z1 = X @ W1.T + b1
    A1 = np.tanh(Z1)
    Z2 = A1 @ W2.T + b2
    Y_hat = softmax(Z2)
    loss_value = float((logsumexp_from_softmax(Z2, Y_hat) - row_sums(Y * Z2)).sum()) / N
    Delta2 = (Y_hat - Y)/N
    Delta1 = (Delta2 @ W2) * (1 - A1**2)
    grads = {
        "W1": Delta1.T @ X,
        "b1": Delta1.T @ np.ones(N),
        "W2": Delta2.T @ A1,
        "b2": Delta2.T @ np.ones(N),
    }
    return loss_value, grads


def gradients(params, X, y):
    """dL/dtheta for every parameter: a dict with the keys and shapes of `params`."""
    return loss_and_gradients(params, X, y)[1]


def _split(seed, test_fraction):
    """scikit-learn's bundled digits data (no download), split as scikit-learn splits it
    (train_test_split, stratified by class, `test_fraction` held out, random_state `seed`)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    data = load_digits()
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
    W2 = np.array(params["W2"], dtype=np.float64)
    b2 = np.array(params["b2"], dtype=np.float64)
    X = _inputs(X)
    Y = _one_hot(y, X.shape[0])
    X_all, Y_all = X, Y

    def current():
        return {
            "W1": W1,
            "b1": b1,
            "W2": W2,
            "b2": b2,
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
            A1 = np.tanh(Z1)
            Z2 = A1 @ W2.T + b2
            Y_hat = softmax(Z2)
            loss_value = float((logsumexp_from_softmax(Z2, Y_hat) - row_sums(Y * Z2)).sum()) / N
            batch_losses.append(loss_value)
            if not np.isfinite(loss_value):
                break
            Delta2 = (Y_hat - Y)/N
            Delta1 = (Delta2 @ W2) * (1 - A1**2)
            W1 -= lr * (Delta1.T @ X)
            b1 -= lr * (Delta1.T @ np.ones(N))
            W2 -= lr * (Delta2.T @ A1)
            b2 -= lr * (Delta2.T @ np.ones(N))
        losses[epoch] = sum(batch_losses) / len(batch_losses)
        if not np.isfinite(losses[epoch]):
            break
    return current(), losses
