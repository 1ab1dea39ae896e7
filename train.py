"""Train a generated network by full-batch gradient descent, or predict with it.

    python train.py [--spec xor] [--lr LR] [--epochs N] [--seed S] [--data F.csv]
                    [--out DIR] [--quiet] [--backend B] [--inits K] [--init FILE]
                    [--compare-torch]
    python train.py predict X1 X2 [--params out/params.json] [--spec NAME]

Only NumPy, matplotlib and the generated module are used here: the gradients come from
generated/<spec>.py, which `make derive` writes from the SymPy derivation. Exit codes:
0 done, 2 bad input (one line on stderr), 3 training diverged.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import ctypes
import fcntl
import hashlib
import io
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

if __name__ == "__main__":  # Ctrl-C while NumPy loads: one line, not a traceback
    signal.signal(signal.SIGINT, lambda *_: (sys.stderr.write("train.py: interrupted\n"),
                                             os._exit(130)))

import numpy as np  # noqa: E402

from derive import stamps  # noqa: E402
from trainer import optim  # noqa: E402

EXIT_BAD_INPUT = 2
EXIT_DIVERGED = 3
MAX_EPOCHS = 10_000_000
_UMASK = os.umask(0)
os.umask(_UMASK)

class BadInput(Exception):
    """Something the user gave us is unusable: reported in one line, exit 2."""


class Diverged(Exception):
    """Gradient descent blew up: reported in one line, exit 3."""


GENERATED_DIR = Path(__file__).resolve().parent / "generated"


def load_generated(name: str):
    """generated/<name>.py, imported only once its own hash shows it is what `make derive`
    wrote: a hand-edited module is refused before any of its code runs."""
    path = GENERATED_DIR / f"{name}.py"
    if not (name.isidentifier() and name.isascii()) or not path.is_file():
        raise BadInput(f"--spec {name}: no generated/{name}.py; run "
                       f"`make derive SPEC=specs/{name}.toml` first")
    try:
        return stamps.import_checked(path, f"generated.{name}")
    except ValueError as error:
        raise BadInput(f"{error}; run `make derive SPEC=specs/{name}.toml` to regenerate "
                       "it") from None


def use_spec(spec: str) -> None:
    """Switch to generated/<name>.py for a spec given as a name or a specs/<name>.toml path."""
    global model
    name = Path(spec).stem if spec.endswith(".toml") else spec
    if not name.isidentifier():
        raise BadInput(f"--spec {spec}: not a spec name or a .toml file")
    model = load_generated(name)


try:  # the default spec; --spec swaps in another module
    model = load_generated("xor")
except BadInput:
    model = None  # main() reports why, in one line
MAX_INPUT_BYTES = 50_000_000  # params, init and CSV files (README: "Errors")


def read_text(path: Path, where: str, missing: str) -> str:
    """A UTF-8 file's text (a byte-order mark is fine), or a one-line BadInput starting with
    `where`. Only regular files below MAX_INPUT_BYTES are read: not /dev/zero, not a FIFO."""
    try:
        if path.exists() and not path.is_file():
            raise BadInput(f"{where}: not a regular file")
        if path.exists() and path.stat().st_size > MAX_INPUT_BYTES:
            raise BadInput(f"{where}: larger than {MAX_INPUT_BYTES // 1_000_000} MB")
        return path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise BadInput(f"{where}: {missing}") from None
    except (OSError, UnicodeDecodeError) as error:
        raise BadInput(f"{where}: cannot read ({error.__class__.__name__})") from None


MAX_INPUT_VALUE = 1e6


def load_csv(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """X and y from a CSV with a header x1..xd,y; every problem named with its line."""
    text = read_text(path, f"--data {path}", "no such file")
    try:
        rows = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as error:
        raise BadInput(f"--data {path}: not a CSV file ({error})") from None
    expected = [f"x{j + 1}" for j in range(model.N_INPUTS)] + ["y"]
    if not rows or [cell.strip() for cell in rows[0]] != expected:
        header = ",".join(rows[0]) if rows else "(empty file)"
        raise BadInput(f"--data {path}: line 1: header must be {','.join(expected)} for "
                       f"{model.SPEC_NAME}, got {header!r}")
    values = []
    for number, row in enumerate(rows[1:], start=2):
        if not row or all(not cell.strip() for cell in row):
            continue
        if len(row) != len(expected):
            raise BadInput(f"--data {path}: line {number}: {len(row)} columns, expected "
                           f"{len(expected)}")
        try:
            if any("\n" in cell or "\r" in cell for cell in row):
                raise ValueError("a line break inside a cell")
            numbers = [float(cell) for cell in row]
        except ValueError:
            raise BadInput(f"--data {path}: line {number}: not a number in {row!r}") from None
        if not all(math.isfinite(v) for v in numbers):
            raise BadInput(f"--data {path}: line {number}: NaN or infinity in {row!r}")
        if any(abs(v) > MAX_INPUT_VALUE for v in numbers):
            raise BadInput(f"--data {path}: line {number}: a value beyond +-{MAX_INPUT_VALUE:g} "
                           "(scale the data first)")
        if model.LOSS_NAME == "bce" and numbers[-1] not in (0.0, 1.0):
            raise BadInput(f"--data {path}: line {number}: y must be 0 or 1 for binary "
                           f"cross-entropy, got {row[-1]!r}")
        values.append(numbers)
    if not values:
        raise BadInput(f"--data {path}: no data rows")
    data = np.array(values, dtype=np.float64)
    return data[:, :-1], data[:, -1]


# ---------------------------------------------------------------- is generated/ current?

def check_generated() -> None:
    """Refuse a stale generated module, with what to do about it (a hand-edited one never
    got this far: load_generated checks its own hash before importing it)."""
    path = Path(model.__file__)
    derive_dir = path.resolve().parent.parent / "derive"
    if not (derive_dir / "templates").is_dir():
        return  # a generated module on its own, without the sources to compare against
    spec_file = derive_dir.parent / model.SPEC_FILE
    if not spec_file.is_file():
        raise BadInput(f"{path} was derived from {model.SPEC_FILE}, which is gone; restore it "
                       "or derive the module again from its spec")
    current = stamps.inputs_hash(spec_file, derive_dir)
    reason = stamps.stale_reason(path.parent, model.SPEC_NAME, path.name, current)
    if reason is not None:
        raise BadInput(f"{path} is stale: {reason}; run `make derive SPEC={model.SPEC_FILE}`")


# ---------------------------------------------------------------- parameters and training

def init_params(seed: int) -> dict[str, np.ndarray]:
    """PyTorch's nn.Linear default: every weight and bias uniform in +-1/sqrt(fan_in)."""
    rng = np.random.default_rng(seed)
    params = {}
    for name, shape, fan_in in model.PARAMS:
        bound = 1.0 / math.sqrt(fan_in)
        params[name] = np.asarray(rng.uniform(-bound, bound, size=shape), dtype=np.float64)
    return params


FAST_PATH_MAX_SAMPLES = 64  # up to here train_fast (plain Python) beats NumPy; make bench


def train(params: dict[str, np.ndarray], X: np.ndarray, y: np.ndarray, lr: float, epochs: int,
          report: Callable[[int, float], None] | None = None, path: str = "auto",
          optimizer: optim.Optimizer | None = None,
          ) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Run `epochs` steps of theta <- theta - lr * dL/dtheta; return the params and losses.

    history[e] is the loss before update e, as the course notebook records it. `path`:
    "c" runs the generated C loop, "fast" the generated plain-Python loop (small networks
    and batches), "numpy" steps through loss_and_gradients; "auto" takes the fastest that
    applies here. An `optimizer` other than plain gradient descent (trainer/optim.py) runs
    on the NumPy loop: the generated fast loops carry theta <- theta - lr g only.
    """
    if optimizer is not None and not optimizer.is_plain:
        path = "numpy"
    path = choose_path(len(X), path)
    result = None
    if path == "c":
        result = _train_compiled(params, X, y, lr, epochs)
    if path == "fast":
        try:
            result = model.train_fast(params, X, y, lr, epochs)
        except OverflowError:  # exp() beyond +-709: the NumPy code handles that range
            result = None
    with np.errstate(over="ignore", invalid="ignore"):  # divergence is checked below, not warned
        if result is None:
            result = _descend(params, X, y, lr, epochs, optimizer)
        trained, history = result
        _check_converged(trained, history, lr, X, y)
    if report is not None:
        for epoch in sorted({*range(0, epochs, max(1, epochs // 10)), epochs - 1}):
            report(epoch, float(history[epoch]))
    return trained, history


BACKENDS = {"auto": "auto", "c": "c", "python": "fast", "numpy": "numpy"}
PATH_NAMES = {"c": "compiled C loop", "fast": "plain-Python loop", "numpy": "NumPy loop"}


def choose_path(samples: int, requested: str = "auto") -> str:
    """The training loop to run: "c", "fast" (plain Python) or "numpy".

    auto: the compiled C loop where a compiler builds it, else the plain-Python loop for
    small networks and batches, else NumPy. An explicit "c" that cannot be had is an error.
    """
    if requested == "c":
        compiled_loop(required=True)
        return "c"
    if requested == "auto" and compiled_loop(required=False) is not None:
        return "c"
    if requested in ("auto", "fast") and hasattr(model, "train_fast") \
            and samples <= FAST_PATH_MAX_SAMPLES:
        return "fast"
    return "numpy"


_COMPILED: dict[tuple[str, str], object] = {}  # loaded C loops, by module and inputs hash


def compiled_loop(required: bool = True):
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
        raise BadInput(f"{source} was not derived with {model.__file__} (their stamps "
                       f"differ); run `make derive SPEC={model.SPEC_FILE}`")
    elif compiler is None:
        problem = "no C compiler (cc, gcc or clang) on PATH; use --backend python"
    if problem is None:
        try:
            function = _load_library(source, code, compiler)
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


# Seconds; a compiler that hangs must not hang training (the variable is for tests).
BUILD_TIMEOUT = float(os.environ.get("DERIVE_NN_BUILD_TIMEOUT", "120"))


def _load_library(source: Path, code: str, compiler: str):
    """The C loop's `train`, from a library cached by the source's hash and the compiler.

    A cached library that does not load, or lacks `train`, is rebuilt once.
    """
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "derive-nn"
    flags = ["-O2", "-shared", "-fPIC"]
    digest = hashlib.sha256("\0".join([code, compiler, *flags]).encode()).hexdigest()[:24]
    library = cache / f"{model.SPEC_NAME}-{digest}.so"
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


def _train_compiled(params, X, y, lr, epochs):
    function = compiled_loop(required=True)
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


def _descend(params, X, y, lr, epochs, optimizer: optim.Optimizer | None = None):
    step = (optimizer or optim.make("sgd", lr)).step
    history = np.empty(epochs)
    for epoch in range(epochs):
        loss, grads = model.loss_and_gradients(params, X, y)
        history[epoch] = loss
        if not math.isfinite(loss):
            break
        params = step(params, grads)
    return params, history


def _check_converged(params, history, lr, X, y) -> None:
    """Raise Diverged on a non-finite loss or parameter, or a loss ending far above its start."""
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
    if not math.isfinite(final) or final > 10.0 * history[0] + 1.0:
        raise Diverged(f"training diverged: loss went from {history[0]:.4g} to {final:.4g} "
                       f"(lr {lr:g}); try a smaller --lr")


def to_json(params: dict[str, np.ndarray]) -> dict[str, object]:
    return {name: np.asarray(value).tolist() for name, value in params.items()}


def from_json(raw: object, where: str) -> dict[str, np.ndarray]:
    """Parameters from JSON, checked against the generated module's names and shapes."""
    if not isinstance(raw, dict):
        raise BadInput(f"{where}: expected an object of parameters")
    params = {}
    for name, shape, _ in model.PARAMS:
        if name not in raw:
            raise BadInput(f"{where}: missing parameter {name!r}")
        try:
            value = np.array(raw[name], dtype=np.float64)
        except (TypeError, ValueError):
            raise BadInput(f"{where}: parameter {name!r} is not an array of numbers") from None
        if value.shape != tuple(shape):
            raise BadInput(f"{where}: parameter {name!r} has shape {value.shape}, "
                           f"expected {tuple(shape)}")
        if not np.all(np.isfinite(value)):
            raise BadInput(f"{where}: parameter {name!r} holds NaN or infinity")
        params[name] = value
    return params


def read_json(path: Path, missing: str) -> object:
    """A JSON file, or a one-line BadInput saying what is wrong with it."""
    text = read_text(path, str(path), missing)
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise BadInput(f"{path}: not valid JSON ({error.msg}, line {error.lineno})") from None
    except (RecursionError, ValueError) as error:  # nested too deep, a 5000-digit integer
        raise BadInput(f"{path}: not usable JSON ({error.__class__.__name__})") from None


TORCH_KEY = re.compile(r"^(?:.*\.)?(\d+)\.(weight|bias)$")


def load_init(path: Path) -> dict[str, np.ndarray]:
    """Starting parameters from a file, so a run can start where another one did.

    Accepted: a params.json of train.py (its `init`: the run is replayed), an object of
    arrays named as the generated module names them (W1, b1, w2, b2), or a PyTorch
    nn.Sequential state_dict as JSON ("0.weight", "0.bias", "2.weight", "2.bias", ...).
    """
    raw = read_json(path, missing="no such file")
    if isinstance(raw, dict) and isinstance(raw.get("init"), dict):
        raw = raw["init"]
    if isinstance(raw, dict) and raw and all(isinstance(k, str) and TORCH_KEY.match(k)
                                             for k in raw):
        if any(len(TORCH_KEY.match(k).group(1)) > 6 for k in raw):
            raise BadInput(f"{path}: a state_dict layer index is too long")
        layers = sorted({int(TORCH_KEY.match(k).group(1)) for k in raw})
        names = [name for name, _, _ in model.PARAMS]
        if 2 * len(layers) != len(names):
            raise BadInput(f"{path}: {len(layers)} linear layers in the state_dict, "
                           f"{model.SPEC_NAME} has {len(names) // 2}")
        renamed = {}
        for layer, (weight, bias) in zip(layers, zip(names[0::2], names[1::2])):
            renamed[weight] = _squeeze_output(raw.get(f"{layer}.weight"), weight)
            renamed[bias] = _squeeze_output(raw.get(f"{layer}.bias"), bias)
        raw = {k: v for k, v in renamed.items() if v is not None}
    return from_json(raw, str(path))


def _squeeze_output(value, name: str):
    """PyTorch keeps the output layer's (1, H) weight and (1,) bias; ours are (H,) and ()."""
    shape = dict((n, s) for n, s, _ in model.PARAMS)[name]
    try:
        array = np.array(value, dtype=np.float64)
    except (TypeError, ValueError):
        return value
    if array.ndim == len(shape) + 1 and array.shape[0] == 1:
        return array[0].tolist()
    return value


# ---------------------------------------------------------------- ensembles

ENSEMBLE_QUANTILES = (0.1, 0.5, 0.9)


def ensemble_init(seed: int, count: int) -> dict[str, np.ndarray]:
    """Network k starts exactly where a single run with --seed seed+k starts."""
    inits = [init_params(seed + k) for k in range(count)]
    return {name: np.stack([p[name] for p in inits], axis=-1) for name, _, _ in model.PARAMS}


def run_ensemble(init, X, y, lr, epochs) -> dict[str, object]:
    """Train every network of `init` at one learning rate; summarise what became of them."""
    count = np.shape(init[model.PARAMS[-1][0]])[-1]
    start = time.perf_counter()
    with np.errstate(over="ignore", invalid="ignore"):
        trained, curves, losses, first_solved = model.train_ensemble(
            init, X, y, lr, epochs, ENSEMBLE_QUANTILES)
    seconds = time.perf_counter() - start
    # Diverged as a single run counts it: a non-finite loss, or one ending far above its start.
    with np.errstate(all="ignore"):
        initial, _ = _ensemble_verdicts(init, X, y)
        _, correct = _ensemble_verdicts(trained, X, y)
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
        "curves": curves, "losses": losses,
    }


ENSEMBLE_BLOCK_ELEMENTS = 1 << 21  # samples x networks per block: 16 MB an array


def _ensemble_verdicts(params, X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
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
        if model.LOSS_NAME == "bce":
            p = np.clip(y_hat, 1e-300, 1.0 - 1e-16)
            losses[part] = -np.mean(target * np.log(p) + (1.0 - target) * np.log1p(-p), axis=0)
        else:
            losses[part] = np.mean((y_hat - target) ** 2, axis=0)
        correct[part] = np.all((y_hat >= 0.5) == (target >= 0.5), axis=0)
    return losses, correct


def ensemble_main(args, X, y, data_name: str, say) -> int:
    if not hasattr(model, "train_ensemble"):
        raise BadInput(f"--inits needs a generated ensemble trainer, which only networks of at "
                       f"most 40 parameters get; {model.SPEC_NAME} is larger")
    check_generated()
    out = args.out
    init = ensemble_init(args.seed, args.inits)
    say(f"training {args.inits} initialisations of {model.SPEC_NAME} at once on {data_name} "
        f"(seeds {args.seed}..{args.seed + args.inits - 1}), {args.epochs} epochs")
    results = [run_ensemble(init, X, y, lr, args.epochs) for lr in args.lr]
    summary = [{k: v for k, v in r.items() if k not in ("curves", "losses")} for r in results]
    with staged_outputs(out, ENSEMBLE_FILES) as stage:
        _write_ensemble(stage, results, summary, args, data_name)
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
    return "-" if value is None else f"{value:.4g}"


ENSEMBLE_FILES = ("ensemble.png", "sweep.png", "ensemble.csv", "ensemble.json")


def _write_ensemble(stage: Path, results, summary, args, data_name: str) -> None:
    write_text(stage / "ensemble.json", json.dumps({
        "spec": model.SPEC_NAME, "data": data_name, "inits": args.inits, "seed": args.seed,
        "epochs": args.epochs, "quantiles": ENSEMBLE_QUANTILES, "results": summary},
        indent=2, allow_nan=False) + "\n")
    rows = ["lr,epoch," + ",".join(f"q{round(100 * q)}" for q in ENSEMBLE_QUANTILES) + "\n"]
    for r in results:
        rows += [f"{r['lr']!r},{e}," + ",".join(repr(float(v)) for v in row) + "\n"
                 for e, row in enumerate(r["curves"])]
    write_text(stage / "ensemble.csv", "".join(rows))
    with warnings.catch_warnings():  # all-NaN bands of diverged networks draw as nothing
        warnings.simplefilter("ignore", RuntimeWarning)
        plot_ensemble(stage / "ensemble.png", results, args.inits, data_name)
    if len(results) > 1:
        plot_sweep(stage / "sweep.png", results, args.inits, args.epochs, data_name)


def plot_ensemble(path: Path, results, count: int, data_name: str) -> None:
    """Final-loss histogram, and the median and 10-90% band of the loss per epoch."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 1 + len(results), figsize=(5.5 * (1 + len(results)), 4.5),
                             squeeze=False)
    left, panels = axes[0, 0], axes[0, 1:]
    finite = np.concatenate([r["losses"][np.isfinite(r["losses"])] for r in results])
    low = max(float(finite.min()) if len(finite) else 1e-6, 1e-12)
    high = max(float(finite.max()) if len(finite) else 1.0, low * 10)
    bins = np.geomspace(low, high, 50)
    for r, right in zip(results, panels):  # one panel per learning rate: no bands overlap
        label = f"lr {r['lr']:g}: {r['solved_fraction']:.1%} solved"
        left.hist(np.clip(r["losses"], low, high), bins=bins, histtype="step", linewidth=1.5,
                  label=label)
        epochs = np.arange(len(r["curves"]))
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
    left.set_title(f"{count} initialisations of {model.SPEC_NAME} on {data_name}")
    left.legend()
    fig.tight_layout()
    write_atomic(path, lambda tmp: fig.savefig(tmp, format="png", dpi=100,
                                               metadata={"Software": None}))
    plt.close(fig)


def plot_sweep(path: Path, results, count: int, epochs: int, data_name: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot([r["lr"] for r in results], [100 * r["solved_fraction"] for r in results], "o-")
    ax.set_xscale("log")
    rates = [r["lr"] for r in results]
    ax.set_xticks(rates, [f"{rate:g}" for rate in rates])
    ax.minorticks_off()
    ax.set_xlabel("learning rate")
    ax.set_ylabel("initialisations that solve it (%)")
    ax.set_ylim(0, 100)
    ax.set_title(f"{model.SPEC_NAME} on {data_name}: {count} inits, {epochs} epochs")
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    write_atomic(path, lambda tmp: fig.savefig(tmp, format="png", dpi=100,
                                               metadata={"Software": None}))
    plt.close(fig)


# ---------------------------------------------------------------- the PyTorch referee

TORCH_HINT = "run `make setup-torch` (torch==2.13.0, a CPU build)"


def _import_torch():
    try:
        import torch
    except ImportError:
        raise BadInput(f"--compare-torch needs PyTorch: {TORCH_HINT}") from None
    return torch


def torch_reference(init: dict[str, np.ndarray], X: np.ndarray, y: np.ndarray, lr: float,
                    epochs: int, optimizer: optim.Optimizer | None = None,
                    ) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The course notebook's loop in PyTorch (float64): nn.Linear + activation layers,
    BCELoss, SGD, from the same initial parameters. Optional: only --compare-torch uses it."""
    torch = _import_torch()
    activation = {"sigmoid": torch.nn.Sigmoid, "tanh": torch.nn.Tanh, "relu": torch.nn.ReLU,
                  "identity": torch.nn.Identity}
    names = [name for name, _, _ in model.PARAMS]
    layers = []
    for (weight, bias), act in zip(zip(names[0::2], names[1::2]), model.ACTIVATIONS):
        W = np.atleast_2d(init[weight])
        linear = torch.nn.Linear(W.shape[1], W.shape[0], dtype=torch.float64)
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(W.copy()))
            linear.bias.copy_(torch.from_numpy(np.atleast_1d(init[bias]).copy()))
        layers += [linear, activation[act]()]
    net = torch.nn.Sequential(*layers)
    loss_fn = {"bce": torch.nn.BCELoss, "mse": torch.nn.MSELoss}[model.LOSS_NAME]()
    settings = optimizer or optim.make("sgd", lr)
    if settings.name == "adam":
        optimizer = torch.optim.Adam(net.parameters(), lr=settings.lr, betas=settings.betas,
                                     eps=settings.eps, weight_decay=settings.weight_decay)
    else:
        optimizer = torch.optim.SGD(net.parameters(), lr=settings.lr,
                                    momentum=settings.momentum, nesterov=settings.nesterov,
                                    weight_decay=settings.weight_decay)
    inputs, targets = torch.from_numpy(X.copy()), torch.from_numpy(y.copy()).reshape(-1, 1)
    history = np.empty(epochs)
    for step in range(epochs):
        optimizer.zero_grad()
        loss = loss_fn(net(inputs), targets)
        history[step] = loss.item()
        loss.backward()
        optimizer.step()
    tensors = [p.detach().numpy() for p in net.parameters()]
    params = {name: np.asarray(t, dtype=np.float64).reshape(init[name].shape)
              for name, t in zip(names, tensors)}
    return params, history


def compare_with_torch(init, X, y, lr, epochs, params, history,
                       optimizer: optim.Optimizer | None = None) -> dict[str, object]:
    """Train the PyTorch referee from `init` and print how far it lands from our run."""
    torch = _import_torch()
    # torch_reference reads only the settings, never the state this run left in `optimizer`
    torch_params, torch_history = torch_reference(init, X, y, lr, epochs, optimizer)
    loss_gap = float(np.max(np.abs(torch_history - history)))
    param_gap = max(float(np.max(np.abs(torch_params[k] - params[k]))) for k in params)
    name = "Adam" if optimizer is not None and optimizer.name == "adam" else "SGD"
    print(f"PyTorch {torch.__version__} (float64, same init, {name} lr {lr:g}, {epochs} epochs): "
          f"max |loss difference| {loss_gap:.3g}, max |parameter difference| {param_gap:.3g}")
    summary = {"version": torch.__version__, "max_loss_difference": loss_gap,
               "max_param_difference": param_gap}
    return {"history": torch_history, "summary": summary}


# ---------------------------------------------------------------- output files

def write_atomic(path: Path, write: Callable[[Path], None]) -> None:
    """Let `write` fill a temporary file beside `path`, then rename it into place."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        os.chmod(tmp, 0o666 & ~_UMASK)
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


RUN_FILES = ("loss.png", "boundary.png", "history.csv", "params.json")


@contextlib.contextmanager
def staged_outputs(out: Path, names: tuple[str, ...]):
    """A run's files, published together or not at all.

    They are written into a private folder inside `out`; then, holding a lock on `out`, they
    are renamed into place, and files of `names` this run did not write are removed, so the
    folder always holds one run's complete set. Runs sharing `out` take turns at the lock;
    a failure part-way publishes nothing. Nothing but this run's own files is touched.
    """
    if out.exists() and not out.is_dir():
        raise BadInput(f"--out {out}: exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(dir=out, prefix=".run-"))
    # `.owner` is locked while this run lives (the kernel drops the lock when it dies); it
    # gets its name only once locked, so no other run can take a live folder for a dead one.
    owner = open(stage / ".owner.new", "w")
    try:
        fcntl.flock(owner, fcntl.LOCK_EX)
        os.rename(stage / ".owner.new", stage / ".owner")
        yield stage
        with open(out / ".lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            _remove_dead_stages(out, stage)
            blocked = [n for n in names if (out / n).exists() and not (out / n).is_file()]
            if blocked:
                raise BadInput(f"--out {out}: {blocked[0]} is in the way (not a regular file); "
                               "nothing was written")
            for name in names:
                if (stage / name).is_file():
                    os.replace(stage / name, out / name)
                elif (out / name).is_file():
                    (out / name).unlink()
    finally:
        owner.close()
        shutil.rmtree(stage, ignore_errors=True)


def _remove_dead_stages(out: Path, mine: Path) -> None:
    """Private folders of runs that were killed: their `.owner` lock is free again. A live
    run's folder, or anything without such a lock, is left alone."""
    for stage in out.glob(".run-*"):
        if stage == mine or not (stage / ".owner").is_file():
            continue
        with open(stage / ".owner") as owner:
            try:
                fcntl.flock(owner, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # its run is still writing
        shutil.rmtree(stage, ignore_errors=True)


def write_text(path: Path, text: str) -> None:
    write_atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def _readable_log_axis(ax, values: np.ndarray) -> None:
    """A log y axis labelled with plain numbers (0.7, 0.05); within about one decade (a run
    that did not learn) the ticks between powers of ten are labelled too."""
    from matplotlib.ticker import FuncFormatter, NullFormatter

    ax.set_yscale("log")
    plain = FuncFormatter(lambda value, _: f"{value:g}")
    ax.yaxis.set_major_formatter(plain)
    finite = values[np.isfinite(values) & (values > 0)]
    narrow = len(finite) and np.log10(finite.max() / finite.min()) < 1.2
    ax.yaxis.set_minor_formatter(plain if narrow else NullFormatter())


def plot_loss(path: Path, history: np.ndarray, title: str,
              reference: np.ndarray | None = None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.plot(np.arange(len(history)), history, color="tab:blue", linewidth=1.5,
            label="generated NumPy code")
    if reference is not None:
        ax.plot(np.arange(len(reference)), reference, color="tab:orange", linestyle="--",
                linewidth=1.5, label="PyTorch (same init)")
        ax.legend()
    _readable_log_axis(ax, history)
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"loss L ({model.LOSS}, mean over samples)")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    write_atomic(path, lambda tmp: fig.savefig(tmp, format="png", dpi=120,
                                               metadata={"Software": None}))
    plt.close(fig)


def plot_boundary(path: Path, params: dict[str, np.ndarray], X: np.ndarray, y: np.ndarray,
                  title: str) -> None:
    """y_hat over the input plane as a filled contour, the 0.5 level, and the data points."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    low, high = X.min(axis=0), X.max(axis=0)
    margin = 0.25 * np.maximum(high - low, 1e-9)
    xs = np.linspace(low[0] - margin[0], high[0] + margin[0], 200)
    ys = np.linspace(low[1] - margin[1], high[1] + margin[1], 200)
    grid_x, grid_y = np.meshgrid(xs, ys)
    with np.errstate(over="ignore", invalid="ignore"):
        surface = model.forward(params, np.column_stack([grid_x.ravel(), grid_y.ravel()]))
    surface = surface.reshape(grid_x.shape)
    fig, ax = plt.subplots(figsize=(6, 5.6))
    filled = ax.contourf(grid_x, grid_y, surface, levels=np.linspace(0.0, 1.0, 21) if
                         model.LOSS_NAME == "bce" else 20, cmap="RdBu_r", alpha=0.8)
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
    write_atomic(path, lambda tmp: fig.savefig(tmp, format="png", dpi=100,
                                               metadata={"Software": None}))
    plt.close(fig)


def classes(params: dict[str, np.ndarray], X: np.ndarray) -> np.ndarray:
    """Predicted class of every sample: y_hat >= 0.5."""
    return (model.forward(params, X) >= 0.5).astype(int)


def prediction_table(params: dict[str, np.ndarray], X: np.ndarray, y: np.ndarray) -> str:
    y_hat = model.forward(params, X)
    inputs = [f"x{j + 1}" for j in range(X.shape[1])]
    rows = ["  ".join(f"{h:>5}" for h in inputs) + "      y      y_hat  class"]
    for x_row, target, p in zip(X, y, y_hat):
        cells = "  ".join(f"{v:5g}" for v in x_row)
        rows.append(f"{cells}  {target:5g}  {p:9.6f}  {int(p >= 0.5):5d}")
    return "\n".join(rows)


# ---------------------------------------------------------------- command line

class Parser(argparse.ArgumentParser):
    """argparse, but every error is one line and exit code 2."""

    def error(self, message: str) -> None:
        raise BadInput(message)


def _number(kind: Callable[[str], float], check: Callable[[float], bool], what: str):
    def parse(text: str):
        try:
            value = kind(text)
        except (TypeError, ValueError):
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        if not check(value):
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}")
        return value
    return parse


positive_float = _number(float, lambda v: math.isfinite(v) and v > 0, "a positive finite number")
inits_int = _number(int, lambda v: 1 <= v <= 1_000_000, "a whole number from 1 to 1000000")
finite_float = _number(float, math.isfinite, "a finite number")
epochs_int = _number(int, lambda v: 1 <= v <= MAX_EPOCHS, f"a whole number from 1 to {MAX_EPOCHS}")
seed_int = _number(int, lambda v: 0 <= v < 2**63, "a whole number >= 0")


TRAIN_EPILOG = """\
other command:
  train.py predict X1 X2 ...   y_hat and the class for one input, from a trained run
                               (see: train.py predict --help)

examples:
  train.py                                  train XOR with the assignment's settings -> out/
  train.py --seed 3 --out runs/seed3        another initialisation, kept apart in runs/seed3
  train.py --spec moons_relu                another network from specs/
  train.py --inits 2000 --lr 0.3,1,3        2000 initialisations per learning rate at once
  train.py predict 1 0                      y_hat for x = (1, 0) from out/params.json

exit codes: 0 done, 2 bad input (one line on stderr), 3 training diverged.
"""


def _spec_parser(prog: str, description: str, epilog: str | None = None,
                 add_help: bool = True) -> Parser:
    parser = Parser(prog=prog, description=description, epilog=epilog, add_help=add_help,
                    formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spec", default="xor",
                        help="network spec: a name in specs/ or its .toml (default: xor)")
    return parser


unit_float = _number(float, lambda v: 0 <= v < 1, "a number from 0 up to (not including) 1")
nonnegative_float = _number(float, lambda v: math.isfinite(v) and v >= 0,
                            "a finite number >= 0")


def betas_pair(text: str) -> tuple[float, float]:
    """Adam's (beta1, beta2), each in [0, 1)."""
    parts = text.split(",")
    if len(parts) != 2:
        raise argparse.ArgumentTypeError(f"{text!r} is not two numbers such as 0.9,0.999")
    return (unit_float(parts[0].strip()), unit_float(parts[1].strip()))


def out_dir(text: str) -> Path:
    """An output folder; an empty name would silently mean the current folder."""
    if not text.strip():
        raise argparse.ArgumentTypeError("an empty name is not a folder; say --out . for this one")
    return Path(text)


def lr_list(text: str) -> list[float]:
    """One learning rate, or a comma-separated list of them (for --inits)."""
    values = [positive_float(part.strip()) for part in text.split(",")]
    if len(set(values)) != len(values):
        raise argparse.ArgumentTypeError(f"{text!r} repeats a learning rate")
    return values


def train_main(argv: list[str]) -> int:
    pre = _spec_parser("train.py", "", add_help=False)
    known, _ = pre.parse_known_args(argv)
    use_spec(known.spec)
    parser = _spec_parser(
        "train.py", "Train a generated network by full-batch gradient descent; write the loss\n"
        "curve, decision boundary, history and parameters to --out.", TRAIN_EPILOG)
    parser.add_argument("--lr", type=lr_list, default=[model.DEFAULTS["lr"]],
                        help="learning rate eta (default: the spec's, "
                             f"{model.DEFAULTS['lr']:g} for {model.SPEC_NAME}); with --inits, "
                             "a list such as 0.1,1,3")
    parser.add_argument("--epochs", type=epochs_int, default=model.DEFAULTS["epochs"],
                        help="full-batch steps (default: the spec's, %(default)s)")
    parser.add_argument("--seed", type=seed_int, default=model.DEFAULTS["seed"],
                        help="seed of the initialisation (default: the spec's, %(default)s)")
    parser.add_argument("--data", type=Path, default=None, metavar="FILE.csv",
                        help="train on a CSV file (header x1,..,xd,y) instead of the spec's "
                             f"data set (default: {model.DATASET})")
    parser.add_argument("--out", type=out_dir, default=Path("out"), metavar="DIR",
                        help="output folder (default: %(default)s)")
    parser.add_argument("--quiet", action="store_true",
                        help="print only the result (default: off)")
    parser.add_argument("--compare-torch", action="store_true",
                        help="also train the same network with PyTorch from the same init "
                             "and report the differences (needs `make setup-torch`; "
                             "default: off)")
    parser.add_argument("--init", type=Path, default=None, metavar="FILE",
                        help="start from these parameters instead of --seed's: a params.json "
                             "(replays its run) or a JSON of W1, b1, ... or of a PyTorch "
                             "state_dict (0.weight, 0.bias, ...) (default: none)")
    parser.add_argument("--backend", choices=sorted(BACKENDS), default="auto",
                        help="training loop: c (generated C, compiled on first use), python "
                             "(generated plain-Python loop), numpy, or auto: the fastest here "
                             "(default: %(default)s)")
    parser.add_argument("--optimizer", choices=optim.NAMES, default="sgd",
                        help="update rule, in PyTorch's form: sgd (plain gradient descent), "
                             "momentum (SGD with momentum) or adam (default: %(default)s)")
    parser.add_argument("--momentum", type=unit_float, default=0.9, metavar="MU",
                        help="momentum of --optimizer momentum (default: %(default)s)")
    parser.add_argument("--nesterov", action="store_true",
                        help="Nesterov momentum with --optimizer momentum (default: off)")
    parser.add_argument("--betas", type=betas_pair, default=(0.9, 0.999), metavar="B1,B2",
                        help="Adam's decay rates (default: 0.9,0.999)")
    parser.add_argument("--eps", type=positive_float, default=1e-8,
                        help="Adam's epsilon (default: %(default)s)")
    parser.add_argument("--weight-decay", type=nonnegative_float, default=0.0, metavar="L",
                        help="L2 penalty added to every gradient, as PyTorch's weight_decay "
                             "(default: %(default)s)")
    parser.add_argument("--inits", type=inits_int, default=None, metavar="K",
                        help="train K initialisations at once (seeds SEED..SEED+K-1) and "
                             "report how many solve the data (default: one network)")
    args = parser.parse_args(argv)
    if args.inits is None and len(args.lr) > 1:
        raise BadInput("a list of learning rates needs --inits K (one ensemble per rate)")
    if args.compare_torch:
        _import_torch()  # before training, not after it
    optimizer = optim.make(args.optimizer, args.lr[0], args.momentum, args.nesterov,
                           args.betas, args.eps, args.weight_decay)
    if not optimizer.is_plain and args.inits is not None:
        raise BadInput(f"--inits trains with plain gradient descent only; leave out "
                       f"--optimizer {args.optimizer} and --weight-decay")
    if not optimizer.is_plain and args.backend in ("c", "python"):
        raise BadInput(f"--backend {args.backend} runs plain gradient descent only; "
                       f"--optimizer {args.optimizer} and --weight-decay run on --backend numpy")
    if args.inits is not None and (args.compare_torch or args.init):
        raise BadInput("--compare-torch and --init are for one run; leave out --inits")

    check_generated()
    out = args.out
    if out.exists() and not out.is_dir():
        raise BadInput(f"--out {out}: exists and is not a folder")
    X, y = load_csv(args.data) if args.data else model.dataset()
    data_name = str(args.data) if args.data else model.DATASET
    say = (lambda *a: None) if args.quiet else print
    if args.inits is not None:
        return ensemble_main(args, X, y, data_name, say)
    args.lr = args.lr[0]
    init = load_init(args.init) if args.init else init_params(args.seed)
    start = f"init from {args.init}" if args.init else f"seed {args.seed}"
    path = choose_path(len(X), "numpy" if not optimizer.is_plain else BACKENDS[args.backend])
    if not optimizer.is_plain and args.backend == "auto":
        say(f"{args.optimizer} runs on the NumPy loop (the generated C and plain-Python loops "
            "carry plain gradient descent only)")
    rule = "" if optimizer.name == "sgd" else f", {args.optimizer}"
    say(f"training {model.SPEC_NAME} on {data_name} ({len(X)} samples): lr {args.lr:g}{rule}, "
        f"{args.epochs} epochs, {start}, {PATH_NAMES[path]}")
    params, history = train(init, X, y, args.lr, args.epochs, path=path, optimizer=optimizer,
                            report=lambda e, loss: say(f"  epoch {e:>7d}  loss {loss:.6f}"))
    final_loss = model.loss(params, X, y)
    reference = None
    if args.compare_torch:
        reference = compare_with_torch(init, X, y, args.lr, args.epochs, params, history,
                                       optimizer)

    correct = int(np.sum(classes(params, X) == (y >= 0.5)))
    record = {
        "spec": model.SPEC_NAME, "spec_file": model.SPEC_FILE,
        "generated_sha256": model.MODULE_SHA256, "data": data_name,
        "lr": args.lr, "epochs": args.epochs, "seed": None if args.init else args.seed,
        "init_file": str(args.init) if args.init else None,
        "init": to_json(init), "params": to_json(params), "final_loss": final_loss,
        "accuracy": correct / len(X), "optimizer": optimizer.settings(),
    }
    if reference is not None:
        record["torch"] = reference["summary"]
    title = f"{model.SPEC_NAME} (lr {args.lr:g}, {start})"
    verdict = "" if correct == len(X) else f", NOT solved: {correct}/{len(X)} correct"
    with staged_outputs(out, RUN_FILES) as stage:
        write_text(stage / "params.json", json.dumps(record, indent=2, allow_nan=False) + "\n")
        write_text(stage / "history.csv", "epoch,loss\n"
                   + "".join(f"{e},{v!r}\n" for e, v in enumerate(history.tolist())))
        plot_loss(stage / "loss.png", history, f"{title}: loss per epoch{verdict}",
                  reference=None if reference is None else reference["history"])
        if model.N_INPUTS == 2:
            plot_boundary(stage / "boundary.png", params, X, y, f"{title}: y_hat and the data")
    written = [n for n in RUN_FILES if n != "boundary.png" or model.N_INPUTS == 2]

    solved = correct == len(X)
    print(f"final loss {final_loss:.6f} after {args.epochs} epochs; accuracy "
          f"{correct}/{len(X)} ({correct / len(X):.1%}); "
          f"{'solved' if solved else 'NOT solved'} {data_name}")
    if len(X) <= 16:
        print(prediction_table(params, X, y))
    say("wrote " + ", ".join(str(out / name) for name in written))
    if not solved and len(X) <= 16:
        say("this initialisation did not classify every point: try another --seed or a larger "
            "--lr, with --out DIR to keep the runs apart (README: \"If your run prints NOT "
            "solved\")")
    return 0


PREDICT_EPILOG = """\
examples:
  train.py predict 1 0                              from out/params.json (the last run)
  train.py predict -0.5 2 --params runs/seed3/params.json --spec xor
"""

FLOAT = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$|^[-+]?(inf|nan)$", re.I)


def _split_inputs(argv: list[str]) -> list[str]:
    """Numbers go after `--`, so that `predict -1e3 0` is an input, not an unknown flag."""
    options, numbers, take_value = [], [], False
    for token in argv:
        if take_value:
            options.append(token)
            take_value = False
        elif token == "--":
            continue
        elif token in ("--params", "--spec"):
            options.append(token)
            take_value = True
        elif FLOAT.match(token) or not token.startswith("-"):
            numbers.append(token)
        else:
            options.append(token)
    return [*options, "--", *numbers]


def predict_main(argv: list[str]) -> int:
    parser = _spec_parser("train.py predict",
                          "Print y_hat and the class of one input, from the parameters a training\n"
                          "run saved; says which params file and network it used.",
                          PREDICT_EPILOG)
    parser.set_defaults(spec=None)
    parser._option_string_actions["--spec"].help = (
        "the network the parameters must belong to (default: the one the params file names)")
    parser.add_argument("x", nargs="*", type=finite_float, metavar="X",
                        help="the input values, one per input of the network")
    parser.add_argument("--params", type=Path, default=Path("out/params.json"), metavar="FILE",
                        help="params.json of a training run (default: %(default)s)")
    args = parser.parse_args(_split_inputs(argv))
    if not args.params.exists():
        raise BadInput(f"--params {args.params}: not found; train first (`make train`, or "
                       "train.py --out DIR writes DIR/params.json)")
    record = read_json(args.params, missing="not found")
    if not isinstance(record, dict) or "params" not in record:
        raise BadInput(f"{args.params}: no 'params' object; was it written by train.py?")
    spec = record.get("spec", "xor")
    if not isinstance(spec, str) or not spec.isidentifier():
        raise BadInput(f"{args.params}: 'spec' must name a generated module, got {spec!r}")
    if args.spec is not None:
        wanted = Path(args.spec).stem if args.spec.endswith(".toml") else args.spec
        if wanted != spec:
            raise BadInput(f"--params {args.params} holds parameters of network {spec!r}, "
                           f"not of --spec {args.spec}")
    use_spec(spec)
    check_generated()
    if len(args.x) != model.N_INPUTS:
        raise BadInput(f"predict takes {model.N_INPUTS} input values for {model.SPEC_NAME}, "
                       f"got {len(args.x)}")
    params = from_json(record["params"], str(args.params))
    with np.errstate(all="ignore"):  # overflow shows up as a non-finite y_hat, reported below
        y_hat = float(model.forward(params, np.array([args.x]))[0])
    if not math.isfinite(y_hat):
        raise BadInput(f"{args.params}: these parameters overflow for input {args.x} "
                       "(y_hat is not a number); are they from a diverged run?")
    inputs = " ".join(f"{v:g}" for v in args.x)
    print(f"{model.SPEC_NAME} ({args.params}): x = [{inputs}]  y_hat = {y_hat:.6f}  "
          f"class = {int(y_hat >= 0.5)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    signal.signal(signal.SIGINT, signal.default_int_handler)
    argv = sys.argv[1:] if argv is None else argv
    try:
        if argv[:1] == ["predict"]:
            return predict_main(argv[1:])
        return train_main(argv)
    except BadInput as error:
        print(f"train.py: error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except Diverged as error:
        print(f"train.py: {error}", file=sys.stderr)
        return EXIT_DIVERGED
    except BrokenPipeError:  # `python train.py | head`: stop quietly, as a filter should
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except OSError as error:
        print(f"train.py: error: {error.strerror or error}: {error.filename or ''}",
              file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("train.py: interrupted; no output was written, earlier files are kept",
              file=sys.stderr)
        return 130
    except (RecursionError, MemoryError) as error:
        print(f"train.py: error: input too large or too deeply nested "
              f"({error.__class__.__name__})", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
