"""`python -m derive check`, and train.py refusing a stale or hand-edited generated module."""

from __future__ import annotations

import shutil

from conftest import REPO, copy_project, run

from derive import stamps
from derive.files import input_hash
from derive.spec import load_spec
from trainer.model import load_generated


def test_check_passes_on_the_generated_module():
    result = run(["-m", "derive", "check", "--points", "20"])
    assert result.returncode == 0, result.stdout + result.stderr
    rows = [line.split() for line in result.stdout.splitlines()
            if line.split() and line.split()[0] in ("W1", "b1", "w2", "b2")]
    assert len(rows) == 4
    assert all(float(row[-1]) < 1e-6 for row in rows)


def test_check_fails_on_a_wrong_gradient(tmp_path):
    broken = tmp_path / "broken.py"
    text = (REPO / "generated" / "xor.py").read_text()
    assert "delta2 = y_hat - y" in text
    broken.write_text(text.replace("delta2 = y_hat - y", "delta2 = (y_hat - y)*y_hat*(1 - y_hat)"))
    result = run(["-m", "derive", "check", "--module", str(broken), "--points", "5"])
    assert result.returncode == 1
    assert "FAIL" in result.stdout and "b2" in result.stdout


def test_check_reports_an_unloadable_module(tmp_path):
    result = run(["-m", "derive", "check", "--module", str(tmp_path / "missing.py")])
    assert result.returncode == 2 and "cannot load" in result.stderr


def test_train_recomputes_derives_inputs_hash():
    expected = input_hash(load_spec("xor"))
    model = load_generated("xor")
    spec_file = REPO / model.SPEC_FILE
    assert stamps.inputs_hash(spec_file, REPO / "derive") == expected == model.INPUTS_SHA256


def test_hand_edited_generated_module_is_refused(tmp_path):
    project = copy_project(tmp_path)
    assert run(["train.py", "--epochs", "3", "--quiet"], cwd=project).returncode == 0
    module = project / "generated" / "xor.py"
    module.write_text(module.read_text().replace("delta2 = y_hat - y", "delta2 = 2*(y_hat - y)"))
    for args in (["train.py", "--epochs", "3"], ["train.py", "predict", "0", "1"]):
        result = run(args, cwd=project)
        assert result.returncode == 2
        assert "edited by hand" in result.stderr and "make derive" in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1


def test_changed_template_makes_the_module_stale(tmp_path):
    project = copy_project(tmp_path)
    template = project / "derive" / "templates" / "module.py.j2"
    template.write_text(template.read_text() + "\n# a change\n")
    result = run(["train.py", "--epochs", "3", "--out", str(tmp_path / "out")], cwd=project)
    assert result.returncode == 2
    assert "stale" in result.stderr and "make derive" in result.stderr
    assert not (tmp_path / "out").exists()


def test_without_derive_folder_training_still_runs(tmp_path):
    """train.py, generated/, trainer/ and derive/stamps.py alone still train (no SymPy)."""
    project = copy_project(tmp_path)
    for path in (project / "derive").iterdir():  # all but the stdlib recipes train.py shares
        if path.name not in ("__init__.py", "stamps.py"):
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    result = run(["train.py", "--epochs", "3", "--quiet", "--out", str(tmp_path / "out")],
                 cwd=project)
    assert result.returncode == 0, result.stderr
