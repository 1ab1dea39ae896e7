"""train.py as a user runs it: training, outputs, prediction, and every bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import REPO, run

from trainer.data import from_json
from trainer.loops import init_params, train
from trainer.model import load_generated

XOR = load_generated("xor")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One default run through the real command line; its folder and stdout."""
    out = tmp_path_factory.mktemp("out")
    result = run(["train.py", "--out", str(out)])
    assert result.returncode == 0, result.stderr
    return out, result.stdout


def test_default_run_solves_xor_and_the_loss_decreases(trained):
    out, stdout = trained
    assert "solved xor" in stdout and "NOT solved" not in stdout
    history = np.loadtxt(out / "history.csv", delimiter=",", skiprows=1)
    assert history.shape == (2001, 2)  # the notebook's `for step in range(2001)`
    losses = history[:, 1]
    assert losses[-1] < 0.05 < losses[0]
    assert np.all(np.diff(losses[600:]) < 0)  # past the plateau, every step helps
    record = json.loads((out / "params.json").read_text())
    assert record["lr"] == 1.0 and record["epochs"] == 2001
    X, y = XOR.dataset()
    y_hat = XOR.forward(from_json(XOR, record["params"], "params"), X)
    assert np.array_equal(y_hat >= 0.5, y >= 0.5)
    assert (out / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_params_json_replays_the_run_exactly(trained):
    out, _ = trained
    record = json.loads((out / "params.json").read_text())
    init = from_json(XOR, record["init"], "init")
    fresh = init_params(XOR, record["seed"])
    for name in init:
        assert np.array_equal(init[name], fresh[name])  # JSON floats round-trip exactly
    X, y = XOR.dataset()
    params, history = train(XOR, init, X, y, record["lr"], record["epochs"])
    for name, value in from_json(XOR, record["params"], "params").items():
        assert np.array_equal(params[name], value)
    assert history.tolist() == np.loadtxt(out / "history.csv", delimiter=",",
                                          skiprows=1)[:, 1].tolist()


def test_same_seed_same_bits(tmp_path):
    for folder in ("a", "b"):
        assert run(["train.py", "--quiet", "--epochs", "300", "--seed", "5", "--out",
                    str(tmp_path / folder)]).returncode == 0
    for name in ("history.csv", "params.json", "loss.png"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_initialisation_is_pytorch_style():
    """Every weight and bias uniform in +-1/sqrt(fan_in), fan_in = 2 for both layers here."""
    draws = np.concatenate([np.ravel(v) for s in range(300)
                            for v in init_params(XOR, s).values()])
    bound = 1 / np.sqrt(2)
    assert np.all(np.abs(draws) <= bound)
    assert draws.min() < -0.95 * bound and draws.max() > 0.95 * bound
    assert abs(draws.mean()) < 0.03


def test_gradient_descent_step_is_the_update_rule():
    X, y = XOR.dataset()
    init = init_params(XOR, 3)
    params, _ = train(XOR, init, X, y, 0.5, 1)
    grads = XOR.gradients(init, X, y)
    for name in init:
        assert np.array_equal(params[name], init[name] - 0.5 * grads[name])


@pytest.mark.parametrize(("x", "expected"), [("0 0", 0), ("0 1", 1), ("1 0", 1), ("1 1", 0)])
def test_predict_prints_the_class(trained, x, expected):
    out, _ = trained
    result = run(["train.py", "predict", *x.split(), "--params", str(out / "params.json")])
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith(f"class = {expected}")
    assert "y_hat = " in result.stdout


BAD_TRAIN_FLAGS = [
    ["--lr", "0"], ["--lr", "-1"], ["--lr", "nan"], ["--lr", "inf"], ["--lr", "fast"],
    ["--epochs", "0"], ["--epochs", "-5"], ["--epochs", "2.5"], ["--seed", "-1"],
    ["--seed", "x"], ["--unknown"], ["--lr"],
]


@pytest.mark.parametrize("flags", BAD_TRAIN_FLAGS, ids=" ".join)
def test_bad_flags_exit_2_with_one_line_and_write_nothing(tmp_path, flags):
    out = tmp_path / "out"
    result = run(["train.py", *flags, "--out", str(out)])
    assert result.returncode == 2
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr and "error" in result.stderr
    assert not out.exists()


def test_divergence_is_reported_and_writes_nothing(tmp_path):
    out = tmp_path / "out"
    for lr in ("1e6", "1e308"):
        result = run(["train.py", "--lr", lr, "--out", str(out)])
        assert result.returncode == 3
        assert "diverged" in result.stderr and len(result.stderr.strip().splitlines()) == 1
        assert "Traceback" not in result.stderr
        assert not out.exists()


def _bad_params_files(tmp_path, trained):
    good = json.loads((trained[0] / "params.json").read_text())
    cases = {
        "missing.json": None,
        "empty.json": "",
        "garbage.json": "not json {",
        "list.json": "[1, 2]",
        "noparams.json": json.dumps({"lr": 1}),
        "nan.json": json.dumps({"params": {**good["params"], "b2": float("nan")}}),
        "shape.json": json.dumps({"params": {**good["params"], "W1": [1, 2]}}),
        "missingkey.json": json.dumps({"params": {"W1": good["params"]["W1"]}}),
        "strings.json": json.dumps({"params": {**good["params"], "w2": ["a", "b"]}}),
        "truncated.json": json.dumps(good)[:40],
        "overflow.json": json.dumps({"params": {**good["params"],
                                                "W1": [[1e308, -1e308], [1e308, -1e308]]}}),
    }
    paths = []
    for name, text in cases.items():
        path = tmp_path / name
        if text is not None:
            path.write_text(text)
        paths.append(path)
    binary = tmp_path / "binary.json"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    return [*paths, binary]


def test_predict_rejects_bad_params_files(tmp_path, trained):
    for path in _bad_params_files(tmp_path, trained):
        result = run(["train.py", "predict", "2", "2", "--params", str(path)])
        assert result.returncode == 2, (path.name, result.stdout, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1, path.name
        assert "Traceback" not in result.stderr and str(path) in result.stderr


@pytest.mark.parametrize("args", [["1"], ["1", "2", "3"], ["1", "nan"], ["inf", "0"], ["a", "b"],
                                  []], ids=" ".join)
def test_predict_rejects_bad_inputs(trained, args):
    result = run(["train.py", "predict", *args, "--params", str(trained[0] / "params.json")])
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_out_that_is_a_file_is_rejected(tmp_path):
    target = tmp_path / "file"
    target.write_text("keep me")
    result = run(["train.py", "--epochs", "2", "--out", str(target)])
    assert result.returncode == 2 and "not a folder" in result.stderr
    assert target.read_text() == "keep me"


def test_a_failed_write_leaves_the_old_file_intact(tmp_path):
    """A write the system refuses half-way (a file-size limit standing in for a full disk):
    the old file stays whole and no temporary file is left beside it."""
    path = tmp_path / "params.json"
    path.write_text("old")
    code = ("import resource, signal, sys\nfrom pathlib import Path\n"
            "from trainer.outputs import write_text\n"
            "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
            "hard = resource.getrlimit(resource.RLIMIT_FSIZE)[1]\n"
            "resource.setrlimit(resource.RLIMIT_FSIZE, (1000, hard))\n"
            "try:\n    write_text(Path(sys.argv[1]), 'x' * 100_000)\n"
            "except OSError as error:\n    print('refused:', error)\n")
    result = run(["-c", code, str(path)])
    assert result.stdout.startswith("refused:"), result.stdout + result.stderr
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["params.json"]


def test_training_imports_no_sympy(tmp_path):
    code = ("import runpy, sys; sys.argv = ['train.py', '--quiet', '--epochs', '3', '--out', "
            f"{str(tmp_path)!r}]\ntry:\n    runpy.run_path('train.py', run_name='__main__')\n"
            "except SystemExit:\n    pass\nprint(sorted(m for m in sys.modules "
            "if m.split('.')[0] in ('sympy', 'derive', 'torch', 'jax', 'tensorflow')))")
    result = run(["-c", code], cwd=REPO)
    assert result.returncode == 0, result.stderr
    # derive.stamps is the stdlib-only recipe both sides share; nothing else of derive/.
    assert result.stdout.strip().splitlines()[-1] == "['derive', 'derive.stamps']"


def test_init_file_replays_a_run_and_accepts_named_arrays(trained, tmp_path):
    out, _ = trained
    replay = tmp_path / "replay"
    result = run(["train.py", "--init", str(out / "params.json"), "--quiet", "--out", str(replay)])
    assert result.returncode == 0, result.stderr
    assert (replay / "history.csv").read_bytes() == (out / "history.csv").read_bytes()
    named = tmp_path / "named.json"
    named.write_text(json.dumps(json.loads((out / "params.json").read_text())["init"]))
    result = run(["train.py", "--init", str(named), "--quiet", "--out", str(tmp_path / "n")])
    assert result.returncode == 0
    assert (tmp_path / "n" / "history.csv").read_bytes() == (out / "history.csv").read_bytes()


@pytest.mark.parametrize("content", [
    '{"W1": [[1, 2], [3, 4]]}', '{"0.weight": [[1, 2], [3, 4]], "0.bias": [0, 0]}',
    '{"0.weight": [[1, 2]], "0.bias": [0], "2.weight": [[1]], "2.bias": [0]}', "[]", "nope",
])
def test_bad_init_files(tmp_path, content):
    path = tmp_path / "init.json"
    path.write_text(content)
    result = run(["train.py", "--init", str(path), "--out", str(tmp_path / "o")])
    assert result.returncode == 2 and str(path) in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_a_long_history_is_drawn_from_its_extremes_and_kept_whole():
    from trainer.plots import DRAWN_POINTS, drawn

    rng = np.random.default_rng(0)
    history = np.exp(-np.linspace(0, 8, 200_000)) + rng.random(200_000) * 1e-3
    history[123_457] = 5.0  # a spike
    epochs, values = drawn(history)
    assert len(epochs) <= DRAWN_POINTS + 2 and np.all(np.diff(epochs) > 0)
    assert np.array_equal(values, history[epochs])
    assert 123_457 in epochs and int(np.argmin(history)) in epochs
    assert epochs[0] == 0 and epochs[-1] == len(history) - 1
    short = np.arange(10.0)
    assert np.array_equal(drawn(short)[1], short)
    history[::7] = np.nan  # a diverging stretch: NaN is skipped, the extremes still kept
    history[:40_000] = np.nan
    epochs, values = drawn(history)
    assert int(np.nanargmin(history)) in epochs and int(np.nanargmax(history)) in epochs
    assert epochs[0] == 0 and epochs[-1] == len(history) - 1
