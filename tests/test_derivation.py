"""The SymPy derivation itself: its compact forms, its self-proof, and its determinism."""

from __future__ import annotations

import concurrent.futures
import dataclasses
import os

import numpy as np
import pytest
import sympy as sp
from conftest import REPO, run

from derive.functions import ACTIVATIONS, NUMPY_MODULES, expand_markers
from derive.gradients import (
    MONOLITHIC_LIMIT,
    DerivationError,
    _check_logit_loss,
    activation_derivative,
    derive,
    output_delta,
    prove,
    prove_by_differences,
    prove_monolithic,
)
from derive.spec import load_spec


@pytest.mark.parametrize("name", ["sigmoid", "tanh", "identity", "relu"])
def test_activation_derivative_matches_finite_differences(name):
    activation = ACTIVATIONS[name]
    z, a = sp.symbols("z a", real=True)
    compact = activation_derivative(activation, z, a)
    f = sp.lambdify(z, expand_markers(activation.apply(z)), NUMPY_MODULES)
    at_z = sp.lambdify(z, expand_markers(compact.xreplace({a: activation.apply(z)})), NUMPY_MODULES)
    points = np.array([-4.0, -1.3, -0.2, 0.3, 0.9, 2.5, 5.0])
    fd = (f(points + 1e-6) - f(points - 1e-6)) / 2e-6
    np.testing.assert_allclose(np.broadcast_to(at_z(points), points.shape), fd,
                               rtol=1e-7, atol=1e-9)


def test_sigmoid_derivative_is_written_through_its_output():
    z, a = sp.symbols("z a", real=True)
    compact = activation_derivative(ACTIVATIONS["sigmoid"], z, a)
    assert compact.free_symbols == {a}
    assert sp.expand(compact - a * (1 - a)) == 0


def test_output_delta_is_the_cross_entropy_cancellation(xor_gradients):
    """The assignment's common mistake: an extra y_hat (1 - y_hat) factor in dL/db2."""
    network = xor_gradients.network
    assert sp.expand(xor_gradients.output_delta - (network.y_hat - network.y)) == 0
    b2 = xor_gradients.expand_deltas(xor_gradients.params["b2"][0])
    assert sp.expand(b2 - (network.y_hat - network.y)) == 0


def test_gradients_are_built_from_named_deltas(xor_gradients):
    names = [str(symbol) for symbol, _ in xor_gradients.deltas]
    assert names == ["delta2", "delta1_1", "delta1_2"]
    for exprs in xor_gradients.params.values():
        for expr in exprs:
            assert any(s.name.startswith("delta") for s in expr.free_symbols)


def test_proof_rejects_a_wrong_gradient(xor_gradients):
    """The self-check must be able to fail: corrupt one entry and it has to object."""
    params = dict(xor_gradients.params)
    delta = xor_gradients.deltas[0][0]
    network = xor_gradients.network
    wrong = delta * network.y_hat * (1 - network.y_hat)  # the classic dL/db2 mistake
    params["b2"] = (wrong,)
    with pytest.raises(DerivationError, match="b2"):
        prove(dataclasses.replace(xor_gradients, params=params))
    params = dict(xor_gradients.params)
    W1 = list(params["W1"])
    W1[1] = W1[2]  # swap in the entry of another unit
    params["W1"] = tuple(W1)
    with pytest.raises(DerivationError, match="W1_1_2"):
        prove(dataclasses.replace(xor_gradients, params=params))


def _with_param(gradients, name: str, index: int, expr):
    """The same gradients with one parameter entry's expression replaced."""
    params = dict(gradients.params)
    entries = list(params[name])
    entries[index] = expr
    params[name] = tuple(entries)
    return dataclasses.replace(gradients, params=params)


@pytest.fixture(scope="module")
def moons_gradients():
    """A network over MONOLITHIC_LIMIT parameters: prove() takes the differences path."""
    from derive.network import build
    from derive.spec import load_spec

    gradients = derive(build(load_spec("moons_relu")))
    assert gradients.network.n_params > MONOLITHIC_LIMIT
    return gradients


def _classic_b2_mistake(gradients):
    """dL/db = delta y_hat (1 - y_hat): the extra sigmoid factor the assignment warns about."""
    network = gradients.network
    out = network.output
    delta = gradients.deltas[0][0]
    return _with_param(gradients, out.bias.name, 0,
                       delta * network.y_hat * (1 - network.y_hat))


def test_prove_monolithic_rejects_a_wrong_gradient(xor_gradients):
    prove_monolithic(xor_gradients)  # the right one passes
    with pytest.raises(DerivationError, match="b2"):
        prove_monolithic(_classic_b2_mistake(xor_gradients))
    doubled = _with_param(xor_gradients, "w2", 1, 2 * xor_gradients.params["w2"][1])
    with pytest.raises(DerivationError, match="w2_2"):
        prove_monolithic(doubled)


@pytest.mark.parametrize("spec", ["xor", "moons_relu"])
def test_prove_by_differences_rejects_a_wrong_gradient(spec, xor_gradients, moons_gradients):
    gradients = xor_gradients if spec == "xor" else moons_gradients
    every = max(len(p.symbols) for p in gradients.network.params)
    prove_by_differences(gradients, entries=every)  # the right one passes
    out = gradients.network.output
    with pytest.raises(DerivationError, match=out.bias.name):
        prove_by_differences(_classic_b2_mistake(gradients))
    # One wrong entry of the first weight matrix, wherever it sits, and one hidden unit's
    # wrong delta. Only the entries it samples are checked (6 per array by default), so
    # these need entries=every: a single wrong entry can otherwise go unseen.
    first = gradients.network.params[0]
    for index in (0, len(first.symbols) - 1):
        entry = gradients.params[first.name][index]
        with pytest.raises(DerivationError, match=str(first.symbols[index])):
            prove_by_differences(_with_param(gradients, first.name, index, 1.01 * entry),
                                 entries=every)
    symbol, expr = gradients.deltas[1]
    deltas = (gradients.deltas[0], (symbol, -expr), *gradients.deltas[2:])
    with pytest.raises(DerivationError):
        prove_by_differences(dataclasses.replace(gradients, deltas=deltas), entries=every)


def test_prove_dispatches_to_differences_above_the_limit(moons_gradients):
    """prove() itself, on the path every network over 40 parameters relies on."""
    with pytest.raises(DerivationError, match="central differences"):
        prove(_classic_b2_mistake(moons_gradients))


def test_activation_derivative_check_rejects_a_wrong_rewrite():
    """f' written through a wrong inverse of f disagrees with SymPy's f'(z): refused."""
    import sympy as sp

    tanh = ACTIVATIONS["tanh"]
    z, a = sp.symbols("z a", real=True)
    wrong_inverse = dataclasses.replace(tanh, inverse=sp.asinh)  # atanh is the inverse
    with pytest.raises(DerivationError, match="tanh'"):
        activation_derivative(wrong_inverse, z, a)
    not_an_inverse = dataclasses.replace(tanh, inverse=lambda value: z)
    with pytest.raises(DerivationError, match="not expressible"):
        activation_derivative(not_an_inverse, z, a)


def test_output_delta_check_rejects_a_wrong_rewrite(xor_gradients):
    import sympy as sp

    network = xor_gradients.network
    out = network.output
    # logit(a) is log(a / (1 - a)); log(a / (1 + a)) gives a wrong y_hat - y
    wrong = dataclasses.replace(ACTIVATIONS["sigmoid"],
                                inverse=lambda value: sp.log(value / (1 + value)))
    layers = (*network.layers[:-1], dataclasses.replace(out, activation=wrong))
    with pytest.raises(DerivationError, match="output delta"):
        output_delta(dataclasses.replace(network, layers=layers), out.z[0])


def test_logit_loss_check_rejects_a_wrong_form(xor_gradients):
    """The loss the generated code computes from the logit must be the loss."""
    from derive.functions import softplus

    network = xor_gradients.network
    wrong = dataclasses.replace(network.loss,
                                logit_forms={"sigmoid": lambda z, y: softplus(z) + y * z})
    with pytest.raises(DerivationError, match="loss from the logit"):
        _check_logit_loss(dataclasses.replace(network, loss=wrong))


def test_derive_refuses_a_wrong_output_delta(monkeypatch):
    """End to end: the classic mistake planted in the derivation never reaches a file."""
    from derive import gradients as module
    from derive.network import build
    from derive.spec import load_spec

    right = module.output_delta

    def with_extra_factor(network, z):
        return right(network, z) * network.y_hat * (1 - network.y_hat)

    monkeypatch.setattr(module, "output_delta", with_extra_factor)
    for name in ("xor", "moons_relu"):
        with pytest.raises(DerivationError):
            derive(build(load_spec(name)))


def _derive_into(folder, hashseed: str, *args: str):
    result = run(["-m", "derive", *args, "--out", str(folder)],
                 env={"PYTHONHASHSEED": hashseed})
    assert result.returncode == 0, result.stderr
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_derive_is_byte_identical_and_matches_committed_files(tmp_path):
    """`make derive` (every spec) twice under different hash seeds: same bytes as generated/."""
    with concurrent.futures.ThreadPoolExecutor(2) as pool:  # two processes, two cores
        runs = [pool.submit(_derive_into, tmp_path / folder, seed, "--all")
                for folder, seed in (("a", "0"), ("b", "4242"))]
        first, second = (future.result() for future in runs)
    assert first == second
    committed = {p.name: p.read_bytes() for p in (REPO / "generated").iterdir()
                 if p.is_file() and p.name != "__init__.py"}
    specs = sorted(p.stem for p in (REPO / "specs").glob("*.toml"))
    assert "xor" in specs
    assert {"digits", "xor"} <= set(specs) and load_spec("digits").matrix_only
    assert {"gradients.tex", "gradients.md", *(f"{name}.py" for name in specs),
            *(f"{name}.ipynb" for name in specs)} <= set(first)
    assert sorted(committed) == sorted(first), "generated/ holds other files than make derive"
    stale = [name for name in first if first[name] != committed[name]]
    assert not stale, f"generated/ is stale, run `make derive`: {stale}"


def test_if_stale_skips_fresh_outputs_and_rewrites_changed_ones(tmp_path):
    _derive_into(tmp_path, "1")
    result = run(["-m", "derive", "--out", str(tmp_path), "--if-stale"])
    assert result.returncode == 0 and "up to date" in result.stdout
    module = tmp_path / "xor.py"
    module.write_text(module.read_text().replace("GENERATED FILE", "GENERATED  FILE"))
    result = run(["-m", "derive", "--out", str(tmp_path), "--if-stale"])
    assert result.returncode == 0 and "wrote" in result.stdout
    assert "deriving xor again" in result.stdout and "edited by hand?" in result.stdout
    assert module.read_bytes() == (REPO / "generated" / "xor.py").read_bytes()
    manifest = tmp_path / "manifest.json"
    manifest.write_text(manifest.read_text().replace('"inputs-sha256": "', '"inputs-sha256": "0'))
    result = run(["-m", "derive", "--out", str(tmp_path), "--if-stale"])
    assert result.returncode == 0 and "wrote" in result.stdout, "a changed input is stale"


def test_generated_files_say_they_are_generated():
    for name in ("xor.py", "gradients.tex", "gradients.md"):
        text = (REPO / "generated" / name).read_text()[:1200]
        assert "GENERATED FILE" in text and "make derive" in text
    # The notebook is a hand-in: it says so in its metadata, not in a cell.
    import nbformat

    provenance = nbformat.read(REPO / "generated" / "xor.ipynb", as_version=4).metadata
    assert provenance["derive-nn"]["generated-by"].startswith("make derive")


def test_generated_module_imports_no_sympy_and_all_code_passes_ruff():
    source = (REPO / "generated" / "xor.py").read_text()
    assert "sympy" not in source
    assert max(len(line) for line in source.splitlines()) <= 100
    ruff = os.path.join(os.path.dirname(os.sys.executable), "ruff")
    result = run(["-c", f"import subprocess,sys; sys.exit(subprocess.call([{ruff!r}, 'check', "
                        "'generated', 'derive', 'tests', 'train.py', 'trainer']))"])
    assert result.returncode == 0, result.stdout + result.stderr
