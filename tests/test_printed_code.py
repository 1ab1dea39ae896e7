"""Printed code is checked as printed: every target prints `x / sigmoid(z)` right, and
derive refuses to write a module or C loop whose printing disagrees with the derivation."""

from __future__ import annotations

import ctypes
import math
import shutil
import subprocess

import numpy as np
import pytest
import sympy as sp

from derive.codegen import CCodePrinter, NumPyCodePrinter, PythonScalarPrinter
from derive.functions import sigmoid
from derive.gradients import DerivationError, derive
from derive.network import build
from derive.spec import load_spec
from derive.verify import verify_c, verify_module

X_VALUE, Z_VALUE = 2.0, 0.3
EXPECTED = X_VALUE * (1.0 + math.exp(-Z_VALUE))  # x / sigmoid(z) = 3.4816...


@pytest.fixture(scope="module")
def xor():
    return derive(build(load_spec("xor")))


def _expression():
    x, z = sp.Symbol("x_1", real=True), sp.Symbol("z1_1", real=True)
    return x / sigmoid(z), x * sigmoid(z) / (1 + sigmoid(z)), sigmoid(z) ** 2 / x


def _truth(expr) -> float:
    x, z = sp.Symbol("x_1", real=True), sp.Symbol("z1_1", real=True)
    value = expr.replace(sigmoid, lambda a: 1 / (1 + sp.exp(-a))).subs({x: X_VALUE, z: Z_VALUE})
    return float(value)


def test_x_over_sigmoid_is_right_in_python_targets(xor):
    assert _truth(_expression()[0]) == pytest.approx(EXPECTED)
    for expr in _expression():
        want = _truth(expr)
        numpy_code = NumPyCodePrinter(xor.network).doprint(expr)
        space = {"np": np, "x_1": np.array([X_VALUE]), "z1_1": np.array([Z_VALUE]),
                 "sigmoid": lambda v: 1.0 / (1.0 + np.exp(-v))}
        assert float(eval(numpy_code, space)[0]) == pytest.approx(want, rel=1e-12), numpy_code
        python_code = PythonScalarPrinter(xor.network).doprint(expr)
        space = {"exp": math.exp, "x_1": X_VALUE, "z1_1": Z_VALUE}
        assert eval(python_code, space) == pytest.approx(want, rel=1e-12), python_code


@pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler for the C target")
def test_x_over_sigmoid_is_right_in_c(xor, tmp_path):
    for k, expr in enumerate(_expression()):
        body = CCodePrinter(xor.network).doprint(expr)
        source = tmp_path / f"f{k}.c"
        source.write_text("#include <math.h>\n"
                          f"double f(double x_1, double z1_1) {{ return {body}; }}\n")
        library = tmp_path / f"f{k}.so"
        subprocess.run(["cc", "-shared", "-fPIC", "-o", str(library), str(source), "-lm"],
                       check=True)
        function = ctypes.CDLL(str(library)).f
        function.restype = ctypes.c_double
        function.argtypes = [ctypes.c_double, ctypes.c_double]
        assert function(X_VALUE, Z_VALUE) == pytest.approx(_truth(expr), rel=1e-12), body


def _rendered(name: str):
    from derive.__main__ import output_names, render_all
    from derive.files import input_hash

    spec = load_spec(name)
    names = output_names(spec)
    outputs = render_all(spec, input_hash(spec))
    return outputs[names["module"]], outputs.get(names["c"])


@pytest.mark.parametrize(("old", "new"), [
    ("delta2 = y_hat - y", "delta2 = (y_hat - y)*y_hat*(1 - y_hat)"),
    ("softplus_from_sigmoid(z2, y_hat)", "softplus(z2) + 1e-6"),
    ("h_1 = sigmoid(z1_1)", "h_1 = 1.0 / 1.0 + np.exp(-z1_1)"),
])
def test_a_misprinted_module_is_refused_before_it_is_written(xor, old, new):
    module, _ = _rendered("xor")
    assert old in module
    verify_module(xor, module)
    with pytest.raises(DerivationError, match="printed code disagrees"):
        verify_module(xor, module.replace(old, new))


def test_a_misprinted_fast_loop_is_refused(xor):
    module, _ = _rendered("xor")
    fast = module[module.index("def train_fast"):]
    line = next(v for v in fast.splitlines() if "-= lr *" in v)
    with pytest.raises(DerivationError, match="plain-Python|ensemble"):
        verify_module(xor, module.replace(line, line.replace("-= lr *", "-= 2 * lr *"), 1))


@pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler for the C target")
def test_a_misprinted_c_loop_is_refused(xor):
    _, c_source = _rendered("xor")
    assert verify_c(xor, c_source)
    broken = c_source.replace("1.0 + e_z2", "1.0 - e_z2", 1)
    assert broken != c_source
    with pytest.raises(DerivationError, match="C"):
        verify_c(xor, broken)
