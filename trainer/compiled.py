"""The generated C loops (one network: `train`; K networks: `train_ensemble`): compiled
once per source hash, compiler, flags and machine, cached, loaded with ctypes.

Only a C file that carries its own intact hash and names its module's own hash is built; a
build that fails or hangs leaves the caller to train with Python instead.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import numpy as np

from derive import stamps
from trainer.errors import BadInput

_COMPILED: dict[tuple[str, str], ctypes.CDLL] = {}  # loaded C libraries, by module and hash
# -O3 and the host's vector width for the ensemble loop, its tiles shared among the cores
# (OpenMP); no contraction into FMA, so the single-network loop still rounds exactly as
# the NumPy code does; no trapping-math, so the vectorisable exp's selects may run both
# arms. Without OpenMP's runtime, one core; plain -O2 where a compiler refuses the rest.
FLAGS = ("-O3", "-march=native", "-fopenmp", "-ffp-contract=off", "-fno-trapping-math")
FALLBACK_FLAGS = (("-O3", "-march=native", "-fopenmp-simd", "-ffp-contract=off",
                   "-fno-trapping-math"), ("-O2",))

# Seconds; a compiler that hangs must not hang training (the variable is for tests).
BUILD_TIMEOUT = float(os.environ.get("DERIVE_NN_BUILD_TIMEOUT", "120"))


def compiled_library(model: ModuleType, required: bool = True) -> ctypes.CDLL | None:
    """The generated C loops of `model`, compiled once per source hash and loaded.

    None where they cannot be had (no generated C for this network, no compiler, a failed
    build) unless `required`, which turns that into a one-line BadInput instead.
    """
    key = (model.__name__, model.MODULE_SHA256)
    if key in _COMPILED:
        return _COMPILED[key]
    source = Path(model.__file__).with_suffix(".c")
    compiler = find_compiler()
    problem = None
    code = source.read_text(encoding="utf-8") if source.is_file() else ""
    if not source.is_file():
        other = "python" if hasattr(model, "train_fast") else "numpy"
        problem = (f"no {source.name}: only networks of at most 40 parameters get a C loop; "
                   f"use --backend {other}")
    elif not stamps.is_intact(code, stamps.C_MARKER):
        raise BadInput(f"{source} was edited by hand (its own hash does not match); run "
                       f"`make derive SPEC={model.SPEC_FILE}` to regenerate it")
    elif f"module-sha256: {model.MODULE_SHA256}" not in code:
        raise BadInput(f"{source} was not derived with {model.__file__} (it names another "
                       f"module's MODULE_SHA256); run `make derive SPEC={model.SPEC_FILE}`")
    elif compiler is None:
        problem = "no C compiler (cc, gcc or clang) on PATH; use --backend python"
    library = None
    if problem is None:
        try:
            library = cached_library(source, code, compiler, model.SPEC_NAME,
                                     ("train", "train_ensemble"))
        except (OSError, AttributeError, subprocess.SubprocessError) as error:
            problem = f"cannot build or load {source.name} ({error})"
    if problem is not None:
        if required:
            raise BadInput(f"--backend c: {problem}")
        if compiler is not None and source.is_file():
            print(f"train.py: {problem}; training with Python instead", file=sys.stderr)
        return None
    double_p, int_p = ctypes.POINTER(ctypes.c_double), ctypes.POINTER(ctypes.c_int)
    library.train.argtypes = [double_p, double_p, double_p, ctypes.c_int, ctypes.c_double,
                              ctypes.c_int, double_p]
    library.train.restype = None
    library.train_ensemble.argtypes = [
        double_p, ctypes.c_int, double_p, double_p, ctypes.c_int, ctypes.c_double,
        ctypes.c_int, ctypes.c_int, double_p, ctypes.c_int, ctypes.c_int, ctypes.c_int,
        double_p, double_p, int_p, double_p]
    library.train_ensemble.restype = None
    _COMPILED[key] = library
    return library


def compiled_loop(model: ModuleType, required: bool = True) -> Callable | None:
    """The single-network C loop `train`, or None as `compiled_library` says."""
    library = compiled_library(model, required)
    return None if library is None else library.train


def _machine() -> str:
    """What -march=native compiled for: a cache shared between machines must not hand one
    machine's vector instructions to another."""
    try:
        flags = next((line for line in Path("/proc/cpuinfo").read_text().splitlines()
                      if line.startswith("flags")), "")
    except OSError:
        flags = ""
    return f"{platform.machine()} {platform.processor()} {flags}"


def _build(compiler: str, flags: tuple[str, ...], source: Path, target: str) -> None:
    build = subprocess.run([compiler, *flags, "-shared", "-fPIC", "-o", target, str(source),
                            "-lm"], capture_output=True, text=True, timeout=BUILD_TIMEOUT)
    if build.returncode != 0:
        first = (build.stderr.strip().splitlines() or ["failed"])[0]
        raise OSError(f"{compiler}: {first}")


def find_compiler() -> str | None:
    """The C compiler on PATH (cc, gcc or clang), or None."""
    return shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")


def cached_library(source: Path, code: str, compiler: str, stem: str,
                   symbols: tuple[str, ...]) -> ctypes.CDLL:
    """`source` (whose text is `code`) built into a shared library cached by the code's hash,
    the compiler, its flags and the machine, and loaded. A cached library that does not load,
    or lacks one of `symbols`, is rebuilt once."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "derive-nn"
    digest = hashlib.sha256("\0".join([code, compiler, *FLAGS, _machine()]).encode())
    library = cache / f"{stem}-{digest.hexdigest()[:24]}.so"
    for attempt in (1, 2):
        if not library.is_file():
            cache.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=cache, prefix=f".{library.name}.", suffix=".tmp")
            os.close(fd)
            try:
                for flags in (FLAGS, *FALLBACK_FLAGS):
                    try:
                        _build(compiler, flags, source, tmp)
                        break
                    except OSError:  # a compiler without these: the next, more portable
                        if flags == FALLBACK_FLAGS[-1]:
                            raise
                os.replace(tmp, library)
            except subprocess.TimeoutExpired:
                raise OSError(f"{compiler} took longer than {BUILD_TIMEOUT} s") from None
            finally:
                Path(tmp).unlink(missing_ok=True)
        try:
            loaded = ctypes.CDLL(str(library))
            for symbol in symbols:
                getattr(loaded, symbol)
            return loaded
        except (OSError, AttributeError):
            if attempt == 2:
                raise
            library.unlink(missing_ok=True)  # corrupt or foreign: build it again


def train_compiled(model: ModuleType, params: dict[str, np.ndarray], X: np.ndarray,
                   y: np.ndarray, lr: float, epochs: int,
                   ) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """`epochs` steps of plain gradient descent in the C loop; the params and the losses."""
    function = compiled_loop(model, required=True)
    flat = np.concatenate([np.ravel(np.asarray(params[name], dtype=np.float64))
                           for name, _, _ in model.PARAMS])
    X = np.ascontiguousarray(X, dtype=np.float64)
    y = np.ascontiguousarray(y, dtype=np.float64)
    if X.ndim != 2 or X.shape[1] != model.N_INPUTS or y.shape != (len(X),):
        raise ValueError(f"X must be (N, {model.N_INPUTS}) and y (N,)")
    losses = np.empty(epochs)
    pointer = ctypes.POINTER(ctypes.c_double)
    # In chunks of about a tenth of a second: Ctrl-C is honoured between two calls, and the
    # chunks continue exactly where the last one stopped (the parameters are the whole state).
    chunk = max(100, 20_000_000 // (len(X) * len(flat) + 1))
    for start in range(0, epochs, chunk):
        count = min(chunk, epochs - start)
        function(flat.ctypes.data_as(pointer), X.ctypes.data_as(pointer),
                 y.ctypes.data_as(pointer), len(X), lr, count,
                 losses[start:].ctypes.data_as(pointer))
    trained, offset = {}, 0
    for name, shape, _ in model.PARAMS:
        size = int(np.prod(shape, dtype=int))
        trained[name] = flat[offset:offset + size].reshape(shape).copy()
        offset += size
    return trained, losses


def train_ensemble_compiled(model: ModuleType, params: dict[str, np.ndarray], X: np.ndarray,
                            y: np.ndarray, lr: float, epochs: int,
                            quantiles: tuple[float, ...] = (0.1, 0.5, 0.9), every: int = 1,
                            ) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray, np.ndarray]:
    """The generated module's train_ensemble, run by the C ensemble loop: the same returns
    (trained params with a trailing K axis, loss quantiles every `every` epochs and at the
    last, NaN rows between, each network's loss before its last update, first solved
    epoch or -1)."""
    library = compiled_library(model, required=True)
    names = [name for name, _, _ in model.PARAMS]
    count = int(np.shape(params[names[-1]])[-1])
    flat = np.ascontiguousarray(np.concatenate(
        [np.asarray(params[name], dtype=np.float64).reshape(-1, count) for name in names]))
    X = np.ascontiguousarray(X, dtype=np.float64)
    y = np.ascontiguousarray(np.reshape(y, -1), dtype=np.float64)
    if X.ndim != 2 or X.shape[1] != model.N_INPUTS or y.shape != (len(X),):
        raise ValueError(f"X must be (N, {model.N_INPUTS}) and y (N,)")
    order = np.argsort(quantiles, kind="stable")  # the C search wants them ascending
    qs = np.ascontiguousarray(np.asarray(quantiles, dtype=np.float64)[order])
    curves = np.full((epochs, len(qs)), np.nan)
    scratch = np.empty(count)
    first_solved = np.full(count, -1, dtype=np.intc)
    double_p, int_p = ctypes.POINTER(ctypes.c_double), ctypes.POINTER(ctypes.c_int)
    # In chunks of about a tenth of a second, so that Ctrl-C is honoured between calls; each
    # call leaves the losses of its epochs in `kept`, one row per epoch.
    chunk = max(1, 20_000_000 // (count * len(X) * len(flat)))
    kept = np.empty((min(chunk, epochs), count))
    for start in range(0, epochs, chunk):
        steps = min(chunk, epochs - start)
        library.train_ensemble(
            flat.ctypes.data_as(double_p), count, X.ctypes.data_as(double_p),
            y.ctypes.data_as(double_p), len(X), lr, start, steps, qs.ctypes.data_as(double_p),
            len(qs), every, epochs - 1, curves[start:].ctypes.data_as(double_p),
            kept.ctypes.data_as(double_p),
            first_solved.ctypes.data_as(int_p), scratch.ctypes.data_as(double_p))
    losses = kept[(epochs - 1) % chunk].copy()
    trained, offset = {}, 0
    for name, shape, _ in model.PARAMS:
        size = int(np.prod(shape, dtype=int))
        trained[name] = flat[offset:offset + size].reshape(*shape, count).copy()
        offset += size
    unsorted = np.empty_like(curves)
    unsorted[:, order] = curves
    return trained, unsorted, losses, first_solved.astype(int)
