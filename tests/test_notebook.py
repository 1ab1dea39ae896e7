"""The generated assignment notebook: valid, standalone, executed, and the same math as train.py."""

from __future__ import annotations

import json
import math
import re
import tomllib

import nbformat
import numpy as np
import pytest
from conftest import REPO, run
from nbclient import NotebookClient

from derive.check import load_module
from trainer.loops import init_params, train
from trainer.model import load_generated

NOTEBOOK = REPO / "generated" / "xor.ipynb"
PROBE = ("import json\nprint(json.dumps({'losses': [float(v) for v in losses], "
         "'classes': [predict(x)[1] for x in X], 'eta': eta, 'epochs': epochs, 'seed': seed}))")


@pytest.fixture(scope="module")
def executed():
    """The notebook run top to bottom in a fresh kernel, plus one probe cell of the test's own."""
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    notebook.cells.append(nbformat.v4.new_code_cell(PROBE, id="test-probe"))
    NotebookClient(notebook, timeout=300, kernel_name="python3").execute()
    probe = json.loads(notebook.cells[-1].outputs[0]["text"])
    return notebook, probe


ALL = sorted((REPO / "generated").glob("*.ipynb"))


def model_namespace(notebook) -> dict:
    """The notebook's (d) model cell run on its own, with only numpy (and math, which the
    exact gelu's erfc needs) imported."""
    cell = next(c.source for c in notebook.cells if "def loss_and_gradients" in c.source)
    namespace = {"np": np, "math": math}
    exec(compile(cell, "model cell", "exec"), namespace)
    return namespace


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.stem)
def test_every_notebook_is_valid_standalone_and_computes_its_modules_gradients(path):
    """The notebook's own readable model gives the generated module's loss and gradients."""
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    code = "\n".join(c.source for c in notebook.cells if c.cell_type == "code")
    imported = set(re.findall(r"^\s*(?:import|from)\s+([A-Za-z_]\w*)", code, re.M))
    model = load_module(REPO / "generated" / f"{path.stem}.py")
    data = {"sklearn"} if model.HELD_OUT else set()  # scikit-learn's bundled data sets
    assert {"numpy", "matplotlib"} <= imported <= {"numpy", "matplotlib", "math"} | data
    cell = model_namespace(notebook)
    rng = np.random.default_rng(5)
    for _ in range(5):
        params = {n: rng.normal(size=shape) for n, shape, _ in model.PARAMS}
        X = rng.normal(size=(9, model.N_INPUTS))
        y = rng.integers(0, 2, size=9).astype(float)
        ours, grads = cell["loss_and_gradients"](params, X, y)
        theirs, expected = model.loss_and_gradients(params, X, y)
        assert ours == pytest.approx(theirs, rel=1e-12)
        np.testing.assert_allclose(cell["forward"](params, X), model.forward(params, X),
                                   rtol=1e-12)
        assert set(grads) == set(expected)
        for name in expected:
            np.testing.assert_allclose(grads[name], expected[name], rtol=1e-10, atol=1e-14,
                                       err_msg=name)
    data_cell = next(c.source for c in notebook.cells if "def dataset(" in c.source)
    assert data_cell.split("\n\n\nX, y = dataset()")[0].strip() in model_text(path.stem)


def model_text(name: str) -> str:
    return (REPO / "generated" / f"{name}.py").read_text()


MATRIX = [p for p in ALL if load_module(REPO / "generated" / f"{p.stem}.py").HELD_OUT]
UNIT_BY_UNIT = [p for p in ALL if p not in MATRIX]
MATRIX_PROBE = ("import json\nprint(json.dumps({'losses': [float(v) for v in losses], "
                "'test': float(np.mean(predict(X_test) == y_test)), 'worst': worst, "
                "'eta': eta, 'epochs': epochs, 'seed': seed, "
                "'batch_size': globals().get('batch_size')}))")


def run_with_probe(path, probe: str) -> dict:
    notebook = nbformat.read(path, as_version=4)
    notebook.cells.append(nbformat.v4.new_code_cell(probe, id="test-probe"))
    NotebookClient(notebook, timeout=600, kernel_name="python3").execute()
    outputs = [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.get("name") == "stderr"]
    return json.loads(notebook.cells[-1].outputs[0]["text"])


@pytest.mark.parametrize("path", [pytest.param(p, marks=[] if p.stem == "digits" else
                                               pytest.mark.slow) for p in MATRIX],
                         ids=lambda p: p.stem)
def test_a_matrix_level_notebook_trains_as_train_py_does(path):
    """Truth from the spec file (lr, epochs, batches, seed) and from train.py's own loop:
    the notebook's loss curve and its test accuracy are train.py's."""
    probe = run_with_probe(path, MATRIX_PROBE)
    training = tomllib.loads((REPO / "specs" / f"{path.stem}.toml").read_text())["training"]
    assert (probe["eta"], probe["epochs"], probe["seed"], probe["batch_size"]) == (
        training["lr"], training["epochs"], training["seed"], training.get("batch_size"))
    model = load_generated(path.stem)
    X, y = model.dataset()
    params, history = train(model, init_params(model, training["seed"]), X, y, training["lr"],
                            training["epochs"], batch_size=training.get("batch_size"),
                            seed=training["seed"])
    np.testing.assert_allclose(probe["losses"], history, rtol=0, atol=1e-12)
    X_test, y_test = model.dataset("test")
    predicted = model.forward(params, X_test)
    predicted = predicted.argmax(axis=1) if predicted.ndim == 2 else predicted >= 0.5
    assert probe["test"] == np.mean(predicted == y_test)
    assert probe["worst"] < 1e-6


def test_a_matrix_level_notebooks_gradient_check_catches_a_planted_slip():
    """The check cell is real: with the output delta not divided by N it fails."""
    import matplotlib

    matplotlib.use("Agg")
    notebook = nbformat.read(REPO / "generated" / "digits.ipynb", as_version=4)
    model_cell = next(c.source for c in notebook.cells if "def loss_and_gradients" in c.source)
    check_cell = next(c.source for c in notebook.cells if "def numerical_gradient" in c.source)
    for cell, bound in ((model_cell, 1e-6), (model_cell.replace("Y)/N", "Y)"), 1e-2)):
        namespace: dict = {}
        exec(compile(cell + "\n" + check_cell, "cells", "exec"), namespace)
        assert (namespace["worst"] < bound) == (bound == 1e-6), namespace["worst"]


@pytest.mark.slow
@pytest.mark.parametrize("path", [p for p in UNIT_BY_UNIT if p.stem != "xor"],
                         ids=lambda p: p.stem)
def test_every_notebook_runs_and_fits_its_data(path):
    notebook = nbformat.read(path, as_version=4)
    notebook.cells.append(nbformat.v4.new_code_cell(PROBE, id="test-probe"))
    NotebookClient(notebook, timeout=600, kernel_name="python3").execute()
    probe = json.loads(notebook.cells[-1].outputs[0]["text"])
    model = load_module(REPO / "generated" / f"{path.stem}.py")
    _, y = model.dataset()
    assert probe["classes"] == [int(v >= 0.5) for v in y]


def test_notebook_is_valid_nbformat_v4():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(notebook)
    assert notebook.nbformat == 4
    assert all(not cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code")


def test_sections_follow_the_assignment():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    headings = [line for cell in notebook.cells if cell.cell_type == "markdown"
                for line in cell.source.splitlines() if line.startswith("## ")]
    assert [h.split()[1] for h in headings] == ["(a)", "(b)", "(c)", "(d)", "(e)", "(f)", "(g)"]


def test_markdown_formulas_are_the_derived_ones():
    report = (REPO / "generated/gradients.md").read_text()
    before, _, batch = report.partition("**Gradients for a batch**")
    batch, _, after = batch.partition("**Gradient descent**")
    assert after  # the matrix form is in the report; the hand-in keeps to the assignment's
    derived = re.findall(r"\$\$\n(.*?)\n\$\$", before + after, re.S)
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    shown = [f for cell in notebook.cells if cell.cell_type == "markdown"
             for f in re.findall(r"\$\$\n(.*?)\n\$\$", cell.source, re.S)]
    assert set(shown) <= set(derived)
    gradients = [f for f in derived if f.startswith(r"\frac{\partial L}")]
    assert len(gradients) == 8 and set(gradients) <= set(shown)


def test_cells_import_only_numpy_and_matplotlib():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    code = "\n".join(c.source for c in notebook.cells if c.cell_type == "code")
    imported = set(re.findall(r"^\s*(?:import|from)\s+([A-Za-z_]\w*)", code, re.M))
    assert imported == {"numpy", "matplotlib"}
    for banned in ("torch", "jax", "tensorflow", "keras", "derive", "generated", "sympy"):
        assert not re.search(rf"\b{banned}\b", code), banned


def test_model_cell_reads_like_the_formulas():
    """dL/db2 is (y_hat - y), dL/dW1 in the formula's factor order; no speed helpers."""
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    cell = next(c.source for c in notebook.cells if "def loss_and_gradients" in c.source)
    assert 'grads["b2"] = np.mean(y_hat - y)' in cell
    assert 'grads["W1"][0, 1] = np.mean((y_hat - y) * w2[0] * h_1 * (1 - h_1) * x_2)' in cell
    for machine_word in ("softplus_from_sigmoid", "_inputs", "_targets", "errstate", "seed="):
        assert machine_word not in cell


def test_notebook_is_a_hand_in():
    """A title, Name and Student ID to fill in; nothing about the tool in any cell;
    provenance in the metadata; at most 150 lines of code."""
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    first = notebook.cells[0]
    assert first.cell_type == "markdown" and first.source.startswith("# ")
    assert "**Name:**" in first.source and "**Student ID:**" in first.source
    text = "\n".join(c.source for c in notebook.cells)
    for word in ("GENERATED", "generated", "sha256", "make ", "derive", "course notebook",
                 "do not edit"):
        assert word not in text, word
    provenance = notebook.metadata["derive-nn"]
    assert provenance["generated-by"] == "make derive SPEC=specs/xor.toml"
    assert re.fullmatch("[0-9a-f]{64}", provenance["cells-sha256"])
    code_lines = sum(len(c.source.splitlines()) for c in notebook.cells
                     if c.cell_type == "code")
    assert code_lines <= 150
    headings = [c.source.splitlines()[0] for c in notebook.cells if c.cell_type == "markdown"
                and c.source.startswith("## ")]
    assert headings[0].startswith("## (a)")


def test_update_rules_are_shown_beside_the_code():
    derived = re.findall(r"\$\$\n(.*?)\n\$\$", (REPO / "generated/gradients.md").read_text(), re.S)
    updates = [f for f in derived if r"\leftarrow" in f]
    assert len(updates) == 4
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    index = next(i for i, c in enumerate(notebook.cells) if c.source.startswith("## (e)"))
    for formula in updates:
        assert f"$$\n{formula}\n$$" in notebook.cells[index].source
    code = "\n".join(c.source for c in notebook.cells[index:index + 3])
    for name in ("W1", "w2", "b1", "b2"):
        assert f'{name} = {name} - eta * grads["{name}"]' in code


def test_notebook_runs_and_solves_xor(executed):
    notebook, probe = executed
    X, y = load_generated("xor").dataset()
    assert probe["classes"] == [int(v) for v in y]
    images = [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs
              if "image/png" in o.get("data", {})]
    assert len(images) >= 2  # the network diagram and the loss curve
    check = next(o["text"] for c in notebook.cells for o in c.get("outputs", [])
                 if "largest relative error" in o.get("text", ""))
    assert float(check.split(":")[1]) < 1e-6


def test_notebook_trains_with_the_specs_settings_to_train_pys_curve(executed):
    """Truth from specs/xor.toml, not from the notebook: its lr, epochs and seed, trained
    by train.py, give the notebook's loss curve and predictions."""
    _, probe = executed
    training = tomllib.loads((REPO / "specs" / "xor.toml").read_text())["training"]
    assert (probe["eta"], probe["epochs"], probe["seed"]) == (
        training["lr"], training["epochs"], training["seed"])
    model = load_generated("xor")
    X, y = model.dataset()
    params, history = train(model, init_params(model, training["seed"]), X, y, training["lr"],
                            training["epochs"])
    assert len(probe["losses"]) == len(history) == training["epochs"]
    np.testing.assert_allclose(probe["losses"], history, rtol=0, atol=1e-12)
    assert probe["classes"] == [int(v) for v in model.forward(params, X) >= 0.5]


def test_executed_notebook_shows_no_warning_and_a_sentence_for_one_input(executed):
    notebook, _ = executed
    outputs = [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.get("name") == "stderr"]
    assert not [o for o in outputs if o["output_type"] == "execute_result"]  # no raw tuples
    text = "".join(o.get("text", "") for o in outputs)
    assert re.search(r"^x = \[1, 0\] -> y_hat = 0\.9\d{3}, class 1$", text, re.M)


def test_execute_notebook_cli_writes_the_executed_copy(tmp_path):
    target = tmp_path / "handin.ipynb"
    result = run(["-m", "derive.execute_notebook", str(NOTEBOOK), str(target)])
    assert result.returncode == 0, result.stderr
    notebook = nbformat.read(target, as_version=4)
    code_cells = [c for c in notebook.cells if c.cell_type == "code"]
    assert all(c.execution_count for c in code_cells)
    assert any("final loss" in o.get("text", "") for c in code_cells for o in c.outputs)


def test_execute_notebook_cli_reports_a_missing_notebook(tmp_path):
    result = run(["-m", "derive.execute_notebook", str(tmp_path / "nope.ipynb"),
                  str(tmp_path / "out.ipynb")])
    assert result.returncode == 2 and "make derive" in result.stderr
    assert not (tmp_path / "out.ipynb").exists()


def test_a_rerun_never_overwrites_a_students_answers(tmp_path):
    """The first cell (name, student ID) is carried over; other edits stop the rerun."""
    target = tmp_path / "xor.ipynb"
    assert run(["-m", "derive.execute_notebook", str(NOTEBOOK), str(target)]).returncode == 0
    notebook = json.loads(target.read_text())
    notebook["cells"][0]["source"] = "# XOR\n\nName: Ada\n"
    target.write_text(json.dumps(notebook))
    assert run(["-m", "derive.execute_notebook", str(NOTEBOOK), str(target)]).returncode == 0
    assert "Name: Ada" in "".join(json.loads(target.read_text())["cells"][0]["source"])
    notebook = json.loads(target.read_text())
    notebook["cells"][-1]["source"] = "My conclusion: it works."
    target.write_text(json.dumps(notebook))
    before = target.read_bytes()
    result = run(["-m", "derive.execute_notebook", str(NOTEBOOK), str(target)])
    assert result.returncode == 2 and "edits of yours" in result.stderr
    assert target.read_bytes() == before


@pytest.mark.slow
@pytest.mark.parametrize("after", [0.3, 1.5])  # while it starts; while the kernel runs
def test_ctrl_c_during_make_notebook_is_one_line(tmp_path, after):
    import signal
    import subprocess
    import sys
    import time

    target = tmp_path / "digits.ipynb"
    process = subprocess.Popen([sys.executable, "-m", "derive.execute_notebook",
                                str(REPO / "generated" / "digits.ipynb"), str(target)],
                               cwd=REPO, stderr=subprocess.PIPE, text=True,
                               start_new_session=True)
    time.sleep(after)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert stderr.strip().splitlines() == [
        "execute_notebook: interrupted; the executed copy was not written (an earlier one "
        "is kept)"]
    assert not target.exists()
