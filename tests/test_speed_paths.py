"""The fast paths: the plain-Python loop and the K-network ensemble, against the plain loop."""

from __future__ import annotations

import functools
import json
import tracemalloc

import numpy as np
import pytest
import spec_oracle as oracle
from conftest import REPO, require_cc, run
from hypothesis import given, settings
from hypothesis import strategies as st

from derive.check import load_module
from trainer.compiled import train_compiled
from trainer.ensemble import ensemble_init
from trainer.loops import descend, init_params, train
from trainer.model import for_spec, load_generated

SMALL = [name for name in ("xor", "xor_tanh4", "xor_deep", "xor_mse")]
XOR = load_generated("xor")


# README: "All agree to 1e-12". A difference is measured against the largest magnitude
# involved (at least 1): the loss, or the parameters before and after the steps.
AGREE = 1e-12


def _assert_agree(got, want, *context) -> None:
    scale = max(1.0, *(float(np.max(np.abs(c))) for c in (want, *context)))
    difference = float(np.max(np.abs(np.asarray(got) - np.asarray(want))))
    assert difference <= AGREE * scale, (difference, scale)


def _diverged(loss: float, first: float, params) -> bool:
    """What train.py reports as diverged (exit 3): a non-finite loss or parameter, or a
    loss above 10 times the first plus 1."""
    return (not np.isfinite(loss) or loss > 10.0 * first + 1.0
            or not all(np.all(np.isfinite(v)) for v in params.values()))


@pytest.mark.parametrize("path", ["fast", "c"])
@pytest.mark.parametrize("name", SMALL)
@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10**6), lr=st.floats(0.01, 1.0), epochs=st.integers(2, 40),
       n=st.integers(1, 8))
def test_generated_loops_equal_the_numpy_loop(name, path, seed, lr, epochs, n):
    """The plain-Python loop (`fast`) and the compiled C loop (`c`) against the NumPy loop.

    Along the NumPy loop's whole run, every two-epoch stretch replayed by the loop under
    test from the same parameters gives the same losses and parameters to 1e-12, no run
    discarded, up to where train.py would stop it as diverged: past that, 1 - tanh(z)^2 of
    a saturated unit is a last-bit difference between libm's and NumPy's tanh multiplied by
    weights of 1e9 and more. Over long stretches of an unstable run those last bits can
    also grow (4e-10 in 38 epochs was seen): whole runs are compared on every spec's
    default run, below.
    """
    if path == "c":
        require_cc()
    model = for_spec(name)
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, model.N_INPUTS)) * 2
    y = rng.integers(0, 2, size=n).astype(float)
    loop = model.train_fast if path == "fast" else functools.partial(train_compiled, model)
    states, history = [init_params(model, seed)], []
    with np.errstate(all="ignore"):
        for _ in range(epochs):
            params, losses = descend(model, states[-1], X, y, lr, 1)
            states.append(params)
            history.append(losses[0])
    first_params, first_loss = loop(states[0], X, y, lr, 1)  # the first step, always
    _assert_agree(first_loss, history[:1])
    for key in states[0]:
        _assert_agree(first_params[key], states[1][key], states[0][key])
    for start in range(epochs - 1):
        if _diverged(history[start + 1], history[0], states[start + 2]):
            break
        got_params, got_history = loop(states[start], X, y, lr, 2)
        _assert_agree(got_history, history[start:start + 2])
        for key in states[0]:
            _assert_agree(got_params[key], states[start + 2][key], states[start][key])


@pytest.mark.parametrize("path", ["fast", "c"])
@pytest.mark.parametrize("name", SMALL)
def test_default_run_is_the_same_on_every_backend(name, path):
    """The README's claim, on every small spec's default run (lr, epochs and seed from the
    spec file): the backends agree to 1e-12 on the whole loss curve and final parameters."""
    if path == "c":
        require_cc()
    spec = oracle.read_spec(name)
    model = for_spec(name)
    X, y = model.dataset()
    init = init_params(model, spec.seed)
    got = train(model, init, X, y, spec.lr, spec.epochs, path=path)
    want = train(model, init, X, y, spec.lr, spec.epochs, path="numpy")
    assert len(got[1]) == len(want[1]) == spec.epochs
    np.testing.assert_allclose(got[1], want[1], rtol=0, atol=AGREE)
    for key in init:
        np.testing.assert_allclose(got[0][key], want[0][key], rtol=0, atol=AGREE)


def test_overflow_falls_back_to_the_numpy_loop():
    X, y = XOR.dataset()
    init = init_params(XOR, 1)
    init["b2"] = np.array(-800.0)  # exp(800) overflows in plain Python
    with pytest.raises(OverflowError):
        XOR.train_fast(init, X, y, 0.1, 5)
    auto = train(XOR, init, X, y, 0.1, 5)
    numpy = train(XOR, init, X, y, 0.1, 5, path="numpy")
    assert np.array_equal(auto[1], numpy[1])


def test_network_k_of_the_ensemble_is_exactly_a_single_run():
    X, y = XOR.dataset()
    params = ensemble_init(XOR, 5, 40)
    trained, curves, losses, first = XOR.train_ensemble(params, X, y, 1.0, 300)
    for k in (0, 7, 39):
        single, history = train(XOR, init_params(XOR, 5 + k), X, y, 1.0, 300, path="numpy")
        for name in single:
            assert np.array_equal(trained[name][..., k], single[name]), (k, name)
        assert losses[k] == history[-1]
        fast, _ = train(XOR, init_params(XOR, 5 + k), X, y, 1.0, 300, path="fast")
        for name in single:
            np.testing.assert_allclose(trained[name][..., k], fast[name], atol=1e-12, rtol=0)


def test_ensemble_curves_and_first_solved_epochs():
    X, y = XOR.dataset()
    count, epochs = 30, 400
    params = ensemble_init(XOR, 0, count)
    _, curves, _, first = XOR.train_ensemble(params, X, y, 1.0, epochs)
    histories, solved_at = [], []
    for k in range(count):
        p = init_params(XOR, k)
        history, first_k = [], -1
        for epoch in range(epochs):
            if first_k < 0 and np.array_equal(XOR.forward(p, X) >= 0.5, y >= 0.5):
                first_k = epoch
            loss, grads = XOR.loss_and_gradients(p, X, y)
            history.append(loss)
            p = {n: v - grads[n] for n, v in p.items()}
        histories.append(history)
        solved_at.append(first_k)
    want = np.quantile(np.array(histories), (0.1, 0.5, 0.9), axis=0).T
    np.testing.assert_allclose(curves, want, rtol=1e-12, atol=1e-15)
    assert first.tolist() == solved_at


def test_ensemble_memory_grows_with_networks_not_epochs():
    X, y = XOR.dataset()
    params = ensemble_init(XOR, 0, 1000)
    tracemalloc.start()
    XOR.train_ensemble(params, X, y, 1.0, 3000)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 1000 * 3000 * 8 / 4  # keeping every curve would take 24 MB


def test_inits_cli_writes_the_study(tmp_path):
    result = run(["train.py", "--inits", "300", "--out", str(tmp_path)])
    assert result.returncode == 0, result.stderr
    summary = json.loads((tmp_path / "ensemble.json").read_text())
    row = summary["results"][0]
    assert row["networks"] == 300 and 0.75 < row["solved_fraction"] < 0.92  # about 5 in 6
    assert f"{row['solved']:d}" in result.stdout
    assert (tmp_path / "ensemble.png").read_bytes()[:4] == b"\x89PNG"
    lines = (tmp_path / "ensemble.csv").read_text().splitlines()
    assert lines[0] == "lr,epoch,q10,q50,q90" and len(lines) == 1 + 2001


def test_learning_rate_sweep(tmp_path):
    result = run(["train.py", "--inits", "100", "--epochs", "300", "--lr", "0.1,3",
                  "--out", str(tmp_path)])
    assert result.returncode == 0, result.stderr
    rows = json.loads((tmp_path / "ensemble.json").read_text())["results"]
    assert [r["lr"] for r in rows] == [0.1, 3.0]
    assert rows[1]["solved_fraction"] > rows[0]["solved_fraction"]
    assert (tmp_path / "sweep.png").exists()


@pytest.mark.parametrize("args", [
    ["--lr", "0.1,x", "--inits", "5"], ["--lr", "1,1", "--inits", "5"], ["--lr", "0.1,1"],
    ["--inits", "0"], ["--inits", "many"], ["--inits", "5", "--spec", "moons_relu"],
    ["--inits", "5", "--compare-torch"],
], ids=" ".join)
def test_bad_ensemble_flags(tmp_path, args):
    result = run(["train.py", *args, "--epochs", "5", "--out", str(tmp_path / "o")])
    assert result.returncode == 2, result.stdout
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert not (tmp_path / "o").exists()


def test_every_small_spec_has_the_fast_paths_and_large_ones_do_not():
    for name in SMALL:
        module = load_module(REPO / "generated" / f"{name}.py")
        assert hasattr(module, "train_fast") and hasattr(module, "train_ensemble")
    moons = load_module(REPO / "generated" / "moons_relu.py")
    assert not hasattr(moons, "train_fast")


def test_compiled_loop_handles_saturated_logits():
    require_cc()
    X, y = XOR.dataset()
    init = init_params(XOR, 1)
    init["b2"] = np.array(-800.0)
    compiled = train(XOR, init, X, y, 0.1, 5, path="c")
    numpy = train(XOR, init, X, y, 0.1, 5, path="numpy")
    np.testing.assert_allclose(compiled[1], numpy[1], rtol=1e-12)


@pytest.mark.parametrize("name", SMALL)
def test_generated_c_compiles_without_warnings(tmp_path, name):
    import subprocess

    compiler = require_cc()
    result = subprocess.run([compiler, "-std=c99", "-O2", "-fopenmp-simd", "-Wall", "-Wextra",
                             "-Werror",
                             "-shared", "-fPIC", "-o", str(tmp_path / "loop.so"),
                             str(REPO / "generated" / f"{name}.c"), "-lm"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_backend_flag_and_the_build_cache(tmp_path):
    require_cc()
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache")}
    first = run(["train.py", "--backend", "c", "--quiet", "--out", str(tmp_path / "a")], env=env)
    assert first.returncode == 0, first.stderr
    built = sorted((tmp_path / "cache" / "derive-nn").glob("*.so"))
    assert [path.name.split("-")[0] for path in built] == ["history_rows", "xor"]
    stamps = [path.stat().st_mtime_ns for path in built]
    second = run(["train.py", "--quiet", "--out", str(tmp_path / "b")], env=env)
    assert second.returncode == 0  # both libraries reused, not rebuilt
    assert [path.stat().st_mtime_ns for path in built] == stamps
    for name in ("history.csv", "params.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    python = run(["train.py", "--backend", "python", "--quiet", "--out", str(tmp_path / "p")])
    assert python.returncode == 0
    assert first.stdout.splitlines()[0] == python.stdout.splitlines()[0]  # same final loss


def test_without_a_compiler(tmp_path):
    empty = tmp_path / "bin"
    empty.mkdir()
    env = {"PATH": str(empty), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    result = run(["train.py", "--backend", "c", "--out", str(tmp_path / "o")], env=env)
    assert result.returncode == 2 and "no C compiler" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    result = run(["train.py", "--out", str(tmp_path / "o")], env=env)
    assert result.returncode == 0 and "plain-Python loop" in result.stdout
    # history.csv by repr is byte for byte the C formatter's, for the same loop
    compiled = run(["train.py", "--backend", "python", "--quiet", "--out", str(tmp_path / "c")])
    assert compiled.returncode == 0
    assert (tmp_path / "o" / "history.csv").read_bytes() == \
        (tmp_path / "c" / "history.csv").read_bytes()


@functools.cache
def _c_and_numpy_ensembles(count: int = 10_000, epochs: int = 2001):
    require_cc()
    from trainer.compiled import train_ensemble_compiled

    X, y = XOR.dataset()
    params = ensemble_init(XOR, 1, count)
    with np.errstate(all="ignore"):
        numpy = XOR.train_ensemble(params, X, y, 1.0, epochs, (0.1, 0.5, 0.9), 10)
    return train_ensemble_compiled(XOR, params, X, y, 1.0, epochs, (0.1, 0.5, 0.9), 10), numpy


def test_the_c_ensemble_agrees_with_numpy_on_every_one_of_10000_networks():
    """Issue 13: final losses to 1e-9 and the same solved verdict (and epoch) for every
    network of the 10,000 x 2001 study; quantile curves alike, NaN rows where skipped."""
    (trained, curves, losses, first), (want_trained, want_curves, want_losses,
                                       want_first) = _c_and_numpy_ensembles()
    np.testing.assert_allclose(losses, want_losses, rtol=1e-9, atol=1e-12)
    assert np.array_equal(first, want_first)
    for name in trained:
        np.testing.assert_allclose(trained[name], want_trained[name], rtol=1e-7, atol=1e-9)
    assert np.array_equal(np.isnan(curves), np.isnan(want_curves))
    assert np.isnan(curves[1]).all() and not np.isnan(curves[10]).any()
    assert not np.isnan(curves[-1]).any()
    np.testing.assert_allclose(curves, want_curves, rtol=1e-9, atol=1e-12)


def test_the_c_ensemble_is_deterministic_to_the_bit():
    require_cc()
    from trainer.compiled import train_ensemble_compiled

    X, y = XOR.dataset()
    params = ensemble_init(XOR, 3, 777)
    first = train_ensemble_compiled(XOR, params, X, y, 1.0, 300)
    second = train_ensemble_compiled(XOR, params, X, y, 1.0, 300)
    for a, b in zip(first[1:], second[1:]):
        assert np.array_equal(a, b, equal_nan=True)
    for name in first[0]:
        assert np.array_equal(first[0][name], second[0][name])


def test_the_c_ensembles_quantiles_order_nan_last_as_numpy_does():
    """Networks whose losses are NaN or inf: they rank as np.quantile ranks them (NaN
    last), and unsorted quantiles come back in their order."""
    require_cc()
    from trainer.compiled import train_ensemble_compiled

    X, y = XOR.dataset()
    params = ensemble_init(XOR, 0, 500)
    for name in params:
        params[name][..., :60] = np.nan  # 12% NaN: the 0.9 quantile lands among them
        params[name][..., 60:90] = 1e300  # inf and NaN from overflow
    quantiles = (0.9, 0.1, 0.5, 0.995)
    with np.errstate(all="ignore"):
        got = train_ensemble_compiled(XOR, params, X, y, 1.0, 40, quantiles)
        want = XOR.train_ensemble(params, X, y, 1.0, 40, quantiles)
    assert np.isnan(want[1][:, 0]).all() and np.isfinite(want[1][:, 1]).all()
    assert np.array_equal(np.isnan(got[1]), np.isnan(want[1]))
    finite = np.isfinite(want[1])
    np.testing.assert_allclose(got[1][finite], want[1][finite], rtol=1e-9)


def test_inits_uses_the_c_ensemble_where_a_compiler_exists_and_numpy_when_asked(tmp_path):
    require_cc()
    for backend, path in (("auto", "C ensemble loop"), ("numpy", "NumPy")):
        result = run(["train.py", "--inits", "200", "--epochs", "100", "--backend", backend,
                      "--out", str(tmp_path / backend)])
        assert result.returncode == 0, result.stderr
        assert path in result.stdout
    result = run(["train.py", "--inits", "20", "--backend", "python"])
    assert result.returncode == 2 and "--inits runs on" in result.stderr


def test_the_c_ensemble_gives_the_same_bits_on_one_core_or_all(tmp_path):
    require_cc()
    outputs = []
    for threads in ("1", "2"):
        out = tmp_path / threads
        result = run(["train.py", "--inits", "3000", "--epochs", "300", "--out", str(out)],
                      env={"OMP_NUM_THREADS": threads})
        assert result.returncode == 0 and "C ensemble loop" in result.stdout, result.stderr
        outputs.append((out / "ensemble.csv").read_bytes())
    assert outputs[0] == outputs[1]
