"""PyTorch as an independent referee: autograd gradients and whole training runs."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import require_torch, run
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import batches, params_for

import train
from generated import xor

pytestmark = pytest.mark.torch
torch = require_torch()


def torch_gradients(params, X, y):
    """dL/dtheta by torch.autograd of the same network, with BCEWithLogitsLoss on the logit
    (the same loss, and exact where the sigmoid saturates, like the generated code)."""
    tensors = {k: torch.tensor(np.asarray(v, dtype=np.float64), requires_grad=True)
               for k, v in params.items()}
    inputs = torch.tensor(X, dtype=torch.float64)
    hidden = torch.sigmoid(inputs @ tensors["W1"].T + tensors["b1"])
    logit = hidden @ tensors["w2"] + tensors["b2"]
    loss = torch.nn.functional.binary_cross_entropy_with_logits(
        logit, torch.tensor(y, dtype=torch.float64))
    loss.backward()
    return float(loss.detach()), {k: t.grad.numpy() for k, t in tensors.items()}


def assert_close(ours, theirs, rtol=1e-12):
    """Equal to rtol relative to the largest entry of each gradient array."""
    for name in theirs:
        scale = max(1.0, float(np.max(np.abs(theirs[name]))))
        np.testing.assert_allclose(ours[name], theirs[name], rtol=rtol, atol=rtol * scale,
                                   err_msg=name)


@settings(max_examples=200, deadline=None)
@given(params=params_for(xor, bound=3.0), data=batches(xor, bound=3.0))
def test_gradients_equal_autograd(params, data):
    X, y = data
    loss, grads = xor.loss_and_gradients(params, X, y)
    ref_loss, ref_grads = torch_gradients(params, X, y)
    assert loss == pytest.approx(ref_loss, rel=1e-12, abs=1e-15)
    assert_close(grads, ref_grads)


@settings(max_examples=200, deadline=None)
@given(params=params_for(xor, bound=1e3), data=batches(xor, bound=1e6),
       scale=st.sampled_from([1.0, 1e2, 1e3]))
def test_gradients_equal_autograd_when_saturated(params, data, scale):
    """Weights up to +-1e3 and inputs up to +-1e6: logits far beyond where sigmoid saturates."""
    X, y = data
    params = {k: v * (scale / 1e3) if k.startswith("b") else v for k, v in params.items()}
    loss, grads = xor.loss_and_gradients(params, X, y)
    ref_loss, ref_grads = torch_gradients(params, X, y)
    assert np.isfinite(loss) and all(np.all(np.isfinite(g)) for g in grads.values())
    assert loss == pytest.approx(ref_loss, rel=1e-12, abs=1e-12)
    # Near saturation h (1 - h) has an absolute rounding error of about one ulp of 1 in any
    # float64 implementation (2.2e-16), which dL/dW1 multiplies by |w2| |x|: allow that much.
    w2 = np.abs(params["w2"])
    ulp_terms = {"W1": 1e-15 * w2[:, None] * np.mean(np.abs(X), axis=0)[None, :],
                 "b1": 1e-15 * w2, "w2": np.full(2, 1e-15), "b2": 1e-15}
    for name in grads:
        scale = max(1.0, float(np.max(np.abs(ref_grads[name]))))
        tolerance = 1e-12 * scale + ulp_terms[name]
        assert np.all(np.abs(grads[name] - ref_grads[name]) <= tolerance), name


@pytest.mark.parametrize("seed", [1, 0, 7])
def test_ten_thousand_epochs_match_pytorch_sgd(seed):
    """The course notebook's own loop (BCELoss, torch.optim.SGD) from the same init."""
    X, y = train.model.dataset()
    init = train.init_params(seed)
    params, history = train.train(init, X, y, 1.0, 10_000)
    torch_params, torch_history = train.torch_reference(init, X, y, 1.0, 10_000)
    np.testing.assert_allclose(history, torch_history, rtol=0, atol=1e-10)
    for name in params:
        np.testing.assert_allclose(params[name], torch_params[name], rtol=0, atol=1e-9)


def test_compare_torch_flag_reports_and_overlays(tmp_path):
    result = run(["train.py", "--compare-torch", "--quiet", "--out", str(tmp_path)])
    assert result.returncode == 0, result.stderr
    line = next(x for x in result.stdout.splitlines() if x.startswith("PyTorch"))
    loss_gap = float(line.split("max |loss difference| ")[1].split(",")[0])
    assert loss_gap < 1e-12
    import json

    summary = json.loads((tmp_path / "params.json").read_text())["torch"]
    assert summary["max_loss_difference"] < 1e-12 and summary["max_param_difference"] < 1e-12


def test_training_from_a_pytorch_state_dict_matches_pytorch(tmp_path):
    """The course notebook's situation: PyTorch's own random init, saved as JSON, then both
    trained; --init takes the state_dict names (0.weight, 0.bias, 2.weight, 2.bias)."""
    import json

    torch.manual_seed(2026)
    net = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Sigmoid(), torch.nn.Linear(2, 1),
                              torch.nn.Sigmoid()).double()
    state = {k: v.tolist() for k, v in net.state_dict().items()}
    (tmp_path / "torch_init.json").write_text(json.dumps(state))
    X, y = train.model.dataset()
    optimizer = torch.optim.SGD(net.parameters(), lr=1.0)
    inputs, targets = torch.tensor(X), torch.tensor(y).reshape(-1, 1)
    for _ in range(2001):
        optimizer.zero_grad()
        loss = torch.nn.BCELoss()(net(inputs), targets)
        loss.backward()
        optimizer.step()
    result = run(["train.py", "--init", str(tmp_path / "torch_init.json"), "--quiet",
                  "--out", str(tmp_path / "out")])
    assert result.returncode == 0, result.stderr
    ours = json.loads((tmp_path / "out" / "params.json").read_text())["params"]
    theirs = net.state_dict()
    np.testing.assert_allclose(ours["W1"], theirs["0.weight"].numpy(), atol=1e-9)
    np.testing.assert_allclose(ours["b1"], theirs["0.bias"].numpy(), atol=1e-9)
    np.testing.assert_allclose(ours["w2"], theirs["2.weight"].numpy()[0], atol=1e-9)
    np.testing.assert_allclose(ours["b2"], theirs["2.bias"].numpy()[0], atol=1e-9)
