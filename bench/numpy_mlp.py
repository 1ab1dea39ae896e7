"""A hand-written NumPy MLP, the baseline of `make bench`'s digits rows: what a student
writes for a tanh hidden layer and a softmax output with cross-entropy, full batch or
mini-batches in a given order. Nothing here comes from derive/ or generated/."""

from __future__ import annotations

import numpy as np


def train(params: dict[str, np.ndarray], X: np.ndarray, y: np.ndarray, lr: float,
          epochs: int, orders=None, batch_size: int | None = None,
          ) -> tuple[dict[str, np.ndarray], np.ndarray]:
    W1, b1, W2, b2 = (np.array(params[k], dtype=np.float64) for k in ("W1", "b1", "W2", "b2"))
    onehot = np.eye(len(b2))[y.astype(int)]
    history = np.empty(epochs)
    for epoch in range(epochs):
        if orders is None:
            batches = [(X, onehot)]
        else:
            order = next(orders)
            batches = [(X[order[s:s + batch_size]], onehot[order[s:s + batch_size]])
                       for s in range(0, len(X), batch_size)]
        losses = []
        for inputs, targets in batches:
            hidden = np.tanh(inputs @ W1.T + b1)
            logits = hidden @ W2.T + b2
            shifted = logits - logits.max(axis=1, keepdims=True)
            exp = np.exp(shifted)
            total = exp.sum(axis=1, keepdims=True)
            losses.append(np.mean(np.log(total[:, 0]) - np.sum(targets * shifted, axis=1)))
            d_logits = (exp / total - targets) / len(inputs)
            d_hidden = (d_logits @ W2) * (1 - hidden**2)
            W2 -= lr * (d_logits.T @ hidden)
            b2 -= lr * d_logits.sum(axis=0)
            W1 -= lr * (d_hidden.T @ inputs)
            b1 -= lr * d_hidden.sum(axis=0)
        history[epoch] = sum(losses) / len(losses)
    return {"W1": W1, "b1": b1, "W2": W2, "b2": b2}, history
