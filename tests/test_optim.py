"""Optimizers beyond plain gradient descent (trainer/optim.py): PyTorch's update rules,
checked against textbook loops written here and, where torch is installed, torch.optim."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import require_torch, run
from hypothesis import given, settings
from hypothesis import strategies as st

from trainer import optim
from trainer.loops import descend, init_params, train
from trainer.model import load_generated
from trainer.torch_reference import torch_reference


def _textbook(name, params, grads_of, lr, steps, mu=0.9, nesterov=False, b1=0.9, b2=0.999,
              eps=1e-8, wd=0.0):
    """The rules as the papers and PyTorch's documentation write them, one array at a time."""
    p = {k: np.array(v, dtype=float) for k, v in params.items()}
    buf, m, v = {}, {k: 0.0 * p[k] for k in p}, {k: 0.0 * p[k] for k in p}
    for t in range(1, steps + 1):
        g = {k: grads_of(p)[k] + wd * p[k] for k in p}
        for k in p:
            if name == "sgd":
                p[k] = p[k] - lr * g[k]
            elif name == "momentum":
                buf[k] = g[k] if t == 1 else mu * buf[k] + g[k]
                p[k] = p[k] - lr * (g[k] + mu * buf[k] if nesterov else buf[k])
            else:
                m[k] = b1 * m[k] + (1 - b1) * g[k]
                v[k] = b2 * v[k] + (1 - b2) * g[k] ** 2
                m_hat, v_hat = m[k] / (1 - b1 ** t), v[k] / (1 - b2 ** t)
                p[k] = p[k] - lr * m_hat / (np.sqrt(v_hat) + eps)
    return p


@settings(max_examples=30, deadline=None)
@given(name=st.sampled_from(["sgd", "momentum", "adam"]), nesterov=st.booleans(),
       lr=st.floats(1e-3, 0.5), wd=st.sampled_from([0.0, 1e-3, 0.05]), seed=st.integers(0, 99))
def test_each_rule_is_its_textbook_form(name, nesterov, lr, wd, seed):
    rng = np.random.default_rng(seed)
    params = {"W": rng.normal(size=(2, 3)), "b": rng.normal(size=())}
    target = {"W": rng.normal(size=(2, 3)), "b": rng.normal(size=())}

    def grads_of(p):  # the gradient of a quadratic bowl
        return {k: 2.0 * (p[k] - target[k]) for k in p}

    opt = optim.make(name, lr, 0.9, nesterov, weight_decay=wd)
    ours = params
    for _ in range(25):
        ours = opt.step(ours, grads_of(ours))
    want = _textbook(name, params, grads_of, lr, 25, nesterov=nesterov and name == "momentum",
                     wd=wd)
    for k in want:  # the same arithmetic rearranged as PyTorch does: rounding apart
        np.testing.assert_allclose(ours[k], want[k], rtol=1e-10, atol=1e-12)


def test_plain_sgd_is_bit_for_bit_the_generated_loops():
    model = load_generated("xor")
    X, y = model.dataset()
    init = init_params(model, 1)
    fast, fast_history = train(model, init, X, y, 1.0, 300, path="c")
    ruled, ruled_history = descend(model, init, X, y, 1.0, 300, optim.make("sgd", 1.0))
    plain, plain_history = descend(model, init, X, y, 1.0, 300)
    assert all(np.array_equal(ruled[k], plain[k]) for k in plain)
    np.testing.assert_allclose(ruled_history, fast_history, rtol=0, atol=1e-12)


def test_cli_records_the_optimizer_and_refuses_what_it_cannot_run(tmp_path):
    out = tmp_path / "o"
    result = run(["train.py", "--optimizer", "adam", "--lr", "0.05", "--betas", "0.8,0.99",
                  "--epochs", "400", "--out", str(out)])
    assert result.returncode == 0, result.stderr
    assert "adam runs on the NumPy loop" in result.stdout
    record = json.loads((out / "params.json").read_text())
    assert record["optimizer"] == {"name": "adam", "lr": 0.05, "weight_decay": 0.0,
                                   "betas": [0.8, 0.99], "eps": 1e-8}
    for args in (["--optimizer", "adam", "--backend", "c"], ["--optimizer", "momentum",
                 "--inits", "3"], ["--betas", "1,2"], ["--momentum", "1.5"],
                 ["--weight-decay", "-1"], ["--optimizer", "rmsprop"]):
        bad = run(["train.py", *args, "--out", str(tmp_path / "bad")])
        assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1, args
    assert not (tmp_path / "bad").exists()


@pytest.mark.torch
@pytest.mark.parametrize("flags", [("momentum", False, 0.3, 0.0), ("momentum", True, 0.3, 1e-3),
                                   ("adam", False, 0.05, 0.0), ("adam", False, 0.05, 0.01),
                                   ("sgd", False, 1.0, 1e-3)])
def test_optimizers_equal_torch_optim_after_2001_epochs(flags):
    require_torch()
    name, nesterov, lr, wd = flags
    model = load_generated("xor")
    X, y = model.dataset()
    init = init_params(model, 1)
    opt = optim.make(name, lr, 0.9, nesterov, weight_decay=wd)
    ours, history = descend(model, init, X, y, lr, 2001, opt)
    theirs, torch_history = torch_reference(
        model, init, X, y, lr, 2001, optim.make(name, lr, 0.9, nesterov, weight_decay=wd))
    np.testing.assert_allclose(history, torch_history, rtol=0, atol=1e-9)
    for k in ours:
        np.testing.assert_allclose(ours[k], theirs[k], rtol=0, atol=1e-9)
