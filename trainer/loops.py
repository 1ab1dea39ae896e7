"""Gradient descent over a generated module: the initialisation, the choice of training loop
(compiled C, plain Python or NumPy), the NumPy loop itself and the divergence verdict."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from types import ModuleType

import numpy as np

from trainer import optim
from trainer.compiled import compiled_loop, train_compiled
from trainer.errors import BadInput, Diverged

Params = dict[str, np.ndarray]

FAST_PATH_MAX_SAMPLES = 64  # up to here train_fast (plain Python) beats NumPy; make bench
BACKENDS = {"auto": "auto", "c": "c", "python": "fast", "numpy": "numpy"}
PATH_NAMES = {"c": "compiled C loop", "fast": "plain-Python loop", "numpy": "NumPy loop"}


def init_params(model: ModuleType, seed: int) -> Params:
    """PyTorch's nn.Linear default: every weight and bias uniform in +-1/sqrt(fan_in)."""
    return {name: value[..., 0].copy() for name, value in ensemble_init(model, seed, 1).items()}


def ensemble_init(model: ModuleType, seed: int, count: int) -> Params:
    """`count` networks with a trailing axis; network k starts where a single run with
    --seed seed+k starts: one generator per seed, its doubles drawn parameter after
    parameter, each mapped as Generator.uniform maps it (low + (high - low) u). One
    generator per network is the price (about 12 us a network, mostly NumPy's seeding), so
    the draws go straight into the K-wide arrays, one call per seed."""
    sizes = [math.prod(shape) for _, shape, _ in model.PARAMS]
    draws = np.empty((sum(sizes), count))
    for k in range(count):
        draws[:, k] = np.random.default_rng(seed + k).random(sum(sizes))
    params, start = {}, 0
    for (name, shape, fan_in), size in zip(model.PARAMS, sizes):
        bound = 1.0 / math.sqrt(fan_in)
        block = draws[start:start + size]
        params[name] = (-bound + (bound - -bound) * block).reshape(*shape, count)
        start += size
    return params


def batch_orders(seed: int, samples: int, epochs: int) -> Iterator[np.ndarray]:
    """Each epoch's order of the samples for mini-batches: permutations from a generator of
    their own, seeded by the run's seed but apart from the initialisation's stream, so a
    replay (and the PyTorch referee) sees the same batches in the same order."""
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(1,)))
    for _ in range(epochs):
        yield rng.permutation(samples)


def train(model: ModuleType, params: Params, X: np.ndarray, y: np.ndarray, lr: float,
          epochs: int, report: Callable[[int, float], None] | None = None, path: str = "auto",
          optimizer: optim.Optimizer | None = None, batch_size: int | None = None,
          seed: int = 0, full_losses: np.ndarray | None = None) -> tuple[Params, np.ndarray]:
    """Run `epochs` steps of theta <- theta - lr * dL/dtheta; return the params and losses.

    history[e] is the loss before update e, as the course notebook records it. `path`:
    "c" runs the generated C loop, "fast" the generated plain-Python loop (small networks
    and batches), "numpy" steps through loss_and_gradients; "auto" takes the fastest that
    applies here. An `optimizer` other than plain gradient descent (trainer/optim.py) runs
    on the NumPy loop: the generated fast loops carry theta <- theta - lr g only; so do
    mini-batches (`batch_size` below the sample count, in `batch_orders(seed, ...)`). The
    NumPy loop is the generated module's train_batches where it has one (matrix-level
    modules: the same steps as `descend`, bit for bit, in one loop), else `descend`.
    `full_losses` (an array of `epochs` values, NumPy loop) receives the loss on all of X, y
    before each epoch, beside the history's mean batch loss.
    """
    if optimizer is not None and not optimizer.is_plain:
        path = "numpy"
    if batch_size is not None and batch_size >= len(X):
        batch_size = None  # one batch of everything: full-batch descent, bit for bit
    if batch_size is not None or full_losses is not None:
        path = "numpy"
    path = choose_path(model, len(X), path)
    with np.errstate(over="ignore", invalid="ignore"):
        start_loss = model.loss(params, X, y)  # on all the data: what a diverged run ends above
    result = None
    if path == "c":
        result = train_compiled(model, params, X, y, lr, epochs)
    if path == "fast":
        try:
            result = model.train_fast(params, X, y, lr, epochs)
        except OverflowError:  # exp() beyond +-709: the NumPy code handles that range
            result = None
    with np.errstate(over="ignore", invalid="ignore"):  # divergence is checked below, not warned
        if result is None and hasattr(model, "train_batches") \
                and (optimizer is None or optimizer.is_plain):
            orders = None if batch_size is None else batch_orders(seed, len(X), epochs)
            result = model.train_batches(params, X, y, lr, epochs, orders, batch_size,
                                         full_losses)
        if result is None:
            result = descend(model, params, X, y, lr, epochs, optimizer, batch_size, seed,
                             full_losses)
        trained, history = result
        check_converged(model, trained, history, lr, X, y, start_loss)
    if report is not None:
        for epoch in sorted({*range(0, epochs, max(1, epochs // 10)), epochs - 1}):
            report(epoch, float(history[epoch]))
    return trained, history


def choose_path(model: ModuleType, samples: int, requested: str = "auto") -> str:
    """The training loop to run: "c", "fast" (plain Python) or "numpy".

    auto: the compiled C loop where a compiler builds it, else the plain-Python loop for
    small networks and batches, else NumPy. An explicit "c" that cannot be had is an error.
    """
    if requested == "c":
        compiled_loop(model, required=True)
        return "c"
    if requested == "fast" and not hasattr(model, "train_fast"):
        raise BadInput(f"--backend python: network {model.SPEC_NAME} has no plain-Python loop "
                       "(only networks of at most 40 parameters get one); use --backend numpy")
    if requested == "auto" and compiled_loop(model, required=False) is not None:
        return "c"
    if requested in ("auto", "fast") and hasattr(model, "train_fast") \
            and samples <= FAST_PATH_MAX_SAMPLES:
        return "fast"
    return "numpy"


def descend(model: ModuleType, params: Params, X: np.ndarray, y: np.ndarray, lr: float,
            epochs: int, optimizer: optim.Optimizer | None = None,
            batch_size: int | None = None, seed: int = 0,
            full_losses: np.ndarray | None = None) -> tuple[Params, np.ndarray]:
    """The NumPy loop: one loss_and_gradients call and one optimizer step per batch, the
    reference the generated loops are checked against; stops at a non-finite loss.
    history[e] is the loss before epoch e's first step (full batch) or the mean of epoch
    e's batch losses, each taken before its own step (mini-batches); full_losses[e], where
    given, the loss on all of X, y before epoch e."""
    step = (optimizer or optim.make("sgd", lr)).step
    history = np.empty(epochs)
    if batch_size is None:
        for epoch in range(epochs):
            if full_losses is not None:
                full_losses[epoch] = model.loss(params, X, y)
            loss, grads = model.loss_and_gradients(params, X, y)
            history[epoch] = loss
            if not math.isfinite(loss):
                break
            params = step(params, grads)
        return params, history
    for epoch, order in enumerate(batch_orders(seed, len(X), epochs)):
        if full_losses is not None:
            full_losses[epoch] = model.loss(params, X, y)
        losses = []
        for start in range(0, len(X), batch_size):
            chosen = order[start:start + batch_size]
            loss, grads = model.loss_and_gradients(params, X[chosen], y[chosen])
            losses.append(loss)
            if not math.isfinite(loss):
                break
            params = step(params, grads)
        history[epoch] = sum(losses) / len(losses)
        if not math.isfinite(history[epoch]):
            break
    return params, history


def check_converged(model: ModuleType, params: Params, history: np.ndarray, lr: float,
                    X: np.ndarray, y: np.ndarray, start_loss: float) -> None:
    """Raise Diverged on a non-finite loss or parameter, or a loss ending far above its start:
    the loss on all of X, y before training (with mini-batches the history's first value is
    a mean over a first epoch that may already have blown up)."""
    bad_epochs = np.flatnonzero(~np.isfinite(history))
    if len(bad_epochs):
        epoch = int(bad_epochs[0])
        raise Diverged(f"training diverged: loss became {history[epoch]} at epoch {epoch} "
                       f"(lr {lr:g}); try a smaller --lr")
    bad = [name for name, value in params.items() if not np.all(np.isfinite(value))]
    if bad:
        raise Diverged(f"training diverged: parameters {', '.join(bad)} are not finite "
                       f"(lr {lr:g}); try a smaller --lr")
    final = model.loss(params, X, y)
    if not math.isfinite(final) or final > 10.0 * start_loss + 1.0:
        raise Diverged(f"training diverged: loss went from {start_loss:.4g} to {final:.4g} "
                       f"(lr {lr:g}); try a smaller --lr")
