"""The matrix-level derivation (derive/matrix.py): widths as symbols, each gradient of
the shape of its parameter, and the result instantiated at concrete widths equal, exactly,
to the independent unit-by-unit derivation; a planted error in any piece is refused."""

from __future__ import annotations

import dataclasses
import time

import pytest
import sympy as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_proof_tolerance import NAMES, _spec

from derive import matrix as mx
from derive.gradients import DerivationError, derive
from derive.network import build
from derive.spec import load_spec

SHIPPED = ["xor", "xor_deep", "xor_tanh4", "xor_mse", "moons_relu",
           pytest.param("xor_silu_gelu", marks=pytest.mark.slow),
           pytest.param("moons_leaky_softplus", marks=pytest.mark.slow)]


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_spec_agrees_with_the_unit_by_unit_derivation(name):
    spec = load_spec(name)
    mx.prove(mx.derive_matrix(spec), derive(build(spec)))


@pytest.mark.slow
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.data_too_large])
@given(st.data())
def test_random_small_networks_agree(tmp_path_factory, data):
    depth = data.draw(st.integers(1, 2))
    hidden = data.draw(st.lists(st.integers(1, 3), min_size=depth, max_size=depth))
    activations = data.draw(st.lists(st.sampled_from(NAMES), min_size=depth, max_size=depth))
    output, loss = data.draw(st.sampled_from([("sigmoid", "bce"), ("sigmoid", "mse"),
                                              ("identity", "mse")]))
    spec = _spec(tmp_path_factory.mktemp("spec"), hidden, activations, output, loss)
    mx.prove(mx.derive_matrix(spec), derive(build(spec)))


def test_shapes_follow_the_widths_and_the_chain_rule_is_the_textbook_one():
    matrix = mx.derive_matrix(load_spec("xor_deep"))
    N, n = matrix.N, matrix.widths
    for layer in matrix.layers:
        k = layer.number
        assert matrix.grads[f"W{k}"].shape == (n[k], n[k - 1])
        assert matrix.grads[f"b{k}"].shape == (n[k], 1)
        assert matrix.grads[f"W{k}"] == layer.Delta.T * matrix.inputs_of(layer)
        assert matrix.grads[f"b{k}"] == layer.Delta.T * sp.OneMatrix(N, 1)
        if k < len(matrix.layers):
            above = matrix.layers[k]
            assert matrix.upstream[k] == above.Delta * above.W
            assert matrix.upstream[k].shape == (N, n[k])
    assert matrix.output_element == matrix.y_hat - matrix.y  # sigmoid + BCE: y_hat - y


def test_the_derivation_does_not_depend_on_the_widths(tmp_path):
    narrow = mx.derive_matrix(_spec(tmp_path, [2, 2], ["tanh", "relu"]))
    # 784-1024-512-1: past what a spec file may ask for today, and nothing in it grows
    wide_spec = dataclasses.replace(narrow.spec, n_inputs=784, hidden=(1024, 512))
    start = time.perf_counter()
    wide = mx.derive_matrix(wide_spec)
    assert time.perf_counter() - start < 30  # generous: a unit-by-unit derivation takes hours
    assert str(narrow.grads["W1"]) == str(wide.grads["W1"])
    assert narrow.layers[0].fprime == wide.layers[0].fprime


@pytest.fixture(scope="module")
def deep():
    spec = load_spec("xor_deep")
    return mx.derive_matrix(spec), derive(build(spec))


@pytest.mark.parametrize("plant", ["upstream", "fprime", "output", "weight gradient"])
def test_a_planted_error_is_refused(plant, deep):
    matrix, gradients = deep
    if plant == "upstream":  # twice the layer above's contribution
        above = matrix.layers[2]
        matrix = dataclasses.replace(matrix, upstream={**matrix.upstream,
                                                       2: 2 * above.Delta * above.W})
    elif plant == "fprime":  # a wrong activation derivative
        layers = list(matrix.layers)
        layers[0] = dataclasses.replace(layers[0], fprime=layers[0].fprime + matrix.a ** 3)
        matrix = dataclasses.replace(matrix, layers=tuple(layers))
    elif plant == "output":  # twice the output delta
        matrix = dataclasses.replace(matrix, output_element=2 * matrix.output_element)
    else:
        layer = matrix.layers[1]  # dL/dW2 from the layer's output, not its input
        matrix = dataclasses.replace(matrix, grads={**matrix.grads,
                                                    "W2": layer.Delta.T * layer.A})
    with pytest.raises(DerivationError):
        mx.prove(matrix, gradients)
