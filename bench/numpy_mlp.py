"""A hand-written NumPy MLP, the baseline of `make bench`'s digits rows: what a student
writes for a tanh hidden layer and a softmax output with cross-entropy, full batch. Nothing
here comes from derive/ or generated/."""

from __future__ import annotations

import numpy as np


def train(params: dict[str, np.ndarray], X: np.ndarray, y: np.ndarray, lr: float,
          epochs: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
    W1, b1, W2, b2 = (np.array(params[k], dtype=np.float64) for k in ("W1", "b1", "W2", "b2"))
    onehot = np.eye(len(b2))[y.astype(int)]
    n = len(X)
    history = np.empty(epochs)
    for epoch in range(epochs):
        hidden = np.tanh(X @ W1.T + b1)
        logits = hidden @ W2.T + b2
        shifted = logits - logits.max(axis=1, keepdims=True)
        exp = np.exp(shifted)
        total = exp.sum(axis=1, keepdims=True)
        history[epoch] = np.mean(np.log(total[:, 0]) - np.sum(onehot * shifted, axis=1))
        d_logits = (exp / total - onehot) / n
        d_hidden = (d_logits @ W2) * (1 - hidden**2)
        W2 -= lr * (d_logits.T @ hidden)
        b2 -= lr * d_logits.sum(axis=0)
        W1 -= lr * (d_hidden.T @ X)
        b1 -= lr * d_hidden.sum(axis=0)
    return {"W1": W1, "b1": b1, "W2": W2, "b2": b2}, history
