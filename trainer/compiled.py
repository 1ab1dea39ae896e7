"""The generated C training loop: compiled once per source hash, cached, loaded with ctypes.

Only a C file that carries its own intact hash and its module's inputs stamp is built; a
build that fails or hangs leaves the caller to train with Python instead.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
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

_COMPILED: dict[tuple[str, str], Callable] = {}  # loaded C loops, by module and inputs hash

# Seconds; a compiler that hangs must not hang training (the variable is for tests).
BUILD_TIMEOUT = float(os.environ.get("DERIVE_NN_BUILD_TIMEOUT", "120"))


def compiled_loop(model: ModuleType, required: bool = True) -> Callable | None:
    """The generated C training loop, compiled once per source hash and loaded with ctypes.

    None where it cannot be had (no generated C for this network, no compiler, a failed
    build) unless `required`, which turns that into a one-line BadInput instead.
    """
    key = (model.__name__, model.MODULE_SHA256)
    if key in _COMPILED:
        return _COMPILED[key]
    source = Path(model.__file__).with_suffix(".c")
    compiler = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    problem, function = None, None
    code = source.read_text(encoding="utf-8") if source.is_file() else ""
    if not source.is_file():
        problem = (f"no {source.name}: only networks of at most 40 parameters get a C loop; "
                   "use --backend python")
    elif not stamps.is_intact(code, stamps.C_MARKER):
        raise BadInput(f"{source} was edited by hand (its own hash does not match); run "
                       f"`make derive SPEC={model.SPEC_FILE}` to regenerate it")
    elif f"module-sha256: {model.MODULE_SHA256}" not in code:
        raise BadInput(f"{source} was not derived with {model.__file__} (it names another "
                       f"module's MODULE_SHA256); run `make derive SPEC={model.SPEC_FILE}`")
    elif compiler is None:
        problem = "no C compiler (cc, gcc or clang) on PATH; use --backend python"
    if problem is None:
        try:
            function = _load_library(source, code, compiler, model.SPEC_NAME)
        except (OSError, AttributeError, subprocess.SubprocessError) as error:
            problem = f"cannot build or load {source.name} ({error})"
    if problem is not None:
        if required:
            raise BadInput(f"--backend c: {problem}")
        if compiler is not None and source.is_file():
            print(f"train.py: {problem}; training with Python instead", file=sys.stderr)
        return None
    double_p = ctypes.POINTER(ctypes.c_double)
    function.argtypes = [double_p, double_p, double_p, ctypes.c_int, ctypes.c_double,
                         ctypes.c_int, double_p]
    function.restype = None
    _COMPILED[key] = function
    return function


def _load_library(source: Path, code: str, compiler: str, spec_name: str) -> Callable:
    """The C loop's `train`, from a library cached by the source's hash and the compiler.

    A cached library that does not load, or lacks `train`, is rebuilt once.
    """
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "derive-nn"
    flags = ["-O2", "-shared", "-fPIC"]
    digest = hashlib.sha256("\0".join([code, compiler, *flags]).encode()).hexdigest()[:24]
    library = cache / f"{spec_name}-{digest}.so"
    for attempt in (1, 2):
        if not library.is_file():
            cache.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=cache, prefix=f".{library.name}.", suffix=".tmp")
            os.close(fd)
            try:
                build = subprocess.run([compiler, *flags, "-o", tmp, str(source), "-lm"],
                                       capture_output=True, text=True, timeout=BUILD_TIMEOUT)
                if build.returncode != 0:
                    first = (build.stderr.strip().splitlines() or ["failed"])[0]
                    raise OSError(f"{compiler}: {first}")
                os.replace(tmp, library)
            except subprocess.TimeoutExpired:
                raise OSError(f"{compiler} took longer than {BUILD_TIMEOUT} s") from None
            finally:
                Path(tmp).unlink(missing_ok=True)
        try:
            return ctypes.CDLL(str(library)).train
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
