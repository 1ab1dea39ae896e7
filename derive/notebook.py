"""The assignment's notebook, built from the same derivation and templates as generated/
(templates/notebook.j2 unit by unit; templates/matrix_notebook.j2 at the matrix level).

The cells come from the template (split at `%% markdown` / `%% code` lines) and are
assembled with nbformat's API. Cell ids are numbered, not random, so the file is
byte-identical on every run.
"""

from __future__ import annotations

import re

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from derive.codegen import module_context, readable_model_context
from derive.files import template_environment
from derive.gradients import Gradients
from derive.latex import build_matrix_report, build_report
from derive.matrix import MatrixGradients
from derive.matrix_code import matrix_module_context
from derive.stamps import cells_hash

CELL_MARK = re.compile(r"^%% (markdown|code)$", re.M)


def split_cells(text: str) -> list[tuple[str, str]]:
    """[(kind, source)] from the template's rendering."""
    parts = CELL_MARK.split(text)
    cells = []
    for kind, source in zip(parts[1::2], parts[2::2]):
        cells.append((kind, source.strip("\n")))
    return cells


def build_notebook(gradients: Gradients) -> nbformat.NotebookNode:
    network = gradients.network
    context = module_context(gradients)
    names = [p.name for p in network.params]
    assignment_order = sorted(network.params, key=lambda p: (p.name[0].lower() == "b", p.layer))
    text = template_environment().get_template("notebook.j2").render(
        report=build_report(gradients), param_names=names,
        model=readable_model_context(gradients),
        update_order=[p.name for p in assignment_order], **context)
    return _assemble(text, network.spec.source, "notebook.j2")


def build_matrix_notebook(matrix: MatrixGradients) -> nbformat.NotebookNode:
    """The notebook of a network derived at the matrix level only: the batch formulas with
    shapes, and the model printed from the generated module's own checked lines."""
    text = template_environment().get_template("matrix_notebook.j2").render(
        report=build_matrix_report(matrix),
        activations_list=[layer.activation.name for layer in matrix.layers],
        **matrix_module_context(matrix))
    return _assemble(text, matrix.spec.source, "matrix_notebook.j2")


def _assemble(text: str, source: str, template: str) -> nbformat.NotebookNode:
    """nbformat cells from a rendered template, numbered ids, where it came from in the
    metadata (not in a cell a grader reads) and a hash of the cells to notice hand edits."""
    notebook = new_notebook(metadata={
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
        "derive-nn": {"generated-by": f"make derive SPEC={source}",
                      "template": f"derive/templates/{template}"},
    })
    for number, (kind, source) in enumerate(split_cells(text)):
        make = new_markdown_cell if kind == "markdown" else new_code_cell
        cell = make(source)
        cell["id"] = f"cell-{number:02d}"
        notebook.cells.append(cell)
    notebook.metadata["derive-nn"]["cells-sha256"] = cells_hash(notebook.cells)
    nbformat.validate(notebook)
    return notebook


def render_notebook(gradients: Gradients) -> str:
    return nbformat.writes(build_notebook(gradients)) + "\n"


def render_matrix_notebook(matrix: MatrixGradients) -> str:
    return nbformat.writes(build_matrix_notebook(matrix)) + "\n"
