"""The report's LaTeX: it compiles, and the Markdown carries exactly the same formulas."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest
from conftest import REPO

TEX = REPO / "generated" / "gradients.tex"
MD = REPO / "generated" / "gradients.md"


def _latex_engine() -> str | None:
    engine = shutil.which("pdflatex") or shutil.which("latex")
    if engine is None and os.environ.get("REQUIRE_LATEX") == "1":
        pytest.fail("REQUIRE_LATEX=1 but no LaTeX engine is installed")
    return engine


TEX_FILES = sorted(p.name for p in (REPO / "generated").glob("*.tex"))


def test_every_spec_has_its_tex():
    """The parametrized checks below run over a glob: it must find the report of every
    spec (the assignment's is gradients.tex)."""
    specs = sorted(p.stem for p in (REPO / "specs").glob("*.toml"))
    assert "xor" in specs
    expected = {"gradients.tex", *(f"{name}.tex" for name in specs if name != "xor")}
    assert set(TEX_FILES) == expected


@pytest.mark.parametrize("name", TEX_FILES)
def test_tex_compiles_in_a_minimal_article(tmp_path, name):
    engine = _latex_engine()
    if engine is None:
        pytest.skip("no LaTeX engine installed (apt-get install texlive-latex-base); "
                    ".ci/run installs one and sets REQUIRE_LATEX=1")
    shutil.copy(REPO / "generated" / name, tmp_path / name)
    (tmp_path / "main.tex").write_text(
        "\\documentclass{article}\n\\usepackage{amsmath}\n\\begin{document}\n"
        f"\\input{{{name}}}\n\\end{{document}}\n")
    result = subprocess.run([engine, "-interaction=nonstopmode", "-halt-on-error", "main.tex"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "Warning" not in "\n".join(line for line in result.stdout.splitlines()
                                      if "Overfull" not in line and "Underfull" not in line
                                      and "Font" not in line)


def _tex_formulas(text: str) -> list[str]:
    blocks = re.findall(r"\\begin\{align\*\}\n(.*?)\\end\{align\*\}", text, re.S)
    return [line.strip().removesuffix("\\\\").strip().removeprefix("&\\quad ")
            .replace(" &", " ", 1) for block in blocks for line in block.strip().splitlines()]


@pytest.mark.parametrize("name", TEX_FILES)
def test_markdown_has_the_same_formulas_as_the_tex(name):
    tex = REPO / "generated" / name
    md = tex.with_suffix(".md")
    md_formulas = [f.strip() for f in re.findall(r"\$\$\n(.*?)\n\$\$", md.read_text(), re.S)]
    tex_formulas = _tex_formulas(tex.read_text())
    assert len(tex_formulas) >= 4 + 4
    assert md_formulas == tex_formulas


def test_report_has_the_four_gradients_in_the_assignment_notation():
    text = "\n".join(_tex_formulas(TEX.read_text()))
    for target in (r"W^{(1)}_{ij}", r"w^{(2)}_{i}", r"b^{(1)}_{i}", r"b^{(2)}",
                   r"W^{(1)}", r"\vec{w}^{(2)}", r"b^{(1)}"):
        assert f"\\frac{{\\partial L}}{{\\partial {target}}} = " in text, target
    assert r"\eta" in text and r"\hat{y}_n" in text


def test_db2_formula_has_no_extra_sigmoid_factor():
    """The mistake the assignment warns about: y_hat (1 - y_hat) in dL/db2."""
    line = next(f for f in _tex_formulas(TEX.read_text())
                if f.startswith(r"\frac{\partial L}{\partial b^{(2)}} = "))
    assert line.endswith(r"\left(\hat{y}_n - y_n\right)")
    assert r"1 - \hat{y}_n" not in line


@pytest.mark.parametrize("name", TEX_FILES)
def test_every_aligned_line_has_its_alignment_point(name):
    """A line of align* without `&` (the shapes lines once) widens the left column until the
    formulas run off the page."""
    blocks = re.findall(r"\\begin\{align\*\}\n(.*?)\\end\{align\*\}",
                        (REPO / "generated" / name).read_text(), re.S)
    for line in (line for block in blocks for line in block.strip().splitlines()):
        assert "&" in line, line
