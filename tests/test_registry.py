"""Every registry entry prints right in every target, derives, trains and agrees with a
referee written from the spec file alone (tests/spec_oracle.py: tomllib and hand-written
NumPy, its own activation table).

Truth for printed functions is SymPy's definition evaluated in 400-digit arithmetic, not
anything the printers produce.
"""

from __future__ import annotations

import ctypes
import math
import subprocess

import mpmath
import numpy as np
import pytest
import spec_oracle as oracle
import sympy as sp
from conftest import require_cc

from derive.__main__ import output_names, render_all
from derive.codegen import (
    CCodePrinter,
    NumPyCodePrinter,
    PythonScalarPrinter,
    c_helpers,
    helper_imports,
    numpy_helpers,
)
from derive.functions import ACTIVATIONS, LOSSES, MARKERS, expand_markers
from derive.network import build
from derive.spec import OUTPUTS, load_spec
from derive.verify import load_text

FUNCTIONS = {**{m.__name__: m for m in MARKERS}, "erf": sp.erf, "erfc": sp.erfc}
X_VALUE = 2.0
Z_VALUES = (-30.0, -2.5, -0.3, 0.7, 4.0, 30.0)
x, z = sp.Symbol("x", real=True), sp.Symbol("z", real=True)


@pytest.fixture(scope="module")
def network():
    return build(load_spec("xor"))


def _expressions(f) -> list[sp.Expr]:
    """f where precedence and a denominator matter: x / f(z) must not print as x / 1 / ..."""
    return [x / f(z), f(z) ** 2 / x, x * f(z) / (1 + f(z)), 1 - f(z), -f(-z) * x]


def _truth(expr: sp.Expr, z_value: float) -> float | None:
    with mpmath.workdps(400):  # 1 + erf(-21) cancels 200 digits deep
        point = {x: sp.Float(X_VALUE, 400), z: sp.Float(z_value, 400)}
        value = sp.N(expand_markers(expr).xreplace(point), 400)
    if not (value.is_finite and value.is_real) or not math.isfinite(float(value)):
        return None  # undefined, or beyond double range: nothing to compare
    return float(value)


def _close(got: float, want: float) -> bool:
    return abs(got - want) <= 1e-12 * abs(want) + 1e-14


def test_the_registry_covers_what_the_issue_asked_for():
    assert {"sigmoid", "tanh", "relu", "identity", "silu", "softplus", "gelu",
            "leaky_relu"} <= set(ACTIVATIONS)
    assert set(OUTPUTS) == {n for n, a in ACTIVATIONS.items() if a.losses}
    for activation in ACTIVATIONS.values():
        assert set(activation.losses) <= set(LOSSES)


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_every_function_prints_right_in_python_targets(network, name):
    for expr in _expressions(FUNCTIONS[name]):
        numpy_printer, python_printer = NumPyCodePrinter(network), PythonScalarPrinter(network)
        numpy_code, python_code = numpy_printer.doprint(expr), python_printer.doprint(expr)
        space = {"np": np, "math": math}
        for module in helper_imports(numpy_printer.used_helpers):
            space[module] = __import__(module)
        exec("\n\n".join(numpy_helpers(numpy_printer.used_helpers)), space)  # noqa: S102
        scalar = {n: getattr(math, n) for n in python_printer.math_names}
        for z_value in Z_VALUES:
            want = _truth(expr, z_value)
            if want is None:
                continue
            with np.errstate(all="ignore"):
                got = eval(numpy_code, {**space, "x": np.array([X_VALUE]),  # noqa: S307
                                        "z": np.array([z_value])})
            assert _close(float(np.ravel(got)[0]), want), (numpy_code, z_value)
            try:
                got = eval(python_code, {**scalar, "x": X_VALUE, "z": z_value})  # noqa: S307
            except OverflowError:  # documented: the plain-Python loop falls back to NumPy
                continue
            assert _close(got, want), (python_code, z_value)


def test_every_function_prints_right_in_c(network, tmp_path):
    compiler = require_cc()
    cases, bodies, used = [], [], set()
    for name in sorted(FUNCTIONS):
        for expr in _expressions(FUNCTIONS[name]):
            printer = CCodePrinter(network)
            bodies.append(printer.doprint(expr))
            used |= printer.used_helpers
            cases.append(expr)
    helpers = "".join(f"static inline double {h.target}(double z) {{ return {h.value}; }}\n"
                      for h in c_helpers(used))
    functions = "".join(f"double f{k}(double x, double z) {{ return {body}; }}\n"
                        for k, body in enumerate(bodies))
    source = tmp_path / "functions.c"
    source.write_text(f"#include <math.h>\n{helpers}{functions}")
    library = tmp_path / "functions.so"
    subprocess.run([compiler, "-O2", "-shared", "-fPIC", "-Wall", "-Werror", "-o",
                    str(library), str(source), "-lm"], check=True)
    loaded = ctypes.CDLL(str(library))
    for k, expr in enumerate(cases):
        function = getattr(loaded, f"f{k}")
        function.restype = ctypes.c_double
        function.argtypes = [ctypes.c_double, ctypes.c_double]
        for z_value in Z_VALUES:
            want = _truth(expr, z_value)
            if want is not None:
                assert _close(function(X_VALUE, z_value), want), (bodies[k], z_value)


def _spec_file(tmp_path, activation: str, output: str = "sigmoid", loss: str = "bce"):
    name = f"net_{activation}"
    path = tmp_path / f"{name}.toml"
    path.write_text(f'name = "{name}"\ninputs = 2\nhidden = [3]\nactivation = "{activation}"\n'
                    f'output = "{output}"\nloss = "{loss}"\ndataset = "xor"\n')
    return path


def _descend(gradients, params, X, y, lr, epochs):
    for _ in range(epochs):
        grads = gradients(params, X, y)
        params = {name: value - lr * grads[name] for name, value in params.items()}
    return params


# AND, not XOR: a hidden identity layer cannot learn XOR, and every entry must train.
AND_X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
AND_Y = np.array([0.0, 0.0, 0.0, 1.0])


def _derived_module_equals_the_referee(path):
    """Derive (which proves and runs every printed target), then compare the module with the
    referee at random points; returns the module and the referee."""
    spec = load_spec(path)
    outputs = render_all(spec)
    names = output_names(spec)
    assert set(names.values()) == set(outputs)
    module = load_text(outputs[names["module"]], spec.name)
    referee = oracle.read_spec(path)
    rng = np.random.default_rng(7)
    X = rng.normal(size=(12, 2))
    y = rng.integers(0, 2, size=12).astype(float)
    for _ in range(5):
        params = {n: rng.normal(size=shape) for n, shape, _ in referee.layout}
        loss, grads = module.loss_and_gradients(params, X, y)
        assert loss == pytest.approx(oracle.loss(referee, params, X, y), rel=1e-10)
        want = oracle.backprop(referee, params, X, y)
        for name in want:
            np.testing.assert_allclose(grads[name], want[name], rtol=1e-9, atol=1e-12,
                                       err_msg=f"{path.name}: {name}")
    return module, referee, outputs[names["tex"]]


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_every_activation_derives_trains_and_equals_the_spec_referee(tmp_path, activation):
    module, referee, tex = _derived_module_equals_the_referee(_spec_file(tmp_path, activation))
    assert activation == "identity" or ACTIVATIONS[activation].latex in tex
    start = oracle.init_params(referee, 3)
    trained = _descend(module.gradients, start, AND_X, AND_Y, 0.5, 300)
    assert module.loss(trained, AND_X, AND_Y) < 0.5 * module.loss(start, AND_X, AND_Y)
    fast, history = module.train_fast(start, AND_X, AND_Y, 0.5, 300)
    assert len(history) == 300
    for name in trained:  # the plain-Python loop takes the same steps as the NumPy code
        np.testing.assert_allclose(fast[name], trained[name], rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize(("output", "loss"), [
    (name, loss) for name, activation in sorted(ACTIVATIONS.items())
    for loss in activation.losses])
def test_every_output_and_loss_pair_equals_the_spec_referee(tmp_path, output, loss):
    _derived_module_equals_the_referee(_spec_file(tmp_path, "tanh", output, loss))
