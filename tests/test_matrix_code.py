"""Networks too wide to derive unit by unit: derived, printed and checked at the matrix level
(derive/matrix.py, derive/matrix_code.py), against a referee written from the spec file."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import spec_oracle as oracle
from conftest import REPO, require_torch

from derive.__main__ import render_matrix_only
from derive.gradients import DerivationError
from derive.spec import UNIT_BY_UNIT_MAX_PARAMS, SpecError, load_spec
from derive.verify import differences_agree, load_text, verify_by_differences

WIDE = {  # name: (hidden, activations, output, loss)
    "wide_relu": ([300], "relu", "sigmoid", "bce"),
    "wide_tanh_gelu": ([96, 40], ["tanh", "gelu"], "sigmoid", "bce"),
    "wide_silu_mse": ([64, 48, 8], ["silu", "leaky_relu", "softplus"], "identity", "mse"),
}
SLOW = {"wide_silu_mse"}  # its proof at small widths: three layers of silu, leaky ReLU, softplus


def _write_spec(folder, name: str) -> object:
    hidden, activation, output, loss = WIDE[name]
    path = folder / f"{name}.toml"
    path.write_text(f'name = "{name}"\ndescription = "a wide test network"\ninputs = 2\n'
                    f"hidden = {hidden}\nactivation = {json.dumps(activation)}\n"
                    f'output = "{output}"\nloss = "{loss}"\ndataset = "moons"\n')
    return path


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n
                                  for n in sorted(WIDE)])
def test_wide_networks_equal_the_spec_files_hand_written_backpropagation(tmp_path, name):
    path = _write_spec(tmp_path, name)
    spec = load_spec(path)
    assert spec.matrix_only and spec.n_params > UNIT_BY_UNIT_MAX_PARAMS
    outputs = render_matrix_only(spec)
    assert sorted(outputs) == sorted([f"{name}.py", f"{name}.md", f"{name}.tex", f"{name}.ipynb"])
    module = load_text(outputs[f"{name}.py"], name)
    cells = json.loads(outputs[f"{name}.ipynb"])["cells"]
    model_cell = next("".join(c["source"]) for c in cells
                      if "def loss_and_gradients" in "".join(c["source"]))
    notebook: dict = {}
    exec(compile(model_cell, "the notebook's model cell", "exec"), notebook)
    raw = oracle.read_spec(path)
    rng = np.random.default_rng(7)
    assert [(n, tuple(s)) for n, s, _ in module.PARAMS] == \
        [(n, tuple(s)) for n, s, _ in raw.layout]
    for scale in (1.0, 4.0):
        params = {n: scale * rng.normal(size=s) / np.sqrt(f) for n, s, f in module.PARAMS}
        X = rng.normal(size=(33, 2))
        y = rng.integers(0, 2, 33).astype(float)
        loss, grads = module.loss_and_gradients(params, X, y)
        assert loss == pytest.approx(oracle.loss(raw, params, X, y), rel=1e-12)
        assert notebook["loss_and_gradients"](params, X, y)[0] == loss
        want = oracle.backprop(raw, params, X, y)
        for n in want:
            assert grads[n].shape == want[n].shape
            np.testing.assert_allclose(grads[n], want[n], rtol=1e-9,
                                       atol=1e-12 * np.abs(want[n]).max())
        np.testing.assert_allclose(module.forward(params, X), oracle.predict(raw, params, X),
                                   rtol=1e-12)


def test_the_printed_code_is_one_line_per_layer_and_its_report_has_shapes(tmp_path):
    outputs = render_matrix_only(load_spec(_write_spec(tmp_path, "wide_tanh_gelu")))
    code = outputs["wide_tanh_gelu.py"]
    assert "Delta2 = (Delta3 @ W3) * (" in code and '"W1": Delta1.T @ X,' in code
    assert "\"b2\": Delta2.T @ np.ones(N)," in code
    assert max(len(line) for line in code.splitlines() if str(tmp_path) not in line) <= 100
    report = outputs["wide_tanh_gelu.md"]
    assert r"\text{result}: n_{2} \times n_{1} \;(40 \times 96)" in report
    assert "element-wise:" not in report  # 4000 entries are not a report


@pytest.mark.parametrize("plant", [
    ("* (1 - A1**2)", "* (1 - A1)"),           # tanh' written as if it were f' = 1 - a
    ('"W2": Delta2.T @ A1', '"W2": Delta2.T @ A1 * 1.0001'),
    ("Delta3 = (Y_hat - Y)/N", "Delta3 = (Y_hat - Y)"),
])
def test_a_planted_printing_error_is_caught_by_the_differences(tmp_path, plant):
    code = render_matrix_only(load_spec(_write_spec(tmp_path, "wide_tanh_gelu")))[
        "wide_tanh_gelu.py"]
    assert plant[0] in code
    with pytest.raises(DerivationError, match="central differences"):
        verify_by_differences("wide_tanh_gelu", code.replace(plant[0], plant[1]))


def test_the_training_loop_is_checked_against_the_checked_gradients(tmp_path):
    """train_batches prints the same lines again: a slip there alone is refused too."""
    code = render_matrix_only(load_spec(_write_spec(tmp_path, "wide_tanh_gelu")))[
        "wide_tanh_gelu.py"]
    loop = code.index("def train_batches")
    planted = code[:loop] + code[loop:].replace("W1 -= lr * (", "W1 -= 0.5 * lr * (", 1)
    assert planted != code
    with pytest.raises(DerivationError, match="update of W1 in the train_batches target"):
        verify_by_differences("wide_tanh_gelu", planted)


def test_a_relu_kink_inside_the_difference_step_is_not_a_wrong_gradient():
    """relu(p + 5e-5) at p = 0: slope 1, but differences at h = 1e-4 straddle the kink."""
    def loss(params, X, y):
        return float(np.maximum(params["p"][0] + 5e-5, 0.0))

    at, direction = {"p": np.zeros(1)}, {"p": np.ones(1)}
    assert differences_agree(loss, at, direction, None, None, 1.0)[0]
    assert not differences_agree(loss, at, direction, None, None, 0.5)[0]
    assert not differences_agree(loss, at, direction, None, None, 1.083)[0]


def test_width_limits(tmp_path):
    base = (REPO / "specs" / "xor.toml").read_text()
    (tmp_path / "huge.toml").write_text(base.replace('name = "xor"', 'name = "huge"')
                                        .replace("hidden = [2]", "hidden = [4097]"))
    with pytest.raises(SpecError, match="hidden"):
        load_spec(tmp_path / "huge.toml")
    assert not load_spec("moons_relu").matrix_only  # shipped specs keep their full reports


def test_derive_writes_a_wide_network_and_knows_it_is_current(tmp_path):
    path = _write_spec(tmp_path, "wide_relu")
    out = tmp_path / "out"
    command = [sys.executable, "-m", "derive", str(path), "--out", str(out)]
    first = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr
    assert sorted(p.name for p in out.iterdir()) == [
        "manifest.json", "wide_relu.ipynb", "wide_relu.md", "wide_relu.py", "wide_relu.tex"]
    again = subprocess.run([*command, "--if-stale"], cwd=REPO, capture_output=True, text=True,
                           timeout=300)
    assert again.returncode == 0 and "wrote" not in again.stdout + again.stderr


@pytest.mark.torch
def test_wide_gradients_equal_torch_autograd(tmp_path):
    torch = require_torch()
    path = _write_spec(tmp_path, "wide_tanh_gelu")
    module = load_text(render_matrix_only(load_spec(path))["wide_tanh_gelu.py"], "m")
    rng = np.random.default_rng(3)
    params = {n: rng.normal(size=s) / np.sqrt(f) for n, s, f in module.PARAMS}
    X, y = rng.normal(size=(50, 2)), rng.integers(0, 2, 50).astype(float)
    t = {n: torch.tensor(v, requires_grad=True) for n, v in params.items()}
    a = torch.tensor(X)
    a = torch.tanh(a @ t["W1"].T + t["b1"])
    a = torch.nn.functional.gelu(a @ t["W2"].T + t["b2"])
    logit = a @ t["w3"] + t["b3"]
    torch.nn.functional.binary_cross_entropy_with_logits(logit, torch.tensor(y)).backward()
    _, grads = module.loss_and_gradients(params, X, y)
    for n, v in t.items():
        np.testing.assert_allclose(grads[n], v.grad.numpy(), rtol=1e-9, atol=1e-15)


# ------------------------------------------------------------------- softmax, many classes

def test_sympy_finds_the_softmax_delta_and_a_wrong_one_is_refused():
    import sympy as sp

    from derive.functions import CLASSIFIERS
    from derive.matrix import prove_softmax_delta, softmax_output_delta

    y_hat, y = sp.symbols("yhat y")
    softmax = CLASSIFIERS["softmax"]
    assert softmax_output_delta(softmax, y_hat, y) == y_hat - y
    for wrong in (y_hat * (1 - y_hat) - y, 2 * (y_hat - y), y_hat + y):
        with pytest.raises(DerivationError, match="softmax output delta differs"):
            prove_softmax_delta(softmax, wrong, y_hat, y)


def test_a_softmax_spec_needs_as_many_outputs_as_classes(tmp_path):
    text = (REPO / "specs" / "iris.toml").read_text()
    for old, new, field in (("outputs = 3", "outputs = 4", "outputs"),
                            ('output = "softmax"', 'output = "sigmoid"', "outputs"),
                            ('loss = "cross_entropy"', 'loss = "bce"', "loss")):
        (tmp_path / "iris.toml").write_text(text.replace(old, new))
        with pytest.raises(SpecError, match=f"field '{field}'"):
            load_spec(tmp_path / "iris.toml")


def test_predict_prints_the_class_and_every_probability(tmp_path):
    from conftest import run

    out = tmp_path / "run"
    trained = run(["train.py", "--spec", "iris", "--epochs", "50", "--quiet", "--out", str(out)])
    assert trained.returncode == 0, trained.stderr
    assert "test accuracy" in trained.stdout and (out / "confusion.png").exists()
    assert not (out / "boundary.png").exists()
    record = json.loads((out / "params.json").read_text())
    assert 0.0 <= record["test_accuracy"] <= 1.0
    result = run(["train.py", "predict", "--params", str(out / "params.json"), "5", "3", "1",
                  "0.2"])
    assert result.returncode == 0, result.stderr
    probabilities = [float(p) for p in result.stdout.split("probabilities")[1].split()[1::2]]
    assert len(probabilities) == 3 and sum(probabilities) == pytest.approx(1.0, abs=2e-4)
    assert f"class = {int(np.argmax(probabilities))}" in result.stdout


def test_a_class_label_out_of_range_is_one_line(tmp_path):
    from conftest import run

    data = tmp_path / "d.csv"
    data.write_text("x1,x2,x3,x4,y\n0,1,2,3,0\n1,1,1,1,3\n")
    result = run(["train.py", "--spec", "iris", "--data", str(data), "--out", str(tmp_path)])
    assert result.returncode == 2
    assert result.stderr.strip() == (f"train.py: error: --data {data}: line 3: y must be a "
                                     "class label 0 .. 2 for iris, got '3'")


@pytest.mark.torch
def test_softmax_gradients_and_a_training_run_equal_pytorch(tmp_path):
    from conftest import run

    torch = require_torch()
    from trainer.model import for_spec

    model = for_spec("digits")
    rng = np.random.default_rng(5)
    params = {n: rng.normal(size=s) / np.sqrt(f) for n, s, f in model.PARAMS}
    X, y = rng.normal(size=(60, 64)), rng.integers(0, 10, 60).astype(float)
    t = {n: torch.tensor(v, requires_grad=True) for n, v in params.items()}
    logits = torch.tanh(torch.tensor(X) @ t["W1"].T + t["b1"]) @ t["W2"].T + t["b2"]
    loss = torch.nn.functional.cross_entropy(logits, torch.tensor(y, dtype=torch.long))
    loss.backward()
    got_loss, grads = model.loss_and_gradients(params, X, y)
    assert got_loss == pytest.approx(loss.item(), rel=1e-12)
    for n, v in t.items():
        np.testing.assert_allclose(grads[n], v.grad.numpy(), rtol=1e-9, atol=1e-15)
    result = run(["train.py", "--spec", "iris", "--epochs", "300", "--compare-torch",
                  "--quiet", "--out", str(tmp_path)])
    assert result.returncode == 0, result.stderr
    gaps = json.loads((tmp_path / "params.json").read_text())["torch"]
    assert gaps["max_loss_difference"] < 1e-9 and gaps["max_param_difference"] < 1e-9


def test_predict_scales_a_raw_measurement_as_training_did(tmp_path):
    """The network trained on standardised iris; predict takes centimetres, as a user has."""
    from conftest import run
    from sklearn.datasets import load_iris

    out = tmp_path / "run"
    assert run(["train.py", "--spec", "iris", "--quiet", "--out", str(out)]).returncode == 0
    record = json.loads((out / "params.json").read_text())
    assert len(record["input_scaling"]["mean"]) == 4
    data = load_iris()
    for row in (0, 50, 100):  # a setosa, a versicolor, a virginica, in centimetres
        values = [f"{v:g}" for v in data.data[row]]
        result = run(["train.py", "predict", "--params", str(out / "params.json"), *values])
        assert result.returncode == 0, result.stderr
        assert "standardised as in training" in result.stdout
        assert f"class = {data.target[row]}" in result.stdout
    result = run(["train.py", "predict", "--params", str(out / "params.json"), *["1e308"] * 4])
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    assert "Warning" not in result.stderr and "is too large: standardised" in result.stderr
    result = run(["train.py", "predict", "--params", str(out / "params.json"), *["1e300"] * 4])
    assert result.returncode == 0 and not result.stderr  # tanh saturates: a finite answer
