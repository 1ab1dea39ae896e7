"""One training run's results: its predictions, what params.json records, and its set of
files (loss.png, boundary.png, history.csv, params.json), published together."""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType

import numpy as np

from trainer import plots
from trainer.history import c_formatter, history_parts
from trainer.outputs import staged_outputs, write_parts, write_text

RUN_FILES = ("loss.png", "boundary.png", "confusion.png", "history.csv", "params.json")


def classes(model: ModuleType, params: dict[str, np.ndarray], X: np.ndarray) -> np.ndarray:
    """Predicted class of every sample."""
    return classes_of(model, model.forward(params, X))


def classes_of(model: ModuleType, y_hat: np.ndarray) -> np.ndarray:
    """The class forward's output `y_hat` predicts: the most probable one of a softmax
    output, else y_hat >= 0.5."""
    if model.LABELS == "classes":
        return np.argmax(y_hat, axis=1)
    return (y_hat >= 0.5).astype(int)


def labels(model: ModuleType, y: np.ndarray) -> np.ndarray:
    """The class of every target: the label itself, or y >= 0.5 for 0/1 targets."""
    return y.astype(int) if model.LABELS == "classes" else (y >= 0.5).astype(int)


def confusion(model: ModuleType, params: dict[str, np.ndarray], X: np.ndarray,
              y: np.ndarray) -> np.ndarray:
    """counts[true class, predicted class]."""
    size = model.N_OUTPUTS if model.LABELS == "classes" else 2
    counts = np.zeros((size, size), dtype=int)
    np.add.at(counts, (labels(model, y), classes(model, params, X)), 1)
    return counts


def prediction_table(model: ModuleType, params: dict[str, np.ndarray], X: np.ndarray,
                     y: np.ndarray) -> str:
    """x, y, y_hat and the class of every sample, one row each (printed for small data);
    for a softmax output, y_hat is the probability of the predicted class."""
    y_hat = model.forward(params, X)
    predicted = classes_of(model, y_hat)
    if model.LABELS == "classes":
        y_hat = y_hat.max(axis=1)
    inputs = [f"x{j + 1}" for j in range(X.shape[1])]
    shown = "p(class)" if model.LABELS == "classes" else "y_hat"
    rows = ["  ".join(f"{h:>5}" for h in inputs) + f"      y  {shown:>9}  class"]
    for x_row, target, p, chosen in zip(X, y, y_hat, predicted):
        cells = "  ".join(f"{v:5g}" for v in x_row)
        rows.append(f"{cells}  {target:5g}  {p:9.6f}  {chosen:5d}")
    return "\n".join(rows)


def _boundary(model: ModuleType) -> bool:
    """A decision surface to draw: two inputs, one output."""
    return model.N_INPUTS == 2 and model.LABELS != "classes"


def write_run(model: ModuleType, out: Path, record: dict[str, object], history: np.ndarray,
              full_losses: np.ndarray | None, params: dict[str, np.ndarray], X: np.ndarray,
              y: np.ndarray, title: str, verdict: str, reference: np.ndarray | None = None,
              counts: np.ndarray | None = None) -> list[str]:
    """The run's files into `out`, all or none; the names written (boundary.png only for
    two-input networks, confusion.png where `counts` are given). `full_losses`, the loss on
    all the data before each epoch (--full-loss), goes in history.csv's third column."""
    with staged_outputs(out, RUN_FILES) as stage:
        write_text(stage / "params.json", json.dumps(record, indent=2, allow_nan=False) + "\n")
        write_parts(stage / "history.csv", history_parts(history, c_formatter(), full_losses))
        plots.plot_loss(model, stage / "loss.png", history, f"{title}: loss per epoch{verdict}",
                        reference=reference, full_losses=full_losses,
                        batches=bool(record.get("batch_size")))
        if _boundary(model):
            plots.plot_boundary(model, stage / "boundary.png", params, X, y,
                                f"{title}: y_hat and the data")
        if counts is not None:
            plots.plot_confusion(stage / "confusion.png", counts,
                                 f"{title}: confusion matrix, {counts.sum()} samples of the "
                                 + ("held-out test part" if "test_accuracy" in record
                                    else "training data"))
    return [n for n in RUN_FILES if (n != "boundary.png" or _boundary(model))
            and (n != "confusion.png" or counts is not None)]
