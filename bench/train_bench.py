"""Benchmark: time per epoch of training the assignment's 2-2-1 network (`make bench`).

In one process, from the same initial parameters (seed 1), on XOR, lr 1, 2001 epochs:
the generated C loop (train.py's default where a C compiler exists), the generated
plain-Python loop (its default without one), the generated NumPy code stepped by train.py,
the hand-written NumPy baseline (bench/numpy_baseline.py), a hand-written C loop
(bench/xor_loop.c, the practical floor) and PyTorch eager (the course notebook's loop)
where the torch extra is installed. Medians of several
repeats; every row must end at the same final loss (1e-12), or the benchmark fails.
Then the ensemble trainer: nanoseconds per network-epoch for K networks at once.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import numpy_baseline  # noqa: E402

from trainer.compiled import compiled_library, train_ensemble_compiled  # noqa: E402
from trainer.ensemble import ensemble_init, quantile_stride  # noqa: E402
from trainer.loops import FAST_PATH_MAX_SAMPLES, init_params, train  # noqa: E402
from trainer.model import load_generated  # noqa: E402

EPOCHS, LR, SEED = 2001, 1.0, 1


def median_seconds(run, repeats: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def hand_written_c_row(init, X, y):
    """bench/xor_loop.c compiled here, called exactly as train.py calls the generated loop."""
    import ctypes
    import shutil
    import subprocess
    import tempfile

    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        return None
    library = Path(tempfile.mkdtemp()) / "xor_loop.so"
    subprocess.run([compiler, "-O2", "-shared", "-fPIC", "-o", str(library),
                    str(REPO / "bench" / "xor_loop.c"), "-lm"], check=True)
    function = ctypes.CDLL(str(library)).train
    pointer = ctypes.POINTER(ctypes.c_double)
    function.argtypes = [pointer, pointer, pointer, ctypes.c_int, ctypes.c_double,
                         ctypes.c_int, pointer]

    def run():
        flat = np.concatenate([np.ravel(init[name]) for name in ("W1", "b1", "w2", "b2")])
        losses = np.empty(EPOCHS)
        Xc, yc = np.ascontiguousarray(X), np.ascontiguousarray(y)
        function(flat.ctypes.data_as(pointer), Xc.ctypes.data_as(pointer),
                 yc.ctypes.data_as(pointer), len(X), LR, EPOCHS, losses.ctypes.data_as(pointer))
        params = {"W1": flat[:4].reshape(2, 2), "b1": flat[4:6], "w2": flat[6:8],
                  "b2": flat[8].copy()}
        return params, losses
    return run


def torch_row(model, init, X, y):
    try:
        import torch  # noqa: F401
    except ImportError:
        return None
    from trainer.torch_reference import torch_reference

    return lambda: torch_reference(model, init, X, y, LR, EPOCHS)


def main() -> int:
    model = load_generated("xor")
    X, y = model.dataset()
    init = init_params(model, SEED)
    rows = [
        ("generated, compiled C loop (--backend c)",
         lambda: train(model, init, X, y, LR, EPOCHS, path="c"), 21),
        ("generated, plain Python (train_fast)",
         lambda: train(model, init, X, y, LR, EPOCHS, path="fast"), 7),
        ("generated, NumPy (loss_and_gradients)",
         lambda: train(model, init, X, y, LR, EPOCHS, path="numpy"), 3),
        ("hand-written NumPy baseline", lambda: numpy_baseline.train(init, X, y, LR, EPOCHS), 5),
    ]
    floor = hand_written_c_row(init, X, y)
    if floor is not None:
        rows.append(("hand-written C loop (bench/xor_loop.c)", floor, 21))
    reference = torch_row(model, init, X, y)
    if reference is not None:
        rows.append(("PyTorch eager (the course notebook's loop)", reference, 3))
    measured = []
    for name, run, repeats in rows:
        seconds, (params, _) = median_seconds(run, repeats)
        measured.append((name, 1e6 * seconds / EPOCHS, model.loss(params, X, y)))
    by_name = {name: us for name, us, _ in measured}
    baseline = by_name["hand-written NumPy baseline"]
    torch_us = by_name.get("PyTorch eager (the course notebook's loop)")
    print(f"training benchmark: 2-2-1 XOR, lr {LR:g}, {EPOCHS} epochs, seed {SEED}, float64, "
          f"{time.strftime('%Y-%m-%d')}")
    print("| path | us/epoch | vs NumPy baseline | vs PyTorch eager | final loss |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, us, loss in measured:
        vs_torch = "-" if torch_us is None else f"{torch_us / us:.1f}x"
        print(f"| {name} | {us:.2f} | {baseline / us:.1f}x | {vs_torch} | {loss:.15f} |")
    losses = [loss for _, _, loss in measured]
    spread = max(losses) - min(losses)
    print(f"largest difference of the final losses: {spread:.2e} (must be below 1e-12)")
    if torch_us is None:
        print("(PyTorch row left out: `make setup-torch` installs the optional referee)")

    print("\nensembles: K initialisations at once (train.py --inits K), XOR, 2001 epochs; "
          "ns per network-epoch, loss quantiles every max(1, K / 1000) epochs as train.py "
          "takes them")
    print("| K | NumPy | C ensemble loop (default with a compiler; all cores) | NumPy / C | "
          "verdicts alike | C, one core (OMP_NUM_THREADS=1) | C, all cores, one kept busy |")
    print("| ---: | ---: | ---: | ---: | :---: | ---: | ---: |")
    compiled = compiled_library(model, required=False) is not None
    for count in (100, 1000, 10_000, 100_000):
        params = ensemble_init(model, SEED, count)
        every = quantile_stride(count)
        start = time.perf_counter()
        *_, first = model.train_ensemble(params, X, y, LR, EPOCHS, (0.1, 0.5, 0.9), every)
        numpy_ns = 1e9 * (time.perf_counter() - start) / (count * EPOCHS)
        c_text, ratio, alike, one_core, loaded = "no compiler", "-", "-", "-", "-"
        if compiled:
            train_ensemble_compiled(model, params, X, y, LR, 2)  # built and loaded
            start = time.perf_counter()
            *_, c_first = train_ensemble_compiled(model, params, X, y, LR, EPOCHS,
                                                  (0.1, 0.5, 0.9), every)
            c_ns = 1e9 * (time.perf_counter() - start) / (count * EPOCHS)
            c_text, ratio = f"{c_ns:.0f}", f"{numpy_ns / c_ns:.1f}x"
            alike = "yes" if np.array_equal(first, c_first) else "NO"
            one_core = f"{ensemble_ns_alone(count, threads=1):.0f}"
            loaded = f"{ensemble_ns_alone(count, busy=True):.0f}"
        print(f"| {count} | {numpy_ns:.0f} | {c_text} | {ratio} | {alike} | {one_core} | "
              f"{loaded} |")

    print("\nwhere the plain-Python loop stops paying (train.py switches to NumPy above "
          f"{FAST_PATH_MAX_SAMPLES} samples)")
    print("| samples | plain Python (us/epoch) | NumPy (us/epoch) |")
    print("| ---: | ---: | ---: |")
    rng = np.random.default_rng(0)
    for n in (4, 16, 64, 256):
        Xn, yn = rng.normal(size=(n, 2)), rng.integers(0, 2, n).astype(float)
        fast, _ = median_seconds(lambda X=Xn, y=yn: model.train_fast(init, X, y, 0.1, 200), 3)
        slow, _ = median_seconds(
            lambda X=Xn, y=yn: train(model, init, X, y, 0.1, 200, path="numpy"), 3)
        print(f"| {n} | {1e6 * fast / 200:.1f} | {1e6 * slow / 200:.1f} |")
    run_cost_rows(model, init, X, y)
    digits_spread = digits_rows()
    return 0 if spread < 1e-12 and digits_spread < 1e-9 else 1


def digits_rows() -> float:
    """specs/digits.toml (64-32-10 tanh, softmax, cross-entropy) on the digits training part,
    float64, same init, same batches: the generated module's loop (what train.py runs) and
    a loop over its loss_and_gradients, against a hand-written NumPy MLP (bench/numpy_mlp.py)
    and PyTorch eager; full batch, then the spec's batches of 64. Returns the largest
    final-loss difference."""
    model = load_generated("digits")
    X, y = model.dataset()
    init = init_params(model, 0)
    return max(digits_table(model, X, y, init, None, 200), digits_table(model, X, y, init, 64, 20))


def digits_table(model, X, y, init, batch_size: int | None, epochs: int, lr: float = 0.5,
                 rounds: int = 7) -> float:
    """One table of digits_rows: full batch (`batch_size` None) or mini-batches."""
    import numpy_mlp

    from trainer.loops import batch_orders, descend

    def orders():
        return None if batch_size is None else batch_orders(0, len(X), epochs)

    rows = [("generated, its training loop (`train_batches`, what train.py runs)",
             lambda: model.train_batches(init, X, y, lr, epochs, orders(), batch_size)),
            ("generated, a loop over `loss_and_gradients` (trainer/loops.py `descend`)",
             lambda: descend(model, init, X, y, lr, epochs, batch_size=batch_size)),
            ("hand-written NumPy MLP (`bench/numpy_mlp.py`)",
             lambda: numpy_mlp.train(init, X, y, lr, epochs, orders(), batch_size))]
    try:
        import torch  # noqa: F401

        from trainer.torch_reference import torch_reference

        rows.append(("PyTorch eager (`nn.Linear`, `F.cross_entropy`, `optim.SGD`)",
                     lambda: torch_reference(model, init, X, y, lr, epochs,
                                             batch_size=batch_size)))
    except ImportError:
        pass
    seconds, ratios, losses = interleaved(rows, rounds)
    what = "full batch" if batch_size is None else f"batches of {batch_size}"
    print(f"\ndigits (specs/digits.toml, {len(X)} training images, 64-32-10), lr {lr}, "
          f"{epochs} epochs, {what}, float64, same init; {rounds} rounds, each running every "
          "row once in turn: median time, and the median of each round's ratio")
    print("| path | us/epoch | the generated loop is faster by | last loss |")
    print("| --- | ---: | ---: | ---: |")
    for (name, _), time_taken, ratio, loss in zip(rows, seconds, ratios, losses):
        print(f"| {name} | {1e6 * time_taken / epochs:.0f} | {ratio:.2f}x | {loss:.15f} |")
    if len(rows) < 4:
        print("(PyTorch row left out: `make setup-torch` installs the optional referee)")
    spread = max(losses) - min(losses)
    print(f"largest difference of the last losses: {spread:.2e}")
    return spread


def interleaved(rows, rounds: int) -> tuple[list[float], list[float], list[float]]:
    """Every row once per round, the order turning each round, so a slow spell of a shared
    machine falls on every row: each row's median seconds, the median over rounds of its
    time against the first row's, and its last loss."""
    times = [[] for _ in rows]
    losses = [0.0] * len(rows)
    for turn in range(rounds):
        for k in [(turn + j) % len(rows) for j in range(len(rows))]:
            start = time.perf_counter()
            _, history = rows[k][1]()
            times[k].append(time.perf_counter() - start)
            losses[k] = float(history[-1])
    ratios = [statistics.median(t / g for t, g in zip(row, times[0])) for row in times]
    return [statistics.median(row) for row in times], ratios, losses


ONE_CORE = """
import sys, time
sys.path.insert(0, sys.argv[1])
from trainer.compiled import train_ensemble_compiled
from trainer.ensemble import ensemble_init, quantile_stride
from trainer.model import load_generated
model = load_generated("xor")
X, y = model.dataset()
count, epochs, lr, seed = (int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]),
                           int(sys.argv[5]))
params = ensemble_init(model, seed, count)
train_ensemble_compiled(model, params, X, y, lr, 2)
start = time.perf_counter()
train_ensemble_compiled(model, params, X, y, lr, epochs, (0.1, 0.5, 0.9),
                        quantile_stride(count))
print(1e9 * (time.perf_counter() - start) / (count * epochs))
"""


def ensemble_ns_alone(count: int, threads: int | None = None, busy: bool = False) -> float:
    """The C ensemble loop in a process of its own (OpenMP reads OMP_NUM_THREADS once):
    on `threads` cores, or on all of them while another process keeps one core busy, as a
    shared machine does."""
    import os
    import subprocess

    env = {**os.environ, **({"OMP_NUM_THREADS": str(threads)} if threads else {})}
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if busy else None
    try:
        result = subprocess.run(
            [sys.executable, "-c", ONE_CORE, str(REPO), str(count), str(EPOCHS), str(LR),
             str(SEED)], env=env, check=True, capture_output=True, text=True)
    finally:
        if hog is not None:
            hog.kill()
            hog.wait()
    return float(result.stdout)


FIGURES_ALONE = """
import json, sys, time
from pathlib import Path
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot
import numpy as np
import train
from trainer import plots
from trainer.model import load_generated
out = Path(sys.argv[1])
model = load_generated("xor")
X, y = model.dataset()
record = json.loads((out / "params.json").read_text())
params = {name: np.asarray(value) for name, value in record["params"].items()}
history = np.loadtxt(out / "history.csv", delimiter=",", skiprows=1)[:, 1]
start = time.perf_counter()
plots.plot_loss(model, out / "l.png", history, "loss")
plots.plot_boundary(model, out / "b.png", params, X, y, "boundary")
print(time.perf_counter() - start)
"""


def run_cost_rows(model, init, X, y) -> None:
    """A long run end to end (`train.py --epochs 200000 --quiet`) against its loop alone:
    where its time goes (interpreter and imports, the two figures drawn in a fresh process,
    the loop, history.csv's text, everything else), and what one more epoch costs end to end
    (against a 1,000-epoch run) next to what it costs in the loop. Goal: at most 2x."""
    import subprocess
    import tempfile

    from trainer.history import c_formatter, history_csv

    long, longer, short = 200_000, 2_000_000, 1_000

    def seconds(command: list[str]) -> float:
        start = time.perf_counter()
        subprocess.run(command, cwd=REPO, check=True, capture_output=True)
        return time.perf_counter() - start

    def end_to_end(epochs: int, out: str) -> float:
        return seconds([sys.executable, "train.py", "--epochs", str(epochs), "--quiet",
                        "--out", out])

    path = "c" if compiled_library(model, required=False) is not None else "fast"
    loop, _ = median_seconds(lambda: train(model, init, X, y, LR, long, path=path), 3)
    with tempfile.TemporaryDirectory() as out:
        whole = statistics.median(end_to_end(long, out) for _ in range(3))
        # What one more epoch costs, from 2,000,000 epochs against 1,000, interleaved: run
        # times here wander by a tenth of a second, about what 200,000 epochs add.
        pairs = [(end_to_end(longer, out + "/longer"), end_to_end(short, out + "/short"))
                 for _ in range(3)]
        marginal = (statistics.median(a for a, _ in pairs)
                    - statistics.median(b for _, b in pairs)) / (longer - short)
        marginal_loop = median_seconds(
            lambda: train(model, init, X, y, LR, longer, path=path), 3)[0] / longer
        start = statistics.median(seconds([sys.executable, "-c", (
            "import train, matplotlib; matplotlib.use('Agg'); import matplotlib.pyplot")])
            for _ in range(3))
        # The two figures of that run, drawn in a fresh process as train.py draws them
        # (the first figure of a process pays for fonts and tick machinery).
        figures = statistics.median(float(subprocess.run(
            [sys.executable, "-c", FIGURES_ALONE, out], cwd=REPO, check=True,
            capture_output=True, text=True).stdout) for _ in range(3))
        history = np.loadtxt(Path(out, "history.csv"), delimiter=",", skiprows=1)[:, 1]
        formatter = c_formatter()
        text, _ = median_seconds(lambda: history_csv(history, formatter), 3)
    rest = max(0.0, whole - start - figures - loop - text)  # separate timings: noise can go below 0
    print(f"\na long run end to end, {long} epochs ({path} loop; history.csv by "
          f"{'the C formatter' if formatter is not None else 'repr'}), seconds:")
    print("| end to end | interpreter and imports | figures | loop | history.csv text | "
          "everything else |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: |")
    print(f"| {whole:.2f} | {start:.2f} | {figures:.2f} | {loop:.3f} | {text:.3f} | "
          f"{rest:.2f} |")
    print(f"what an epoch adds end to end ({longer:,} epochs against {short:,}): "
          f"{1e6 * marginal:.2f} us; in the loop: {1e6 * marginal_loop:.2f} us; "
          f"ratio {marginal / marginal_loop:.1f}x (goal: at most 2x)")


if __name__ == "__main__":
    sys.exit(main())
