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

RUN_FILES = ("loss.png", "boundary.png", "history.csv", "params.json")


def classes(model: ModuleType, params: dict[str, np.ndarray], X: np.ndarray) -> np.ndarray:
    """Predicted class of every sample: y_hat >= 0.5."""
    return (model.forward(params, X) >= 0.5).astype(int)


def prediction_table(model: ModuleType, params: dict[str, np.ndarray], X: np.ndarray,
                     y: np.ndarray) -> str:
    """x, y, y_hat and the class of every sample, one row each (printed for small data)."""
    y_hat = model.forward(params, X)
    inputs = [f"x{j + 1}" for j in range(X.shape[1])]
    rows = ["  ".join(f"{h:>5}" for h in inputs) + "      y      y_hat  class"]
    for x_row, target, p in zip(X, y, y_hat):
        cells = "  ".join(f"{v:5g}" for v in x_row)
        rows.append(f"{cells}  {target:5g}  {p:9.6f}  {int(p >= 0.5):5d}")
    return "\n".join(rows)


def write_run(model: ModuleType, out: Path, record: dict[str, object], history: np.ndarray,
              params: dict[str, np.ndarray], X: np.ndarray, y: np.ndarray, title: str,
              verdict: str, reference: np.ndarray | None = None) -> list[str]:
    """The run's files into `out`, all or none; the names written (boundary.png only for
    two-input networks)."""
    with staged_outputs(out, RUN_FILES) as stage:
        write_text(stage / "params.json", json.dumps(record, indent=2, allow_nan=False) + "\n")
        write_parts(stage / "history.csv", history_parts(history, c_formatter()))
        plots.plot_loss(model, stage / "loss.png", history, f"{title}: loss per epoch{verdict}",
                        reference=reference)
        if model.N_INPUTS == 2:
            plots.plot_boundary(model, stage / "boundary.png", params, X, y,
                                f"{title}: y_hat and the data")
    return [n for n in RUN_FILES if n != "boundary.png" or model.N_INPUTS == 2]
