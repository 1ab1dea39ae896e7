"""`make report`: a complete article of the run in out/, compiled where pdflatex exists."""

from __future__ import annotations

import json
import os
import shutil

import pytest
from conftest import REPO, run

from trainer.report import latex_escape, render_report


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    result = run(["train.py", "--quiet", "--out", str(out)])
    assert result.returncode == 0, result.stderr
    return out


def test_report_holds_the_formulas_figures_settings_and_predictions(trained):
    text = render_report(trained)
    formulas = (REPO / "generated" / "gradients.tex").read_text()
    for line in formulas.splitlines():
        if line.strip() and not line.startswith("%"):
            assert line in text, line
    record = json.loads((trained / "params.json").read_text())
    assert f"{record['final_loss']:.6f}" in text and "$\\eta = 1$" in text
    assert "loss.png" in text and "boundary.png" in text
    assert "Name:" in text and "Student ID:" in text
    assert text.count("\\\\\n") >= 4 and "0 & 1 & 1 & 0.99" in text  # the prediction table


def _require_pdflatex() -> None:
    if shutil.which("pdflatex") is None:
        if os.environ.get("REQUIRE_LATEX") == "1":
            pytest.fail("REQUIRE_LATEX=1 but pdflatex is not installed")
        pytest.skip("no pdflatex (apt-get install texlive-latex-base texlive-latex-recommended)")


def test_report_compiles_to_a_pdf(trained):
    _require_pdflatex()
    result = run(["-m", "trainer.report", "--run", str(trained)])
    assert result.returncode == 0, result.stderr
    pdf = trained / "report.pdf"
    assert pdf.read_bytes().startswith(b"%PDF") and pdf.stat().st_size > 20_000
    assert "report.pdf" in result.stdout


def test_a_softmax_runs_report_compiles_with_its_confusion_matrix(tmp_path):
    _require_pdflatex()
    assert run(["train.py", "--spec", "iris", "--quiet", "--epochs", "50", "--out",
                str(tmp_path)]).returncode == 0
    result = run(["-m", "trainer.report", "--run", str(tmp_path)])
    assert result.returncode == 0, result.stderr
    assert "confusion.png" in (tmp_path / "report.tex").read_text()
    assert (tmp_path / "report.pdf").read_bytes().startswith(b"%PDF")


def test_a_report_that_does_not_compile_writes_neither_file(tmp_path):
    """report.tex and report.pdf are one set: a failed pdflatex leaves neither behind."""
    _require_pdflatex()
    assert run(["train.py", "--quiet", "--epochs", "50", "--out", str(tmp_path)]).returncode == 0
    (tmp_path / "loss.png").write_bytes(b"not a png")
    result = run(["-m", "trainer.report", "--run", str(tmp_path)])
    assert result.returncode == 2 and "nothing was written" in result.stderr
    assert not (tmp_path / "report.tex").exists() and not (tmp_path / "report.pdf").exists()


def test_report_without_a_run_is_one_line_and_writes_nothing(tmp_path):
    result = run(["-m", "trainer.report", "--run", str(tmp_path)])
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    assert "make train" in result.stderr and list(tmp_path.iterdir()) == []


def test_text_from_data_cannot_become_latex_commands():
    hostile = r"x}\input{/etc/passwd}$\def\a{b}%_#&~^"
    escaped = latex_escape(hostile)
    for command in (r"\input{", r"\def\a"):
        assert command not in escaped
    assert "%" not in escaped.replace(r"\%", "")


def test_report_shows_the_update_rule_of_the_optimizer_used(tmp_path):
    out = tmp_path / "run"
    result = run(["train.py", "--optimizer", "adam", "--lr", "0.05", "--epochs", "300",
                  "--quiet", "--out", str(out)])
    assert result.returncode == 0, result.stderr
    text = render_report(out)
    assert "Adam (with $\\eta = 0.05$, $\\beta_1 = 0.9$, $\\beta_2 = 0.999$, $\\epsilon = " \
        "10^{-8}$)" in text and "in place of\nthe plain gradient-descent step" in text
    assert r"m_t &= \beta_1 m_{t-1}" in text  # aligned at its relation
    assert "betas" not in text and "[0.9" not in text  # no Python literals in the prose


def test_a_report_of_a_csv_run_names_its_data_and_tables_its_predictions(tmp_path):
    data = tmp_path / "and gate.csv"
    data.write_text("x1,x2,y\n0,0,0\n0,1,0\n1,0,0\n1,1,1\n")
    out = tmp_path / "run"
    assert run(["train.py", "--data", str(data), "--quiet", "--out", str(out)]).returncode == 0
    text = render_report(out)
    assert r"\title{and gate.csv with" in text and str(tmp_path) not in text.split("\\begin")[0]
    assert "on the data of" in text and "and gate.csv" in text
    assert "\\section{Predictions}" in text and "1 & 1 & 1 &" in text
