"""Printed code is checked as printed: derive refuses to write a module or C loop whose
printing disagrees with the derivation (that every function prints right in every target,
`x / sigmoid(z)` included, is tests/test_registry.py's)."""

from __future__ import annotations

import shutil

import pytest

from derive.gradients import DerivationError, derive
from derive.network import build
from derive.spec import load_spec
from derive.verify import verify_c, verify_module


@pytest.fixture(scope="module")
def xor():
    return derive(build(load_spec("xor")))


def _rendered(name: str):
    from derive.__main__ import output_names, render_all

    spec = load_spec(name)
    names = output_names(spec)
    outputs = render_all(spec)
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
