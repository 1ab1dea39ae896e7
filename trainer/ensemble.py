"""Thousands of initialisations trained at once (train.py --inits K): how many solve the
data at each learning rate, the loss quantiles per epoch, and the files that show it."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import numpy as np

from trainer import plots
from trainer.compiled import compiled_library, train_ensemble_compiled
from trainer.errors import BadInput, Diverged
from trainer.loops import ensemble_init
from trainer.outputs import staged_outputs, write_text

ENSEMBLE_QUANTILES = (0.1, 0.5, 0.9)
ENSEMBLE_BLOCK_ELEMENTS = 1 << 21  # samples x networks per block: 16 MB an array
ENSEMBLE_FILES = ("ensemble.png", "sweep.png", "ensemble.csv", "ensemble.json")


def ensemble_path(model: ModuleType, requested: str = "auto") -> str:
    """"c" (the generated C ensemble loop) where a compiler builds it, else "numpy"; a
    requested backend is honoured or refused in one line."""
    if requested == "python":
        raise BadInput("--inits runs on the C ensemble loop or NumPy; use --backend c, numpy "
                       "or auto")
    if requested == "c":
        compiled_library(model, required=True)
        return "c"
    if requested == "auto" and compiled_library(model, required=False) is not None:
        return "c"
    return "numpy"


ENSEMBLE_PATHS = {"c": "C ensemble loop", "numpy": "NumPy"}


def quantile_stride(count: int) -> int:
    """Every how many epochs the loss quantiles are taken: a quantile of K losses costs
    about as much as an epoch of K networks in C, so above 1,000 networks they are taken
    every K / 1,000 epochs (and at the last), keeping their cost a small share."""
    return max(1, count // 1000)


def run_ensemble(model: ModuleType, init: dict[str, np.ndarray], X: np.ndarray, y: np.ndarray,
                 lr: float, epochs: int, path: str = "numpy") -> dict[str, object]:
    """Train every network of `init` at one learning rate on `path` ("c" or "numpy");
    summarise what became of them."""
    count = np.shape(init[model.PARAMS[-1][0]])[-1]
    start = time.perf_counter()
    trainer = model.train_ensemble if path == "numpy" else (
        lambda *args: train_ensemble_compiled(model, *args))
    every = quantile_stride(count)
    with np.errstate(over="ignore", invalid="ignore"):
        trained, curves, losses, first_solved = trainer(
            init, X, y, lr, epochs, ENSEMBLE_QUANTILES, every)
    shown = np.arange(epochs)
    shown = shown[(shown % every == 0) | (shown == epochs - 1)]
    seconds = time.perf_counter() - start
    # Diverged as a single run counts it: a non-finite loss, or one ending far above its start.
    with np.errstate(all="ignore"):
        initial, _ = verdicts(model, init, X, y)
        _, correct = verdicts(model, trained, X, y)
        diverged = ~np.isfinite(losses) | (losses > 10.0 * initial + 1.0)
    solved = correct & ~diverged
    needed = first_solved[solved]
    kept = losses[~diverged]
    return {
        "lr": lr, "networks": int(count), "solved": int(solved.sum()),
        "solved_fraction": float(solved.mean()),
        "median_final_loss": float(np.median(kept)) if len(kept) else None,
        "diverged": int(diverged.sum()),
        "epochs_to_solve_median": float(np.median(needed)) if len(needed) else None,
        "epochs_to_solve_p90": float(np.quantile(needed, 0.9)) if len(needed) else None,
        "seconds": seconds, "ns_per_network_epoch": 1e9 * seconds / (count * epochs),
        "curve_epochs": shown, "curves": curves[shown], "losses": losses,
    }


def verdicts(model: ModuleType, params: dict[str, np.ndarray], X: np.ndarray,
             y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each network's loss (enough to tell divergence) and whether it classifies every
    sample, computed a block of networks at a time so memory stays bounded whatever N is."""
    k = np.shape(params[model.PARAMS[-1][0]])[-1]
    step = max(1, ENSEMBLE_BLOCK_ELEMENTS // max(1, len(X)))
    losses, correct = np.empty(k), np.empty(k, dtype=bool)
    target = y[:, None]
    for start in range(0, k, step):
        part = slice(start, min(k, start + step))
        y_hat = model.ensemble_forward({n: np.asarray(v)[..., part] for n, v in params.items()},
                                       X)
        if model.LABELS == "binary":
            p = np.clip(y_hat, 1e-300, 1.0 - 1e-16)
            losses[part] = -np.mean(target * np.log(p) + (1.0 - target) * np.log1p(-p), axis=0)
        else:
            losses[part] = np.mean((y_hat - target) ** 2, axis=0)
        correct[part] = np.all((y_hat >= 0.5) == (target >= 0.5), axis=0)
    return losses, correct


def study(model: ModuleType, X: np.ndarray, y: np.ndarray, data_name: str, seed: int,
          count: int, rates: list[float], epochs: int, out: Path,
          say: Callable[..., None], backend: str = "auto") -> int:
    """`count` initialisations per learning rate: train them, write the ensemble files into
    `out`, print the table; Diverged (exit 3) if any network diverged."""
    if not hasattr(model, "train_ensemble"):
        why = "has a softmax output" if model.LABELS == "classes" else "is larger"
        raise BadInput(f"--inits needs a generated ensemble trainer, which only networks of at "
                       f"most 40 parameters and one output get; {model.SPEC_NAME} {why}")
    path = ensemble_path(model, backend)
    init = ensemble_init(model, seed, count)
    say(f"training {count} initialisation{'s' * (count != 1)} of {model.SPEC_NAME} at once "
        f"on {data_name} "
        f"(seeds {seed}..{seed + count - 1}), {epochs} epochs, {ENSEMBLE_PATHS[path]}")
    results = [run_ensemble(model, init, X, y, lr, epochs, path) for lr in rates]
    summary = [{k: v for k, v in r.items() if k not in ("curves", "curve_epochs", "losses")}
               for r in results]
    with staged_outputs(out, ENSEMBLE_FILES) as stage:
        _write_ensemble(model, stage, results, summary, data_name, seed, count, epochs)
    written = [n for n in ENSEMBLE_FILES if n != "sweep.png" or len(results) > 1]
    print(f"{'lr':>8}  {'solved':>15}  {'median loss':>11}  {'epochs to solve':>16}  "
          f"{'time':>6}  {'ns/net-epoch':>12}")
    for r in results:
        epochs_needed = ("-" if r["epochs_to_solve_median"] is None else
                         f"{r['epochs_to_solve_median']:.0f} / {r['epochs_to_solve_p90']:.0f}")
        print(f"{r['lr']:>8g}  {r['solved']:>7d} {r['solved_fraction']:>6.1%}  "
              f"{_loss_text(r['median_final_loss']):>11}  {epochs_needed:>16}  "
              f"{r['seconds']:>5.1f}s  "
              f"{r['ns_per_network_epoch']:>12.0f}")
    say("epochs to solve: median / 90th percentile over the networks that solved the data")
    say("wrote " + ", ".join(str(out / name) for name in written))
    diverged = [r for r in results if r["diverged"]]
    if diverged:
        counts = ", ".join(f"{r['diverged']} of {r['networks']} at lr {r['lr']:g}"
                           for r in diverged)
        raise Diverged(f"training diverged for some networks ({counts}); they count as not "
                       "solved in ensemble.json; try a smaller --lr")
    return 0


def _loss_text(value: float | None) -> str:
    """A median loss for the table; "-" where every network diverged."""
    return "-" if value is None else f"{value:.4g}"


def _write_ensemble(model: ModuleType, stage: Path, results: list[dict], summary: list[dict],
                    data_name: str, seed: int, count: int, epochs: int) -> None:
    """ensemble.json (the summary), ensemble.csv (the quantile curves) and the figures."""
    write_text(stage / "ensemble.json", json.dumps({
        "spec": model.SPEC_NAME, "data": data_name, "inits": count, "seed": seed,
        "epochs": epochs, "quantiles": ENSEMBLE_QUANTILES, "results": summary},
        indent=2, allow_nan=False) + "\n")
    rows = ["lr,epoch," + ",".join(f"q{round(100 * q)}" for q in ENSEMBLE_QUANTILES) + "\n"]
    for r in results:
        rows += [f"{r['lr']!r},{e}," + ",".join(repr(float(v)) for v in row) + "\n"
                 for e, row in zip(r["curve_epochs"].tolist(), r["curves"])]
    write_text(stage / "ensemble.csv", "".join(rows))
    plots.plot_ensemble(model, stage / "ensemble.png", results, count, data_name)
    if len(results) > 1:
        plots.plot_sweep(model, stage / "sweep.png", results, count, epochs, data_name)
