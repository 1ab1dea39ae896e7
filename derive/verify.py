"""Printed code is run before it is written: the rendered module (NumPy, and its plain-Python
and ensemble loops) and the C loop, where a compiler exists, against the proven SymPy
expressions evaluated independently, at random points and in saturation.

The derivation proves the SymPy expressions; this proves the printing. A disagreement stops
`make derive` with the parameter, the target and the point, and nothing is written.
"""

from __future__ import annotations

import ctypes
import shutil
import subprocess
import tempfile
import types
from pathlib import Path

import mpmath
import numpy as np
import sympy as sp

from derive.functions import expand_markers
from derive.gradients import DerivationError, Gradients

RTOL = 1e-9


class Reference:
    """Mean loss and gradients from the proven SymPy expressions, sample by sample in
    40-digit arithmetic (lambdify to mpmath: SymPy's own printer, not ours), so that the
    reference neither overflows nor rounds where the printed code must not. Each stage (a
    layer's z, its a, a layer's deltas, a parameter's gradient) is one lambdified list."""

    def __init__(self, gradients: Gradients) -> None:
        network = gradients.network
        self.network = network
        stages: list[tuple[list[sp.Symbol] | None, list[sp.Expr]]] = []
        for layer in network.layers:
            stages.append((list(layer.z), list(layer.z_local)))
            stages.append((list(layer.a), list(layer.a_local)))
        stages.append((None, [network.loss_of_logit(network.output.z[0])]))
        by_layer: dict[int, list[tuple[sp.Symbol, sp.Expr]]] = {}
        for symbol, expr in gradients.deltas:
            by_layer.setdefault(network.info[symbol].layer, []).append((symbol, expr))
        for layer in sorted(by_layer, reverse=True):
            stages.append(([s for s, _ in by_layer[layer]], [e for _, e in by_layer[layer]]))
        self.forward = [self._compile(targets, exprs) for targets, exprs in stages]
        self.grads = {p.name: self._compile(None, list(gradients.params[p.name]))
                      for p in network.params}

    @staticmethod
    def _compile(targets, exprs):
        symbols = sorted(set().union(*(e.free_symbols for e in exprs)), key=lambda s: s.name)
        function = sp.lambdify(symbols, [expand_markers(e) for e in exprs], "mpmath")
        return targets, symbols, function

    def __call__(self, params: dict[str, np.ndarray], X: np.ndarray,
                 y: np.ndarray) -> tuple[float, dict[str, np.ndarray]]:
        network = self.network
        total = mpmath.mpf(0)
        sums = {p.name: [mpmath.mpf(0)] * len(p.symbols) for p in network.params}
        with mpmath.workdps(40):
            for row, target in zip(X, y):
                known = {s: mpmath.mpf(float(v)) for s, v in zip(network.x, row)}
                known[network.y] = mpmath.mpf(float(target))
                for param in network.params:
                    flat = np.asarray(params[param.name], dtype=np.float64).ravel()
                    known.update({s: mpmath.mpf(float(v)) for s, v in zip(param.symbols, flat)})
                for targets, symbols, function in self.forward:
                    values = function(*(known[s] for s in symbols))
                    if targets is None:
                        total += values[0]
                    else:
                        known.update(zip(targets, values))
                for name, (_, symbols, function) in self.grads.items():
                    values = function(*(known[s] for s in symbols))
                    sums[name] = [acc + v for acc, v in zip(sums[name], values)]
            n = len(X)
            grads = {p.name: np.array([float(v / n) for v in sums[p.name]]).reshape(p.shape)
                     for p in network.params}
            return float(total / n), grads


Case = tuple[dict[str, np.ndarray], np.ndarray, np.ndarray, float, dict[str, np.ndarray]]


def cases(gradients: Gradients, seed: int = 2026) -> list[Case]:
    """(params, X, y, derived loss, derived gradients) at ordinary points and saturated ones
    (logits in the hundreds); fewer for large networks, whose every entry the 40-digit
    reference evaluates. Computed once, for every target checked against them."""
    network = gradients.network
    reference = Reference(gradients)
    rng = np.random.default_rng(seed)
    count, samples = (6, 7) if network.n_params <= 200 else (3, 3)
    out = []
    for k in range(count):
        scale = 1.0 if k < count - (2 if count > 3 else 1) else 25.0
        params = {p.name: scale * rng.normal(size=p.shape) for p in network.params}
        X = rng.normal(size=(samples, len(network.x)))
        y = rng.integers(0, 2, size=samples).astype(float)
        out.append((params, X, y, *reference(params, X, y)))
    return out


def _close(ours, theirs) -> bool:
    ours, theirs = np.asarray(ours, dtype=float), np.asarray(theirs, dtype=float)
    if not np.all(np.isfinite(theirs)):
        return False  # the reference is exact: the printed code must be finite here too
    scale = max(1.0, float(np.max(np.abs(theirs))) if theirs.size else 1.0)
    return bool(np.all(np.abs(ours - theirs) <= RTOL * scale))


def _fail(target: str, what: str, point: int, ours, theirs) -> DerivationError:
    return DerivationError(f"printed code disagrees with the derivation: {what} in the {target} "
                           f"target at point {point} (printed {np.ravel(ours)[:3]}, derived "
                           f"{np.ravel(theirs)[:3]}); nothing was written")


def load_text(text: str, name: str) -> types.ModuleType:
    """A rendered module, run in a namespace of its own (our own printed code)."""
    module = types.ModuleType(name)
    exec(compile(text, f"<rendered {name}.py>", "exec"), module.__dict__)  # noqa: S102
    return module


def _run_check(check, *args) -> None:
    """Run a check of printed code; printed code that does not even run is one line too."""
    try:
        check(*args)
    except DerivationError:
        raise
    except Exception as error:  # noqa: BLE001  whatever the printed code raised
        raise DerivationError(f"printed module does not run: {type(error).__name__}: "
                              f"{error}; nothing was written") from None


def verify_module(gradients: Gradients, text: str, checked: list[Case] | None = None) -> None:
    """The NumPy module, its plain-Python loop and its ensemble loop against the derivation."""
    _run_check(_verify_module, gradients, text, checked)


def _verify_module(gradients: Gradients, text: str, checked: list[Case] | None) -> None:
    module = load_text(text, gradients.network.spec.name)
    lr = 0.05
    for k, (params, X, y, want_loss, want) in enumerate(checked or cases(gradients)):
        with np.errstate(over="ignore"):
            loss, grads = module.loss_and_gradients(params, X, y)
        if not _close(loss, want_loss):
            raise _fail("NumPy", "the loss", k, loss, want_loss)
        for name in want:
            if not _close(grads[name], want[name]):
                raise _fail("NumPy", f"dL/d{name}", k, grads[name], want[name])
        stepped = {name: params[name] - lr * want[name] for name in want}
        if hasattr(module, "train_fast"):
            try:
                trained, _ = module.train_fast(params, X, y, lr, 1)
            except OverflowError:  # documented: exp beyond +-709 falls back to NumPy
                trained = None
            for name in want if trained is not None else ():
                if not _close(trained[name], stepped[name]):
                    raise _fail("plain-Python", f"the update of {name}", k, trained[name],
                                stepped[name])
        if hasattr(module, "train_ensemble"):
            stacked = {name: np.stack([value, value], axis=-1) for name, value in params.items()}
            with np.errstate(all="ignore"):
                trained, *_ = module.train_ensemble(stacked, X, y, lr, 1)
            for name in want:
                if not _close(trained[name][..., 1], stepped[name]):
                    raise _fail("ensemble", f"the update of {name}", k, trained[name][..., 1],
                                stepped[name])


def verify_c(gradients: Gradients, source: str, checked: list[Case] | None = None,
             timeout: float = 120) -> bool:
    """The C loop, compiled and run for one epoch, against the derivation. False where no
    compiler is installed (the C loop is then checked where it is first built)."""
    compiler = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if compiler is None:
        return False
    network = gradients.network
    with tempfile.TemporaryDirectory(prefix="derive-verify-") as scratch:
        c_file, library = Path(scratch) / "loop.c", Path(scratch) / "loop.so"
        c_file.write_text(source)
        build = subprocess.run([compiler, "-O2", "-fopenmp-simd", "-shared", "-fPIC", "-Wall",
                                "-Werror", "-o", str(library), str(c_file), "-lm"],
                               capture_output=True, text=True, timeout=timeout)
        if build.returncode != 0:
            first = (build.stderr.strip().splitlines() or ["failed"])[0]
            raise DerivationError(f"the printed C loop does not compile: {first}")
        loaded = ctypes.CDLL(str(library))
        function, ensemble = loaded.train, loaded.train_ensemble
        pointer = ctypes.POINTER(ctypes.c_double)
        function.argtypes = [pointer, pointer, pointer, ctypes.c_int, ctypes.c_double,
                             ctypes.c_int, pointer]
        ensemble.argtypes = [pointer, ctypes.c_int, pointer, pointer, ctypes.c_int,
                             ctypes.c_double, ctypes.c_int, ctypes.c_int, pointer, ctypes.c_int,
                             ctypes.c_int, ctypes.c_int, pointer, pointer,
                             ctypes.POINTER(ctypes.c_int), pointer]
        lr = 0.05
        for k, (params, X, y, want_loss, want) in enumerate(checked or cases(gradients)):
            flat = np.concatenate([np.ravel(params[p.name]) for p in network.params])
            X_c, y_c = np.ascontiguousarray(X), np.ascontiguousarray(y)
            lanes = np.ascontiguousarray(np.repeat(flat[:, None], 3, axis=1))  # 3 networks
            losses, lane_losses, scratch = np.empty(1), np.empty(3), np.empty(3)
            qs, curves, first = np.array([0.5]), np.empty(1), np.full(3, -1, dtype=np.intc)
            ensemble(lanes.ctypes.data_as(pointer), 3, X_c.ctypes.data_as(pointer),
                     y_c.ctypes.data_as(pointer), len(X), lr, 0, 1, qs.ctypes.data_as(pointer),
                     1, 1, 0, curves.ctypes.data_as(pointer), lane_losses.ctypes.data_as(pointer),
                     first.ctypes.data_as(ctypes.POINTER(ctypes.c_int)),
                     scratch.ctypes.data_as(pointer))
            function(flat.ctypes.data_as(pointer), X_c.ctypes.data_as(pointer),
                     y_c.ctypes.data_as(pointer), len(X), lr, 1, losses.ctypes.data_as(pointer))
            if not _close(lane_losses[2], want_loss):
                raise _fail("C ensemble", "the loss", k, lane_losses[2], want_loss)
            if not _close(lanes[:, 2], flat):
                raise _fail("C ensemble", "the update", k, lanes[:, 2], flat)
            if not _close(losses[0], want_loss):
                raise _fail("C", "the loss", k, losses[0], want_loss)
            offset = 0
            for param in network.params:
                size = len(param.symbols)
                stepped = np.ravel(params[param.name] - lr * want[param.name])
                if not _close(flat[offset:offset + size], stepped):
                    raise _fail("C", f"the update of {param.name}", k,
                                flat[offset:offset + size], stepped)
                offset += size
    return True


def verify_by_differences(name: str, text: str, seed: int = 2026) -> None:
    """A module derived at the matrix level, at its real widths: its gradients against
    central differences of its own printed loss (Richardson-extrapolated), along random
    directions through every parameter and at single entries of each. The derivation
    itself is proved symbolically (derive/matrix.py); this proves the printing."""
    _run_check(_verify_by_differences, name, text, seed)


def _derivative(loss, params: dict[str, np.ndarray], direction: dict[str, np.ndarray],
                X: np.ndarray, y: np.ndarray, h: float = 1e-4) -> float:
    """d/dt loss(params + t direction) at t = 0: central differences at h and h/2, their
    h^2 errors cancelled (error of order h^4)."""
    def central(step: float) -> float:
        up = {k: v + step * direction[k] for k, v in params.items()}
        down = {k: v - step * direction[k] for k, v in params.items()}
        return (loss(up, X, y) - loss(down, X, y)) / (2 * step)

    return (4 * central(h / 2) - central(h)) / 3


def differences_agree(loss, params: dict[str, np.ndarray], direction: dict[str, np.ndarray],
                      X: np.ndarray, y: np.ndarray, got: float) -> tuple[bool, float]:
    """Whether `got` is the derivative of `loss` along `direction` (to 1e-6), and the last
    difference quotient. A kink of relu or leaky_relu between t = -h and h spoils the
    differences there, not the gradient, so a disagreement is tried again at smaller steps,
    which cross fewer kinks; a wrong gradient disagrees at every step."""
    for h in (1e-4, 1e-6, 1e-8):
        want = _derivative(loss, params, direction, X, y, h)
        if abs(got - want) <= 1e-6 * max(1.0, abs(want)):
            return True, want
    return False, want


def _verify_by_differences(name: str, text: str, seed: int) -> None:
    module = load_text(text, name)
    rng = np.random.default_rng(seed)
    for k, scale in enumerate((1.0, 1.0, 3.0)):
        params = {n: scale * rng.normal(size=shape) / np.sqrt(fan_in)
                  for n, shape, fan_in in module.PARAMS}
        X = rng.normal(size=(5, module.N_INPUTS))
        classes = module.N_OUTPUTS if module.LABELS == "classes" else 2
        y = rng.integers(0, classes, size=5).astype(float)
        loss, grads = module.loss_and_gradients(params, X, y)
        if not _close(loss, module.loss(params, X, y)):
            raise _fail("NumPy", "the loss (loss_and_gradients against loss)", k, loss,
                        module.loss(params, X, y))
        if module.LABELS == "classes":  # cross-entropy by its definition, from forward's
            definition = -np.mean(np.log(module.forward(params, X)[np.arange(5), y.astype(int)]))
            if not _close(loss, definition):
                raise _fail("NumPy", "the loss (against -log of the label's probability)", k,
                            loss, definition)
        directions = [{n: rng.normal(size=np.shape(v)) for n, v in params.items()}
                      for _ in range(3)]
        for n, value in params.items():  # single entries, a few of each parameter
            for flat in rng.choice(max(1, np.size(value)), size=min(3, np.size(value)),
                                   replace=False):
                unit = {m: np.zeros(np.shape(v)) for m, v in params.items()}
                unit[n].flat[flat] = 1.0
                directions.append(unit)
        for direction in directions:
            got = sum(float(np.sum(grads[n] * direction[n])) for n in params)
            agrees, want = differences_agree(module.loss, params, direction, X, y, got)
            if not agrees:
                entry = [n for n in params if np.any(direction[n])]
                what = f"dL/d{entry[0]}" if len(entry) == 1 else "the gradient along a direction"
                raise _fail("NumPy", what + " (central differences)", k, got, want)
        _check_training_loop(module, params, X, y, k,
                             np.random.default_rng([seed, k]).permutation(5))


def _check_training_loop(module, params: dict[str, np.ndarray], X: np.ndarray, y: np.ndarray,
                         k: int, order: np.ndarray, lr: float = 0.05) -> None:
    """train_batches, one epoch full batch and one of batches of 2, against the same steps
    taken through loss_and_gradients: the same lines, so the same bits."""
    want = dict(params)
    for rows in ([np.arange(len(X))], [order[s:s + 2] for s in range(0, len(X), 2)]):
        start = dict(want)
        for chosen in rows:
            grads = module.gradients(want, X[chosen], y[chosen])
            want = {n: want[n] - lr * grads[n] for n in want}
        batched = len(rows) > 1
        trained, _ = module.train_batches(start, X, y, lr, 1, iter([order]) if batched else None,
                                          2 if batched else None)
        for n in want:
            if not np.array_equal(trained[n], want[n]):
                loop = "train_batches" + (" (batches of 2)" if batched else "")
                raise _fail(loop, f"the update of {n}", k, trained[n], want[n])
