"""PyTorch as an independent referee: autograd gradients and whole training runs.

The torch network is built from the spec FILE (tests/spec_oracle.py reads it with tomllib):
widths, the activation of every layer, the output and the loss come from the TOML, never
from the generated module's PARAMS, ACTIVATIONS or LOSS_NAME.
"""

from __future__ import annotations

import numpy as np
import pytest
import spec_oracle as oracle
from conftest import REPO, require_torch, run
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from strategies import batches, params_for, spec_points

from derive.check import load_module
from generated import xor
from trainer.loops import init_params, train
from trainer.model import load_generated
from trainer.torch_reference import torch_reference

pytestmark = pytest.mark.torch
torch = require_torch()

# Written here from the README's names, not read from derive's registry: a referee.
TORCH_ACTIVATIONS = {"sigmoid": torch.sigmoid, "tanh": torch.tanh, "relu": torch.relu,
                     "identity": lambda t: t, "silu": torch.nn.functional.silu,
                     # threshold 50: torch's default returns z itself above 20
                     "softplus": lambda t: torch.nn.functional.softplus(t, threshold=50.0),
                     "gelu": torch.nn.functional.gelu,
                     "leaky_relu": lambda t: torch.nn.functional.leaky_relu(t, 0.01)}


def torch_loss_and_gradients(spec: oracle.RawSpec, params, X, y):
    """Loss and dL/dtheta by torch.autograd of the network the spec file describes.

    BCE is BCEWithLogitsLoss on the output logit (the same loss, and exact where the sigmoid
    saturates, like the generated code); MSE is the mean of (output - y)^2.
    """
    tensors = {name: torch.tensor(np.asarray(params[name], dtype=np.float64),
                                  requires_grad=True) for name, _, _ in spec.layout}
    names = [name for name, _, _ in spec.layout]
    a = torch.tensor(np.asarray(X, dtype=np.float64))
    for weight, bias, act in zip(names[0:-2:2], names[1:-2:2], spec.hidden_activations):
        a = TORCH_ACTIVATIONS[act](a @ tensors[weight].T + tensors[bias])
    target = torch.tensor(np.asarray(y, dtype=np.float64))
    if spec.loss == "cross_entropy":  # K logits per sample, integer labels
        logits = a @ tensors[names[-2]].T + tensors[names[-1]]
        loss = torch.nn.functional.cross_entropy(logits, target.long())
        loss.backward()
        return float(loss.detach()), {k: t.grad.numpy() for k, t in tensors.items()}
    logit = a @ tensors[names[-2]] + tensors[names[-1]]
    if spec.loss == "bce":
        assert spec.output == "sigmoid"
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logit, target)
    else:
        loss = torch.mean((TORCH_ACTIVATIONS[spec.output](logit) - target) ** 2)
    loss.backward()
    return float(loss.detach()), {k: t.grad.numpy() for k, t in tensors.items()}


XOR_SPEC = oracle.read_spec("xor")


def torch_gradients(params, X, y):
    """The assignment's network (specs/xor.toml) through torch.autograd."""
    return torch_loss_and_gradients(XOR_SPEC, params, X, y)


def assert_close(ours, theirs, rtol=1e-12):
    """Equal to rtol relative to the largest entry of each gradient array."""
    assert list(ours) == list(theirs)
    for name in theirs:
        assert np.shape(ours[name]) == np.shape(theirs[name]), name
        scale = max(1.0, float(np.max(np.abs(theirs[name]))))
        np.testing.assert_allclose(ours[name], theirs[name], rtol=rtol, atol=rtol * scale,
                                   err_msg=name)


@pytest.mark.parametrize("name", oracle.SHIPPED)
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_every_spec_equals_autograd_of_its_spec_file(name, data):
    """Generated loss and gradients against torch.autograd of the network in the TOML."""
    spec = oracle.read_spec(name)
    model = load_module(REPO / "generated" / f"{name}.py")
    params, X, y = data.draw(spec_points(spec, bound=3.0))
    # At a kink (z = 0 exactly) the derivative is a convention: leaky_relu' is 0 here, 0.01
    # in torch. Everywhere else they must agree.
    assume(oracle.relu_margin(spec, params, X) > 0.0)
    loss, grads = model.loss_and_gradients(params, X, y)
    ref_loss, ref_grads = torch_loss_and_gradients(spec, params, X, y)
    assert loss == pytest.approx(ref_loss, rel=1e-12, abs=1e-14)
    assert_close(grads, ref_grads)


@settings(max_examples=200, deadline=None)
@given(params=params_for(XOR_SPEC, bound=3.0), data=batches(XOR_SPEC, bound=3.0))
def test_gradients_equal_autograd(params, data):
    X, y = data
    loss, grads = xor.loss_and_gradients(params, X, y)
    ref_loss, ref_grads = torch_gradients(params, X, y)
    assert loss == pytest.approx(ref_loss, rel=1e-12, abs=1e-15)
    assert_close(grads, ref_grads)


@settings(max_examples=200, deadline=None)
@given(params=params_for(XOR_SPEC, bound=1e3), data=batches(XOR_SPEC, bound=1e6),
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
    model = load_generated("xor")
    X, y = model.dataset()
    init = init_params(model, seed)
    params, history = train(model, init, X, y, 1.0, 10_000)
    torch_params, torch_history = torch_reference(model, init, X, y, 1.0, 10_000)
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
    X, y = load_generated("xor").dataset()
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
