"""Every shipped spec against a referee built from the spec FILE, not from the artefact.

The referee (tests/spec_oracle.py) reads specs/<name>.toml with tomllib and computes the
forward pass, loss and training with hand-written NumPy; gradients are checked against its
central differences. A generated module that disagrees with its spec (a reversed list of
activations, a wrong width, a halved learning rate) fails here even when it agrees with
its own PARAMS, ACTIVATIONS and LOSS_NAME.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
import spec_oracle as oracle
from conftest import REPO
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from strategies import spec_points

from derive.check import load_module
from trainer.loops import init_params, train
from trainer.model import for_spec

SPECS = oracle.SHIPPED
# Small enough for central differences at every entry; the others (thousands of parameters)
# are checked against the referee's backpropagation and along random directions.
SMALL = [name for name in SPECS if oracle.read_spec(name).unit_by_unit]
LARGE = [name for name in SPECS if name not in SMALL]


def test_every_spec_file_is_read():
    assert {"xor", "xor_tanh4", "xor_deep", "moons_relu", "xor_mse"} <= set(SPECS)
    deep = oracle.read_spec("xor_deep")
    assert deep.hidden == (3, 3) and deep.hidden_activations == ("tanh", "sigmoid")


def _module(name: str):
    return load_module(REPO / "generated" / f"{name}.py")


@pytest.mark.parametrize("name", SPECS)
def test_module_metadata_is_the_spec_file(name):
    """PARAMS, ACTIVATIONS, LOSS_NAME and DEFAULTS as the raw TOML says, not as derive says."""
    spec, model = oracle.read_spec(name), _module(name)
    assert model.SPEC_NAME == spec.name == name
    assert model.SPEC_FILE == f"specs/{name}.toml"
    assert model.N_INPUTS == spec.n_inputs
    assert model.DATASET == spec.dataset
    assert [(n, tuple(s), f) for n, s, f in model.PARAMS] == spec.layout
    assert tuple(model.ACTIVATIONS) == (*spec.hidden_activations, spec.output)
    assert model.LOSS_NAME == spec.loss
    assert model.DEFAULTS == {"lr": spec.lr, "epochs": spec.epochs, "seed": spec.seed,
                              **({"batch_size": spec.batch_size} if spec.batch_size else {})}


@pytest.mark.parametrize("name", LARGE)
def test_large_generated_modules_equal_the_spec_file_referee(name):
    spec, model = oracle.read_spec(name), _module(name)
    rng = np.random.default_rng(11)
    for scale in (1.0, 3.0):
        params = {n: scale * rng.normal(size=s) / np.sqrt(f) for n, s, f in spec.layout}
        X = rng.normal(size=(40, spec.n_inputs))
        y = rng.integers(0, max(2, spec.n_outputs), 40).astype(float)
        np.testing.assert_allclose(model.forward(params, X), oracle.predict(spec, params, X),
                                   rtol=1e-10, atol=1e-13)
        want_loss = oracle.loss(spec, params, X, y)
        got_loss, got = model.loss_and_gradients(params, X, y)
        assert got_loss == pytest.approx(want_loss, rel=1e-10)
        want = oracle.backprop(spec, params, X, y)
        for key, value in want.items():
            np.testing.assert_allclose(got[key], value, rtol=1e-8,
                                       atol=1e-12 * np.abs(value).max(), err_msg=key)
        for _ in range(2):  # and the derivative along random directions
            v = {n: rng.normal(size=np.shape(p)) for n, p in params.items()}
            h = 1e-5
            up = oracle.loss(spec, {n: p + h * v[n] for n, p in params.items()}, X, y)
            down = oracle.loss(spec, {n: p - h * v[n] for n, p in params.items()}, X, y)
            along = sum(float(np.sum(got[n] * v[n])) for n in params)
            assert along == pytest.approx((up - down) / (2 * h), rel=1e-5, abs=1e-7)


@pytest.mark.parametrize("name", SMALL)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(data=st.data())
def test_generated_module_equals_the_spec_file_referee(name, data):
    """forward, loss and gradients of generated/<name>.py against the raw-TOML network."""
    spec, model = oracle.read_spec(name), _module(name)
    params, X, y = data.draw(spec_points(spec))
    # central differences are meaningless across a ReLU kink
    assume(oracle.relu_margin(spec, params, X) > 1e-4)
    want_loss = oracle.loss(spec, params, X, y)
    np.testing.assert_allclose(model.forward(params, X), oracle.predict(spec, params, X),
                               rtol=1e-10, atol=1e-12)
    assert model.loss(params, X, y) == pytest.approx(want_loss, rel=1e-10, abs=1e-12)
    got_loss, got = model.loss_and_gradients(params, X, y)
    assert got_loss == pytest.approx(want_loss, rel=1e-10, abs=1e-12)
    want = oracle.central_differences(lambda p: oracle.loss(spec, p, X, y), params)
    assert list(got) == [n for n, _, _ in spec.layout]
    tolerance = 1e-7 * (1.0 + abs(want_loss))  # rounding of L(theta +- h) over 2h
    for key, value in want.items():
        assert np.shape(got[key]) == value.shape, key
        np.testing.assert_allclose(got[key], value, rtol=1e-6, atol=tolerance, err_msg=key)
    # the referee's own hand-written backpropagation (used for training below) agrees too
    for key, value in oracle.backprop(spec, params, X, y).items():
        np.testing.assert_allclose(value, want[key], rtol=1e-6, atol=tolerance, err_msg=key)


def _readme_accuracy() -> dict[str, str]:
    text = (REPO / "README.md").read_text()
    rows = re.findall(r"^\| `specs/(\w+)\.toml` \|.*\| (\d+/\d+) \|$", text, re.M)
    assert rows, "README's table of shipped specs not found"
    return dict(rows)


@pytest.mark.parametrize("name", SPECS)
def test_spec_defaults_train_like_the_referee_to_the_readme_accuracy(name):
    """train.py with the spec file's lr, epochs and seed against the referee's own descent.

    The referee draws the initialisation itself (uniform +-1/sqrt(fan_in), seeded NumPy) and
    trains with hand-written backpropagation; both loss curves must agree and both must reach
    the accuracy the README's table claims for that spec.
    """
    spec = oracle.read_spec(name)
    claimed = _readme_accuracy()[name]
    model = for_spec(name)
    X, y = model.dataset()
    if spec.dataset in oracle.TRUTH_TABLES:  # the data set itself, from its definition
        assert X.tolist() == [[0, 0], [0, 1], [1, 0], [1, 1]]
        assert y.tolist() == list(oracle.TRUTH_TABLES[spec.dataset])
    init = oracle.init_params(spec, spec.seed)
    ours = init_params(model, spec.seed)
    assert list(ours) == list(init)
    for key in init:
        assert np.array_equal(ours[key], init[key]), key
    params, history = train(model, ours, X, y, spec.lr, spec.epochs,
                            batch_size=spec.batch_size, seed=spec.seed)
    ref_params, ref_history = oracle.descend(spec, init, X, y, spec.lr, spec.epochs)
    assert len(history) == spec.epochs
    np.testing.assert_allclose(history, ref_history, rtol=1e-8, atol=1e-10)
    for key in ref_params:
        np.testing.assert_allclose(params[key], ref_params[key], rtol=1e-6, atol=1e-8)
    if model.HELD_OUT:  # the README claims the accuracy on the held-out test part
        X, y = model.dataset("test")
    correct = int(np.sum(oracle.classes(spec, ref_params, X) == y.astype(int)))
    assert f"{correct}/{len(y)}" == claimed
    assert np.array_equal(oracle.classes(spec, params, X), oracle.classes(spec, ref_params, X))
