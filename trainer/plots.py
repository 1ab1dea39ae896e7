"""Every figure a run writes (loss curve, decision boundary, ensemble bands, learning-rate
sweep). matplotlib is imported only here, and only when a figure is drawn."""

from __future__ import annotations

import io
import warnings
from pathlib import Path
from types import ModuleType

import numpy as np

from derive import stamps


def _pyplot():
    """matplotlib.pyplot without a display (figures only ever go to files)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path, dpi: int) -> None:
    """The one way a figure is saved: a PNG without the matplotlib version in it (the same
    run gives the same bytes), written atomically; the figure is closed either way."""
    buffer = io.BytesIO()
    try:
        fig.savefig(buffer, format="png", dpi=dpi, metadata={"Software": None})
    finally:
        _pyplot().close(fig)
    stamps.write_atomic(path, buffer.getvalue())


def _readable_log_axis(ax, values: np.ndarray) -> None:
    """A log y axis labelled with plain numbers (0.7, 0.05); within about one decade (a run
    that did not learn) the ticks between powers of ten are labelled too; over more than
    three decades there are none (their grid lines would be a grey wash, and drawing them
    cost a long run more than its history)."""
    from matplotlib.ticker import FuncFormatter, NullFormatter, NullLocator

    ax.set_yscale("log")
    plain = FuncFormatter(lambda value, _: f"{value:g}")
    ax.yaxis.set_major_formatter(plain)
    finite = values[np.isfinite(values) & (values > 0)]
    narrow = len(finite) and np.log10(finite.max() / finite.min()) < 1.2
    ax.yaxis.set_minor_formatter(plain if narrow else NullFormatter())
    if len(finite) and np.log10(finite.max() / finite.min()) > 3:
        ax.yaxis.set_minor_locator(NullLocator())


DRAWN_POINTS = 4000  # a figure 7 inches wide shows no more; history.csv keeps every epoch


def drawn(values: np.ndarray, points: int = DRAWN_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """(epochs, values) to draw a long curve with: in each of points / 2 equal runs of
    epochs the smallest and the largest value, in epoch order, and the first and last epoch,
    so the drawn line keeps every spike, the minimum, the maximum and the end."""
    values = np.asarray(values, dtype=np.float64)
    if len(values) <= points:
        return np.arange(len(values)), values
    size = -(-len(values) // (points // 2))  # epochs per run; the last run may be shorter
    whole = len(values) // size * size
    runs = values[:whole].reshape(-1, size)
    tail = values[whole:]
    if np.isnan(values).any():  # NaN is never an extreme; a run of NaN keeps its first
        runs = np.where(np.isnan(runs), np.inf, runs), np.where(np.isnan(runs), -np.inf, runs)
        tail = np.where(np.isnan(tail), np.inf, tail), np.where(np.isnan(tail), -np.inf, tail)
    else:
        runs, tail = (runs, runs), (tail, tail)
    start = np.arange(len(runs[0])) * size
    keep = [[0, len(values) - 1], start + np.argmin(runs[0], axis=1),
            start + np.argmax(runs[1], axis=1)]
    if len(tail[0]):
        keep.append([whole + np.argmin(tail[0]), whole + np.argmax(tail[1])])
    index = np.unique(np.concatenate(keep))
    return index, values[index]


def plot_loss(model: ModuleType, path: Path, history: np.ndarray, title: str,
              reference: np.ndarray | None = None, full_losses: np.ndarray | None = None,
              batches: bool = False) -> None:
    """The loss per epoch on a log axis, the PyTorch referee's curve where there is one and
    the loss on all the data (--full-loss); a long history is drawn from its minima and
    maxima per run of epochs (`drawn`)."""
    fig, ax = _pyplot().subplots(figsize=(7, 4.5))
    ax.plot(*drawn(history), color="tab:blue", linewidth=1.5, label="generated NumPy code")
    if full_losses is not None:
        if batches:
            ax.lines[0].set_label("each epoch's mean batch loss (generated NumPy code)")
        ax.plot(*drawn(full_losses), color="tab:green", linewidth=1.0,
                label="loss on all the training data, before each epoch")
    if reference is not None:
        ax.plot(*drawn(reference), color="tab:orange", linestyle="--",
                linewidth=1.5, label="PyTorch (same init)")
    if full_losses is not None or reference is not None:
        ax.legend()
    _readable_log_axis(ax, history if full_losses is None else
                       np.concatenate([history, full_losses]))
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"mean batch loss ({model.LOSS})" if batches and full_losses is None
                  else f"loss L ({model.LOSS}, mean over samples)")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    _save(fig, path, dpi=120)


def plot_boundary(model: ModuleType, path: Path, params: dict[str, np.ndarray], X: np.ndarray,
                  y: np.ndarray, title: str) -> None:
    """y_hat over the input plane as a filled contour, the 0.5 level, and the data points."""
    low, high = X.min(axis=0), X.max(axis=0)
    margin = 0.25 * np.maximum(high - low, 1e-9)
    xs = np.linspace(low[0] - margin[0], high[0] + margin[0], 200)
    ys = np.linspace(low[1] - margin[1], high[1] + margin[1], 200)
    grid_x, grid_y = np.meshgrid(xs, ys)
    with np.errstate(over="ignore", invalid="ignore"):
        surface = model.forward(params, np.column_stack([grid_x.ravel(), grid_y.ravel()]))
    surface = surface.reshape(grid_x.shape)
    fig, ax = _pyplot().subplots(figsize=(6, 5.6))
    filled = ax.contourf(grid_x, grid_y, surface, levels=np.linspace(0.0, 1.0, 21) if
                         model.LABELS == "binary" else 20, cmap="RdBu_r", alpha=0.8)
    fig.colorbar(filled, ax=ax, label=r"$\hat{y}$")
    ax.contour(grid_x, grid_y, surface, levels=[0.5], colors="black", linewidths=1.5)
    size = 90 if len(X) <= 16 else 28
    for label, marker, colour in ((0, "o", "white"), (1, "^", "gold")):
        chosen = (y >= 0.5) == bool(label)
        if chosen.any():
            ax.scatter(X[chosen, 0], X[chosen, 1], marker=marker, s=size, c=colour,
                       edgecolors="black", linewidths=1.2, zorder=3, label=f"class {label}")
    ax.plot([], [], color="black", linewidth=1.5, label=r"$\hat{y} = 0.5$")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=3)  # below: hides no point
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    ax.set_title(title)
    fig.tight_layout()
    _save(fig, path, dpi=100)


def plot_confusion(path: Path, counts: np.ndarray, title: str) -> None:
    """How many samples of each true class (rows) went to each predicted class (columns)."""
    size = len(counts)
    side = max(4.5, 1.3 + 0.4 * size)  # three classes still leave room for the title
    fig, ax = _pyplot().subplots(figsize=(side, side - 0.3))
    ax.imshow(counts, cmap="Blues")
    for (row, column), count in np.ndenumerate(counts):  # readable at half size in a report
        ax.text(column, row, str(count), ha="center", va="center", fontsize=11,
                color="white" if count > counts.max() / 2 else "black")
    ax.set_xticks(range(size))
    ax.set_yticks(range(size))
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    _save(fig, path, dpi=100)


def plot_ensemble(model: ModuleType, path: Path, results: list[dict], count: int,
                  data_name: str) -> None:
    """Final-loss histogram, and the median and 10-90% band of the loss per epoch."""
    from matplotlib.ticker import MaxNLocator

    with warnings.catch_warnings():  # all-NaN bands of diverged networks draw as nothing
        warnings.simplefilter("ignore", RuntimeWarning)
        columns = min(3, 1 + len(results))  # rows of at most three panels stay readable
        rows = -(-(1 + len(results)) // columns)
        fig, axes = _pyplot().subplots(rows, columns, figsize=(5.5 * columns, 4.5 * rows),
                                       squeeze=False)
        left, panels = axes.flat[0], axes.flat[1:1 + len(results)]
        for unused in axes.flat[1 + len(results):]:
            unused.set_axis_off()
        finite = np.concatenate([r["losses"][np.isfinite(r["losses"])] for r in results])
        low = max(float(finite.min()) if len(finite) else 1e-6, 1e-12)
        high = max(float(finite.max()) if len(finite) else 1.0, low * 10)
        bins = np.geomspace(low, high, 50)
        for r, right in zip(results, panels):  # one panel per learning rate: no bands overlap
            label = f"lr {r['lr']:g}: {r['solved_fraction']:.1%} solved"
            left.hist(np.clip(r["losses"], low, high), bins=bins, histtype="step",
                      linewidth=1.5, label=label)
            epochs = r["curve_epochs"]
            line, = right.plot(epochs, r["curves"][:, 1], label="median")
            right.fill_between(epochs, r["curves"][:, 0], r["curves"][:, -1], alpha=0.25,
                               color=line.get_color(), label="10% to 90% of the networks")
            _readable_log_axis(right, r["curves"])
            right.set_xlabel("epoch")
            right.set_ylabel(f"loss ({model.LOSS})")
            right.set_title(f"lr {r['lr']:g}: loss per epoch")
            right.legend()
        left.set_xscale("log")
        left.set_xlabel("final loss")
        left.set_ylabel("networks")
        left.yaxis.set_major_locator(MaxNLocator(integer=True))  # counts are whole
        left.set_title(f"{count} initialisations of network {model.SPEC_NAME},\n"
                       f"data {data_name}")
        left.legend()
        fig.tight_layout()
        _save(fig, path, dpi=100)


def plot_sweep(model: ModuleType, path: Path, results: list[dict], count: int, epochs: int,
               data_name: str) -> None:
    """The share of initialisations that solve the data, per learning rate."""
    fig, ax = _pyplot().subplots(figsize=(6, 4))
    ax.plot([r["lr"] for r in results], [100 * r["solved_fraction"] for r in results], "o-")
    ax.set_xscale("log")
    rates = [r["lr"] for r in results]
    ax.set_xticks(rates, [f"{rate:g}" for rate in rates])
    ax.minorticks_off()
    ax.set_xlabel("learning rate")
    ax.set_ylabel("initialisations that solve it (%)")
    ax.set_ylim(0, 100)
    ax.set_title(f"network {model.SPEC_NAME}, data {data_name}: {count} inits, {epochs} epochs")
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    _save(fig, path, dpi=100)
