"""The generated module's gradients against independent oracles."""

from __future__ import annotations

import numpy as np
import pytest
import spec_oracle as oracle
import sympy as sp
from conftest import REPO
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from strategies import batches, params_for, spec_points

from derive.check import load_module
from derive.functions import NUMPY_MODULES, expand_markers
from derive.gradients import raw_derivatives
from derive.network import build
from derive.spec import load_spec
from generated import xor

SETTINGS = settings(max_examples=150, deadline=None)
NO_OVERFLOW = {"over": "raise", "divide": "raise", "invalid": "raise"}  # underflow to 0 is fine


def central_differences(model, params, X, y):
    """dL/dtheta of the generated loss by central differences (tests/spec_oracle.py's)."""
    return oracle.central_differences(lambda p: model.loss(p, X, y), params)


@SETTINGS
@given(params=params_for(xor), data=batches(xor))
def test_gradients_match_central_differences(params, data):
    X, y = data
    got = xor.gradients(params, X, y)
    want = central_differences(xor, params, X, y)
    for name in params:
        assert got[name].shape == np.shape(params[name])
        # relative error < 1e-6, with an absolute floor for entries that are ~0
        np.testing.assert_allclose(got[name], want[name], rtol=1e-6, atol=1e-8, err_msg=name)


def _lambdified_raw(network):
    """SymPy's derivative of the whole composed per-sample loss, as one NumPy function of
    (x, y, every parameter) returning every parameter's derivative, in PARAMS order."""
    free = [*network.x, network.y, *(s for p in network.params for s in p.symbols)]
    raw = raw_derivatives(network)
    exprs = [expand_markers(e) for p in network.params for e in raw[p.name]]
    return free, sp.lambdify(free, exprs, NUMPY_MODULES, cse=True)


def _sympy_gradients(network, function, params, X, y) -> dict[str, np.ndarray]:
    """Mean over the samples of SymPy's per-sample derivatives, with the params' shapes."""
    free, function = function
    values = {network.y: y, **{s: X[:, j] for j, s in enumerate(network.x)}}
    for p in network.params:
        flat = np.asarray(params[p.name], dtype=np.float64).reshape(-1)
        values.update({s: flat[k] for k, s in enumerate(p.symbols)})
    per_sample = function(*(values[s] for s in free))
    means = iter([float(np.mean(np.broadcast_to(v, y.shape))) for v in per_sample])
    return {p.name: np.reshape([next(means) for _ in p.symbols], p.shape)
            for p in network.params}


_ORACLES: dict[str, tuple] = {}


def _sympy_oracle(name: str):
    """(network, lambdified raw derivative) of a spec, built once per test session."""
    if name not in _ORACLES:
        network = build(load_spec(name))
        _ORACLES[name] = network, _lambdified_raw(network)
    return _ORACLES[name]


@SETTINGS
@given(params=params_for(xor), data=batches(xor))
def test_generated_code_equals_lambdified_sympy(params, data):
    network, function = _sympy_oracle("xor")
    X, y = data
    want = _sympy_gradients(network, function, params, X, y)
    got = xor.gradients(params, X, y)
    for name, value in want.items():
        np.testing.assert_allclose(got[name], value, rtol=1e-9, atol=1e-12, err_msg=name)


# Every other shipped spec, at fewer examples each (xor has its own 150 above).
# (Networks derived at the matrix level only: tests/test_spec_referee.py, test_matrix_code.py.)
OTHER_SPECS = [name for name in oracle.SHIPPED
               if name != "xor" and oracle.read_spec(name).unit_by_unit]
PER_SPEC = settings(max_examples=20, deadline=None,
                    suppress_health_check=[HealthCheck.filter_too_much])


@pytest.mark.parametrize("name", OTHER_SPECS)
@PER_SPEC
@given(data=st.data())
def test_every_spec_equals_lambdified_sympy(name, data):
    """Generated gradients against sympy.diff of the spec's whole composed loss."""
    network, function = _sympy_oracle(name)
    model = load_module(REPO / "generated" / f"{name}.py")
    spec = oracle.read_spec(name)
    params, X, y = data.draw(spec_points(spec, bound=2.0))
    # SymPy's Heaviside(0) is 1/2, the generated code's ReLU derivative at 0 is 0; and the
    # raw derivative of log(sigmoid) holds 1 / (1 - sigmoid(z)), which loses all precision
    # as the sigmoid saturates: compare where the naive formula is still exact to ~1e-12.
    assume(oracle.relu_margin(spec, params, X) > 0.0)
    assume(np.max(np.abs(oracle.forward_pass(spec, params, X)[0][-1])) <= 10.0)
    want = _sympy_gradients(network, function, params, X, y)
    got = model.gradients(params, X, y)
    for key, value in want.items():
        scale = max(1.0, float(np.max(np.abs(value))))
        np.testing.assert_allclose(got[key], value, rtol=1e-9, atol=1e-12 * scale, err_msg=key)


@pytest.mark.parametrize("name", OTHER_SPECS)
@PER_SPEC
@given(data=st.data())
def test_every_spec_matches_central_differences_of_its_loss(name, data):
    """The module's gradients are the derivative of the module's own loss, for every spec."""
    spec = oracle.read_spec(name)
    model = load_module(REPO / "generated" / f"{name}.py")
    params, X, y = data.draw(spec_points(spec, bound=3.0))
    assume(oracle.relu_margin(spec, params, X) > 1e-4)  # differences across a kink mean nothing
    got = model.gradients(params, X, y)
    want = central_differences(model, params, X, y)
    tolerance = 1e-7 * (1.0 + abs(model.loss(params, X, y)))
    for key in want:
        np.testing.assert_allclose(got[key], want[key], rtol=1e-6, atol=tolerance, err_msg=key)


def test_loss_is_binary_cross_entropy_of_forward(xor_model):
    rng = np.random.default_rng(7)
    params = {name: rng.normal(size=shape) for name, shape, _ in xor_model.PARAMS}
    X = rng.normal(size=(32, 2))
    y = rng.integers(0, 2, size=32).astype(float)
    y_hat = xor_model.forward(params, X)
    naive = -np.mean(y * np.log(y_hat) + (1 - y) * np.log(1 - y_hat))
    assert np.isclose(xor_model.loss(params, X, y), naive, rtol=1e-12, atol=0)


def test_saturated_logits_give_finite_exact_loss_and_gradients(xor_model):
    """|logit| = 1000: a naive log(sigmoid) gives inf/NaN; the logit form stays exact."""
    X = np.array([[1.0, 0.0], [0.0, 1.0]])
    params = {"W1": np.zeros((2, 2)), "b1": np.zeros(2), "w2": np.zeros(2), "b2": np.array(1000.0)}
    for b2, y, expected in [(1000.0, [0.0, 0.0], 1000.0), (-1000.0, [1.0, 1.0], 1000.0),
                            (1000.0, [1.0, 1.0], 0.0), (-1000.0, [0.0, 0.0], 0.0)]:
        params["b2"] = np.array(b2)
        y = np.array(y)
        with np.errstate(**NO_OVERFLOW):
            loss, grads = xor_model.loss_and_gradients(params, X, y)
        assert loss == expected
        for name, g in grads.items():
            assert np.all(np.isfinite(g)), name
        assert abs(float(grads["b2"])) == (1.0 if expected else 0.0)


def test_hidden_saturation_is_finite(xor_model):
    params = {"W1": np.full((2, 2), 1e3), "b1": np.array([-1e3, 1e3]), "w2": np.array([1e3, -1e3]),
              "b2": np.array(0.0)}
    X = np.array([[1e6, -1e6], [-1e6, 1e6], [0.0, 0.0]])
    with np.errstate(**NO_OVERFLOW):
        loss, grads = xor_model.loss_and_gradients(params, X, np.array([1.0, 0.0, 1.0]))
    assert np.isfinite(loss)
    assert all(np.all(np.isfinite(g)) for g in grads.values())


def test_shapes_are_checked(xor_model):
    params = {name: np.zeros(shape) for name, shape, _ in xor_model.PARAMS}
    for bad_X in (np.zeros((4, 3)), np.zeros(4), np.zeros((2, 2, 2))):
        try:
            xor_model.forward(params, bad_X)
        except ValueError as error:
            assert "shape" in str(error)
        else:
            raise AssertionError(f"X of shape {bad_X.shape} was accepted")
    try:
        xor_model.gradients(params, np.zeros((4, 2)), np.zeros(3))
    except ValueError as error:
        assert "y must have shape (4,)" in str(error)
    else:
        raise AssertionError("y of the wrong length was accepted")


def test_pytorch_shaped_inputs_are_accepted(xor_model):
    """The course notebook's float32 X and its (N, 1) column of targets, parameters as lists."""
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
    Y = np.array([[0], [1], [1], [0]], dtype=np.float32)
    params = {"W1": [[0.5, -0.5], [0.3, 0.8]], "b1": [0.1, -0.2], "w2": [1.0, -1.0], "b2": 0.25}
    column = xor_model.gradients(params, X, Y)
    flat = xor_model.gradients(params, X.astype(np.float64), Y[:, 0].astype(np.float64))
    for name in flat:
        assert np.array_equal(column[name], flat[name])
    assert xor_model.forward(params, X).shape == (4,)


def test_gradient_shapes_and_keys(xor_model):
    params = {name: np.ones(shape) for name, shape, _ in xor_model.PARAMS}
    grads = xor_model.gradients(params, np.eye(2), np.array([0.0, 1.0]))
    assert list(grads) == [name for name, _, _ in xor_model.PARAMS]
    for name, shape, _ in xor_model.PARAMS:
        assert np.shape(grads[name]) == tuple(shape)
