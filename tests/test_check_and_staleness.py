"""`python -m derive check`, and train.py refusing a stale or hand-edited generated module."""

from __future__ import annotations

import hashlib
import shutil

import pytest
from conftest import REPO, copy_project, run

from derive import stamps
from derive.files import input_hash
from derive.spec import load_spec


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


def test_the_manifest_records_the_inputs_hash_and_every_file():
    """train.py's recipe (derive/stamps.py) recomputes derive's inputs hash, and the manifest
    holds it with the sha256 of every file derived from it."""
    entry = stamps.read_manifest(REPO / "generated")["xor"]
    expected = input_hash(load_spec("xor"))
    assert stamps.inputs_hash(REPO / "specs" / "xor.toml", REPO / "derive") == expected
    assert entry["inputs-sha256"] == expected
    assert {"xor.py", "xor.c", "xor.ipynb", "gradients.tex", "gradients.md"} == set(entry["files"])
    for name, digest in entry["files"].items():
        assert hashlib.sha256((REPO / "generated" / name).read_bytes()).hexdigest() == digest


def test_a_module_the_manifest_does_not_record_is_refused(tmp_path):
    """An intact module that is not the one derived (an old copy put back) is stale."""
    project = copy_project(tmp_path)
    manifest = project / "generated" / "manifest.json"
    digest = stamps.read_manifest(project / "generated")["xor"]["files"]["xor.py"]
    manifest.write_text(manifest.read_text().replace(digest, "0" * 64))
    result = run(["train.py", "--epochs", "3", "--out", str(tmp_path / "out")], cwd=project)
    assert result.returncode == 2
    assert "stale" in result.stderr and "manifest.json" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_a_derive_change_that_changes_no_output_rewrites_only_the_manifest(tmp_path):
    project = copy_project(tmp_path)
    before = {p.name: p.read_bytes() for p in (project / "generated").iterdir() if p.is_file()}
    source = project / "derive" / "latex.py"
    source.write_text(source.read_text() + "\n# a tidy-up that changes no output\n")
    result = run(["-m", "derive", "--all"], cwd=project)
    assert result.returncode == 0, result.stderr
    after = {p.name: p.read_bytes() for p in (project / "generated").iterdir() if p.is_file()}
    changed = sorted(name for name in after if after[name] != before.get(name))
    assert changed == ["manifest.json"]
    assert run(["train.py", "--epochs", "3", "--quiet", "--out", str(tmp_path / "out")],
               cwd=project).returncode == 0


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
