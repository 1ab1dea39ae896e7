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


def reference(gradients: Gradients, params: dict[str, np.ndarray], X: np.ndarray,
              y: np.ndarray) -> tuple[float, dict[str, np.ndarray]]:
    """Mean loss and gradients from the proven SymPy expressions, sample by sample in
    40-digit arithmetic (lambdify to mpmath: SymPy's own printer, not ours), so that the
    reference neither overflows nor rounds where the printed code must not."""
    network = gradients.network
    steps = [(s, e) for layer in network.layers
             for s, e in [*zip(layer.z, layer.z_local), *zip(layer.a, layer.a_local)]]
    loss_expr = network.loss_of_logit(network.output.z[0])
    compiled: dict[sp.Expr, tuple] = {}

    def value(expr: sp.Expr, known: dict) -> mpmath.mpf:
        if expr not in compiled:
            symbols = sorted(expr.free_symbols, key=lambda s: s.name)
            compiled[expr] = (symbols, sp.lambdify(symbols, expand_markers(expr), "mpmath"))
        symbols, function = compiled[expr]
        return function(*(known[s] for s in symbols))

    total = mpmath.mpf(0)
    sums = {p.name: [mpmath.mpf(0)] * len(p.symbols) for p in network.params}
    with mpmath.workdps(40):
        for row, target in zip(X, y):
            known = {s: mpmath.mpf(float(v)) for s, v in zip(network.x, row)}
            known[network.y] = mpmath.mpf(float(target))
            for param in network.params:
                flat = np.asarray(params[param.name], dtype=np.float64).ravel()
                known.update({s: mpmath.mpf(float(v)) for s, v in zip(param.symbols, flat)})
            for symbol, expr in steps:
                known[symbol] = value(expr, known)
            total += value(loss_expr, known)
            for symbol, expr in gradients.deltas:
                known[symbol] = value(expr, known)
            for param in network.params:
                sums[param.name] = [acc + value(e, known) for acc, e in
                                    zip(sums[param.name], gradients.params[param.name])]
        n = len(X)
        grads = {p.name: np.array([float(v / n) for v in sums[p.name]]).reshape(p.shape)
                 for p in network.params}
        return float(total / n), grads


def points(gradients: Gradients, count: int = 6, seed: int = 2026):
    """(params, X, y): ordinary points, and saturated ones (logits in the hundreds)."""
    network = gradients.network
    rng = np.random.default_rng(seed)
    for k in range(count):
        scale = 1.0 if k < count - 2 else 25.0
        params = {p.name: scale * rng.normal(size=p.shape) for p in network.params}
        X = rng.normal(size=(7, len(network.x)))
        y = rng.integers(0, 2, size=7).astype(float)
        yield params, X, y


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


def verify_module(gradients: Gradients, text: str) -> None:
    """The NumPy module, its plain-Python loop and its ensemble loop against the derivation."""
    module = load_text(text, gradients.network.spec.name)
    lr = 0.05
    for k, (params, X, y) in enumerate(points(gradients)):
        want_loss, want = reference(gradients, params, X, y)
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


def verify_c(gradients: Gradients, source: str, timeout: float = 120) -> bool:
    """The C loop, compiled and run for one epoch, against the derivation. False where no
    compiler is installed (the C loop is then checked where it is first built)."""
    compiler = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if compiler is None:
        return False
    network = gradients.network
    with tempfile.TemporaryDirectory(prefix="derive-verify-") as scratch:
        c_file, library = Path(scratch) / "loop.c", Path(scratch) / "loop.so"
        c_file.write_text(source)
        build = subprocess.run([compiler, "-O2", "-shared", "-fPIC", "-Wall", "-Werror",
                                "-o", str(library), str(c_file), "-lm"],
                               capture_output=True, text=True, timeout=timeout)
        if build.returncode != 0:
            first = (build.stderr.strip().splitlines() or ["failed"])[0]
            raise DerivationError(f"the printed C loop does not compile: {first}")
        function = ctypes.CDLL(str(library)).train
        pointer = ctypes.POINTER(ctypes.c_double)
        function.argtypes = [pointer, pointer, pointer, ctypes.c_int, ctypes.c_double,
                             ctypes.c_int, pointer]
        lr = 0.05
        for k, (params, X, y) in enumerate(points(gradients)):
            want_loss, want = reference(gradients, params, X, y)
            flat = np.concatenate([np.ravel(params[p.name]) for p in network.params])
            X_c, y_c = np.ascontiguousarray(X), np.ascontiguousarray(y)
            losses = np.empty(1)
            function(flat.ctypes.data_as(pointer), X_c.ctypes.data_as(pointer),
                     y_c.ctypes.data_as(pointer), len(X), lr, 1, losses.ctypes.data_as(pointer))
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
