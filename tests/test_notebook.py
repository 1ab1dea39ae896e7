"""The generated assignment notebook: valid, standalone, executed, and the same math as train.py."""

from __future__ import annotations

import json
import re

import nbformat
import numpy as np
import pytest
from conftest import REPO, run
from nbclient import NotebookClient

import train
from derive.check import load_module

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


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.stem)
def test_every_notebook_is_valid_standalone_and_inlines_its_module(path):
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    code = "\n".join(c.source for c in notebook.cells if c.cell_type == "code")
    imported = set(re.findall(r"^\s*(?:import|from)\s+([A-Za-z_]\w*)", code, re.M))
    assert imported == {"numpy", "matplotlib"}
    module = (REPO / "generated" / f"{path.stem}.py").read_text()
    cell = next(c.source for c in notebook.cells if "def loss_and_gradients" in c.source)
    assert cell.strip() in module
    data_cell = next(c.source for c in notebook.cells if "def dataset(" in c.source)
    assert data_cell.split("\n\n\nX, y = dataset()")[0].strip() in module


@pytest.mark.slow
@pytest.mark.parametrize("path", [p for p in ALL if p.stem != "xor"], ids=lambda p: p.stem)
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
    assert [h.split()[1] for h in headings] == ["(b)", "(c)", "(d)", "(e)", "(f)", "(g)"]


def test_markdown_formulas_are_the_derived_ones():
    derived = re.findall(r"\$\$\n(.*?)\n\$\$", (REPO / "generated/gradients.md").read_text(), re.S)
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


def test_model_cell_is_the_generated_module_code():
    """Inlined, not imported: the cell holds the same function text as generated/xor.py."""
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    module = (REPO / "generated" / "xor.py").read_text()
    cell = next(c.source for c in notebook.cells if "def loss_and_gradients" in c.source)
    assert cell.strip() in module


def test_notebook_runs_and_solves_xor(executed):
    notebook, probe = executed
    X, y = train.model.dataset()
    assert probe["classes"] == [int(v) for v in y]
    images = [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs
              if "image/png" in o.get("data", {})]
    assert len(images) >= 2  # the network diagram and the loss curve
    check = next(o["text"] for c in notebook.cells for o in c.get("outputs", [])
                 if "largest relative error" in o.get("text", ""))
    assert float(check.split(":")[1]) < 1e-6


def test_notebook_loss_curve_equals_train_py(executed):
    _, probe = executed
    X, y = train.model.dataset()
    init = train.init_params(probe["seed"])
    _, history = train.train(init, X, y, probe["eta"], probe["epochs"])
    assert len(probe["losses"]) == len(history) == train.model.DEFAULTS["epochs"]
    np.testing.assert_allclose(probe["losses"], history, rtol=0, atol=1e-12)


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
