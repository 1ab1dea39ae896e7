"""--batch-size: mini-batches in a seeded order, replayed exactly by the PyTorch referee."""

from __future__ import annotations

import json

import numpy as np
import pytest
import spec_oracle as oracle
from conftest import run

from trainer.loops import batch_orders, descend, init_params, train
from trainer.model import for_spec


def _run(tmp_path, name, *flags):
    out = tmp_path / name
    result = run(["train.py", "--quiet", "--out", str(out), *flags])
    assert result.returncode == 0, result.stderr
    return out


def test_a_batch_of_everything_is_full_batch_descent_bit_for_bit(tmp_path):
    full = _run(tmp_path, "full", "--spec", "moons_relu", "--epochs", "40", "--backend", "numpy")
    whole = _run(tmp_path, "whole", "--spec", "moons_relu", "--epochs", "40", "--batch-size",
                 "200")
    assert (full / "history.csv").read_bytes() == (whole / "history.csv").read_bytes()
    assert json.loads((whole / "params.json").read_text())["batch_size"] is None


def test_mini_batches_are_seeded_recorded_and_replayed_bit_for_bit(tmp_path):
    flags = ("--spec", "moons_relu", "--epochs", "30", "--batch-size", "32", "--seed", "4")
    first, again = _run(tmp_path, "a", *flags), _run(tmp_path, "b", *flags)
    assert (first / "history.csv").read_bytes() == (again / "history.csv").read_bytes()
    record = json.loads((first / "params.json").read_text())
    assert record["batch_size"] == 32 and record["batch_seed"] == 4
    other = _run(tmp_path, "c", "--spec", "moons_relu", "--epochs", "30", "--batch-size", "32",
                 "--seed", "4", "--init", str(first / "params.json"))
    assert (other / "history.csv").read_bytes() == (first / "history.csv").read_bytes()


def test_the_batches_are_the_readmes_and_the_history_is_their_mean_loss():
    """Against the referee, which implements the README's rule from the spec file."""
    spec = oracle.read_spec("moons_relu")
    model = for_spec("moons_relu")
    X, y = model.dataset()
    init = oracle.init_params(spec, 3)
    batched = oracle.RawSpec(**{**spec.__dict__, "batch_size": 48, "seed": 5})
    want_params, want_history = oracle.descend(batched, init, X, y, 0.3, 12)
    params, history = train(model, init, X, y, 0.3, 12, batch_size=48, seed=5)
    np.testing.assert_allclose(history, want_history, rtol=1e-12)
    for name in want_params:
        np.testing.assert_allclose(params[name], want_params[name], rtol=1e-10, atol=1e-13)
    orders = list(batch_orders(5, 200, 3))
    assert all(sorted(order) == list(range(200)) for order in orders)
    assert not np.array_equal(orders[0], orders[1])  # a new order every epoch


@pytest.mark.parametrize("flags,says", [
    (("--inits", "3", "--batch-size", "2"), "--inits trains full-batch"),
    (("--backend", "c", "--batch-size", "2"), "full-batch descent only; --batch-size runs"),
    (("--batch-size", "0"), "'0' is not a whole number from 1"),
])
def test_batch_flags_that_cannot_be_are_one_line(tmp_path, flags, says):
    result = run(["train.py", "--out", str(tmp_path), *flags])
    assert result.returncode == 2 and says in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.torch
def test_pytorch_replays_the_same_batches(tmp_path):
    from conftest import require_torch

    require_torch()
    out = _run(tmp_path, "t", "--spec", "moons_relu", "--epochs", "40", "--batch-size", "24",
               "--compare-torch")
    gaps = json.loads((out / "params.json").read_text())["torch"]
    assert gaps["max_loss_difference"] < 1e-9 and gaps["max_param_difference"] < 1e-9


@pytest.mark.parametrize("name", ["digits", "breast_cancer"])  # softmax; one sigmoid output
@pytest.mark.parametrize("batch_size", [None, 50])
def test_the_generated_training_loop_is_the_reference_loop_bit_for_bit(name, batch_size):
    """train.py runs train_batches for matrix-level modules; descend is the loop over
    loss_and_gradients that the README describes."""
    model = for_spec(name)
    X, y = model.dataset()
    init = init_params(model, 1)
    want, want_history = descend(model, init, X, y, 0.3, 6, batch_size=batch_size, seed=2)
    orders = None if batch_size is None else batch_orders(2, len(X), 6)
    got, history = model.train_batches(init, X, y, 0.3, 6, orders, batch_size)
    assert history.tobytes() == want_history.tobytes()
    assert all(got[n].tobytes() == want[n].tobytes() and got[n].shape == want[n].shape
               for n in want)
    assert all(np.array_equal(init[n], start) for n, start in init_params(model, 1).items())
    trained, _ = train(model, init, X, y, 0.3, 6, batch_size=batch_size, seed=2)
    assert all(trained[n].tobytes() == want[n].tobytes() for n in want)


def test_the_generated_training_loop_stops_where_the_reference_loop_does():
    model = for_spec("breast_cancer")
    X, y = model.dataset()
    init = {n: v * 1e3 for n, v in init_params(model, 0).items()}
    with np.errstate(all="ignore"):
        _, want = descend(model, init, X, y, 1e12, 30)
        _, got = model.train_batches(init, X, y, 1e12, 30)
    stop = int(np.flatnonzero(~np.isfinite(want))[0])
    assert np.array_equal(got[:stop + 1], want[:stop + 1], equal_nan=True)


@pytest.mark.parametrize("name", ["moons_relu", "iris"])  # unit-by-unit; matrix-level softmax
def test_full_loss_is_the_loss_on_all_the_data_before_each_epoch(tmp_path, name):
    """history.csv's third column against the spec-file referee: its own descent stopped
    after e epochs, its own loss on every training sample."""
    out = _run(tmp_path, name, "--spec", name, "--epochs", "6", "--batch-size", "16",
               "--seed", "3", "--full-loss")
    rows = (out / "history.csv").read_text().splitlines()
    assert rows[0] == "epoch,loss,full_loss" and len(rows) == 7
    assert json.loads((out / "params.json").read_text())["history_columns"] == \
        ["epoch", "loss", "full_loss"]
    spec = oracle.read_spec(name)
    spec = oracle.RawSpec(**{**spec.__dict__, "batch_size": 16, "seed": 3})
    model = for_spec(name)
    X, y = model.dataset()
    init = oracle.init_params(spec, 3)
    _, batch_means = oracle.descend(spec, init, X, y, spec.lr, 6)
    for epoch, row in enumerate(rows[1:]):
        _, loss, full = row.split(",")
        after, _ = oracle.descend(spec, init, X, y, spec.lr, epoch)
        assert float(full) == pytest.approx(oracle.loss(spec, after, X, y), rel=1e-10)
        assert float(loss) == pytest.approx(batch_means[epoch], rel=1e-10)
    assert float(rows[2].split(",")[1]) != float(rows[2].split(",")[2])  # not a copy


def test_full_loss_in_the_generated_loop_is_the_reference_loops(tmp_path):
    model = for_spec("digits")
    X, y = model.dataset()
    init = init_params(model, 0)
    want, got = np.full(4, np.nan), np.full(4, np.nan)
    descend(model, init, X, y, 0.5, 4, batch_size=100, seed=1, full_losses=want)
    model.train_batches(init, X, y, 0.5, 4, batch_orders(1, len(X), 4), 100, got)
    assert np.isfinite(want).all() and want.tobytes() == got.tobytes()
    assert want[0] == model.loss(init, X, y)


@pytest.mark.parametrize("flags,says", [
    (("--inits", "3", "--full-loss"), "--full-loss is for one run; leave out --inits"),
    (("--backend", "c", "--full-loss"), "--full-loss runs on --backend numpy"),
])
def test_full_loss_flags_that_cannot_be_are_one_line(tmp_path, flags, says):
    result = run(["train.py", "--out", str(tmp_path), *flags])
    assert result.returncode == 2 and says in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_mini_batch_run_that_blows_up_is_called_diverged(tmp_path):
    """Its first epoch's mean batch loss is already huge; the verdict compares the final
    loss with the loss before training."""
    result = run(["train.py", "--spec", "digits", "--lr", "1e6", "--epochs", "30", "--out",
                  str(tmp_path / "out")])
    assert result.returncode == 3 and "training diverged" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and not (tmp_path / "out").exists()


def test_batch_size_full_overrides_a_specs_mini_batches(tmp_path):
    """digits trains in batches of 64 by its spec; --batch-size full is the full batch,
    the same bits as a batch of every sample."""
    full = _run(tmp_path, "f", "--spec", "digits", "--epochs", "3", "--batch-size", "full")
    every = _run(tmp_path, "e", "--spec", "digits", "--epochs", "3", "--batch-size", "5000")
    assert (full / "history.csv").read_bytes() == (every / "history.csv").read_bytes()
    assert json.loads((full / "params.json").read_text())["batch_size"] is None
    said = run(["train.py", "--spec", "iris", "--epochs", "2", "--batch-size", "5000", "--out",
                str(tmp_path / "s")])
    assert "--batch-size 5000 is at least the 112 samples: full-batch descent" in said.stdout
